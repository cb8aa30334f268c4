/**
 * The cgroup directory tree: creating a cgroup and enabling controllers in its ancestors, listing
 * the pids of a cgroup and its sub-cgroups, killing them, and removing the directories.
 */
import { dirname, exists, join } from "../path.ts";
import { kill } from "../../ffi/process.ts";
import { sleep } from "../sleep.ts";
import { SIGKILL } from "../signals.ts";
import { readCgroupFile, writeCgroupFile } from "./files.ts";
import { allPids } from "./remove.ts";

export { allPids, removeCgroup } from "./remove.ts";

/**
 * Sends SIGKILL to every process in `dir` until it is empty (new ones may be forked meanwhile).
 * @param beforeWait called after the first round of signals (to thaw a frozen v1 cgroup: frozen
 * tasks only die once thawed).
 */
export async function killAll(
  dir: string,
  beforeWait: () => void = () => {},
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let first = true;
  for (;;) {
    const pids = allPids(dir);
    if (pids.length === 0) return;
    for (const pid of pids) kill(pid, SIGKILL);
    if (first) {
      beforeWait();
      first = false;
    }
    if (Date.now() > deadline) {
      throw new Error(`processes ${pids.join(", ")} in ${dir} did not exit after SIGKILL`);
    }
    await sleep(5);
  }
}

/** mkdir -p for a cgroup; returns the directories it created, outermost first. */
export function makeCgroupDirs(mountPoint: string, dir: string): string[] {
  const created: string[] = [];
  const parts = dir.slice(mountPoint.length).split("/").filter(Boolean);
  let current = mountPoint;
  for (const part of parts) {
    current = join(current, part);
    try {
      Deno.mkdirSync(current, { mode: 0o755 });
      created.push(current);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) {
        throw new Error(`cannot create cgroup ${current}`, { cause: err });
      }
    }
  }
  return created;
}

/** The directories from `mountPoint` down to `dir`'s parent (the ancestors below the mount). */
export function ancestors(mountPoint: string, dir: string): string[] {
  const out = [mountPoint];
  const parts = dir.slice(mountPoint.length).split("/").filter(Boolean);
  let current = mountPoint;
  for (const part of parts.slice(0, -1)) {
    current = join(current, part);
    out.push(current);
  }
  return out;
}

/**
 * Enables `controllers` in cgroup.subtree_control of every ancestor of `dir` on a cgroup2 mount;
 * controllers an ancestor does not offer, or refuses (it has processes), are left for set() to
 * report by name.
 */
export function enableControllers(
  mountPoint: string,
  dir: string,
  controllers: readonly string[],
): void {
  for (const parent of ancestors(mountPoint, dir)) {
    const offered = (readCgroupFile(parent, "cgroup.controllers") ?? "").trim().split(/\s+/);
    const enabled = (readCgroupFile(parent, "cgroup.subtree_control") ?? "").trim().split(/\s+/);
    for (const c of controllers) {
      if (!offered.includes(c) || enabled.includes(c)) continue;
      try {
        writeCgroupFile(parent, "cgroup.subtree_control", `+${c}`);
      } catch {
        // Reported by set() when a limit needs this controller.
      }
    }
  }
}

/** `dir` when it exists, else its nearest existing ancestor (a cgroup not made yet). */
export function nearestExisting(dir: string): string {
  let current = dir;
  while (!exists(current) && current !== "/") current = dirname(current);
  return current;
}
