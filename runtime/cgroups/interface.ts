/**
 * One interface over the container's cgroup on any host layout. It lives apart from manager.ts
 * (the factory) so that v1.ts and v2.ts can implement it without importing the module that
 * imports them.
 */
import type { Resources } from "../../spec/config.ts";
import type { CgroupLayout } from "./detect.ts";
import type { CgroupStats } from "./stats.ts";

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
   * Managers whose cgroup is made with the init in it (systemd: StartTransientUnit of a scope with
   * its pid, the resources as unit properties). Create calls it after create(), before set().
   */
  start?(pid: number, resources?: Resources): Promise<void>;
  /** Managers with their own record of the limits (systemd: SetUnitProperties); update calls it before set(). */
  setProperties?(resources: Resources, options?: SetOptions): Promise<void>;
  /**
   * Applies linux.resources (create and update); throws naming the field; returns warnings.
   * `resources.devices` is applied as given (include defaultDeviceRules() at create); when it is
   * undefined the device rules are left alone.
   */
  set(resources: Resources | undefined, options?: SetOptions): string[];
  /**
   * Plans `resources` as set() would, without writing, also before the cgroup exists (the facts
   * come from its nearest existing ancestor): throws what set() would refuse, returns the warnings.
   * `skiff check` uses it.
   */
  check?(resources: Resources | undefined): string[];
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
