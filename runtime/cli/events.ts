import { boolFlag, type Command, stringFlag } from "./command.ts";
import { UsageError } from "../errors.ts";
import { eventLine } from "../container/events.ts";
import { cliRuntime } from "../api/runtime.ts";

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration ("5s", "1m30s", "250ms", "1.5h") into milliseconds. */
export function parseDuration(text: string): number {
  const body = text.replace(/^[+-]/, "");
  if (body === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const match = re.exec(body);
    if (!match) throw new UsageError(`invalid duration "${text}"`);
    total += parseFloat(match[1]) * UNITS[match[2]];
    at = re.lastIndex;
  }
  if (at === 0) throw new UsageError(`invalid duration "${text}"`);
  return text.startsWith("-") ? -total : total;
}

/** `skiff events`. */
export const command: Command = {
  name: "events",
  usage: "events [command options] <container-id>",
  summary:
    "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
  flags: [
    { name: "interval", type: "string", help: "set the stats collection interval (default: 5s)" },
    { name: "stats", type: "boolean", help: "display the container's stats then exit" },
  ],
  args: [1, 1],
  async run(ctx) {
    const intervalMs = parseDuration(stringFlag(ctx, "interval") ?? "5s");
    if (intervalMs <= 0) throw new UsageError("duration interval must be greater than 0");
    const container = cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]);
    for await (const event of container.events(intervalMs, boolFlag(ctx, "stats"))) {
      console.log(eventLine(event));
    }
    return 0;
  },
};
