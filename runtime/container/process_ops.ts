/**
 * The trampoline ops that turn a new process into the container process's identity, shared by the
 * exec trampoline (exec_trampoline.ts) and the container's trampoline init (init_trampoline.ts):
 * runc's order, as the Deno init's finalizeWithSeccomp() (init/finalize.ts) does it.
 */
import type { Linux, Process } from "../../spec/config.ts";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_CAPBSET_DROP,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
} from "../../ffi/constants.ts";
import { statx } from "../../ffi/file_attrs.ts";
import { nodeMask, PERSONALITY_DOMAINS, schedResetAffinity } from "../../ffi/sched.ts";
import { memoryPolicyArgs } from "../init/process_attrs.ts";
import { writeProcFile } from "../procfs.ts";
import { RLIMITS } from "../../spec/rlimits.ts";
import type { BootstrapSeccomp } from "../process/protocol.ts";
import type { CapabilityMasks } from "../security/capabilities.ts";
import type { TrampolineOp } from "../trampoline/program.ts";

/** Appends one op and what it does for the caller (its error's lead). */
export type AddOp = (op: TrampolineOp, why?: string) => void;

/** Signals a Deno parent leaves ignored in its children: SIGPIPE and glibc's 32 and 33. */
const IGNORED_BY_DENO = [13, 32, 33];

/** What identityOps() needs. */
export interface IdentityPlan {
  process: Process;
  masks: CapabilityMasks;
  lastCap: number;
  seccomp?: BootstrapSeccomp;
  /** Fds from 3 up that stay open across execve (LISTEN_FDS, --preserve-fds). */
  keepFds: number;
  /** Give stdio 0-2 (those that are not /dev/null) to the process user. */
  chownStdio: boolean;
  /** The user namespace's setgroups says "deny": an empty group list is left alone. */
  setgroupsDenied: boolean;
  /** A filter with a listener reports its fd number on this fd and waits (see the seccomp op). */
  listenerReportFd?: number;
}

/**
 * linux.personality and linux.memoryPolicy as ops: both pass through execve, and both inits' last
 * stage sets them before the identity, as runc's inits do (init/process_attrs.ts for the Deno one).
 */
export function personalityAndPolicyOps(
  linux: Pick<Linux, "personality" | "memoryPolicy"> | undefined,
  add: AddOp,
): void {
  const persona = linux?.personality;
  if (persona) {
    add(
      { op: "personality", persona: PERSONALITY_DOMAINS[persona.domain] },
      `linux.personality: cannot set domain ${persona.domain}`,
    );
  }
  const policy = linux?.memoryPolicy;
  if (policy) {
    const { mode, nodes } = memoryPolicyArgs(policy);
    add(
      { op: "mempolicy", mode, nodemask: nodes.length ? [...nodeMask(nodes)] : [] },
      `linux.memoryPolicy: cannot set ${policy.mode}`,
    );
  }
}

/**
 * Close-on-exec for every fd but 0-2 and the kept ones, default signal actions, seccomp (before
 * the identity without no_new_privs), cwd, rlimits, bounding set, KEEPCAPS, stdio owner, groups,
 * gid, uid, capabilities and ambient, umask, no_new_privs and seccomp.
 */
