import { boolFlag, type Command } from "./command.ts";
import { cliRuntime } from "../api/runtime.ts";

/** `skiff delete`. */
export const command: Command = {
  name: "delete",
  usage: "delete [command options] <container-id>",
  summary: "delete a container and everything it holds",
  flags: [{
    name: "force",
    alias: "f",
    type: "boolean",
    help: "kill the container with SIGKILL first if it is running",
  }],
  args: [1, 1],
  endsByItself: true,
  async run(ctx) {
    await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).delete({
      force: boolFlag(ctx, "force"),
    });
    return 0;
  },
};
