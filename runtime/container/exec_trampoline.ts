/**
 * `skiff exec` without a second Deno: the CLI computes everything (namespaces, identity, the
 * resolved program, the pty, the seccomp filter) and a generated trampoline (runtime/trampoline/)
 * does only the system calls that must happen in the new process. This module is the exec's whole
 * protocol; the create <-> init protocol is runtime/process/protocol.ts.
 *
 * ```
 *   CLI (Deno, host; container/exec.ts)              trampoline (static ELF, one thread)
 *   ------------------------------------              ---------------------------------
 *   main thread, unshare(CLONE_FS) once:
 *     setns(container mnt) or chroot(/proc/P/root)
 *     lookPath(args[0]), HOME, openPty(/dev/ptmx)
 *     setns/chroot back to the saved host root+cwd
 *   pty: window size, slave owner; master to
 *     --console-socket (or kept to relay, -t)
 *   socketpair R; spawn /proc/self/fd/<memfd> ---->  setns user (first), then ipc, uts, net, pid,
 *                                                    time, cgroup; [userns: setresgid/uid 0]
 *   read R  <--------------------------------------  PID p: clone(CLONE_PARENT), the first half
 *                                                    exits 0; p is a child of the CLI
 *   read R  <--------------------------------------  SYNC 1 (from p)
 *   cgroup.procs <- p (joinCgroupProcs), resctrl,
 *   /proc/p/oom_score_adj, affinity of p (reset, or
 *   execCPUAffinity.final; p was born with .initial),
 *   scheduler and I/O priority of p; answer ------>  setns mnt (or chroot /proc/P/root)
 *                                                    [tty: setsid, TIOCSCTTY, dup2 slave 0-2]
 *                                                    [personality, mempolicy]
 *                                                    close-on-exec from 3+preserve-fds,
 *                                                    default SIGPIPE/32/33, [seccomp w/o nnp],
 *                                                    chdir cwd, prlimits, bounding set drop,
 *                                                    KEEPCAPS, [fchown stdio], groups, gid, uid,
 *                                                    capset, ambient, umask, [nnp, seccomp]
 *   read R: EOF = execve done  <-------------------  execve(path, argv, envp) (R close-on-exec)
 *           an ERROR record = step i failed (errno), and the process exits 127
 *   --pid-file, --pidfd-socket; waitpid(p) for the exit code (exec in the foreground)
 * ```
 * The exec'd process is never a Deno.Command child: tokio never waits for it, so waitpid(2)
 * through FFI reaps it without a race (docs/prototypes/worker-init.md, section 5).
 *
 * What the trampoline cannot do yet goes to the Deno exec init (init/setns.ts), chosen in one
 * place: denoInitReason().
 */
import type { Linux, Process } from "../../spec/config.ts";
import {
  CLONE_FS,
  CLONE_NEWNS,
  CLONE_NEWUSER,
  O_CLOEXEC,
  O_DIRECTORY,
  O_RDONLY,
} from "../../ffi/constants.ts";
import { chdir, chroot, close, fchdir, open, setCloexec } from "../../ffi/fs.ts";
import { setns, unshare } from "../../ffi/namespace.ts";
import { fchown } from "../../ffi/file_attrs.ts";
import { openPty, setWindowSize } from "../../ffi/tty.ts";
import { sendFds } from "../../ffi/socket.ts";
import type { NamespacePlan } from "../namespaces.ts";
import type { BootstrapSeccomp } from "../process/protocol.ts";
import type { CapabilityMasks } from "../security/capabilities.ts";
import { homeOf, lookPath } from "../init/exec_path.ts";
import { connectConsole } from "../console.ts";
import { joinCgroupProcs } from "../cgroups/files.ts";
import { clonedInit, type InitProcess, killTrampoline } from "../process/init_process.ts";
import type { TrampolineOp, TrampolineProgram } from "../trampoline/program.ts";
import { answer, nextEvent, trampolineMemfd, trampolineSocket } from "../trampoline/spawn.ts";
import { posixSpawn } from "../../ffi/spawn.ts";
import {
  identityOps,
  personalityAndPolicyOps,
  privileged,
  setOomScoreAdjFromHost,
} from "./process_ops.ts";
import { applyFinalAffinity, applyScheduling, withInitialAffinity } from "../init/process_attrs.ts";
import { trace } from "../log.ts";

/** Everything the exec trampoline needs, computed by the CLI. */
export interface ExecTrampolinePlan {
  /** The container's init, whose namespaces and root the process joins (host pid). */
  containerPid: number;
  /** The namespaces joined before the clone (user first); mount is joined after it. */
  namespaces: NamespacePlan;
  /** Join the container's mount namespace (false: it shares the host's; chroot instead). */
  mountNamespace: boolean;
  process: Process;
  masks: CapabilityMasks;
  lastCap: number;
  seccomp?: BootstrapSeccomp;
  preserveFds: number;
  /** The process keeps the caller's stdio (foreground without a terminal): no chown. */
  callerStdio: boolean;
  /** --console-socket (absolute), with a terminal; without it the CLI keeps the master. */
  consoleSocket?: string;
  cgroupProcs: string[];
  /** Extra work at the sync point with the new process's host pid (intel RDT). */
  atSync?: (pid: number) => void;
  /** The container's linux.personality and linux.memoryPolicy, which exec'd processes get too. */
  linux?: Pick<Linux, "personality" | "memoryPolicy">;
}

