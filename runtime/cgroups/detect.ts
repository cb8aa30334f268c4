/**
 * The host's cgroup layout, read from /proc/self/mountinfo, and the caller's own cgroups, read from
 * /proc/self/cgroup. The parsers are pure; detectCgroups() reads the files once per process.
 */
import { parseMountinfo } from "../mountinfo.ts";
import { join, relative } from "../path.ts";

/** unified: cgroup2 only; hybrid: v1 controllers plus a cgroup2 mount; legacy: v1 only. */
export type CgroupLayout = "unified" | "hybrid" | "legacy";

/** One cgroup filesystem mount. */
export interface CgroupMount {
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** The cgroup shown at the mount point (mountinfo field 4): "/" unless a sub-tree is mounted. */
  root: string;
  /** v1: the controllers of this hierarchy ("cpu", "cpuacct", "name=systemd"); v2: empty. */
  controllers: string[];
}

/** What Skiff needs to know about the host's cgroups. */
export interface HostCgroups {
  layout: CgroupLayout;
  /** v1 hierarchies by controller name (a co-mounted "cpu,cpuacct" appears under both names). */
  v1: Record<string, CgroupMount>;
  /** The cgroup2 mount: /sys/fs/cgroup on unified hosts, usually /sys/fs/cgroup/unified on hybrid. */
  unified?: CgroupMount;
  /** Controllers of the cgroup2 root (its cgroup.controllers); empty when there is no cgroup2. */
  unifiedControllers: string[];
}

/** The mounts of cgroup filesystems found in a /proc/<pid>/mountinfo text. */
export function parseCgroupMounts(
  mountinfo: string,
): { v1: Record<string, CgroupMount>; unified?: CgroupMount } {
  const v1: Record<string, CgroupMount> = {};
  let unified: CgroupMount | undefined;
  for (const { fstype, root, mountPoint, superOptions } of parseMountinfo(mountinfo)) {
    if (fstype === "cgroup2") {
      // The first cgroup2 mount wins, as runc's statfs of one fixed path would find.
      unified ??= { mountPoint, root, controllers: [] };
      continue;
    }
    if (fstype !== "cgroup") continue;
    const controllers = superOptions.filter((opt) =>
      opt.startsWith("name=") || !MOUNT_OPTIONS.has(opt)
    );
    const mount: CgroupMount = { mountPoint, root, controllers };
    for (const controller of controllers) v1[controller] ??= mount;
  }
  return { v1, unified };
}

/** Super-options of a v1 cgroup mount that are not controller names. */
const MOUNT_OPTIONS = new Set([
  "rw",
  "ro",
  "noprefix",
  "xattr",
  "clone_children",
  "cpuset_v2_mode",
  "favordynmods",
  "nofavordynmods",
]);

/**
 * Parses /proc/<pid>/cgroup into controller -> cgroup path; the cgroup2 entry ("0::/path") is under
 * the key "" (and named hierarchies under "name=systemd").
 */
export function parseProcCgroup(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (!line) continue;
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === "") out[""] = path;
    else for (const c of controllers.split(",")) out[c] = path;
  }
  return out;
}

/** Decides the layout from the parsed mounts (throws when there is no cgroup filesystem). */
export function layoutOf(v1: Record<string, CgroupMount>, unified?: CgroupMount): CgroupLayout {
  const hasV1Controllers = Object.keys(v1).some((c) => !c.startsWith("name="));
  if (hasV1Controllers) return unified ? "hybrid" : "legacy";
  if (unified) return "unified";
  throw new Error(
    "no cgroup filesystem is mounted (/proc/self/mountinfo has no cgroup or cgroup2)",
  );
}

/**
 * The host directory of cgroup `cgroupPath` in a hierarchy mounted at `mount`; a path outside the
 * mounted sub-tree (possible inside a container) resolves under the mount point anyway.
 */
export function hostDir(mount: CgroupMount, cgroupPath: string): string {
  const rel = relative(mount.root, cgroupPath);
  return join(mount.mountPoint, rel.startsWith("..") ? cgroupPath : rel);
}

let cached: HostCgroups | undefined;

/** Reads the host's cgroup layout (once per process). */
export function detectCgroups(): HostCgroups {
  if (cached) return cached;
  let mountinfo: string;
  try {
    mountinfo = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch (err) {
    throw new Error("cannot read /proc/self/mountinfo to find the cgroup mounts", { cause: err });
  }
  const { v1, unified } = parseCgroupMounts(mountinfo);
  const layout = layoutOf(v1, unified);
  let unifiedControllers: string[] = [];
  if (unified) {
    try {
      unifiedControllers = Deno.readTextFileSync(join(unified.mountPoint, "cgroup.controllers"))
        .trim().split(/\s+/).filter(Boolean);
    } catch {
      // A cgroup2 mount without cgroup.controllers is not usable for limits.
    }
  }
  cached = { layout, v1, unified, unifiedControllers };
  return cached;
}

/** The calling process's cgroups (parsed /proc/self/cgroup). */
export function ownCgroups(): Record<string, string> {
  try {
    return parseProcCgroup(Deno.readTextFileSync("/proc/self/cgroup"));
  } catch (err) {
    throw new Error("cannot read /proc/self/cgroup", { cause: err });
  }
}

/** True when systemd runs as the init system (sd_booted(3): /run/systemd/system exists). */
export function systemdRunning(): boolean {
  try {
    return Deno.statSync("/run/systemd/system").isDirectory;
  } catch {
    return false;
  }
}

/** Hugepage sizes of this kernel in the cgroup file spelling ("2MB", "1GB"), as runc names them. */
export function hugepageSizes(): string[] {
  const out: string[] = [];
  try {
    for (const entry of Deno.readDirSync("/sys/kernel/mm/hugepages")) {
      const size = hugepageSizeName(entry.name);
      if (size) out.push(size);
    }
  } catch {
    // No hugetlbfs support: no sizes.
  }
  return out.sort();
}

/** "hugepages-2048kB" -> "2MB" (mm/hugetlb_cgroup.c mem_fmt); undefined for other names. */
export function hugepageSizeName(dirName: string): string | undefined {
  const match = /^hugepages-(\d+)kB$/.exec(dirName);
  if (!match) return undefined;
  const kb = Number(match[1]);
  if (kb >= 1 << 20) return `${Math.floor(kb / (1 << 20))}GB`;
  if (kb >= 1 << 10) return `${Math.floor(kb / (1 << 10))}MB`;
  return `${kb}KB`;
}
