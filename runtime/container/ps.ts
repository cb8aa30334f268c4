import type { StateStore } from "../state/store.ts";
import { containerCgroup } from "./cgroup.ts";
import { loadContainer } from "./container.ts";

/** The host pids of every process in container `id`'s cgroup, ascending (runc `ps`). */
export function containerPids(store: StateStore, id: string): number[] {
  const { record } = loadContainer(store, id);
  return containerCgroup(record).pids().sort((a, b) => a - b);
}
