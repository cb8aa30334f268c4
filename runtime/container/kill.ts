import { kill } from "../../ffi/signal.ts";
import type { StateStore } from "../state/store.ts";
import { loadContainer } from "./container.ts";
import * as log from "../log.ts";

/**
 * Sends `signal` to the container's init (runtime.md `kill`). A container that is neither created
 * nor running is an error, "container not running", except with `all`, which then succeeds (runc:
 * containerd sends `kill --all ID 9` after the init has exited).
 * With `all`, every other process of the container gets the signal too.
 */
export async function killContainer(
  store: StateStore,
  id: string,
  signal: number,
  all = false,
): Promise<void> {
  using _lock = store.lock(id);
  const container = loadContainer(store, id);
  if (container.status === "stopped") {
    if (all) return;
    throw new Error("container not running");
  }
  const pid = container.record.pid;
  if (all) {
    // The cgroup managers are imported for --all only: every kill loaded them, ~5 ms (issue 11).
    const [{ containerCgroup }, { NoCgroup }] = await Promise.all([
      import("./cgroup.ts"),
      import("../cgroups/none.ts"),
    ]);
    const cgroup = containerCgroup(container.record);
    if (cgroup instanceof NoCgroup) {
      // runc's rootless manager cannot find the other processes either. With its own PID
      // namespace they die with the init on SIGKILL.
      log.warn(`kill --all: only the init gets the signal: ${cgroup.reason}`);
    } else {
      for (const other of cgroup.pids()) {
        if (other !== pid) kill(other, signal);
      }
    }
  }
  if (!kill(pid, signal)) throw new Error("container not running");
}
