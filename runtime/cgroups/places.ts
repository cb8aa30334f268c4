/**
 * A container's cgroup as create recorded it (its directories by controller, the managers' dirs()),
 * read without the managers: `exec` joins the cgroup through its cgroup.procs files and needs
 * nothing else, while the managers with the resource planners are ~65 KB of code to load (issue 11).
 * CgroupV1Manager takes its directories from here too, so both agree.
 * @module
 */
import { join } from "../path.ts";
import type { HostCgroups } from "./detect.ts";
import { detectCgroups } from "./detect.ts";

/** One distinct directory of a v1 (or hybrid) cgroup, with the mount it lives in. */
export interface CgroupPlace {
  dir: string;
  mountPoint: string;
  /** The controller (or "unified") it was recorded under. */
  key: string;
}

/** The distinct directories of `dirs` (controller or "unified" -> directory) that `host` mounts. */
export function v1Places(dirs: Record<string, string>, host: HostCgroups): CgroupPlace[] {
  const seen = new Set<string>();
  const out: CgroupPlace[] = [];
  for (const [key, dir] of Object.entries(dirs)) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    const mount = key === "unified" ? host.unified : host.v1[key];
    if (mount) out.push({ dir, mountPoint: mount.mountPoint, key });
  }
  return out;
}

/**
 * The cgroup.procs files a process writes its pid to to join the cgroup recorded as `paths`: what
 * the cgroupfs manager's procsFiles() returns for it (the systemd driver's are the same files).
 * undefined when nothing was recorded: then only the manager can work them out.
 */
export function recordedProcsFiles(
  paths: Record<string, string> | undefined,
): string[] | undefined {
  if (!paths || Object.keys(paths).length === 0) return undefined;
  const host = detectCgroups();
  if (host.layout === "unified") {
    return paths[""] === undefined ? undefined : [join(paths[""], "cgroup.procs")];
  }
  return v1Places(paths, host).map((p) => join(p.dir, "cgroup.procs"));
}