/** A started exec process. */
export interface TrampolineExec {
  child: InitProcess;
  pid: number;
  /** The pty master, when there is a terminal and no --console-socket. */
  consoleMaster?: number;
}

const SYNC_CGROUP = 1;

/**
 * The reason `process` needs the Deno exec init, or undefined when the trampoline does it all.
 * The one place that chooses; docs/architecture.md lists the same cases.
 */
export function denoInitReason(
  process: Process,
  seccomp: BootstrapSeccomp | undefined,
): string | undefined {
  if (process.apparmorProfile) return "process.apparmorProfile";
  if (process.selinuxLabel) return "process.selinuxLabel";
  if (seccomp?.listenerPath || seccomp?.newListener) return "linux.seccomp.listenerPath";
  if (!privileged()) {
    return "an unprivileged caller (no CAP_SYS_ADMIN to leave the mount namespace)";
  }
  return undefined;
}

/**
 * Runs `fn` on the main thread with the container's root as its root and cwd (its mount namespace
 * or, without one, a chroot into /proc/PID/root), then puts the thread back where it was. Only
 * sync work may happen in `fn`: async ops run on other threads, which never leave the host's root.
 */
export function inContainerRoot<T>(pid: number, mountNamespace: boolean, fn: () => T): T {
  // The main thread gets an fs_struct of its own, once: the other threads keep the host's root.
  unshare(CLONE_FS);
  const hostMnt = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
  const hostRoot = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const hostCwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  try {
    if (mountNamespace) {
      const ns = open(`/proc/${pid}/ns/mnt`, O_RDONLY | O_CLOEXEC);
      try {
        setns(ns, CLONE_NEWNS, `/proc/${pid}/ns/mnt`);
      } finally {
        close(ns);
      }
    } else {
      chdir(`/proc/${pid}/root`);
      chroot(".");
      chdir("/");
    }
    return fn();
  } finally {
    try {
      if (mountNamespace) setns(hostMnt, CLONE_NEWNS, "the CLI's own mount namespace");
      fchdir(hostRoot);
      chroot(".");
      fchdir(hostCwd);
    } finally {
      close(hostMnt);
      close(hostRoot);
      close(hostCwd);
    }
  }
}

/** `id` of the container's user namespace as the host sees it (identity without a map). */
function hostId(pid: number, kind: "uid" | "gid", id: number): number {
  const map = Deno.readTextFileSync(`/proc/${pid}/${kind}_map`);
  for (const line of map.split("\n")) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (count > 0 && id >= inside && id < inside + count) return outside + (id - inside);
  }
  return -1;
}

/** The program of the exec trampoline (see the diagram above). */
export function execOps(
  plan: ExecTrampolinePlan,
  reportFd: number,
  target: { path: string; env: string[] },
  slave: number | undefined,
  setgroupsDenied: boolean,
): { ops: TrampolineOp[]; why: (string | undefined)[] } {
  const ops: TrampolineOp[] = [];
  const why: (string | undefined)[] = [];
  const add = (op: TrampolineOp, reason?: string) => {
    ops.push(op);
    why.push(reason);
  };
  const { process } = plan;
  for (const j of plan.namespaces.join) {
    add({ op: "setns", path: j.path, nstype: j.flag }, `cannot join namespace ${j.path}`);
  }
  if (plan.namespaces.join.some((j) => j.flag === CLONE_NEWUSER)) {
    add({ op: "setresgid", id: 0 });
    add({ op: "setresuid", id: 0 });
  }
  add({ op: "cloneParent", fd: reportFd });
  add({ op: "sync", fd: reportFd, point: SYNC_CGROUP });
  const mnt = `/proc/${plan.containerPid}/ns/mnt`;
  if (plan.mountNamespace) {
    add({ op: "setns", path: mnt, nstype: CLONE_NEWNS }, `cannot join namespace ${mnt}`);
  } else {
    add({ op: "chdir", path: `/proc/${plan.containerPid}/root` });
    add({ op: "chroot", path: "." });
    add({ op: "chdir", path: "/" });
  }
  if (slave !== undefined) {
    add({ op: "setsid" });
    add({ op: "setctty", fd: slave }, "cannot make the pty the controlling terminal");
    for (const fd of [0, 1, 2]) add({ op: "dup2", from: slave, to: fd });
  }
  // Before the identity, as the trampoline init's stage 2 and runc's setns init set them.
  personalityAndPolicyOps(plan.linux, add);
  identityOps({
    process,
    masks: plan.masks,
    lastCap: plan.lastCap,
    seccomp: plan.seccomp,
    keepFds: plan.preserveFds,
    chownStdio: !plan.callerStdio && slave === undefined,
    setgroupsDenied,
  }, add);
  const argv = process.args ?? [];
  add(
    { op: "execve", path: target.path, argv, envp: target.env },
    `exec: ${JSON.stringify(argv[0])}`,
  );
  return { ops, why };
}

