import type { Command } from "./command.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../container/start.ts";
import { cliRuntime } from "../api/runtime.ts";

/** `skiff start`. */
export const command: Command = {
  name: "start",
  usage: "start <container-id>",
  summary: "execute the user-defined process in a created container",
  flags: [],
  args: [1, 1],
  async run(ctx) {
    await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).start();
    return 0;
  },
};