export function identityOps(plan: IdentityPlan, add: AddOp): void {
  const { process, masks } = plan;
  add({ op: "cloexecFrom", first: 3 + plan.keepFds });
  for (const signal of IGNORED_BY_DENO) add({ op: "sigdefault", signal });
  const filter = plan.seccomp
    ? Uint8Array.from(atob(plan.seccomp.program), (c) => c.charCodeAt(0))
    : undefined;
  const listener = plan.seccomp?.newListener ? plan.listenerReportFd : undefined;
  const loadFilter = () =>
    add(
      { op: "seccomp", flags: plan.seccomp!.flags, filter: filter!, listenerFd: listener },
      "linux.seccomp: cannot load the filter",
    );
  if (filter && !process.noNewPrivileges) loadFilter();
  add({ op: "chdir", path: process.cwd }, `process.cwd: cannot change to ${process.cwd}`);
  for (const r of process.rlimits ?? []) {
    add(
      { op: "prlimit", resource: RLIMITS[r.type], soft: rlim(r.soft), hard: rlim(r.hard) },
      `process.rlimits: cannot set ${r.type} to ${r.soft}/${r.hard}`,
    );
  }
  for (let cap = 0; cap <= plan.lastCap; cap++) {
    if ((masks.bounding & (1n << BigInt(cap))) === 0n) {
      add({ op: "prctl", option: PR_CAPBSET_DROP, arg2: cap }, `cannot drop capability ${cap}`);
    }
  }
  add({ op: "prctl", option: PR_SET_KEEPCAPS, arg2: 1 });
  const { uid, gid } = process.user;
  if (plan.chownStdio) {
    for (const fd of [0, 1, 2]) if (!isDevNull(fd)) add({ op: "fchown", fd, uid });
  }
  const groups = process.user.additionalGids ?? [];
  const identity = `process.user: cannot switch to uid ${uid} gid ${gid}`;
  if (groups.length > 0 || !plan.setgroupsDenied) add({ op: "setgroups", groups }, identity);
  add({ op: "setresgid", id: gid }, identity);
  add({ op: "setresuid", id: uid }, identity);
  add({ op: "prctl", option: PR_SET_KEEPCAPS, arg2: 0 });
  add({
    op: "capset",
    effective: masks.effective,
    permitted: masks.permitted,
    inheritable: masks.inheritable,
  });
  add({ op: "prctl", option: PR_CAP_AMBIENT, arg2: PR_CAP_AMBIENT_CLEAR_ALL });
  for (const cap of masks.ambient) {
    add(
      { op: "prctl", option: PR_CAP_AMBIENT, arg2: PR_CAP_AMBIENT_RAISE, arg3: cap },
      `cannot raise ambient capability ${cap}: it must be in permitted and inheritable`,
    );
  }
  add({ op: "umask", mask: process.user.umask ?? 0o022 });
  if (process.noNewPrivileges) add({ op: "prctl", option: PR_SET_NO_NEW_PRIVS, arg2: 1 });
  if (filter && process.noNewPrivileges) loadFilter();
}

/**
 * True when this process holds CAP_SYS_ADMIN and CAP_SYS_CHROOT (effective) in its own user
 * namespace: what inContainerRoot() needs to come back to its own mount namespace. A user's own
 * `skiff` (rootless, without a user namespace of its own) has neither.
 */
export function privileged(): boolean {
  const status = Deno.readTextFileSync("/proc/self/status");
  const eff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0"}`);
  const CAP_SYS_CHROOT = 18n;
  const CAP_SYS_ADMIN = 21n;
  return ((eff >> CAP_SYS_ADMIN) & 1n) === 1n && ((eff >> CAP_SYS_CHROOT) & 1n) === 1n;
}

/** True when stdio fd `fd` of this process is /dev/null (which keeps its owner). */
function isDevNull(fd: number): boolean {
  try {
    const st = statx(fd, "", AT_EMPTY_PATH);
    const devNull = statx(AT_FDCWD, "/dev/null", 0);
    return st.rdevMajor === devNull.rdevMajor && st.rdevMinor === devNull.rdevMinor &&
      st.rdevMajor !== 0;
  } catch {
    return true;
  }
}

/** A JSON rlimit value as rlim_t: 2^64-1 (RLIM_INFINITY) arrives as a double just above it. */
function rlim(value: number): bigint {
  const v = BigInt(value);
  return v > 0xffffffffffffffffn ? 0xffffffffffffffffn : v;
}

/** process.oomScoreAdj of process `pid`, written from the host. */
export function setOomScoreAdjFromHost(oomScoreAdj: number | undefined, pid: number): void {
  if (oomScoreAdj !== undefined) {
    try {
      writeProcFile(`/proc/${pid}/oom_score_adj`, String(oomScoreAdj));
    } catch (err) {
      throw new Error(`process.oomScoreAdj: cannot set ${oomScoreAdj}`, { cause: err });
    }
  }
}

/**
 * What the CLI sets on a container process from the host (the Deno init sets it on itself):
 * process.oomScoreAdj, and the CPU affinity reset to the cpuset (runc 1.3+: a process must not keep
 * the runtime's own).
 */
export function setFromHost(oomScoreAdj: number | undefined, pid: number): void {
  setOomScoreAdjFromHost(oomScoreAdj, pid);
  try {
    schedResetAffinity(pid);
  } catch {
    // runc only warns.
  }
}
