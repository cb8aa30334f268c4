import { dirname, join } from "../path.ts";
import { type StateStore, validateId } from "../state/store.ts";
import { ContainerNotExistError, UsageError } from "../errors.ts";
import { undoCreating } from "../container/creating.ts";
import { creatingRecord } from "../container/half_made.ts";
import { boolFlag, type Command, stringFlag } from "./command.ts";
import { CREATE_FLAGS, createOptionsFromFlags } from "./create.ts";
import { createContainer } from "../container/create.ts";
import { startContainer } from "../container/start.ts";
import { deleteContainer } from "../container/delete.ts";
import { exitStatus, forwardSignals } from "../signals.ts";
import { relayTerminal } from "../console.ts";
import { trace } from "../log.ts";

/** A container ID for `skiff run` without one. */
export function generateId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `skiff-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Undoes a half-made container under its lock; one that is gone already is fine. */
async function undoLocked(store: StateStore, id: string): Promise<void> {
  let lock: Disposable;
  try {
    lock = store.lock(id);
  } catch (err) {
    if (err instanceof ContainerNotExistError) return;
    throw err;
  }
  using _lock = lock;
  await undoCreating(store, id);
}

/** `skiff run`: create + start, then wait and delete; exits with the container's status. */
export const command: Command = {
  name: "run",
  usage: "run [command options] [<container-id>] [-- ARGS... (with --image)]",
  summary: "create and run a container",
  flags: [
    ...CREATE_FLAGS,
    { name: "detach", alias: "d", type: "boolean", help: "detach from the container's process" },
    { name: "keep", type: "boolean", help: "do not delete the container after it exits" },
    {
      name: "image",
      type: "string",
      help: "run an image: a stored name or ID, or an OCI layout/archive path[:REF]; ARGS after --",
    },
    {
      name: "store",
      type: "string",
      path: true,
      help: "layer store for --image (default /var/lib/skiff)",
    },
    {
      name: "pull",
      type: "string",
      help: "with --image REF from a registry: missing (default), always or never",
    },
    {
      name: "config",
      type: "string",
      path: true,
      help: "a config.json file; its root.path is relative to the file's directory",
    },
  ],
  args: [0, 1],
  async run(ctx) {
    const id = ctx.positionals[0] ?? generateId();
    const config = stringFlag(ctx, "config");
    const detach = boolFlag(ctx, "detach");
    const imageSource = stringFlag(ctx, "image");
    let image: { store: string; dir: string } | undefined;
    // The assembler is imported for --image only: its modules cost every other run ~12 ms to
    // evaluate (TransformStream loads Deno's streams; issue 11).
    const assembler = imageSource ? await import("../assembler/assemble.ts") : undefined;
    if (imageSource && assembler) {
      const { assembleBundle, defaultStoreRoot, resolveImage } = assembler;
      const { LayerStore } = await import("../assembler/layer_store.ts");
      validateId(id);
      const storeRoot = stringFlag(ctx, "store") ?? defaultStoreRoot();
      const layerStore = new LayerStore(storeRoot);
      const pull = stringFlag(ctx, "pull") ?? "missing";
      if (pull !== "missing" && pull !== "always" && pull !== "never") {
        throw new UsageError(`--pull must be missing, always or never: got "${pull}"`);
      }
      const stored = await resolveImage(layerStore, imageSource, pull);
      const dir = join(storeRoot, "bundles", id);
      image = { store: storeRoot, dir };
      // Write-ahead (container/creating.ts): the state directory names the read/write layer
      // before it exists, so that a run killed while assembling leaves nothing delete misses.
      ctx.store.createDir(id);
      ctx.store.writeCreating(
        creatingRecord({ id, bundle: dir, rootfs: join(dir, "rootfs"), image }),
      );
      try {
        await assembleBundle(layerStore, stored, dir, { owner: id, args: ctx.rest });
      } catch (err) {
        await undoLocked(ctx.store, id);
        throw err;
      }
      trace("run: bundle assembled");
    }
    let created;
    try {
      created = await createContainer(ctx.store, id, {
        ...createOptionsFromFlags(ctx),
        bundle: image?.dir ?? stringFlag(ctx, "bundle") ?? (config ? dirname(config) : Deno.cwd()),
        configFile: config,
        foreground: !detach,
        image,
        stateDirMade: image !== undefined,
      });
    } catch (err) {
      // create undoes what it made; a failure before its first step leaves the image's record.
      if (image) await undoLocked(ctx.store, id);
      throw err;
    }
    const { record, child, consoleMaster } = created;
    try {
      await startContainer(ctx.store, id);
    } catch (err) {
      await deleteContainer(ctx.store, id, true);
      throw err;
    }
    if (detach) return 0;
    // Signals sent to `skiff run` go to the container, as with runc run.
    const stopForwarding = forwardSignals(record.pid);
    const relay = consoleMaster !== undefined ? relayTerminal(consoleMaster) : undefined;
    const status = await child.status;
    trace("run: container exited");
    await relay;
    stopForwarding();
    if (!boolFlag(ctx, "keep")) await deleteContainer(ctx.store, id, true);
    return exitStatus(status);
  },
};
