import type { Command } from "./command.ts";
import { startContainer } from "../container/start.ts";

/** `skiff start`. */
export const command: Command = {
  name: "start",
  usage: "start <container-id>",
  summary: "execute the user-defined process in a created container",
  flags: [],
  args: [1, 1],
  endsByItself: true,
  async run(ctx) {
    await startContainer(ctx.store, ctx.positionals[0]);
    return 0;
  },
};