/**
 * Starts `plan.process` in the container through the exec trampoline and returns once it has
 * exec'd (or throws, with nothing left running).
 */
export async function execViaTrampoline(plan: ExecTrampolinePlan): Promise<TrampolineExec> {
  const { process } = plan;
  const env = [...(process.env ?? [])];
  let path = "";
  let pty: { master: number; slave: number } | undefined;
  inContainerRoot(plan.containerPid, plan.mountNamespace, () => {
    if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${homeOf(process.user.uid)}`);
    try {
      chdir(process.cwd);
    } catch {
      // The trampoline says so, as the process user's cwd.
    }
    path = lookPath((process.args ?? [])[0], env);
    if (process.terminal) pty = openPty("/dev/ptmx");
  });
  trace("exec: resolved in the container");
  let consoleMaster: number | undefined;
  const socket = trampolineSocket();
  let trampoline: InitProcess | undefined;
  let clonedPid: number | undefined;
  try {
    if (pty) {
      const size = process.consoleSize;
      if (size && size.height > 0 && size.width > 0) {
        setWindowSize(pty.master, size.height, size.width);
      }
      const owner = hostId(plan.containerPid, "uid", process.user.uid);
      if (owner >= 0) {
        try {
          fchown(pty.slave, owner, 0xffffffff); // the group stays
        } catch {
          // runc leaves a terminal it cannot give away as it is.
        }
      }
      if (plan.consoleSocket) {
        const conn = connectConsole(plan.consoleSocket);
        try {
          sendFds(conn, new TextEncoder().encode("/dev/ptmx"), [pty.master]);
        } finally {
          close(conn);
        }
      } else {
        consoleMaster = pty.master;
      }
      setCloexec(pty.slave, false);
    }
    let setgroupsDenied = false;
    try {
      setgroupsDenied =
        Deno.readTextFileSync(`/proc/${plan.containerPid}/setgroups`).trim() === "deny";
    } catch {
      // No user namespace file: allowed.
    }
    const { ops, why } = execOps(plan, socket.theirs, { path, env }, pty?.slave, setgroupsDenied);
    const program: TrampolineProgram = { ops, why, reportFd: socket.theirs };
    trace("exec: program planned");
    try {
      // Born with execCPUAffinity.initial, kept until it is in the container's cgroup.
      trampoline = withInitialAffinity(
        process.execCPUAffinity?.initial,
        () => spawnTrampolineDirect(program, process.terminal === true),
      );
    } finally {
      close(socket.theirs);
      if (pty) {
        close(pty.slave);
        if (consoleMaster === undefined) close(pty.master);
      }
    }
    trace("exec: trampoline spawned");
    let pendingSync = false;
    for (;;) {
      const event = await nextEvent(socket.ours, program);
      if (event.kind === "end") break;
      if (event.kind === "pid") clonedPid = event.pid;
      if (event.kind === "sync") pendingSync = true;
      // The clone's sync record may come before its parent's pid record.
      if (pendingSync && clonedPid !== undefined) {
        pendingSync = false;
        atSync(plan, clonedPid);
        answer(socket.ours);
      }
    }
    const status = await trampoline.status;
    trampoline = undefined;
    if (!status.success) throw new Error(`the exec trampoline exited with status ${status.code}`);
    if (clonedPid === undefined) throw new Error("the exec trampoline reported no process");
    trace("exec: process exec'd");
    return { child: clonedInit(clonedPid), pid: clonedPid, consoleMaster };
  } catch (err) {
    if (consoleMaster !== undefined) close(consoleMaster);
    await killTrampoline(trampoline, clonedPid);
    throw err;
  } finally {
    close(socket.ours);
  }
}

/**
 * Starts `program` through posix_spawn(3) (ffi/process.ts posixSpawn) rather than Deno.Command:
 * the trampoline is a child Deno does not know, so it costs no Deno.Command start-up (30 ms and
 * more for the first one in a process). Its stdio is this process's own, or /dev/null.
 * @returns the running trampoline, reaped by waitPid() on its first `status`.
 */
function spawnTrampolineDirect(program: TrampolineProgram, nullStdio: boolean): InitProcess {
  const fd = trampolineMemfd(program);
  trace("exec: trampoline built");
  try {
    const path = `/proc/self/fd/${fd}`;
    return clonedInit(posixSpawn(path, [path], [], nullStdio));
  } finally {
    close(fd);
  }
}

/**
 * The CLI's part at the sync point: cgroup, resctrl, oom_score_adj, scheduler and I/O priority,
 * and affinity of `pid` (set from the host, as root: they pass through execve).
 */
function atSync(plan: ExecTrampolinePlan, pid: number): void {
  joinCgroupProcs(plan.cgroupProcs, pid);
  plan.atSync?.(pid);
  setOomScoreAdjFromHost(plan.process.oomScoreAdj, pid);
  applyFinalAffinity(plan.process.execCPUAffinity, "process.execCPUAffinity", pid);
  applyScheduling(plan.process, pid);
}
