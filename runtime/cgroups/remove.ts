/**
 * Listing and removing a cgroup's directories, without the cgroup managers or ffi/: `delete` of a
 * stopped container, whose cgroup is empty, needs only this (issue 11: the managers are ~80 KB of
 * code to load). tree.ts re-exports it for the managers.
 * @module
 */
import { exists, join } from "../path.ts";
import { sleep } from "../sleep.ts";
import { readCgroupFile } from "./files.ts";
import { isErrno } from "../../ffi/errno.ts";

/** The cgroup's sub-cgroups, deepest first. */
function subCgroups(dir: string): string[] {
  const out: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isDirectory) continue;
      const child = join(dir, entry.name);
      out.push(...subCgroups(child), child);
    }
  } catch {
    // Gone meanwhile.
  }
  return out;
}

/** Pids in a cgroup and all its sub-cgroups (cgroup.procs of each). */
export function allPids(dir: string): number[] {
  return pidsIn([dir, ...subCgroups(dir)]);
}

/** Pids in the cgroups `dirs` (cgroup.procs of each), without duplicates. */
function pidsIn(dirs: readonly string[]): number[] {
  const out: number[] = [];
  for (const d of dirs) {
    const text = readCgroupFile(d, "cgroup.procs");
    if (!text) continue;
    for (const line of text.split("\n")) {
      const pid = Number(line);
      if (line && Number.isInteger(pid) && !out.includes(pid)) out.push(pid);
    }
  }
  return out;
}

/**
 * Removes a cgroup and its sub-cgroups, retrying EBUSY for a while (a killed process leaves its
 * cgroup only once it is reaped). A missing directory is fine.
 */
export async function removeCgroup(dir: string, timeoutMs = 5_000): Promise<void> {
  await removeTree([...subCgroups(dir), dir], timeoutMs);
}

/** Removes the cgroup directories `tree` (deepest first), as removeCgroup(). */
async function removeTree(tree: readonly string[], timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const d of tree) {
    let delay = 1;
    for (;;) {
      try {
        Deno.removeSync(d);
        break;
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) break;
        if (!isErrno(err, "EBUSY") || Date.now() > deadline) {
          throw new Error(`cannot remove cgroup ${d}`, { cause: err });
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 100);
      }
    }
  }
}

/**
 * Removes the directories `dirs` of a cgroup that no process is left in (as a manager's destroy()
 * does once it has killed them): a stopped container's, without loading its manager. Returns false
 * when a process is left in one: the manager must kill it first.
 *
 * Each directory is first removed as it is, the usual case: an empty cgroup without sub-cgroups,
 * which the kernel refuses to remove (EBUSY) while a process is in it. Only a directory it refuses
 * is searched for processes and sub-cgroups: listing all of them first cost a delete ~2 ms on a
 * host with 10 hierarchies (issue 11). On cgroup v1 a process is in the container's directory of
 * every hierarchy, so one left behind stops the first removal already, before any is removed.
 */
export async function removeEmptyCgroup(dirs: readonly string[]): Promise<boolean> {
  const busy: string[] = [];
  for (const dir of new Set(dirs)) {
    try {
      Deno.removeSync(dir);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) busy.push(dir);
    }
  }
  const present = busy.filter((dir) => exists(dir));
  if (present.some((dir) => allPids(dir).length > 0)) return false;
  for (const dir of present) await removeCgroup(dir);
  return true;
}
