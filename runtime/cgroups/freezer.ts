/**
 * Whether a cgroup is frozen, from its directories alone: `state`, `list` and the other status
 * checks read one or two files here without loading the cgroup managers (issue 11).
 */
import { readCgroupFile } from "./files.ts";

/** A v1 freezer cgroup frozen by its own setting, not only through a frozen ancestor. */
export function v1Frozen(dir: string): boolean {
  const state = readCgroupFile(dir, "freezer.state")?.trim();
  if (state !== "FROZEN" && state !== "FREEZING") return false;
  const self = readCgroupFile(dir, "freezer.self_freezing")?.trim();
  return self === undefined || self === "1";
}

/** A v2 cgroup whose cgroup.freeze is set. */
export function v2Frozen(dir: string): boolean {
  return readCgroupFile(dir, "cgroup.freeze")?.trim() === "1";
}

/**
 * Whether the cgroup whose directories a manager's dirs() returned is frozen: v1 dirs name their
 * controllers (no freezer mounted: never frozen), a v2 cgroup is the one directory under "".
 */
export function frozenAt(dirs: Readonly<Record<string, string>>): boolean {
  if (dirs.freezer) return v1Frozen(dirs.freezer);
  if (dirs[""] !== undefined) return v2Frozen(dirs[""]);
  return false;
}
