import type { Command } from "./command.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../container/pause.ts";
import { cliRuntime } from "../api/runtime.ts";

/** `skiff resume`: thaws a paused container. */
export const command: Command = {
  name: "resume",
  usage: "resume <container-id>",
  summary: "resume all processes that have been previously paused",
  flags: [],
  args: [1, 1],
  async run(ctx) {
    await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).resume();
    return 0;
  },
};
