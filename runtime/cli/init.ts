import type { Command } from "./command.ts";
import { initMain } from "../init/standard.ts";

/** `skiff init`: hidden; the container's first process (see runtime/process/protocol.ts). */
export const command: Command = {
  name: "init",
  usage: "init <bootstrap-fd> <sync-fd>",
  summary: "container init (internal)",
  flags: [],
  args: [2, 2],
  hidden: true,
  async run(ctx) {
    return await initMain(ctx.positionals);
  },
};
