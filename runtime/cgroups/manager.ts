/**
 * One interface over the container's cgroup on any host layout, and the factory that picks the
 * implementation: CgroupV2Manager on unified hosts, CgroupV1Manager on hybrid and legacy ones
 * (on hybrid hosts it also uses the cgroup2 mount). docs/cgroups.md describes both.
 */
import type { Resources } from "../../spec/config.ts";
import { type CgroupLayout, detectCgroups, ownCgroups, systemdRunning } from "./detect.ts";
import { cgroupDir, innerCgroupPath } from "./path.ts";
import type { CgroupStats } from "./stats.ts";
import { CgroupV1Manager } from "./v1.ts";
import { CgroupV2Manager } from "./v2.ts";

/** Options of CgroupManager.set(). */
export interface SetOptions {
  /** Leave the device rules as they are (update does, as runc update does). */
  skipDevices?: boolean;
}

/** The cgroup of one container. */
export interface CgroupManager {
  readonly layout: CgroupLayout;
  /** Host directories of this container's cgroup: { "": dir } on v2, { memory: dir, cpu: dir, ... , unified?: dir } on v1. */
  dirs(): Record<string, string>;
  /** mkdir the cgroup (v2: enable the needed controllers in cgroup.subtree_control of every ancestor). Idempotent. */
  create(): void;
  /**
   * Applies linux.resources (create and update); throws naming the field; returns warnings.
   * `resources.devices` is applied as given (include defaultDeviceRules() at create); when it is
   * undefined the device rules are left alone.
   */
  set(resources: Resources | undefined, options?: SetOptions): string[];
  /** The cgroup.procs files the container's init must write its pid to (opened by the init before it drops privileges). */
  procsFiles(): string[];
  /** Freezes every process of the cgroup; resolves once the kernel reports them frozen. */
  freeze(): Promise<void>;
  /** Thaws the cgroup. */
  thaw(): void;
  /** True when the cgroup is (being) frozen by its own freezer setting. */
  isFrozen(): boolean;
  /** Every pid in the cgroup (recursively). */
  pids(): number[];
  /** runc `events --stats` "data" (cpu, memory, pids, blkio, hugetlb...). */
  stats(): CgroupStats;
  /** OOM kills so far (v2 memory.events oom_kill; v1 memory.oom_control oom_kill). */
  oomKillCount(): number;
  /** True when the cgroup directory exists. */
  exists(): boolean;
  /** Kills remaining processes (SIGKILL, wait), then removes the cgroup; idempotent. */
  destroy(): Promise<void>;
}

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
}

/** The manager of a container's cgroup on this host. */
export function cgroupManager(options: CgroupManagerOptions): CgroupManager {
  const host = detectCgroups();
  if (options.paths && Object.keys(options.paths).length > 0) {
    if (host.layout === "unified") return new CgroupV2Manager(options.paths[""], host);
    return new CgroupV1Manager(host, options.paths);
  }
  const inner = innerCgroupPath(options, systemdRunning());
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
