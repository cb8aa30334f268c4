import type { Command } from "./command.ts";
import { features } from "../features.ts";

/** `skiff features`. */
export const command: Command = {
  name: "features",
  usage: "features",
  summary: "show the enabled features",
  flags: [],
  args: [0, 0],
  endsByItself: true,
  run() {
    console.log(JSON.stringify(features(), null, "    "));
    return 0;
  },
};
