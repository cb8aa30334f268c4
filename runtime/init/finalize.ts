import type { Process } from "../../spec/config.ts";
import { RLIMITS } from "../../spec/rlimits.ts";
import {
  chdir,
  getcwd,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
  prctl,
  setgroups,
  setresgid,
  setresuid,
  setrlimit,
  SyscallError,
  umask,
} from "../../ffi/mod.ts";
import {
  applyCapabilities,
  type CapabilityMasks,
  dropBoundingSet,
} from "../security/capabilities.ts";
import { homeOf, lookPath } from "./exec_path.ts";
import { applyExecLabels } from "../security/lsm.ts";

/** What finalizeProcess() prepares for execve. */
export interface ExecTarget {
  path: string;
  argv: string[];
  env: string[];
}

/** Sets process.rlimits with prlimit(2); names the limit on failure. */
export function applyRlimits(process: Process): void {
  for (const r of process.rlimits ?? []) {
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
    if (err instanceof SyscallError && err.code !== "ENOENT") return;
    cwd = "(unreachable)";
  }
  if (!cwd.startsWith("/")) {
    throw new Error(`process.cwd: ${wanted} is outside the container root (${cwd})`);
  }
}

/**
 * Turns the init into the container process's identity, in runc's order: rlimits; bounding set;
 * keep capabilities across the uid change; groups, gid, uid; capabilities and ambient set;
 * no_new_privs; umask; cwd (verified to be inside the root, CVE-2024-21626); resolve args[0].
 * Every step is per-thread on the main thread, which is the thread that will execve.
 */
export function finalizeProcess(
  process: Process,
  masks: CapabilityMasks,
  lastCap: number,
): ExecTarget {
  applyRlimits(process);
  // The labels take effect at execve; /proc/thread-self is this (the execve-ing) thread.
  applyExecLabels(process);
  dropBoundingSet(masks, lastCap);
  prctl(PR_SET_KEEPCAPS, 1);
  const { uid, gid } = process.user;
  try {
    setgroups(process.user.additionalGids ?? []);
    setresgid(gid);
    setresuid(uid);
  } catch (err) {
    throw new Error(`process.user: cannot switch to uid ${uid} gid ${gid}`, { cause: err });
  }
  prctl(PR_SET_KEEPCAPS, 0);
  applyCapabilities(masks);
  if (process.noNewPrivileges) prctl(PR_SET_NO_NEW_PRIVS, 1);
  umask(process.user.umask ?? 0o022);
  try {
    chdir(process.cwd);
  } catch (err) {
    throw new Error(`process.cwd: cannot change to ${process.cwd}`, { cause: err });
  }
  checkCwdInsideRoot(process.cwd);
  const env = [...(process.env ?? [])];
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${homeOf(uid)}`);
  const argv = process.args ?? [];
  const path = lookPath(argv[0], env);
  return { path, argv, env };
}
