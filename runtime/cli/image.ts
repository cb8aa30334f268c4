import { boolFlag, type Command, stringFlag } from "./command.ts";
import { LayerStore } from "../assembler/layer_store.ts";
import { progressDisplay, pullProgressDisplay } from "../assembler/progress.ts";
import { defaultStoreRoot } from "../assembler/assemble.ts";
import { UsageError } from "../errors.ts";
import { table } from "./list.ts";

const USAGE = "image pull [--platform OS/ARCH[/VARIANT]] [-q] REF | " +
  "image login [--username U] [--password-stdin] REGISTRY | " +
  "image import [--ref REF] SOURCE | image ls [--format table|json] [-q] | " +
  "image rm [--force] IMAGE | image gc | image check [--repair]   (each takes --store DIR)";

/** `skiff image`: the layer store (pull, login, import, ls, rm, gc, check). */
export const command: Command = {
  name: "image",
  usage: USAGE,
  summary: "pull, import, list, remove and check OCI images in Skiff's layer store",
  flags: [
    {
      name: "store",
      type: "string",
      path: true,
      help: "layer store (default $SKIFF_STORE or /var/lib/skiff)",
    },
    { name: "ref", type: "string", help: "import: the ref name to select" },
    { name: "format", alias: "f", type: "string", help: "ls: table or json" },
    { name: "quiet", alias: "q", type: "boolean", help: "ls, pull: image IDs only" },
    { name: "platform", type: "string", help: "pull: OS/ARCH[/VARIANT] (default the host's)" },
    { name: "username", alias: "u", type: "string", help: "login: the user name" },
    { name: "password", alias: "p", type: "string", help: "login: the password" },
    { name: "password-stdin", type: "boolean", help: "login: read the password from stdin" },
    { name: "force", type: "boolean", help: "rm: remove even if containers use it" },
    { name: "repair", type: "boolean", help: "check: repair what is found wrong" },
  ],
  args: [1, 2],
  async run(ctx) {
    const store = new LayerStore(stringFlag(ctx, "store") ?? defaultStoreRoot());
    const [verb, arg] = ctx.positionals;
    switch (verb) {
      case "pull": {
        if (!arg) throw new UsageError(`"image pull" needs a REF\nUsage: skiff ${USAGE}`);
        // Loaded here only: the registry client is not needed by any other command.
        const { parsePlatform, parseReference, formatReference, pullImage } = await import(
          "../assembler/registry/mod.ts"
        );
        const platformText = stringFlag(ctx, "platform");
        const quiet = boolFlag(ctx, "quiet");
        const platform = platformText ? parsePlatform(platformText) : undefined;
        const name = formatReference(parseReference(arg));
        // Disposing marks what was under way as failed, when pullImage throws.
        using display = quiet ? undefined : pullProgressDisplay(name);
        const image = await pullImage(store, arg, { platform, onProgress: display?.onProgress });
        display?.close();
        console.log(image.id);
        return 0;
      }
      case "login": {
        if (!arg) throw new UsageError(`"image login" needs a REGISTRY\nUsage: skiff ${USAGE}`);
        const username = stringFlag(ctx, "username");
        if (!username) throw new UsageError(`"image login" needs --username`);
        let password = stringFlag(ctx, "password");
        if (boolFlag(ctx, "password-stdin")) {
          password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
        }
        if (password === undefined) {
          throw new UsageError(`"image login" needs --password or --password-stdin`);
        }
        const { login } = await import("../assembler/registry/mod.ts");
        const file = await login(arg, { username, password });
        console.log(`Login Succeeded (credentials stored in ${file})`);
        return 0;
      }
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
