/**
 * Scheduling, I/O priority, CPU affinity, execution domain and NUMA memory policy of the calling
 * thread. Every call here acts on the calling thread only (pid/who 0): the init's main thread is
 * the one that execve()s, and the new program keeps what that thread had.
 */
import { rawSyscall } from "./syscall.ts";
import { addressOf } from "./c_string.ts";

/** Scheduling policies of sched(7), by the names config.md uses. */
export const SCHED_POLICIES: Record<string, number> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};

/** sched_setattr(2) flags (include/uapi/linux/sched.h), by the names config.md uses. */
export const SCHED_FLAGS: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

/** The fields of struct sched_attr that config.md can set. */
export interface SchedAttr {
  policy: number;
  flags: number;
  nice: number;
  priority: number;
  runtime: number;
  deadline: number;
  period: number;
}

// struct sched_attr up to util_max (SCHED_ATTR_SIZE_VER1): the kernel refuses the util-clamp
// flags with the shorter VER0 layout.
const SCHED_ATTR_SIZE = 56;

/** sched_setattr(2) on the calling thread, or on thread `pid`. */
export function schedSetattr(attr: SchedAttr, detail: () => string, pid = 0): void {
  const buf = new Uint8Array(SCHED_ATTR_SIZE);
  const v = new DataView(buf.buffer);
  v.setUint32(0, SCHED_ATTR_SIZE, true);
  v.setUint32(4, attr.policy, true);
  v.setBigUint64(8, BigInt(attr.flags), true);
  v.setInt32(16, attr.nice, true);
  v.setUint32(20, attr.priority, true);
  v.setBigUint64(24, BigInt(attr.runtime), true);
  v.setBigUint64(32, BigInt(attr.deadline), true);
  v.setBigUint64(40, BigInt(attr.period), true);
  rawSyscall("sched_setattr", detail, BigInt(pid), addressOf(buf), 0n);
}

/** I/O scheduling classes of ioprio_set(2). */
export const IOPRIO_CLASSES: Record<string, number> = {
  IOPRIO_CLASS_RT: 1,
  IOPRIO_CLASS_BE: 2,
  IOPRIO_CLASS_IDLE: 3,
};

const IOPRIO_WHO_PROCESS = 1;
const IOPRIO_CLASS_SHIFT = 13;

/** ioprio_set(IOPRIO_WHO_PROCESS, pid, class|level): the calling thread's (0) or `pid`'s. */
export function ioprioSet(ioClass: number, level: number, detail: () => string, pid = 0): void {
  rawSyscall(
    "ioprio_set",
    detail,
    BigInt(IOPRIO_WHO_PROCESS),
    BigInt(pid),
    BigInt((ioClass << IOPRIO_CLASS_SHIFT) | level),
  );
}

/** A CPU or node bit mask of `bits` bits (rounded up to whole 64-bit words) with `ids` set. */
function bitMask(ids: readonly number[], bits: number): BigUint64Array {
  const words = new BigUint64Array(Math.max(1, Math.ceil(bits / 64)));
  for (const id of ids) words[id >> 6] |= 1n << BigInt(id & 63);
  return words;
}

/** sched_setaffinity(2) of the calling thread, or of process `pid`, to `cpus`. */
export function schedSetaffinity(cpus: readonly number[], detail: () => string, pid = 0): void {
  const mask = bitMask(cpus, Math.max(...cpus, 0) + 1);
  rawSyscall("sched_setaffinity", detail, BigInt(pid), BigInt(mask.byteLength), addressOf(mask));
}

// 8192 CPUs: the kernel clamps a longer mask to the CPUs it supports.
const ALL_CPUS_BYTES = 1024;

/**
 * Lets the calling thread (or thread `pid`) run on every CPU its cpuset allows (runc's
 * tryResetCPUAffinity): a container process must not inherit the affinity the runtime was started
 * with.
 */
export function schedResetAffinity(pid = 0): void {
  const mask = new Uint8Array(ALL_CPUS_BYTES).fill(0xff);
  rawSyscall(
    "sched_setaffinity",
    () => `pid=${pid}, mask=all`,
    BigInt(pid),
    BigInt(mask.length),
    addressOf(mask),
  );
}

/** sched_getaffinity(2) of the calling thread, as the raw mask (for schedRestoreAffinity). */
export function schedGetaffinity(): Uint8Array<ArrayBuffer> {
  const mask = new Uint8Array(ALL_CPUS_BYTES);
  const size = rawSyscall(
    "sched_getaffinity",
    () => "pid=0",
    0n,
    BigInt(mask.length),
    addressOf(mask),
  );
  return mask.slice(0, Number(size));
}

/** Sets the calling thread's affinity back to a mask read by schedGetaffinity(). */
export function schedRestoreAffinity(mask: Uint8Array<ArrayBuffer>): void {
  rawSyscall(
    "sched_setaffinity",
    () => "pid=0, mask=saved",
    0n,
    BigInt(mask.length),
    addressOf(mask),
  );
}

/** Execution domains of personality(2) that config-linux.md allows. */
export const PERSONALITY_DOMAINS: Record<string, number> = {
  LINUX: 0x0000,
  LINUX32: 0x0008,
};

/** personality(2) of the calling thread; returns the previous persona. */
export function personality(persona: number, detail: () => string): number {
  return Number(rawSyscall("personality", detail, BigInt(persona)));
}

// The tables live in flag_tables.ts, which loads no libc (`skiff features` lists them).
export { MPOL_FLAGS, MPOL_MODES } from "./flag_tables.ts";

/** The node mask of set_mempolicy(2) for `nodes` (not empty): as many 64-bit words as they need. */
export function nodeMask(nodes: readonly number[]): BigUint64Array {
  return bitMask(nodes, Math.max(...nodes) + 1);
}

/** set_mempolicy(2) of the calling thread; an empty `nodes` passes no node mask. */
export function setMempolicy(mode: number, nodes: readonly number[], detail: () => string): void {
  if (nodes.length === 0) {
    rawSyscall("set_mempolicy", detail, BigInt(mode), 0n, 0n);
    return;
  }
  const mask = nodeMask(nodes);
  // The kernel reads maxnode - 1 bits (a historical off-by-one every caller compensates for).
  rawSyscall("set_mempolicy", detail, BigInt(mode), addressOf(mask), BigInt(mask.length * 64 + 1));
}
