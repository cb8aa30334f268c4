import type { Command } from "./command.ts";
import { cliRuntime } from "../api/runtime.ts";

/** `skiff start`. */
export const command: Command = {
  name: "start",
  usage: "start <container-id>",
  summary: "execute the user-defined process in a created container",
  flags: [],
  args: [1, 1],
  endsByItself: true,
  async run(ctx) {
    await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).start();
    return 0;
  },
};
