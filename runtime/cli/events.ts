import { boolFlag, type Command, stringFlag } from "./command.ts";
import { UsageError } from "../errors.ts";
import type { CgroupManager } from "../cgroups/manager.ts";
import { statsData, toJson } from "../cgroups/stats.ts";
import { sleep } from "../sleep.ts";
import { loadContainer } from "../container/container.ts";
import { containerCgroup } from "../container/cgroup.ts";
import type { StateStore } from "../state/store.ts";

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

/** One event line as runc prints it: {"type":...,"id":...,"data":...}. */
export function eventLine(type: "stats" | "oom", id: string, manager?: CgroupManager): string {
  if (type === "oom") return JSON.stringify({ type, id });
  return `{"type":"stats","id":${JSON.stringify(id)},"data":${
    toJson(statsData(manager!.stats()))
  }}`;
}

/** Options of watchEvents(). */
export interface EventsOptions {
  /** Print one stats event and return. */
  stats: boolean;
  /** Milliseconds between stats events. */
  intervalMs: number;
  /** Where each line goes (stdout by default). */
  write?: (line: string) => void;
  /** Stops watching. */
  signal?: AbortSignal;
  /** Milliseconds between OOM checks. */
  pollMs?: number;
}

/**
 * Prints container `id`'s events as runc does: a stats event every interval and an oom event each
 * time the cgroup's OOM-kill count grows, until the container stops (or at once with `stats`).
 */
export async function watchEvents(
  store: StateStore,
  id: string,
  options: EventsOptions,
): Promise<void> {
  const write = options.write ?? ((line: string) => console.log(line));
  const { record, status } = loadContainer(store, id);
  if (status === "stopped") throw new Error(`container with id ${id} is not running`);
  const manager = containerCgroup(record);
  if (options.stats) {
    write(eventLine("stats", id, manager));
    return;
  }
  const poll = options.pollMs ?? Math.min(250, options.intervalMs);
  let ooms = manager.oomKillCount();
  let nextStats = Date.now() + options.intervalMs;
  while (!options.signal?.aborted) {
    await sleep(poll);
    let running: boolean;
    try {
      running = loadContainer(store, id).status !== "stopped" && manager.exists();
    } catch {
      running = false; // deleted
    }
    if (!running) return;
    const count = manager.oomKillCount();
    for (; ooms < count; ooms++) write(eventLine("oom", id));
    if (Date.now() >= nextStats) {
      nextStats += options.intervalMs;
      try {
        write(eventLine("stats", id, manager));
      } catch {
        // The cgroup went away between the checks: the loop ends on the next round.
      }
    }
  }
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
    await watchEvents(ctx.store, ctx.positionals[0], { stats: boolFlag(ctx, "stats"), intervalMs });
    return 0;
  },
};
