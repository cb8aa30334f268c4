import type { Command } from "./command.ts";
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
