import { kill } from "../../ffi/mod.ts";
import type { StateStore } from "../state/store.ts";
import { loadContainer } from "./container.ts";
import { containerCgroup } from "./paused.ts";

/** Host pids of every process in the container's mount namespace except its init (no cgroup). */
function otherProcesses(initPid: number): number[] {
  let ns: string;
  try {
    ns = Deno.readLinkSync(`/proc/${initPid}/ns/mnt`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === initPid) continue;
    try {
      if (Deno.readLinkSync(`/proc/${pid}/ns/mnt`) === ns) out.push(pid);
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

/**
 * Sends `signal` to the container's init (runtime.md `kill`). A container that is neither created
 * nor running is an error, "container not running", except with `all`, which then succeeds (runc:
 * containerd sends `kill --all ID 9` after the init has exited).
 * With `all`, every other process of the container gets the signal too.
 */
export function killContainer(store: StateStore, id: string, signal: number, all = false): void {
  using _lock = store.lock(id);
  const container = loadContainer(store, id);
  if (container.status === "stopped") {
    if (all) return;
    throw new Error("container not running");
  }
  const pid = container.record.pid;
  if (all) {
    const others = container.record.cgroup
      ? containerCgroup(container.record).pids().filter((p) => p !== pid)
      : otherProcesses(pid);
    for (const other of others) kill(other, signal);
  }
  if (!kill(pid, signal)) throw new Error("container not running");
}
