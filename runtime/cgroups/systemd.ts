/**
 * The systemd cgroup driver (`--systemd-cgroup`), as runc's (opencontainers/cgroups systemd/):
 * the container's cgroup is a transient scope `<prefix>-<name>.scope` in the slice named by
 * linux.cgroupsPath "slice:prefix:name", started over D-Bus with the init's pid, Delegate=yes and
 * linux.resources as unit properties; the files systemd has no property for are then written by
 * the cgroupfs manager of the scope's directory, which also does everything that only reads
 * (ps, events, stats) and the freezer (pause, resume).
 *
 * This module is light: the D-Bus client (dbus.ts) and the unit calls (systemd_unit.ts) are
 * imported only by the methods that talk to systemd, so `state`, `list`, `kill` and the rest do
 * not load them (docs/benchmarks.md, "Per-call floor").
 */
import type { DeviceCgroupRule, Resources } from "../../spec/config.ts";
import type { CgroupLayout } from "./detect.ts";
import type { CgroupManager, SetOptions } from "./interface.ts";
import type { CgroupStats } from "./stats.ts";
import { trace } from "../log.ts";

/** Which unit a container's cgroup is. */
export interface SystemdUnit {
  /** "system.slice", "-.slice", "user.slice"... */
  slice: string;
  /** "skiff-abc.scope" (or a slice, when cgroupsPath's name is one). */
  name: string;
  /** The caller's systemd user instance (rootless) instead of the system one. */
  user: boolean;
}

/**
 * The unit of `cgroupsPath` ("slice:prefix:name"; path.ts checked its form): `prefix-name.scope`,
 * or `name.scope` without a prefix, or `name` itself when it is a slice (runc getUnitName); the
 * slice defaults to system.slice (user.slice for the user instance, as runc).
 */
export function systemdUnitOf(
  cgroupsPath: string | undefined,
  id: string,
  user = false,
  defaultPrefix = "skiff",
): SystemdUnit {
  const defaultSlice = user ? "user.slice" : "system.slice";
  if (!cgroupsPath) return { slice: defaultSlice, name: `${defaultPrefix}-${id}.scope`, user };
  const [slice, prefix, name] = cgroupsPath.split(":");
  const unit = name.endsWith(".slice")
    ? name
    : prefix
    ? `${prefix}-${name}.scope`
    : `${name}.scope`;
  return { slice: slice || defaultSlice, name: unit, user };
}

/** The unit calls, loaded on first use. */
function unitModule(): Promise<typeof import("./systemd_unit.ts")> {
  return import("./systemd_unit.ts");
}

/** A container cgroup that is a systemd unit; `files` manages its directory through cgroupfs. */
export class SystemdCgroupManager implements CgroupManager {
  readonly layout: CgroupLayout;
  readonly unit: SystemdUnit;
  readonly #files: CgroupManager;

  constructor(unit: SystemdUnit, files: CgroupManager) {
    this.unit = unit;
    this.#files = files;
    this.layout = files.layout;
  }

  dirs(): Record<string, string> {
    return this.#files.dirs();
  }

  /** Nothing: the unit is made by start(), which needs the init's pid. */
  create(): void {}

  /**
   * StartTransientUnit of the scope with `pid` in it, Delegate=yes and the resources as
   * properties, awaiting the job (runc Apply); then the cgroupfs half makes sure of the directory
   * and the controllers its limits need.
   */
  async start(pid: number, resources?: Resources): Promise<void> {
    const v1 = this.layout !== "unified";
    if (v1 && this.unit.user) {
      // runc refuses it too: a v1 hierarchy cannot be delegated to a user safely.
      throw new Error(
        `--systemd-cgroup for a user who is not root needs cgroup v2; this host's layout is ${this.layout}`,
      );
    }
    const { connectSystemd, transientProperties, unitProperties } = await unitModule();
    const scopePid = this.unit.name.endsWith(".slice") ? undefined : pid;
    const props = [
      ...transientProperties(this.unit.slice, scopePid, v1),
      ...unitProperties(resources, resources?.devices, v1),
    ];
    await using bus = await connectSystemd(this.unit.user);
    await bus.startUnit(this.unit.name, props);
    trace("create: systemd unit started");
    this.#files.create();
  }

  set(resources: Resources | undefined, options?: SetOptions): string[] {
    return this.#files.set(resources, options);
  }

  /** SetUnitProperties (runc Set); set() then writes the files, as at create. */
  async setProperties(resources: Resources, options?: SetOptions): Promise<void> {
    const { connectSystemd, unitProperties } = await unitModule();
    const devices: DeviceCgroupRule[] | undefined = options?.skipDevices
      ? undefined
      : resources.devices;
    await using bus = await connectSystemd(this.unit.user);
    const v1 = this.layout !== "unified";
    await bus.setProperties(this.unit.name, unitProperties(resources, devices, v1));
  }

  procsFiles(): string[] {
    return this.#files.procsFiles();
  }

  freeze(): Promise<void> {
    return this.#files.freeze();
  }

  thaw(): void {
    this.#files.thaw();
  }

  isFrozen(): boolean {
    return this.#files.isFrozen();
  }

  pids(): number[] {
    return this.#files.pids();
  }

  stats(): CgroupStats {
    return this.#files.stats();
  }

  oomKillCount(): number {
    return this.#files.oomKillCount();
  }

  exists(): boolean {
    return this.#files.exists();
  }

  /**
   * StopUnit, awaited until systemd has forgotten the unit (runc Destroy); then whatever is left
   * of the directory goes as on cgroupfs (systemd removes the scope's cgroup itself).
   */
  async destroy(): Promise<void> {
    const { connectSystemd } = await unitModule();
    await using bus = await connectSystemd(this.unit.user);
    await bus.removeUnit(this.unit.name);
    await this.#files.destroy();
  }
}
