import { isAlive } from "../state/liveness.ts";
import type { ContainerRecord, StateStore } from "../state/store.ts";
import { ContainerNotExistError } from "../errors.ts";
import { loadContainer, stateOf } from "./container.ts";
import { removeEmptyCgroup } from "../cgroups/remove.ts";
import type { CgroupManager } from "../cgroups/manager.ts";
import { sharesHostMounts } from "../host_mounts.ts";
import * as log from "../log.ts";
import { trace } from "../log.ts";
import { sleep } from "../sleep.ts";
import { creatorAlive } from "./half_made.ts";

/** Waits until the init is gone (exited or a zombie), up to `timeoutMs`. */
async function waitGone(pid: number, startTime: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid, startTime)) {
    if (Date.now() > deadline) throw new Error(`container init ${pid} did not exit after SIGKILL`);
    await sleep(5);
  }
}

/** The manager of the container's cgroup, imported on use (see removeStoppedCgroup()). */
async function managerOf(record: ContainerRecord): Promise<CgroupManager> {
  const { containerCgroup } = await import("./cgroup.ts");
  return containerCgroup(record);
}

/**
 * Removes the cgroup of a stopped container when nothing is left in it, without its manager (the
 * cgroup managers are ~80 KB of code for `delete` to load; issue 11). False when the manager must
 * do it: a systemd unit to stop, no recorded directories, or processes left to kill.
 */
async function removeStoppedCgroup(record: ContainerRecord): Promise<boolean> {
  const { systemd, none, paths } = record.cgroup;
  if (systemd || none !== undefined || paths === undefined || Object.keys(paths).length === 0) {
    return false;
  }
  return await removeEmptyCgroup(Object.values(paths));
}

/**
 * Deletes container `id` (runtime.md `delete`): a stopped or created container is removed (a
 * created one is killed first, as runc does); a running one only with `force`, after SIGKILL.
 * `force` on an unknown ID succeeds.
 */
export async function deleteContainer(store: StateStore, id: string, force = false): Promise<void> {
  let lock: Disposable;
  try {
    lock = store.lock(id);
  } catch (err) {
    if (force && err instanceof ContainerNotExistError) return;
    throw err;
  }
  using _lock = lock;
  trace("delete: locked");
  let container;
  try {
    container = loadContainer(store, id);
  } catch (err) {
    if (!(err instanceof ContainerNotExistError)) throw err;
    // No state file: a create that died half-way. Its write-ahead record names what it made; a
    // directory without one was left before anything else existed (container/creating.ts).
    const creating = store.readCreating(id);
    if (creating && creatorAlive(creating)) {
      // Only reachable between the creator's mkdir and its lock: it holds the lock otherwise.
      throw new Error(`container ${id} is being created (by pid ${creating.creator.pid})`);
    }
    const { undoCreating } = await import("./creating.ts");
    await undoCreating(store, id);
    // runc's delete of a stopped container succeeds; a directory with no record was never one.
    if (creating || force) return;
    throw err;
  }
  const { record, status } = container;
  if ((status === "running" || status === "paused") && !force) {
    throw new Error(`cannot delete container ${id} that is not stopped: ${status}`);
  }
  if (status !== "stopped") {
    // ffi/ and libc only here: the delete of a stopped container, what engines do, makes no FFI
    // call and loads none of it (~15 KB).
    const [cgroup, { kill }, { SIGKILL }] = await Promise.all([
      managerOf(record),
      import("../../ffi/process.ts"),
      import("../signals.ts"),
    ]);
    kill(record.pid, SIGKILL);
    // A frozen process only dies once thawed (runc thaws before it kills, too).
    if (status === "paused") cgroup.thaw();
    await waitGone(record.pid, record.initStartTime);
    trace("delete: init killed");
    // Whatever is left in the cgroup (exec'd processes, children of a shared PID namespace) goes too.
    await cgroup.destroy();
  } else if (!(await removeStoppedCgroup(record))) {
    await (await managerOf(record)).destroy();
  }
  trace("delete: cgroup removed");
  // Without a mount namespace the init's rootfs bind lives in the host's: detach it (one mount).
  // The modules below are imported only when a container uses them: the rootfs code, resctrl and
  // the hooks (with the config validator) cost every delete ~8 ms to load (issue 11).
  if (sharesHostMounts(record.config)) {
    const { mountsAt, releaseHostRootfs } = await import("../rootfs/prepare.ts");
    if (mountsAt(record.rootfs) > 0) releaseHostRootfs(record.rootfs, mountsAt(record.rootfs) - 1);
  }
  if (record.intelRdt) {
    const { removeIntelRdt } = await import("../intel_rdt.ts");
    removeIntelRdt(record.intelRdt);
  }
  if (record.image) {
    // Imported on use: the assembler's modules cost every other delete ~5 ms to load (issue 11).
    const { releaseBundle } = await import("../assembler/assemble.ts");
    await releaseBundle(record.image.store, record.image.dir, id);
  }
  // Last: a delete killed before this point leaves state.json, and the next one does the rest.
  trace("delete: host cleaned");
  store.remove(id);
  // poststop: after everything create made is gone; failures are warnings (runtime.md step 13).
  if (record.config.hooks?.poststop?.length) {
    const { runHooksWarning } = await import("../hooks.ts");
    await runHooksWarning(
      record.config.hooks,
      "poststop",
      stateOf({ record, status: "stopped" }),
      log.warn,
    );
  }
}
