/**
 * The factory that picks the implementation of CgroupManager (interface.ts): CgroupV2Manager on
 * unified hosts, CgroupV1Manager on hybrid and legacy ones (on hybrid hosts it also uses the
 * cgroup2 mount); with --systemd-cgroup, SystemdCgroupManager (systemd.ts) around the one of the
 * scope's directory. docs/cgroups.md describes them.
 */
import { detectCgroups, ownCgroups, systemdRunning } from "./detect.ts";
import type { CgroupManager } from "./interface.ts";
import { cgroupDir, innerCgroupPath } from "./path.ts";
import { SystemdCgroupManager, type SystemdUnit, systemdUnitOf } from "./systemd.ts";
import { CgroupV1Manager } from "./v1.ts";
import { CgroupV2Manager } from "./v2.ts";

export type { CgroupManager, SetOptions } from "./interface.ts";

/** What cgroupManager() needs. */
export interface CgroupManagerOptions {
  /** The container ID (the default cgroup name). */
  id: string;
  /** linux.cgroupsPath. */
  cgroupsPath?: string;
  /** --systemd-cgroup. */
  systemd?: boolean;
  /**
   * The directories dirs() returned when the container was created. Relative paths resolve
   * against the CALLER's own cgroup, which differs between `create` and a later `delete` run by
   * another parent; recording dirs() and passing them back avoids that.
   */
  paths?: Record<string, string>;
  /**
   * The systemd unit recorded at create (undo of a crashed create): used as it is, instead of the
   * one cgroupsPath and the caller's uid would name; implies the systemd driver.
   */
  unit?: SystemdUnit;
}

/** The manager of a container's cgroup on this host. */
export function cgroupManager(options: CgroupManagerOptions): CgroupManager {
  const files = cgroupfsManager(options);
  if (options.unit) return new SystemdCgroupManager(options.unit, files);
  if (!options.systemd) return files;
  return new SystemdCgroupManager(
    systemdUnitOf(options.cgroupsPath, options.id, userInstance()),
    files,
  );
}

/**
 * True when the driver talks to the caller's systemd user instance: when the caller is not root
 * (runc's rootless systemd driver).
 */
function userInstance(): boolean {
  return Deno.uid() !== 0;
}

/** The cgroupfs manager of the container's cgroup directories. */
function cgroupfsManager(options: CgroupManagerOptions): CgroupManager {
  const host = detectCgroups();
  if (options.paths && Object.keys(options.paths).length > 0) {
    if (host.layout === "unified") return new CgroupV2Manager(options.paths[""], host);
    return new CgroupV1Manager(host, options.paths);
  }
  const inner = innerCgroupPath(options, systemdRunning(), options.systemd && userInstance());
  const own = ownCgroups();
  if (host.layout === "unified") {
    return new CgroupV2Manager(cgroupDir(host.unified!, own[""], inner, true), host);
  }
  const dirs: Record<string, string> = {};
  for (const [controller, mount] of Object.entries(host.v1)) {
    dirs[controller] = cgroupDir(mount, own[controller], inner, false);
  }
  if (host.unified) dirs.unified = cgroupDir(host.unified, own[""], inner, true);
  return new CgroupV1Manager(host, dirs);
}
