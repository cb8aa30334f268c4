import type { Command } from "./command.ts";
import { printLine } from "./output.ts";
import { cliRuntime } from "../api/runtime.ts";

/** `skiff state`: the container's state as runc prints it (indented JSON). */
export const command: Command = {
  name: "state",
  usage: "state <container-id>",
  summary: "output the state of a container",
  flags: [],
  args: [1, 1],
  run(ctx) {
    const state = cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).state();
    printLine(JSON.stringify(state, null, "  "));
    return 0;
  },
};
