import { boolFlag, type Command, stringFlag } from "./command.ts";
import { LayerStore } from "../assembler/layer_store.ts";
import {
  assembleBundle,
  bundleOwner,
  defaultStoreRoot,
  releaseBundle,
  resolveImage,
} from "../assembler/assemble.ts";
import { UsageError } from "../errors.ts";

const USAGE = "bundle create --image SOURCE[:REF] [--store DIR] [--copy] DIR [-- ARGS...] | " +
  "bundle rm [--store DIR] DIR";

/** `skiff bundle`: makes (and removes) an OCI bundle whose rootfs is an image's overlay. */
export const command: Command = {
  name: "bundle",
  usage: USAGE,
  summary: "create an OCI bundle from an image (rootfs = overlay of its stored layers)",
  flags: [
    {
      name: "image",
      type: "string",
      help: "image: a stored name or ID, or an OCI layout/archive path",
    },
    {
      name: "store",
      type: "string",
      path: true,
      help: "layer store (default $SKIFF_STORE or /var/lib/skiff)",
    },
    { name: "copy", type: "boolean", help: "copy the layers instead of mounting an overlay" },
  ],
  args: [2, 2],
  async run(ctx) {
    const [verb, dir] = ctx.positionals;
    const storeRoot = stringFlag(ctx, "store") ?? defaultStoreRoot();
    if (verb === "create") {
      const source = stringFlag(ctx, "image");
      if (!source) throw new UsageError(`"bundle create" needs --image\nUsage: skiff ${USAGE}`);
      const store = new LayerStore(storeRoot);
      const image = await resolveImage(store, source);
      const made = await assembleBundle(store, image, dir, {
        owner: bundleOwner(dir),
        args: ctx.rest,
        copy: boolFlag(ctx, "copy"),
      });
      console.log(made.dir);
      return 0;
    }
    if (verb === "rm") {
      await releaseBundle(storeRoot, dir, bundleOwner(dir));
      return 0;
    }
    throw new UsageError(`unknown bundle command ${JSON.stringify(verb)}\nUsage: skiff ${USAGE}`);
  },
};
