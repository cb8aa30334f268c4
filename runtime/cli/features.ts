import type { Command } from "./command.ts";
import { printLine } from "./output.ts";
import { features } from "../features.ts";

/** `skiff features`. */
export const command: Command = {
  name: "features",
  usage: "features",
  summary: "show the enabled features",
  flags: [],
  args: [0, 0],
  run() {
    printLine(JSON.stringify(features(), null, "    "));
    return 0;
  },
};
