import type { Process, Rlimit } from "../../spec/config.ts";
import { errorChain, ExitError } from "../errors.ts";
import { RLIMITS } from "../../spec/rlimits.ts";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
} from "../../ffi/constants.ts";
import { chdir, cloexecFrom, getcwd, umask } from "../../ffi/fs.ts";
import {
  defaultSignalAction,
  execve,
  prctl,
  setgroups,
  setresgid,
  setresuid,
  setrlimit,
} from "../../ffi/process.ts";
import {
  applyCapabilities,
  type CapabilityMasks,
  dropBoundingSet,
} from "../security/capabilities.ts";
import { homeOf, lookPath } from "./exec_path.ts";
import type { BootstrapSeccomp } from "../process/protocol.ts";
import { installFilter, type ListenerContainer, sendListener } from "./seccomp_listener.ts";
import { applyExecLabels } from "../security/lsm.ts";
import { fchown, statx } from "../../ffi/file_attrs.ts";
import { errnoOf, isErrno } from "../../ffi/errno.ts";

/** What finalizeProcess() prepares for execve. */
export interface ExecTarget {
  path: string;
  argv: string[];
  env: string[];
  /** The address-space limits, set by execTarget() right before execve (see LATE_RLIMITS). */
  lateRlimits: Rlimit[];
  /** The capability sets the process has before execve (the waiter sets them again). */
  capabilities: { effective: bigint; permitted: bigint; inheritable: bigint };
}

/**
 * Limits on the address space that the init's own V8 heap cannot live under: set as the last step
 * before execve. Set earlier, a limit below what V8 has reserved makes its next heap growth fail
 * and the init dies out of memory (runtime-tools process_rlimits: RLIMIT_AS of 1 GiB, seen about
 * one run in two). They are lowered from the host's (usually unlimited) values, which needs no
 * privilege after the identity change.
 */
const LATE_RLIMITS = new Set(["RLIMIT_AS", "RLIMIT_DATA"]);

/** Sets rlimits with prlimit(2); names the limit on failure. */
function applyRlimits(rlimits: readonly Rlimit[]): void {
  for (const r of rlimits) {
    try {
      setrlimit(RLIMITS[r.type], r.type, BigInt(r.soft), BigInt(r.hard));
    } catch (err) {
      throw new Error(`process.rlimits: cannot set ${r.type} to ${r.soft}/${r.hard}`, {
        cause: err,
      });
    }
  }
}

/**
 * Refuses a working directory outside the container's root (CVE-2024-21626: a leaked host fd as
 * process.cwd). getcwd(2) says so with ENOENT or an "(unreachable)" path. A seccomp profile may
 * refuse getcwd itself (EPERM or its errnoRet): that says nothing about the cwd, so it passes, as
 * runc's containers run under such profiles (runtime-tools linux_seccomp).
 */
function checkCwdInsideRoot(wanted: string): void {
  let cwd: string;
  try {
    cwd = getcwd();
  } catch (err) {
    if (errnoOf(err) !== undefined && !isErrno(err, "ENOENT")) return;
    cwd = "(unreachable)";
  }
  if (!cwd.startsWith("/")) {
    throw new Error(`process.cwd: ${wanted} is outside the container root (${cwd})`);
  }
}

/**
 * chdir(process.cwd) while the init is still root with every capability, as runc does: a cwd that
 * only the runtime can enter works. Returns false on EACCES/EPERM, so that the caller tries again
 * as the process user (a directory only that user may enter, e.g. a volume chowned to it).
 */
function enterCwd(cwd: string, lastTry: boolean): boolean {
  try {
    chdir(cwd);
    return true;
  } catch (err) {
    if (!lastTry && isErrno(err, "EACCES", "EPERM")) return false;
    throw new Error(`process.cwd: cannot change to ${cwd}`, { cause: err });
  }
}

/**
 * Hands stdin, stdout and stderr to the process user before the uid changes (runc's
 * fixStdioPermissions): each one not already owned by `uid` and not /dev/null gets `uid` as its
 * owner, its group unchanged. Without it a non-root process could not use its own terminal.
 * EINVAL, EPERM and EROFS leave that fd as it is, as in runc.
 */
export function chownStdio(uid: number): void {
  let devNull;
  try {
    devNull = statx(AT_FDCWD, "/dev/null", 0);
  } catch (err) {
    throw new Error("cannot stat /dev/null to set the owner of stdio", { cause: err });
  }
  for (const fd of [0, 1, 2]) {
    const st = statx(fd, "", AT_EMPTY_PATH);
    const isNull = st.rdevMajor === devNull.rdevMajor && st.rdevMinor === devNull.rdevMinor;
    if (st.uid === uid || isNull) continue;
    try {
      fchown(fd, uid, st.gid);
    } catch (err) {
      if (isErrno(err, "EINVAL", "EPERM", "EROFS")) continue;
      throw new Error(`cannot give fd ${fd} (stdio) to uid ${uid}`, { cause: err });
    }
  }
}

