import { boolFlag, type Command } from "./command.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../container/delete.ts";
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
  async run(ctx) {
    await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).delete({
      force: boolFlag(ctx, "force"),
    });
    return 0;
  },
};
