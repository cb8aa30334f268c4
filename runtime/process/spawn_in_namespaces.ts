import { writeProcFile } from "../procfs.ts";
import { CLONE_FS, CLONE_NEWTIME, O_CLOEXEC, O_DIRECTORY, O_RDONLY } from "../../ffi/constants.ts";
import { close, fchdir, open } from "../../ffi/fs.ts";
import { ioctlNsGetType, setns, unshare } from "../../ffi/namespace.ts";
import type { NamespaceType } from "../../spec/config.ts";
import { NAMESPACE_FLAGS, type NamespacePlan, PROC_NS_NAMES } from "../namespaces.ts";

/** Offsets for a new time namespace, written before its first process is born. */
export type TimeOffsets = Record<string, { secs?: number; nanosecs?: number }>;

/**
 * Spawns a child inside the namespaces of `plan`, using the recipe of platform-notes.md:
 * namespaces are per-thread, so the main thread joins and unshares them, spawns (the child is
 * born inside them, PID 1 of a new PID namespace), and then setns(2)es itself back.
 *
 * Nothing between unshare and restore may create a thread: after unshare(CLONE_NEWPID) the thread
 * cannot make threads, so the PID namespace is restored first.
 */
export function spawnInNamespaces(
  plan: NamespacePlan,
  spawn: () => Deno.ChildProcess,
  timeOffsets?: TimeOffsets,
): Deno.ChildProcess {
  const saved = new Map<NamespaceType, number>();
  const joined: number[] = [];
  try {
    for (const type of plan.touched) {
      saved.set(type, open(`/proc/thread-self/ns/${PROC_NS_NAMES[type]}`, O_RDONLY | O_CLOEXEC));
    }
    // Open every path first: joining the mount namespace changes what later paths mean.
    const targets = plan.join.map((j) => {
      let fd: number;
      try {
        fd = open(j.path, O_RDONLY | O_CLOEXEC);
      } catch (err) {
        throw new Error(`linux.namespaces[${j.index}].path: cannot open ${j.path}`, { cause: err });
      }
      joined.push(fd);
      const actual = ioctlNsGetType(fd);
      if (actual !== undefined && actual !== j.flag) {
        throw new Error(
          `linux.namespaces[${j.index}].path: ${j.path} is not a ${j.type} namespace`,
        );
      }
      return { ...j, fd };
    });
    let child: Deno.ChildProcess;
    // setns(2) into a mount namespace moves the thread to that namespace's root: the cwd is
    // restored below, for a caller that goes on (the library, docs/library.md).
    const cwd = saved.has("mount") ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : undefined;
    try {
      // setns(2) into a mount namespace (joining one, and restoring the saved one) is EINVAL for a
      // thread that shares its fs_struct with others, as Deno's threads do. unshare(CLONE_NEWNS)
      // implies CLONE_FS; a join needs it said.
      if (saved.has("mount")) unshare(CLONE_FS);
      for (const t of targets) setns(t.fd, t.flag, t.path);
      if (plan.create) unshare(plan.create);
      if ((plan.create & CLONE_NEWTIME) && timeOffsets) writeTimeOffsets(timeOffsets);
      child = spawn();
    } finally {
      restore(saved);
      if (cwd !== undefined) {
        fchdir(cwd);
        close(cwd);
      }
    }
    return child;
  } finally {
    for (const fd of saved.values()) close(fd);
    for (const fd of joined) close(fd);
  }
}

function restore(saved: Map<NamespaceType, number>): void {
  // PID first: until it is restored this thread cannot create threads. Mount last.
  // Time is not restored: setns(2) into a time namespace needs a single-threaded process (EUSERS),
  // and unshare(CLONE_NEWTIME) changed only time_for_children, so this thread's own clocks are
  // untouched; later children of this CLI process (none but hooks) would share the new offsets.
  const order: NamespaceType[] = ["pid", "user", "ipc", "uts", "network", "cgroup", "mount"];
  for (const type of order) {
    const fd = saved.get(type);
    if (fd !== undefined) setns(fd, NAMESPACE_FLAGS[type], `saved ${PROC_NS_NAMES[type]}`);
  }
}

/**
 * Writes the offsets of the time namespace that process `pid` ("self": this thread's process) has
 * unshared and not yet entered: /proc/PID/timens_offsets.
 */
export function writeTimeOffsets(offsets: TimeOffsets, pid: number | "self" = "self"): void {
  const path = `/proc/${pid}/timens_offsets`;
  const lines = Object.entries(offsets)
    .map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}`)
    .join("\n");
  try {
    // Only procfs's own file: never one created, truncated or mounted in its place.
    writeProcFile(path, lines + "\n");
  } catch (err) {
    throw new Error(`linux.timeOffsets: cannot write ${path}`, { cause: err });
  }
}
