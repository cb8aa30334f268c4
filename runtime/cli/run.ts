import { dirname } from "../path.ts";
import { UsageError } from "../errors.ts";
import { boolFlag, type Command, stringFlag } from "./command.ts";
import { CREATE_FLAGS, createOptionsFromFlags } from "./create.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../api/ops.ts";
import "../container/create.ts";
import "../container/start.ts";
import "../container/delete.ts";
import { cliRuntime, type ContainerSource } from "../api/runtime.ts";
import { forwardSignals } from "../signals.ts";
import { relayTerminal } from "../console.ts";
import { trace } from "../log.ts";

/** A container ID for `skiff run` without one. */
export function generateId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `skiff-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
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
    const image = stringFlag(ctx, "image");
    let source: ContainerSource;
    if (image) {
      const pull = stringFlag(ctx, "pull") ?? "missing";
      if (pull !== "missing" && pull !== "always" && pull !== "never") {
        throw new UsageError(`--pull must be missing, always or never: got "${pull}"`);
      }
      source = { image, args: ctx.rest, pull };
    } else {
      source = {
        bundle: stringFlag(ctx, "bundle") ?? (config ? dirname(config) : Deno.cwd()),
        config,
      };
    }
    const runtime = cliRuntime(ctx.store, ctx, stringFlag(ctx, "store"));
    const container = await runtime.create(id, source, {
      ...createOptionsFromFlags(ctx),
      stdio: detach ? "null" : "inherit",
    });
    try {
      await container.start();
    } catch (err) {
      await container.delete({ force: true });
      throw err;
    }
    if (detach) return 0;
    // Signals sent to `skiff run` go to the container, as with runc run.
    const stopForwarding = forwardSignals(container.pid);
    const master = container.takeConsoleMaster();
    const relay = master !== undefined ? relayTerminal(master) : undefined;
    const { code } = await container.wait();
    trace("run: container exited");
    await relay;
    stopForwarding();
    if (!boolFlag(ctx, "keep")) await container.delete({ force: true });
    return code;
  },
};
