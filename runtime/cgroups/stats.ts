/**
 * Container statistics in the shape of runc's `events --stats` "data" (runc types/events.go
 * Stats), and their JSON rendering with Go's omitempty rules. Unlimited values are Infinity here
 * and 18446744073709551615 (math.MaxUint64) in JSON, as runc prints them.
 */

/** usage/limit/max/failcnt of one memory counter. */
export interface MemoryEntry {
  /** The limit, in bytes; Infinity when unlimited. */
  limit: number;
  /** The current usage, in bytes. */
  usage: number;
  /** The highest usage recorded, in bytes (0 when the kernel keeps none). */
  max: number;
  /** How many times the limit was hit. */
  failcnt: number;
}

/** One blkio counter of one device. */
export interface BlkioEntry {
  /** The device's major number. */
  major: number;
  /** The device's minor number. */
  minor: number;
  /** The operation counted: "Read", "Write" (cgroup v1 adds "Sync", "Async", "Total", ...). */
  op: string;
  /** The count: bytes or I/O operations, by the list the entry is in. */
  value: number;
}

/** runc's types.Stats. */
export interface CgroupStats {
  /** CPU time used, in nanoseconds, and CFS throttling. */
  cpu: {
    /** CPU time used by the cgroup's processes, in nanoseconds. */
    usage: {
      /** Nanoseconds. */
      total: number;
      /** Per CPU, in nanoseconds (cgroup v1 only). */
      percpu: number[];
      /** Per CPU in kernel mode, in nanoseconds (cgroup v1 only). */
      percpu_kernel: number[];
      /** Per CPU in user mode, in nanoseconds (cgroup v1 only). */
      percpu_user: number[];
      /** In kernel mode, in nanoseconds. */
      kernel: number;
      /** In user mode, in nanoseconds. */
      user: number;
    };
    /** CFS periods elapsed and throttled, and the time throttled in nanoseconds. */
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  /** The CPUs and memory nodes the cgroup may use. */
  cpuset: { cpus: number[]; mems: number[] };
  /** Memory use, in bytes. */
  memory: {
    /** Page cache, in bytes. */
    cache: number;
    /** Memory. */
    usage: MemoryEntry;
    /** Memory plus swap, as cgroup v1 counts it. */
    swap: MemoryEntry;
    /** Kernel memory (cgroup v1 only). */
    kernel: MemoryEntry;
    /** Kernel TCP buffers (cgroup v1 only). */
    kernelTCP: MemoryEntry;
    /** Every counter of memory.stat, by name. */
    raw: Record<string, number>;
  };
  /** The number of processes, and the limit (0 when unlimited). */
  pids: { current: number; limit: number };
  /** Block I/O per device: bytes and operations, each as Read and Write entries. */
  blkio: { ioServiceBytesRecursive: BlkioEntry[]; ioServicedRecursive: BlkioEntry[] };
  /** Huge page use by page size ("2MB"): usage and peak in bytes, and times the limit was hit. */
  hugetlb: Record<string, { usage: number; max: number; failcnt: number }>;
}

/** A zero MemoryEntry. */
export function emptyMemoryEntry(): MemoryEntry {
  return { limit: 0, usage: 0, max: 0, failcnt: 0 };
}

/** Stats with every counter zero. */
export function emptyStats(): CgroupStats {
  return {
    cpu: {
      usage: { total: 0, percpu: [], percpu_kernel: [], percpu_user: [], kernel: 0, user: 0 },
      throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 },
    },
    cpuset: { cpus: [], mems: [] },
    memory: {
      cache: 0,
      usage: emptyMemoryEntry(),
      swap: emptyMemoryEntry(),
      kernel: emptyMemoryEntry(),
      kernelTCP: emptyMemoryEntry(),
      raw: {},
    },
    pids: { current: 0, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
  };
}

/** Parses a cpuset list ("0-3,5") into numbers. */
export function parseCpuList(text: string | undefined): number[] {
  const out: number[] = [];
  for (const part of (text ?? "").trim().split(",")) {
    if (!part) continue;
    const [a, b] = part.split("-").map(Number);
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

type Json = number | string | boolean | null | Json[] | { [key: string]: Json };

const MAX_U64 = "__skiff_max_u64__";

/** Drops the keys whose value is zero, "", an empty list or an empty object (omitempty). */
function omitEmpty(entries: [string, Json | undefined][]): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [key, value] of entries) {
    if (value === undefined || value === 0 || value === "" || value === null) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0) {
      continue;
    }
    out[key] = value;
  }
  return out;
}

