/**
 * PROTOTYPE (issue 11): the container-building steps a Worker thread runs on itself, shared by
 * ns_worker.ts (questions 2-3) and e2e_worker.ts (question 6). Everything here is synchronous FFI
 * or sync Deno ops on the calling thread: namespaces, root and cwd are per-thread here.
 */
import { close, open } from "../../../ffi/fs.ts";
import { mount, pivotRoot, umount } from "../../../ffi/mount.ts";
import { setns, unshare } from "../../../ffi/namespace.ts";
import { sethostname } from "../../../ffi/process.ts";
import { chdir } from "../../../ffi/fs.ts";
import {
  CLONE_FS,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUTS,
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOSUID,
  MS_PRIVATE,
  MS_REC,
  O_CLOEXEC,
  O_RDONLY,
} from "../../../ffi/constants.ts";
import { mountProcForPidns } from "./_sys.ts";

/** Milliseconds since `t0`, one decimal. */
export function since(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/** What build() leaves for the spawn: the host's pid namespace for children, and timings. */
export interface Built {
  /** The host's pid namespace for children (to setns back to after the spawn). */
  hostPid: number;
  /** Milestones, ms since the start of build(). */
  marks: Record<string, number>;
  /** Why an fd for the new pid namespace could not be opened before a process was in it. */
  emptyPidnsFd: string;
}

/**
 * mnt/uts/ipc/net (+ own fs_struct) → `/` private → bind rootfs → tmpfs /dev (+ null, zero,
 * urandom) → a placeholder procfs at /proc (the thread's active pid ns = the host's: it lets the
 * first child exec /proc/self/fd/N, and shows host pids until replaced) → pivot_root → hostname.
 */
export function build(rootfs: string, hostname: string, probeEmptyPidns = true): Built {
  const t0 = performance.now();
  const marks: Record<string, number> = {};
  const hostPid = open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
  unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_FS);
  marks.unshare = since(t0);
  mount("", "/", "", MS_REC | MS_PRIVATE);
  mount(rootfs, rootfs, "", MS_BIND | MS_REC);
  mount("tmpfs", `${rootfs}/dev`, "tmpfs", MS_NOSUID, "mode=755,size=65536k");
  for (const dev of ["null", "zero", "urandom"]) {
    Deno.writeFileSync(`${rootfs}/dev/${dev}`, new Uint8Array());
    mount(`/dev/${dev}`, `${rootfs}/dev/${dev}`, "", MS_BIND);
  }
  mount("proc", `${rootfs}/proc`, "proc", MS_NOSUID | MS_NODEV);
  marks.mounts = since(t0);
  chdir(rootfs);
  pivotRoot(".", ".");
  umount(".", MNT_DETACH);
  chdir("/");
  marks.pivot = since(t0);
  sethostname(hostname);
  marks.hostname = since(t0);
  // Question 3's first idea: an fd for a new pid namespace before any process is in it.
  let emptyPidnsFd = "not tried";
  if (!probeEmptyPidns) return { hostPid, marks, emptyPidnsFd };
  emptyPidnsFd = "opened";
  unshare(CLONE_NEWPID);
  try {
    close(open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC));
  } catch (err) {
    emptyPidnsFd = String(err);
  } finally {
    setns(hostPid, CLONE_NEWPID, "host pid_for_children");
  }
  return { hostPid, marks, emptyPidnsFd };
}

/**
 * Runs `spawn` with the thread's pid_for_children set to a NEW pid namespace (the child is its
 * PID 1), then goes back to the host's. The thread can't create threads in between.
 */
export function inNewPidns<T>(b: Built, spawn: () => T): T {
  unshare(CLONE_NEWPID);
  try {
    return spawn();
  } finally {
    setns(b.hostPid, CLONE_NEWPID, "host pid_for_children");
  }
}

/**
 * Replaces the placeholder /proc by a procfs of `pid`'s pid namespace (fsconfig "pidns" with
 * /proc/PID/ns/pid, opened through the placeholder, which shows host pids).
 */
export function procForPidOf(pid: number): void {
  const fd = open(`/proc/${pid}/ns/pid`, O_RDONLY | O_CLOEXEC);
  try {
    umount("/proc", MNT_DETACH);
    mountProcForPidns(fd, "/proc");
  } finally {
    close(fd);
  }
}

/** Closes the fds of `b`. */
export function release(b: Built): void {
  close(b.hostPid);
}
