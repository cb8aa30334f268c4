/**
 * The cgroup of a rootless container that has none: the caller may not create one (no delegated
 * cgroup v2 subtree, or a cgroup v1 host). The container runs in the caller's own cgroup, as with
 * runc's rootless cgroup manager; what needs a cgroup of its own (limits, pause, ps, stats) is
 * refused with the reason, and the rest (create, delete, exec, kill of the init) works.
 */
import type { Resources } from "../../spec/config.ts";
import { SpecError } from "../../spec/errors.ts";
import type { CgroupLayout } from "./detect.ts";
import { canWrite } from "../../ffi/fs.ts";
import { geteuid } from "../../ffi/process.ts";
import { dirname, exists, join } from "../path.ts";
import type { CgroupManager } from "./interface.ts";
import type { CgroupStats } from "./stats.ts";

/**
 * The JSON paths of the limits in `resources` (every field set, except the device rules: a
 * rootless container cannot make device nodes, and runc's rootless manager ignores them too).
 * Empty when the resources need no cgroup.
 */
export function limitsIn(resources: Resources | undefined, base = "linux.resources"): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) {
      if (value.length > 0) out.push(path);
      return;
    }
    if (typeof value === "object") {
      for (const [key, child] of Object.entries(value)) walk(child, `${path}.${key}`);
      return;
    }
    out.push(path);
  };
  for (const [key, value] of Object.entries(resources ?? {})) {
    if (key !== "devices") walk(value, `${base}.${key}`);
  }
  return out;
}

/**
 * Why a rootless caller gets no cgroup at `manager`'s place, or undefined when it may make it:
 * only a cgroup v2 directory the caller can write (a delegated subtree, e.g. systemd's
 * user@UID.service with Delegate=yes) is used; cgroup v1 hierarchies cannot be delegated safely.
 */
export function rootlessCgroupBlocker(manager: CgroupManager): string | undefined {
  const euid = geteuid();
  if (manager.layout !== "unified") {
    return `the host's cgroups are ${manager.layout} (cgroup v1 controllers), and only a ` +
      `cgroup v2 subtree can be delegated to uid ${euid}`;
  }
  const dir = manager.dirs()[""];
  if (exists(dir)) {
    const procs = join(dir, "cgroup.procs");
    return canWrite(procs) ? undefined : `${procs} is not writable by uid ${euid}`;
  }
  let parent = dirname(dir);
  while (parent !== "/" && !exists(parent)) parent = dirname(parent);
  return canWrite(parent)
    ? undefined
    : `${parent} is not writable by uid ${euid} (no delegated cgroup v2 subtree)`;
}

/**
 * The cgroup choice of a rootless create when `reason` says the caller may not make one: an error
 * naming linux.cgroupsPath when the config names a cgroup (runc refuses that case too), or the
 * first limit in linux.resources when it has any; otherwise a NoCgroup.
 */
export function noCgroupFor(
  reason: string,
  layout: CgroupLayout,
  cgroupsPath: string | undefined,
  resources: Resources | undefined,
  configFile?: string,
): NoCgroup {
  if (cgroupsPath) {
    throw new SpecError(
      "linux.cgroupsPath",
      `${JSON.stringify(cgroupsPath)} cannot be used by a rootless container: ${reason}`,
      configFile,
    );
  }
  const limits = limitsIn(resources);
  if (limits.length > 0) {
    throw new SpecError(
      limits[0],
      `needs a cgroup, and a rootless container gets none here: ${reason} ` +
        `(limits set: ${limits.join(", ")}; remove them, or delegate a cgroup v2 subtree)`,
      configFile,
    );
  }
  return new NoCgroup(reason, layout);
}

/** A container without a cgroup of its own (see the module comment). */
export class NoCgroup implements CgroupManager {
  readonly layout: CgroupLayout;
  /** Why there is no cgroup (recorded in state.json, repeated in every refusal). */
  readonly reason: string;

  constructor(reason: string, layout: CgroupLayout) {
    this.reason = reason;
    this.layout = layout;
  }

  /** The error for `what`, which needs a cgroup of the container's own. */
  refusal(what: string): Error {
    return new Error(
      `${what} needs the container's cgroup, and this rootless container has none: ${this.reason}`,
    );
  }

  dirs(): Record<string, string> {
    return {};
  }

  create(): void {}

  set(resources: Resources | undefined): string[] {
    const limits = limitsIn(resources);
    if (limits.length > 0) throw this.refusal(`setting ${limits.join(", ")}`);
    return [];
  }

  procsFiles(): string[] {
    return [];
  }

  freeze(): Promise<void> {
    return Promise.reject(this.refusal("pause"));
  }

  thaw(): void {
    throw this.refusal("resume");
  }

  isFrozen(): boolean {
    return false;
  }

  pids(): number[] {
    throw this.refusal("listing the container's processes");
  }

  stats(): CgroupStats {
    throw this.refusal("stats");
  }

  oomKillCount(): number {
    return 0;
  }

  exists(): boolean {
    return false;
  }

  destroy(): Promise<void> {
    return Promise.resolve();
  }
}
