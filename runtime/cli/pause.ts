import type { Command } from "./command.ts";
import { pauseContainer } from "../container/pause.ts";

/** `skiff pause`: freezes every process of the container. */
export const command: Command = {
  name: "pause",
  usage: "pause <container-id>",
  summary: "suspend all processes inside the container",
  flags: [],
  args: [1, 1],
  async run(ctx) {
    await pauseContainer(ctx.store, ctx.positionals[0]);
    return 0;
  },
};
