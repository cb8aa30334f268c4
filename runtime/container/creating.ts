/**
 * Creates killed half-way: undoing what a dead creator's write-ahead record (creating.json, see
 * state/store.ts) names. How `list` and `state` show one is in half_made.ts, which loads no
 * cgroup managers.
 */
import { kill } from "../../ffi/process.ts";
import { cgroupManager } from "../cgroups/manager.ts";
import { removeIntelRdt } from "../intel_rdt.ts";
import * as log from "../log.ts";
import { mountsAt, releaseHostRootfs } from "../rootfs/prepare.ts";
import { SIGKILL } from "../signals.ts";
import { sleep } from "../sleep.ts";
import { isAlive } from "../state/liveness.ts";
import type { StateStore } from "../state/store.ts";

/**
 * Undoes everything the write-ahead record of container `id` names, then removes its state
 * directory (the record last). Each step is idempotent, so an undo that is itself killed is
 * finished by the next one. The caller holds the container's lock and has checked that the
 * creator is gone (or is the creator itself, failing).
 */
export async function undoCreating(store: StateStore, id: string): Promise<void> {
  const record = store.readCreating(id);
  if (record) {
    if (record.init && isAlive(record.init.pid, record.init.startTime)) {
      kill(record.init.pid, SIGKILL);
      const deadline = Date.now() + 10_000;
      while (isAlive(record.init.pid, record.init.startTime)) {
        if (Date.now() > deadline) {
          throw new Error(`container init ${record.init.pid} did not exit after SIGKILL`);
        }
        await sleep(5);
      }
    }
    if (record.cgroupPaths && Object.keys(record.cgroupPaths).length > 0) {
      // Kills whatever joined it (an init, exec'd processes), thaws a frozen one, removes every
      // hierarchy's directory (v1 controllers and the unified one on hybrid hosts). With the
      // systemd driver, first StopUnit of the recorded unit, awaited until systemd has forgotten
      // it (none: it was never started), as runc's destroy.
      try {
        await cgroupManager({ id, paths: record.cgroupPaths, unit: record.systemdUnit }).destroy();
      } catch (err) {
        // By name: systemd_unit.ts (the D-Bus code) is loaded only when a unit is recorded.
        if (!record.systemdUnit || (err as Error).name !== "BusUnreachableError") throw err;
        // No bus to ask (a rootless create refused for want of a user manager): no manager, so no
        // unit either. What the cgroupfs side holds is still removed.
        log.debug(`delete: cannot stop unit ${record.systemdUnit.name}: ${(err as Error).message}`);
        await cgroupManager({ id, paths: record.cgroupPaths }).destroy();
      }
    }
    if (record.hostRootfs && mountsAt(record.hostRootfs.rootfs) > record.hostRootfs.before) {
      releaseHostRootfs(record.hostRootfs.rootfs, record.hostRootfs.before);
    }
    if (record.intelRdt) removeIntelRdt(record.intelRdt);
    if (record.image) {
      // Imported on use, as in delete.ts: the assembler's modules cost other commands ~5 ms.
      const { releaseBundle } = await import("../assembler/assemble.ts");
      await releaseBundle(record.image.store, record.image.dir, id);
    }
    log.debug(`delete: undid the half-made container ${id} (creator ${record.creator.pid})`);
  }
  store.remove(id);
}
