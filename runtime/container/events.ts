/**
 * A container's events, as runc's `events` reports them: a stats event every interval and an oom
 * event each time the cgroup's OOM-kill count grows, until the container stops.
 */
import type { CgroupStats } from "../cgroups/stats.ts";
import { statsData, toJson } from "../cgroups/stats.ts";
import { sleep } from "../sleep.ts";
import type { StateStore } from "../state/store.ts";
import { containerCgroup } from "./cgroup.ts";
import { NoCgroup } from "../cgroups/none.ts";
import { loadContainer } from "./container.ts";

/** One event of a container. */
export type ContainerEvent =
  | { type: "stats"; id: string; stats: CgroupStats }
  | { type: "oom"; id: string };

/** An event as the JSON line runc prints: {"type":...,"id":...,"data":...}. */
export function eventLine(event: ContainerEvent): string {
  if (event.type === "oom") return JSON.stringify({ type: event.type, id: event.id });
  return `{"type":"stats","id":${JSON.stringify(event.id)},"data":${
    toJson(statsData(event.stats))
  }}`;
}

/** Options of watchEvents(). */
export interface EventsOptions {
  /** Report one stats event and return. */
  stats: boolean;
  /** Milliseconds between stats events. */
  intervalMs: number;
  /** Receives each event. */
  onEvent: (event: ContainerEvent) => void;
  /** Stops watching. */
  signal?: AbortSignal;
  /** Milliseconds between OOM checks. */
  pollMs?: number;
}

/**
 * Reports container `id`'s events to `options.onEvent` until the container stops (or one stats
 * event with `stats`). A stopped container is an error, with runc's message.
 */
export async function watchEvents(
  store: StateStore,
  id: string,
  options: EventsOptions,
): Promise<void> {
  const { onEvent } = options;
  const { record, status } = loadContainer(store, id);
  if (status === "stopped") throw new Error(`container with id ${id} is not running`);
  const manager = containerCgroup(record);
  // Without a cgroup there are no stats and no OOM counts to watch: say so instead of waiting.
  if (manager instanceof NoCgroup) throw manager.refusal("events");
  if (options.stats) {
    onEvent({ type: "stats", id, stats: manager.stats() });
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
    for (; ooms < count; ooms++) onEvent({ type: "oom", id });
    if (Date.now() >= nextStats) {
      nextStats += options.intervalMs;
      let stats: CgroupStats;
      try {
        stats = manager.stats();
      } catch {
        continue; // The cgroup went away between the checks: the loop ends on the next round.
      }
      onEvent({ type: "stats", id, stats });
    }
  }
}
