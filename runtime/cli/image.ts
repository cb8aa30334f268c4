import { boolFlag, type Command, stringFlag } from "./command.ts";
import { LayerStore } from "../assembler/layer_store.ts";
import { progressDisplay } from "../assembler/progress.ts";
import { defaultStoreRoot } from "../assembler/assemble.ts";
import { UsageError } from "../errors.ts";
import { table } from "./list.ts";

const USAGE = "image import [--ref REF] SOURCE | image ls [--format table|json] [-q] | " +
  "image rm [--force] IMAGE | image gc | image check [--repair]   (each takes --store DIR)";

/** `skiff image`: the layer store (import, ls, rm, gc, check). */
export const command: Command = {
  name: "image",
  usage: USAGE,
  summary: "import, list, remove and check OCI images in Skiff's layer store",
  flags: [
    {
      name: "store",
      type: "string",
      path: true,
      help: "layer store (default $SKIFF_STORE or /var/lib/skiff)",
    },
    { name: "ref", type: "string", help: "import: the ref name to select" },
    { name: "format", alias: "f", type: "string", help: "ls: table or json" },
    { name: "quiet", alias: "q", type: "boolean", help: "ls: image IDs only" },
    { name: "force", type: "boolean", help: "rm: remove even if containers use it" },
    { name: "repair", type: "boolean", help: "check: repair what is found wrong" },
  ],
  args: [1, 2],
  async run(ctx) {
    const store = new LayerStore(stringFlag(ctx, "store") ?? defaultStoreRoot());
    const [verb, arg] = ctx.positionals;
    switch (verb) {
      case "import": {
        if (!arg) throw new UsageError(`"image import" needs a SOURCE\nUsage: skiff ${USAGE}`);
        const image = await store.importImage(arg, {
          ref: stringFlag(ctx, "ref"),
          onProgress: progressDisplay(),
        });
        console.log(image.id);
        return 0;
      }
      case "ls": {
        const images = await store.listImages();
        if (boolFlag(ctx, "quiet")) {
          for (const i of images) console.log(i.id);
        } else if ((stringFlag(ctx, "format") ?? "table") === "json") {
          console.log(JSON.stringify(images.map((i) => ({
            id: i.id,
            names: i.names,
            layers: i.diffIds.length,
            source: i.source,
            imported: i.imported,
          }))));
        } else {
          const rows = [["IMAGE ID", "NAMES", "LAYERS", "IMPORTED"]];
          for (const i of images) {
            rows.push([
              i.id.slice(0, 12),
              i.names.join(",") || "-",
              String(i.diffIds.length),
              i.imported,
            ]);
          }
          console.log(table(rows));
        }
        return 0;
      }
      case "rm": {
        if (!arg) throw new UsageError(`"image rm" needs an IMAGE\nUsage: skiff ${USAGE}`);
        const removed = await store.removeImage(arg, { force: boolFlag(ctx, "force") });
        console.log(removed.id);
        return 0;
      }
      case "gc": {
        const result = await store.gc();
        for (const layer of result.removedLayers) console.log(`removed layer ${layer}`);
        return 0;
      }
      case "check": {
        if (arg) throw new UsageError(`"image check" takes no argument\nUsage: skiff ${USAGE}`);
        const repair = boolFlag(ctx, "repair");
        const report = await store.check({ repair });
        for (const p of report.problems) {
          if (p.repaired) console.log(`repaired: ${p.path}: ${p.message} (${p.repair})`);
          else {
            const fix = p.repair ? `; --repair would ${p.repair}` : "; not repairable";
            console.log(`problem: ${p.path}: ${p.message}${fix}`);
          }
        }
        const left = report.problems.filter((p) => !p.repaired);
        const counts = `${report.layers} layers verified, ${report.images} images, ` +
          `${report.containers} containers`;
        if (left.length > 0) {
          const hint = left.some((p) => p.repair) && !repair
            ? '; "skiff image check --repair" repairs them'
            : "";
          throw new Error(
            `image store ${store.root}: ${left.length} problem(s) (${counts})${hint}`,
          );
        }
        console.log(`image store ${store.root} is consistent (${counts})`);
        return 0;
      }
      default:
        throw new UsageError(
          `unknown image command ${JSON.stringify(verb)}\nUsage: skiff ${USAGE}`,
        );
    }
  },
};
