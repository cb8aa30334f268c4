import type { Command } from "./command.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../container/pause.ts";
import { cliRuntime } from "../api/runtime.ts";

/** `skiff pause`: freezes every process of the container. */
export const command: Command = {
  name: "pause",
  usage: "pause <container-id>",
  summary: "suspend all processes inside the container",
  flags: [],
  args: [1, 1],
  async run(ctx) {
    await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).pause();
    return 0;
  },
};
