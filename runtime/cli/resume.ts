import type { Command } from "./command.ts";
import { resumeContainer } from "../container/pause.ts";

/** `skiff resume`: thaws a paused container. */
export const command: Command = {
  name: "resume",
  usage: "resume <container-id>",
  summary: "resume all processes that have been previously paused",
  flags: [],
  args: [1, 1],
  run(ctx) {
    resumeContainer(ctx.store, ctx.positionals[0]);
    return 0;
  },
};