function n(value: number): Json {
  return value === Infinity ? MAX_U64 : value;
}

function memoryEntry(e: MemoryEntry): { [key: string]: Json } {
  // Go: limit and failcnt always, usage and max omitempty; the whole entry omitzero.
  if (e.limit === 0 && e.usage === 0 && e.max === 0 && e.failcnt === 0) return {};
  const out: { [key: string]: Json } = { limit: n(e.limit) };
  if (e.usage) out.usage = n(e.usage);
  if (e.max) out.max = n(e.max);
  out.failcnt = e.failcnt;
  return out;
}

function blkio(entries: BlkioEntry[]): Json[] {
  return entries.map((e) =>
    omitEmpty([["major", e.major], ["minor", e.minor], ["op", e.op], ["value", e.value]])
  );
}

/** The "data" object of a stats event, keyed and omitted as runc's JSON. */
export function statsData(s: CgroupStats): { [key: string]: Json } {
  const usage = s.cpu.usage;
  const cpuUsage = omitEmpty([
    ["total", usage.total],
    ["percpu", usage.percpu],
    ["percpu_kernel", usage.percpu_kernel],
    ["percpu_user", usage.percpu_user],
  ]);
  const anyUsage = Object.keys(cpuUsage).length > 0 || usage.kernel !== 0 || usage.user !== 0;
  if (anyUsage) {
    cpuUsage.kernel = usage.kernel;
    cpuUsage.user = usage.user;
  }
  const hugetlb: { [key: string]: Json } = {};
  for (const [size, h] of Object.entries(s.hugetlb)) {
    hugetlb[size] = { ...omitEmpty([["usage", h.usage], ["max", n(h.max)]]), failcnt: h.failcnt };
  }
  return {
    cpu: omitEmpty([
      ["usage", cpuUsage],
      [
        "throttling",
        omitEmpty([
          ["periods", s.cpu.throttling.periods],
          ["throttledPeriods", s.cpu.throttling.throttledPeriods],
          ["throttledTime", s.cpu.throttling.throttledTime],
        ]),
      ],
    ]),
    cpuset: {
      ...omitEmpty([["cpus", s.cpuset.cpus]]),
      cpu_exclusive: 0,
      ...omitEmpty([["mems", s.cpuset.mems]]),
      mem_hardwall: 0,
      mem_exclusive: 0,
      memory_migrate: 0,
      memory_spread_page: 0,
      memory_spread_slab: 0,
      memory_pressure: 0,
      sched_load_balance: 0,
      sched_relax_domain_level: 0,
    },
    memory: omitEmpty([
      ["cache", s.memory.cache],
      ["usage", memoryEntry(s.memory.usage)],
      ["swap", memoryEntry(s.memory.swap)],
      ["kernel", memoryEntry(s.memory.kernel)],
      ["kernelTCP", memoryEntry(s.memory.kernelTCP)],
      ["raw", s.memory.raw],
    ]),
    pids: omitEmpty([["current", s.pids.current], ["limit", n(s.pids.limit)]]),
    blkio: omitEmpty([
      ["ioServiceBytesRecursive", blkio(s.blkio.ioServiceBytesRecursive)],
      ["ioServicedRecursive", blkio(s.blkio.ioServicedRecursive)],
    ]),
    hugetlb,
    intel_rdt: {},
    network_interfaces: null,
  };
}

/** JSON text of a value built by statsData() (MaxUint64 written exactly). */
export function toJson(value: unknown): string {
  return JSON.stringify(value).replaceAll(`"${MAX_U64}"`, "18446744073709551615");
}
