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

/** Unmounts (lazily) everything at or below `dir`, deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  for (const point of mountsUnder(dir).reverse()) {
    await new Deno.Command("umount", { args: ["-l", point] }).output();
  }
}

/**
 * Processes of containers whose rootfs lies below `dir`: processes in another mount namespace than
 * this one with a mount whose root (mountinfo field 4) is below `dir`, and processes whose command
 * line names `dir` (skiff itself, `--root dir/...`). Host processes that merely see a mount below
 * `dir` in the shared mount table are not matched: killProcessesUnder() must never reach them.
 */
export function processesUnder(dir: string): number[] {
  const out: number[] = [];
  const ownNs = Deno.readLinkSync("/proc/self/ns/mnt");
  const spared = ancestors();
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || spared.has(pid)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (cmdline.includes(dir)) {
        out.push(pid);
        continue;
      }
      if (Deno.readLinkSync(`/proc/${pid}/ns/mnt`) === ownNs) continue;
      const mountinfo = Deno.readTextFileSync(`/proc/${pid}/mountinfo`);
      const roots = mountinfo.split("\n").map((line) => line.split(" ")[3]);
      if (roots.some((root) => root?.startsWith(`${dir}/`))) out.push(pid);
    } catch {
      // Gone, or a kernel thread.
    }
  }
  return out;
}

/** This process and its ancestors, which no cleanup may kill. */
function ancestors(): Set<number> {
  const out = new Set<number>([1, Deno.pid]);
  let pid = Deno.pid;
  while (pid > 1) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.add(pid);
    } catch {
      break;
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
