import { trace } from "../log.ts";
import type { StateStore } from "../state/store.ts";
import { isPaused, loadContainer } from "./container.ts";
import { containerCgroup } from "./cgroup.ts";

/**
 * Freezes every process of container `id` (runtime `pause`). As in runc, a created or running
 * container can be paused; anything else is "container not running".
 */
export async function pauseContainer(store: StateStore, id: string): Promise<void> {
  using _lock = store.lock(id);
  const { record, status } = loadContainer(store, id);
  if ((status !== "running" && status !== "created") || isPaused(record)) {
    throw new Error("container not running");
  }
  trace("pause: locked");
  await containerCgroup(record).freeze();
}

/** Thaws container `id` (runtime `resume`); a container that is not paused is an error. */
export function resumeContainer(store: StateStore, id: string): void {
  using _lock = store.lock(id);
  const { record, status } = loadContainer(store, id);
  if (status === "stopped" || !isPaused(record)) throw new Error("container not paused");
  containerCgroup(record).thaw();
}
