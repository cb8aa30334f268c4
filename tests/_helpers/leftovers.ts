/**
 * What containers can leave on the host, looked for by name: the stress, soak and fuzz tests give
 * every container an ID that starts with one prefix of their own and keep bundles and state roots
 * under one directory, so that anything of theirs still on the host can be found and named.
 */
import { detectCgroups } from "../../runtime/cgroups/detect.ts";

/** Every cgroup hierarchy's mount point (v1 controllers and the cgroup2 mount), once each. */
export function cgroupMounts(): string[] {
  const host = detectCgroups();
  return [
    ...new Set([
      ...Object.values(host.v1).map((m) => m.mountPoint),
      ...(host.unified ? [host.unified.mountPoint] : []),
    ]),
  ];
}

/** Cgroup directories, up to `depth` levels below each hierarchy's root, whose name starts with `prefix`. */
export function cgroupsNamed(prefix: string, depth = 3): string[] {
  const found: string[] = [];
  const walk = (dir: string, level: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return; // Removed while walking.
    }
    for (const entry of entries) {
      if (!entry.isDirectory) continue;
      const path = `${dir}/${entry.name}`;
      if (entry.name.startsWith(prefix)) found.push(path);
      else if (level < depth) walk(path, level + 1);
    }
  };
  for (const mount of cgroupMounts()) walk(mount, 1);
  return found;
}

/** Removes cgroups found by cgroupsNamed() (deepest first), for a test's cleanup. */
export function removeCgroupsWithPrefix(prefix: string): void {
  for (const dir of cgroupsNamed(prefix).sort((a, b) => b.length - a.length)) {
    try {
      Deno.removeSync(dir);
    } catch {
      // Still busy: the check that found it reports it.
    }
  }
}

/** Mount points on the host at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ")[4])
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/**
 * Processes whose mounts come from below `dir` (a container's processes see their rootfs there in
 * their mountinfo), or whose command line names it. This process and its ancestors are left out.
 */
export function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const mountinfo = Deno.readTextFileSync(`/proc/${pid}/mountinfo`);
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (mountinfo.includes(` ${dir}/`) || cmdline.includes(dir)) out.push(pid);
    } catch {
      // Gone, or a kernel thread.
    }
  }
  return out;
}

/** Entries of a state root (none once every container is deleted; a missing root has none). */
export function stateEntries(root: string): string[] {
  try {
    return [...Deno.readDirSync(root)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * Everything of a test still on the host: state dirs in `root`, cgroups whose name starts with
 * `prefix`, mounts and processes under `dir`. An empty list means nothing is left.
 */
export function leftovers(options: { root: string; prefix: string; dir: string }): string[] {
  return [
    ...stateEntries(options.root).map((e) => `state entry ${options.root}/${e}`),
    ...cgroupsNamed(options.prefix).map((c) => `cgroup ${c}`),
    ...mountsUnder(options.dir).map((m) => `mount ${m}`),
    ...processesUnder(options.dir).map((p) => `process ${p} (${cmdlineOf(p)})`),
  ];
}

/** Kills the processes processesUnder(dir) finds, for a test's cleanup. */
export function killProcessesUnder(dir: string): void {
  for (const pid of processesUnder(dir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

function cmdlineOf(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
  } catch {
    return "gone";
  }
}

/** Number of open fds of `pid`. */
export function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}