/**
 * Turns the init into the container process's identity, in runc's order: cwd (first try, as
 * root); rlimits; bounding set; keep capabilities across the uid change; stdio owner; groups,
 * gid, uid; cwd (second try, as the user); capabilities and ambient set; no_new_privs; umask;
 * cwd verified to be inside the root (CVE-2024-21626); resolve args[0].
 * Every step is per-thread on the main thread, which is the thread that will execve.
 * @param giveStdio chown stdio to the process user (chownStdio); false for the caller's own stdio.
 */
export function finalizeProcess(
  process: Process,
  masks: CapabilityMasks,
  lastCap: number,
  giveStdio: boolean,
): ExecTarget {
  const inCwd = enterCwd(process.cwd, false);
  applyRlimits((process.rlimits ?? []).filter((r) => !LATE_RLIMITS.has(r.type)));
  // The labels take effect at execve; /proc/thread-self is this (the execve-ing) thread.
  applyExecLabels(process);
  dropBoundingSet(masks, lastCap);
  prctl(PR_SET_KEEPCAPS, 1);
  const { uid, gid } = process.user;
  if (giveStdio) chownStdio(uid);
  try {
    setSupplementaryGroups(process.user.additionalGids ?? []);
    setresgid(gid);
    setresuid(uid);
  } catch (err) {
    throw new Error(`process.user: cannot switch to uid ${uid} gid ${gid}`, { cause: err });
  }
  if (!inCwd) enterCwd(process.cwd, true);
  prctl(PR_SET_KEEPCAPS, 0);
  applyCapabilities(masks);
  if (process.noNewPrivileges) prctl(PR_SET_NO_NEW_PRIVS, 1);
  umask(process.user.umask ?? 0o022);
  checkCwdInsideRoot(process.cwd);
  const env = [...(process.env ?? [])];
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${homeOf(uid)}`);
  const argv = process.args ?? [];
  const path = lookPath(argv[0], env);
  const lateRlimits = (process.rlimits ?? []).filter((r) => LATE_RLIMITS.has(r.type));
  const capabilities = {
    effective: masks.effective,
    permitted: masks.permitted,
    inheritable: masks.inheritable,
  };
  return { path, argv, env, lateRlimits, capabilities };
}

/** The init's last step: the address-space rlimits, then execve(2). Never returns. */
export function execTarget(target: ExecTarget): never {
  try {
    applyRlimits(target.lateRlimits);
  } catch (err) {
    throw new ExitError(errorChain(err), 1);
  }
  try {
    execve(target.path, target.argv, target.env);
  } catch (err) {
    throw new ExitError(errorChain(err), 127);
  }
}

/** SIGPIPE, and 32 (the first real-time signal, which glibc keeps for itself). */
const DENO_IGNORED_SIGNALS = [13, 32];

/** What finalizeWithSeccomp() needs besides the process and its capability masks. */
export interface FinalizeOptions {
  /** The compiled linux.seccomp, if any. */
  seccomp?: BootstrapSeccomp;
  /** The socket connected to linux.seccomp.listenerPath, if any. */
  listener?: number;
  /** Who the listener is told about. */
  container: Omit<ListenerContainer, "metadata">;
  hostPid: number;
  /** chown stdio to the process user (chownStdio()); false for the caller's own stdio. */
  giveStdio: boolean;
  /** How many fds from 3 up stay open across execve (LISTEN_FDS, --preserve-fds). */
  keepFds: number;
}

/**
 * Turns this process into the container process's identity (finalizeProcess) with the seccomp
 * filter placed as runc places it: without no_new_privs while the process still has CAP_SYS_ADMIN
 * (seccomp(2) needs one of the two), with it as late as possible. Every fd but 0-2 and the kept
 * ones is marked close-on-exec first (CVE-2024-21626), before a filter that may refuse close_range
 * (profiles older than the syscall). A listener fd goes to `listener` with the container's state.
 */
export function finalizeWithSeccomp(
  process: Process,
  masks: CapabilityMasks,
  lastCap: number,
  options: FinalizeOptions,
): ExecTarget {
  const { seccomp } = options;
  cloexecFrom(3 + options.keepFds);
  // Deno ignores SIGPIPE and signal 32, and an ignored signal stays ignored across execve: the
  // container's program must start with the default actions (runc's Go init only installs
  // handlers, which execve resets). Before the filters, which might not allow rt_sigaction.
  for (const signal of DENO_IGNORED_SIGNALS) defaultSignalAction(signal);
  let listenerFd: number | undefined;
  if (seccomp && !process.noNewPrivileges) listenerFd = installFilter(seccomp);
  const target = finalizeProcess(process, masks, lastCap, options.giveStdio);
  if (seccomp && process.noNewPrivileges) listenerFd = installFilter(seccomp);
  if (listenerFd !== undefined) {
    const container = { ...options.container, metadata: seccomp?.listenerMetadata };
    sendListener(options.listener, listenerFd, container, options.hostPid);
  }
  return target;
}

/**
 * setgroups(2), except in a user namespace whose setgroups file says "deny" (a rootless map of
 * one gid): there the kernel refuses the call, and an empty list is what the process has anyway.
 */
function setSupplementaryGroups(gids: readonly number[]): void {
  if (gids.length === 0 && setgroupsDenied()) return;
  setgroups(gids);
}

function setgroupsDenied(): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/setgroups").trim() === "deny";
  } catch {
    return false;
  }
}
