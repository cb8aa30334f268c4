/**
 * The per-thread attributes the container process inherits across execve: process.scheduler,
 * process.ioPriority, process.execCPUAffinity.final, linux.personality and linux.memoryPolicy.
 * runc sets them in its init after no_new_privs and before seccomp and the identity change
 * (standard_init_linux.go, setns_init_linux.go), so that the capabilities they may need
 * (CAP_SYS_NICE for real-time policies and negative nice) are still there.
 */
import type { Linux, Process } from "../../spec/config.ts";
import { parseCpuList } from "../../spec/cpu_list.ts";
import {
  IOPRIO_CLASSES,
  ioprioSet,
  MPOL_FLAGS,
  MPOL_MODES,
  personality,
  PERSONALITY_DOMAINS,
  SCHED_FLAGS,
  SCHED_POLICIES,
  schedGetaffinity,
  schedResetAffinity,
  schedRestoreAffinity,
  schedSetaffinity,
  schedSetattr,
  setMempolicy,
} from "../../ffi/sched.ts";

/** Applies process.scheduler and process.ioPriority, then linux.personality and linux.memoryPolicy. */
export function applyProcessAttrs(process: Process, linux: Linux | undefined): void {
  applyScheduling(process);
  applyPersonalityAndPolicy(linux);
}

/**
 * process.scheduler and process.ioPriority, of the calling thread or of process `pid` (the
 * trampoline init's CLI sets them on PID 1 from the host, as root: they pass through execve).
 */
export function applyScheduling(process: Process, pid = 0): void {
  const s = process.scheduler;
  if (s) {
    const flags = (s.flags ?? []).reduce((all, name) => all | SCHED_FLAGS[name], 0);
    const attr = {
      policy: SCHED_POLICIES[s.policy],
      flags,
      nice: s.nice ?? 0,
      priority: s.priority ?? 0,
      runtime: s.runtime ?? 0,
      deadline: s.deadline ?? 0,
      period: s.period ?? 0,
    };
    const detail = () =>
      `pid=${pid}, policy=${s.policy}, nice=${attr.nice}, priority=${attr.priority}, flags=${
        (s.flags ?? []).join("|") || "0"
      }`;
    try {
      schedSetattr(attr, detail, pid);
    } catch (err) {
      throw new Error(`process.scheduler: cannot set policy ${s.policy}`, { cause: err });
    }
  }
  const io = process.ioPriority;
  if (io) {
    const level = io.priority ?? 0;
    try {
      ioprioSet(
        IOPRIO_CLASSES[io.class],
        level,
        () => `pid=${pid}, class=${io.class}, priority=${level}`,
        pid,
      );
    } catch (err) {
      throw new Error(`process.ioPriority: cannot set ${io.class} priority ${level}`, {
        cause: err,
      });
    }
  }
}

function applyPersonalityAndPolicy(linux: Linux | undefined): void {
  const persona = linux?.personality;
  if (persona) {
    try {
      personality(PERSONALITY_DOMAINS[persona.domain], () => `persona=PER_${persona.domain}`);
    } catch (err) {
      throw new Error(`linux.personality: cannot set domain ${persona.domain}`, { cause: err });
    }
  }
  const policy = linux?.memoryPolicy;
  if (policy) {
    const { mode, nodes } = memoryPolicyArgs(policy);
    const detail = () =>
      `mode=${[policy.mode, ...(policy.flags ?? [])].join("|")}, nodes=${policy.nodes ?? ""}`;
    try {
      setMempolicy(mode, nodes, detail);
    } catch (err) {
      throw new Error(`linux.memoryPolicy: cannot set ${policy.mode}`, { cause: err });
    }
  }
}

/**
 * linux.memoryPolicy as set_mempolicy(2) takes it: the mode with its flags or-ed in, and the nodes
 * (the Deno init sets it here, the trampoline init's PID 1 with a mempolicy op).
 */
export function memoryPolicyArgs(
  policy: NonNullable<Linux["memoryPolicy"]>,
): { mode: number; nodes: number[] } {
  const flags = (policy.flags ?? []).reduce((all, name) => all | MPOL_FLAGS[name], 0);
  return { mode: MPOL_MODES[policy.mode] | flags, nodes: parseCpuList(policy.nodes ?? "") };
}

/**
 * Sets the CPU affinity the process runs with once it is in the container's cgroup: `final` when
 * given; every CPU of the cpuset when no execCPUAffinity is set at all, so that the container does
 * not inherit the runtime's own affinity (runc 1.3+); untouched when only `initial` is set (it was
 * born with that: withInitialAffinity()). Of the calling thread (the Deno exec init), or of process
 * `pid` from the host (the exec trampoline's sync point). `field` is the JSON path named in errors.
 */
export function applyFinalAffinity(
  affinity: Process["execCPUAffinity"] | undefined,
  field: string,
  pid = 0,
): void {
  const final = affinity?.final ? parseCpuList(affinity.final) : [];
  const initial = affinity?.initial ? parseCpuList(affinity.initial) : [];
  if (final.length > 0) {
    try {
      schedSetaffinity(final, () => `pid=${pid}, cpus=${affinity!.final}`, pid);
    } catch (err) {
      throw new Error(`${field}.final: cannot run on CPUs ${affinity!.final}`, { cause: err });
    }
    return;
  }
  if (initial.length > 0) return;
  try {
    schedResetAffinity(pid);
  } catch {
    // runc only warns: the process keeps the runtime's affinity.
  }
}

/**
 * Runs `spawn` with this thread's CPU affinity set to execCPUAffinity.initial, so that the exec's
 * process is born with it and keeps it until it is in the container's cgroup (runc sets it on the
 * thread that starts `runc init`). The CLI's own affinity is restored afterwards.
 */
export function withInitialAffinity<T>(initial: string | undefined, spawn: () => T): T {
  const cpus = initial ? parseCpuList(initial) : [];
  if (cpus.length === 0) return spawn();
  const saved = schedGetaffinity();
  try {
    schedSetaffinity(cpus, () => `pid=0, cpus=${initial}`);
  } catch (err) {
    throw new Error(`process.execCPUAffinity.initial: cannot run on CPUs ${initial}`, {
      cause: err,
    });
  }
  try {
    return spawn();
  } finally {
    schedRestoreAffinity(saved);
  }
}
