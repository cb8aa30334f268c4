import { boolFlag, type Command } from "./command.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../container/kill.ts";
import { cliRuntime } from "../api/runtime.ts";
import { parseSignal } from "../signals.ts";

/** `skiff kill`. */
export const command: Command = {
  name: "kill",
  usage: "kill [command options] <container-id> [signal]",
  summary: "send a signal (default: SIGTERM) to the container's init process",
  flags: [{
    name: "all",
    alias: "a",
    type: "boolean",
    help: "signal every process in the container",
  }],
  args: [1, 2],
  async run(ctx) {
    const text = ctx.positionals[1] ?? "SIGTERM";
    // Signal 0 only checks that the init exists (kill(2)); runc accepts it, and so do scripts
    // that poll a container with `kill ID 0`.
    const signal = /^0+$/.test(text) ? 0 : parseSignal(text);
    await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).kill(signal, boolFlag(ctx, "all"));
    return 0;
  },
};
