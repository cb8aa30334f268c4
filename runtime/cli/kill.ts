import { boolFlag, type Command } from "./command.ts";
import { killContainer } from "../container/kill.ts";
import { parseSignal } from "../signals.ts";

/** `skiff kill`. */
export const command: Command = {
  name: "kill",
  usage: "kill [command options] <container-id> [signal]",
  summary: "send a signal (default: SIGTERM) to the container's init process",
  flags: [{
    name: "all",
    alias: "a",
    type: "boolean",
    help: "signal every process in the container",
  }],
  args: [1, 2],
  run(ctx) {
    const signal = parseSignal(ctx.positionals[1] ?? "SIGTERM");
    killContainer(ctx.store, ctx.positionals[0], signal, boolFlag(ctx, "all"));
    return 0;
  },
};
