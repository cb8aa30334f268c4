import { join } from "../path.ts";
import { type Command, stringFlag } from "./command.ts";
import { defaultSpec } from "../../spec/defaults.ts";

/** `skiff spec`: writes a default config.json. */
export const command: Command = {
  name: "spec",
  usage: "spec [command options]",
  summary: "create a new specification file",
  flags: [
    {
      name: "bundle",
      alias: "b",
      type: "string",
      help: "path to the root of the bundle directory",
    },
    { name: "rootless", type: "boolean", help: "not supported yet", hidden: true },
  ],
  args: [0, 0],
  run(ctx) {
    const file = join(stringFlag(ctx, "bundle") ?? ".", "config.json");
    try {
      Deno.lstatSync(file);
      throw new Error(`File ${file} exists. Remove it first`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    Deno.writeTextFileSync(file, JSON.stringify(defaultSpec(), null, "\t") + "\n", { mode: 0o644 });
    return 0;
  },
};
