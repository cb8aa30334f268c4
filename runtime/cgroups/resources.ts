/**
 * linux.resources -> cgroup file writes, as runc's cgroupfs drivers do them
 * (opencontainers/cgroups fs/*.go for v1, fs2/*.go for v2, conversions from utils.go).
 *
 * Pure: what the host has is passed in as HostFacts; the managers (v1.ts, v2.ts) read those facts,
 * run the writes and turn a refused write into an error naming the field and the file. A field
 * that cannot be applied on a layout is a SpecError here; a field that is ignored on purpose
 * (as runc ignores it) becomes a warning. docs/cgroups.md has the full table.
 */
import type { Resources } from "../../spec/config.ts";
import { show, SpecError } from "../../spec/errors.ts";
import {
  NULL_IS_UNSET,
  optArray,
  optInteger,
  optObject,
  optString,
  required,
} from "../../spec/json.ts";
import { normalizeDeviceRules, planV1Devices } from "./device_rules.ts";

/** One write of a plan. */
export interface Write {
  /**
   * v2: the controller the file belongs to ("memory", "cpu", ..., "cgroup" for core files).
   * v1: the hierarchy to write in ("memory", "cpu", ...), or "unified" for the cgroup2 directory
   * of a hybrid host.
   */
  controller: string;
  file: string;
  value: string;
  /** The linux.resources field this write comes from (for errors). */
  field: string;
  /** On EINVAL, try again once after the rest of the plan (runc's period/quota/burst order). */
  retryOnEinval?: boolean;
  /** A missing file (ENOENT) is skipped: the kernel does not have this knob. */
  optional?: boolean;
  /** Read the value back: the kernel clamps cpu.shares silently and runc reports that. */
  readBack?: boolean;
  /** For writes into a cgroup2 directory: the controller to enable in its parents first. */
  enable?: string;
}

/** A plan: the writes in order, and the warnings for fields that are ignored. */
export interface Plan {
  writes: Write[];
  warnings: string[];
}

/** What the planners need to know about the host. Missing facts are not checked. */
export interface HostFacts {
  /** v2: controllers available to the container (cgroup.controllers of its parent); v1: mounted hierarchies. */
  controllers?: readonly string[];
  /** v1 on a hybrid host: controllers of the cgroup2 mount (empty: nothing can be set there). */
  unifiedControllers?: readonly string[];
  /** Hugepage sizes of the kernel, "2MB" style (detect.ts hugepageSizes()). */
  hugepageSizes?: readonly string[];
  /** v2: io.bfq.weight exists; v1: blkio.bfq.weight replaces blkio.weight (the BFQ scheduler). */
  bfq?: boolean;
  /** v2: io.bfq.weight accepts per-device weights (kernel 5.4+). */
  bfqDeviceWeight?: boolean;
  /** v1: memory.memsw.* exist (swap accounting is on). */
  swapAccounting?: boolean;
  /** v1: the cgroup's current memory.limit_in_bytes, to order the limit and memsw writes. */
  currentMemoryLimit?: number;
}

/** Options of a plan. */
export interface PlanOptions {
  /** Leave devices alone (runc update does: SkipDevices). */
  skipDevices?: boolean;
}

const R = "linux.resources";

// ---------------------------------------------------------------- conversions (runc utils.go)

/**
 * cpu.shares (v1, 2..262144, default 1024) -> cpu.weight (v2, 1..10000, default 100): runc's
 * quadratic fit through (2, 1), (1024, 100) and (262144, 10000) in log space; 0 stays 0 (unset).
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(10 ** exponent);
}

/** blkio.weight (10..1000) -> io.weight (1..10000), linearly; 0 stays 0 (unset). */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * memory.swap (memory+swap, v1 style) -> memory.swap.max (swap only): swap - limit, with runc's
 * special cases: -1 means unlimited, 0 means unset, and limit -1 with swap unset means both
 * unlimited. Throws a plain Error with runc's message; planV2 names the field.
 */
export function memorySwapToV2(swap: number, limit: number): number {
  if (limit === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (limit === -1) return swap;
  if (limit === 0) throw new Error("unable to set swap limit without memory limit");
  if (limit < 0) throw new Error(`invalid memory value: ${limit}`);
  if (swap < limit) throw new Error("memory+swap limit should be >= memory limit");
  return swap - limit;
}

/** runc fs2 numToStr: 0 -> "" (unset), -1 -> "max", else the number. */
function v2Number(value: number): string {
  if (value === 0) return "";
  if (value === -1) return "max";
  return decimal(value);
}

/** An integer as decimal text, exact even above 2^53 (JSON numbers are doubles). */
function decimal(value: number): string {
  return Number.isSafeInteger(value) ? String(value) : BigInt(value).toString();
}

// ---------------------------------------------------------------- validation

/** cpuset lists: "0-3,5", "" is allowed (unset). */
function cpusetList(value: unknown, field: string): string | undefined {
  const v = optString(value, field, NULL_IS_UNSET);
  if (v === undefined || v === "") return undefined;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) {
    throw new SpecError(field, `must be a list like "0-3,5", got ${show(v)}`);
  }
  return v;
}

/** Checks that `controller` is available; throws naming the field otherwise. */
function need(
  facts: HostFacts,
  controller: string,
  field: string,
  where: string,
): void {
  if (facts.controllers && !facts.controllers.includes(controller)) {
    throw new SpecError(
      field,
      `cannot be applied: the ${controller} controller is not available on this host (${where}: ${
        facts.controllers.join(" ") || "none"
      })`,
    );
  }
}

function checkPageSize(facts: HostFacts, pageSize: string, field: string): void {
  if (!/^\d+[KMG]B$/.test(pageSize)) {
    throw new SpecError(
      field,
      `must be a hugepage size such as "2MB" or "1GB", got ${show(pageSize)}`,
    );
  }
  if (facts.hugepageSizes && !facts.hugepageSizes.includes(pageSize)) {
    throw new SpecError(
      field,
      `${JSON.stringify(pageSize)} is not a hugepage size of this kernel (it has: ${
        facts.hugepageSizes.join(", ") || "none"
      })`,
    );
  }
}

interface Throttle {
  major: number;
  minor: number;
  rate: number;
}

function throttles(value: unknown, field: string): Throttle[] {
  return optArray(value, field).map((entry, i) => {
    const at = `${field}[${i}]`;
    const o = optObject(entry, at, NULL_IS_UNSET);
    if (!o) throw new SpecError(at, "must be an object");
    return {
      major: optInteger(o.major, `${at}.major`, 0, Infinity, NULL_IS_UNSET) ??
        required(`${at}.major`),
      minor: optInteger(o.minor, `${at}.minor`, 0, Infinity, NULL_IS_UNSET) ??
        required(`${at}.minor`),
      rate: optInteger(o.rate, `${at}.rate`, 0, Infinity, NULL_IS_UNSET) ?? required(`${at}.rate`),
    };
  });
}

const THROTTLES = [
  ["throttleReadBpsDevice", "rbps", "blkio.throttle.read_bps_device"],
  ["throttleWriteBpsDevice", "wbps", "blkio.throttle.write_bps_device"],
  ["throttleReadIOPSDevice", "riops", "blkio.throttle.read_iops_device"],
  ["throttleWriteIOPSDevice", "wiops", "blkio.throttle.write_iops_device"],
] as const;

/** Keys of linux.resources.unified that would move or kill processes, or are read-only. */
const UNIFIED_FORBIDDEN = new Set([
  "cgroup.procs",
  "cgroup.threads",
  "cgroup.kill",
  "cgroup.events",
  "cgroup.controllers",
  "cgroup.stat",
]);

/** Checks one linux.resources.unified key: a plain "controller.knob" file name. */
function unifiedKey(key: string, field: string): string {
  if (key.includes("/") || key.includes("\0") || key === "." || key === "..") {
    throw new SpecError(
      field,
      `the key must be a plain file name (no "/" or ".."), got ${show(key)}`,
    );
  }
  const dot = key.indexOf(".");
  if (dot <= 0 || dot === key.length - 1) {
    throw new SpecError(field, `the key must have the form CONTROLLER.PARAMETER, got ${show(key)}`);
  }
  if (UNIFIED_FORBIDDEN.has(key)) {
    throw new SpecError(field, `${JSON.stringify(key)} cannot be set through unified`);
  }
  return key.slice(0, dot);
}

/** The writes of linux.resources.unified (one per line, as runc's WriteFileByLine). */
function unifiedWrites(
  unified: unknown,
  available: readonly string[] | undefined,
  controllerOf: (c: string) => { controller: string; enable?: string },
  where: string,
): Write[] {
  const map = optObject(unified, `${R}.unified`, NULL_IS_UNSET);
  if (!map) return [];
  const out: Write[] = [];
  for (const [key, value] of Object.entries(map)) {
    const field = `${R}.unified[${JSON.stringify(key)}]`;
    const controller = unifiedKey(key, field);
    if (typeof value !== "string") {
      throw new SpecError(field, `must be a string, got ${show(value)}`);
    }
    if (controller !== "cgroup" && available && !available.includes(controller)) {
      throw new SpecError(
        field,
        `controller ${JSON.stringify(controller)} is not available (${where}: ${
          available.join(" ") || "none"
        })`,
      );
    }
    const target = controllerOf(controller);
    const lines = value.split("\n").filter((line) => line !== "");
    for (const line of lines.length ? lines : [""]) {
      out.push({ ...target, file: key, value: line, field });
    }
  }
  return out;
}

// ---------------------------------------------------------------- cgroup v2

/**
 * The cgroup v2 writes for `resources`, in runc's order (pids, memory, io, cpu, cpuset, hugetlb,
 * rdma, unified). Devices are not file writes on v2: see device_bpf.ts.
 */
export function planV2(
  resources: Resources | undefined,
  facts: HostFacts = {},
  options: PlanOptions = {},
): Plan {
  const writes: Write[] = [];
  const warnings: string[] = [];
  const res = optObject(resources, R, NULL_IS_UNSET);
  if (!res) return { writes, warnings };
  const where = "cgroup.controllers";
  const add = (controller: string, file: string, value: string, field: string, extra = {}) =>
    writes.push({ controller, file, value, field, ...extra });

  if (!options.skipDevices) normalizeDeviceRules(res.devices as never);

  // pids (fs2/pids.go)
  const pids = optObject(res.pids, `${R}.pids`, NULL_IS_UNSET);
  const pidsLimit = optInteger(pids?.limit, `${R}.pids.limit`, -Infinity, Infinity, NULL_IS_UNSET);
  if (pidsLimit !== undefined) {
    need(facts, "pids", `${R}.pids.limit`, where);
    add("pids", "pids.max", pidsLimit > 0 ? decimal(pidsLimit) : "max", `${R}.pids.limit`);
  }

  // memory (fs2/memory.go)
  const memory = optObject(res.memory, `${R}.memory`, NULL_IS_UNSET);
  if (memory) {
    const limit = optInteger(memory.limit, `${R}.memory.limit`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const swapIn = optInteger(memory.swap, `${R}.memory.swap`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const reservation =
      optInteger(memory.reservation, `${R}.memory.reservation`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    if (limit !== 0 || swapIn !== 0 || reservation !== 0) {
      need(facts, "memory", `${R}.memory`, where);
      let swap: number;
      try {
        swap = memorySwapToV2(swapIn, limit);
      } catch (err) {
        throw new SpecError(`${R}.memory.swap`, (err as Error).message);
      }
      let swapText = v2Number(swap);
      // memory and swap set to the same value: no swap at all.
      if (swapText === "" && swap === 0 && swapIn > 0) swapText = "0";
      if (swapText !== "") {
        // Without swap accounting there is no memory.swap.max: "max" and "0" are then no-ops.
        add("memory", "memory.swap.max", swapText, `${R}.memory.swap`, {
          optional: swapText === "max" || swapText === "0",
        });
      }
      if (limit !== 0) add("memory", "memory.max", v2Number(limit), `${R}.memory.limit`);
      if (reservation !== 0) {
        add("memory", "memory.low", v2Number(reservation), `${R}.memory.reservation`);
      }
    }
    warnIgnored(memory, warnings, "v2");
  }

  // io (fs2/io.go)
  const blockIO = optObject(res.blockIO, `${R}.blockIO`, NULL_IS_UNSET);
  if (blockIO) {
    const weight = optInteger(blockIO.weight, `${R}.blockIO.weight`, 0, 1000, NULL_IS_UNSET) ?? 0;
    if (weight !== 0 && weight < 10) {
      throw new SpecError(`${R}.blockIO.weight`, `must be 10..1000, got ${weight}`);
    }
    if (weight !== 0) {
      need(facts, "io", `${R}.blockIO.weight`, where);
      if (facts.bfq) add("io", "io.bfq.weight", String(weight), `${R}.blockIO.weight`);
      else add("io", "io.weight", String(blkioWeightToIoWeight(weight)), `${R}.blockIO.weight`);
    }
    if (blockIO.leafWeight !== undefined && blockIO.leafWeight !== null) {
      optInteger(blockIO.leafWeight, `${R}.blockIO.leafWeight`, 0, 1000, NULL_IS_UNSET);
      warnings.push(`${R}.blockIO.leafWeight is ignored: cgroup v2 has no leaf weights`);
    }
    optArray(blockIO.weightDevice, `${R}.blockIO.weightDevice`).forEach((entry, i) => {
      const at = `${R}.blockIO.weightDevice[${i}]`;
      const o = optObject(entry, at, NULL_IS_UNSET) ?? required(at);
      const major = optInteger(o.major, `${at}.major`, 0, Infinity, NULL_IS_UNSET) ??
        required(`${at}.major`);
      const minor = optInteger(o.minor, `${at}.minor`, 0, Infinity, NULL_IS_UNSET) ??
        required(`${at}.minor`);
      const w = optInteger(o.weight, `${at}.weight`, 0, 1000, NULL_IS_UNSET);
      if (o.leafWeight !== undefined) {
        warnings.push(`${at}.leafWeight is ignored: cgroup v2 has no leaf weights`);
      }
      if (!w) return;
      need(facts, "io", `${at}.weight`, where);
      if (facts.bfqDeviceWeight) {
        add("io", "io.bfq.weight", `${major}:${minor} ${w}`, `${at}.weight`);
      } else {
        warnings.push(
          `${at}.weight is ignored: per-device weights need the BFQ scheduler's io.bfq.weight (kernel 5.4+)`,
        );
      }
    });
    for (const [key, name] of THROTTLES) {
      const field = `${R}.blockIO.${key}`;
      for (const t of throttles(blockIO[key], field)) {
        need(facts, "io", field, where);
        add("io", "io.max", `${t.major}:${t.minor} ${name}=${decimal(t.rate)}`, field);
      }
    }
  }

  // cpu (fs2/cpu.go)
  const cpu = optObject(res.cpu, `${R}.cpu`, NULL_IS_UNSET);
  if (cpu) {
    const shares = optInteger(cpu.shares, `${R}.cpu.shares`, 0, Infinity, NULL_IS_UNSET) ?? 0;
    const quota = optInteger(cpu.quota, `${R}.cpu.quota`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const period = optInteger(cpu.period, `${R}.cpu.period`, 0, Infinity, NULL_IS_UNSET) ?? 0;
    const burst = optInteger(cpu.burst, `${R}.cpu.burst`, 0, Infinity, NULL_IS_UNSET);
    const idle = optInteger(cpu.idle, `${R}.cpu.idle`, 0, 1, NULL_IS_UNSET);
    const rtRuntime =
      optInteger(cpu.realtimeRuntime, `${R}.cpu.realtimeRuntime`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const rtPeriod =
      optInteger(cpu.realtimePeriod, `${R}.cpu.realtimePeriod`, 0, Infinity, NULL_IS_UNSET) ?? 0;
    if (rtRuntime !== 0 || rtPeriod !== 0) {
      throw new SpecError(
        `${R}.cpu.${rtRuntime !== 0 ? "realtimeRuntime" : "realtimePeriod"}`,
        "realtime CPU limits need cgroup v1 (cpu.rt_runtime_us, cpu.rt_period_us); cgroup v2 has no equivalent",
      );
    }
    const weight = cpuSharesToWeight(shares);
    if (weight !== 0) {
      need(facts, "cpu", `${R}.cpu.shares`, where);
      add("cpu", "cpu.weight", String(weight), `${R}.cpu.shares`);
    }
    if (burst !== undefined) {
      need(facts, "cpu", `${R}.cpu.burst`, where);
      add("cpu", "cpu.max.burst", decimal(burst), `${R}.cpu.burst`, {
        retryOnEinval: quota !== 0,
      });
    }
    if (quota !== 0 || period !== 0) {
      need(facts, "cpu", `${R}.cpu.${quota !== 0 ? "quota" : "period"}`, where);
      let value = quota > 0 ? decimal(quota) : "max";
      if (period !== 0) value += ` ${decimal(period)}`;
      add("cpu", "cpu.max", value, `${R}.cpu.${quota !== 0 ? "quota" : "period"}`);
    }
    if (idle !== undefined) {
      need(facts, "cpu", `${R}.cpu.idle`, where);
      add("cpu", "cpu.idle", String(idle), `${R}.cpu.idle`);
    }
  }

  // cpuset (fs2/cpuset.go)
  if (cpu) {
    const cpus = cpusetList(cpu.cpus, `${R}.cpu.cpus`);
    const mems = cpusetList(cpu.mems, `${R}.cpu.mems`);
    if (cpus !== undefined) {
      need(facts, "cpuset", `${R}.cpu.cpus`, where);
      add("cpuset", "cpuset.cpus", cpus, `${R}.cpu.cpus`);
    }
    if (mems !== undefined) {
      need(facts, "cpuset", `${R}.cpu.mems`, where);
      add("cpuset", "cpuset.mems", mems, `${R}.cpu.mems`);
    }
  }

  // hugetlb (fs2/hugetlb.go)
  optArray(res.hugepageLimits, `${R}.hugepageLimits`).forEach((entry, i) => {
    const at = `${R}.hugepageLimits[${i}]`;
    const o = optObject(entry, at, NULL_IS_UNSET) ?? required(at);
    const pageSize = optString(o.pageSize, `${at}.pageSize`, NULL_IS_UNSET) ??
      required(`${at}.pageSize`);
    const limit = optInteger(o.limit, `${at}.limit`, 0, Infinity, NULL_IS_UNSET) ??
      required(`${at}.limit`);
    checkPageSize(facts, pageSize, `${at}.pageSize`);
    need(facts, "hugetlb", at, where);
    add("hugetlb", `hugetlb.${pageSize}.max`, decimal(limit), `${at}.limit`);
    // Reservations (kernel 5.7+) get the same limit, or a process could reserve past it.
    add("hugetlb", `hugetlb.${pageSize}.rsvd.max`, decimal(limit), `${at}.limit`, {
      optional: true,
    });
  });

  // rdma (fscommon/rdma.go)
  for (const w of rdmaWrites(res.rdma)) {
    need(facts, "rdma", w.field, where);
    writes.push({ controller: "rdma", ...w });
  }

  // network: net_cls and net_prio are cgroup v1 controllers.
  const network = optObject(res.network, `${R}.network`, NULL_IS_UNSET);
  if (network) {
    const classID = optInteger(
      network.classID,
      `${R}.network.classID`,
      0,
      0xffffffff,
      NULL_IS_UNSET,
    );
    const priorities = optArray(network.priorities, `${R}.network.priorities`);
    if (classID !== undefined || priorities.length > 0) {
      throw new SpecError(
        `${R}.network${classID !== undefined ? ".classID" : ".priorities"}`,
        "net_cls and net_prio exist only on cgroup v1; on cgroup v2 use an eBPF program or tc in the network namespace",
      );
    }
  }

  // unified (fs2.go setUnified): last, so that it can override anything above.
  writes.push(
    ...unifiedWrites(res.unified, facts.controllers, (c) => ({ controller: c }), where),
  );
  return { writes, warnings };
}

/** Warnings for memory fields that runc ignores (and one that always holds). */
function warnIgnored(
  memory: Record<string, unknown>,
  warnings: string[],
  layout: "v1" | "v2",
): void {
  const m = `${R}.memory`;
  const kernel = optInteger(memory.kernel, `${m}.kernel`, -1, Infinity, NULL_IS_UNSET);
  const kernelTCP = optInteger(memory.kernelTCP, `${m}.kernelTCP`, -1, Infinity, NULL_IS_UNSET);
  if (layout === "v2") {
    if (kernel !== undefined) {
      warnings.push(`${m}.kernel is ignored: cgroup v2 accounts kernel memory in memory.max`);
    }
    if (kernelTCP !== undefined) {
      warnings.push(`${m}.kernelTCP is ignored: cgroup v2 accounts socket memory in memory.max`);
    }
    const swappiness = optInteger(memory.swappiness, `${m}.swappiness`, -1, 100, NULL_IS_UNSET);
    if (swappiness !== undefined && swappiness !== -1) {
      warnings.push(`${m}.swappiness is ignored: cgroup v2 has no per-cgroup swappiness`);
    }
    if (memory.disableOOMKiller === true) {
      warnings.push(
        `${m}.disableOOMKiller is ignored: cgroup v2 has no memory.oom_control (processes are OOM-killed at memory.max)`,
      );
    }
  }
  if (memory.useHierarchy === false) {
    warnings.push(`${m}.useHierarchy=false is ignored: memory is always accounted hierarchically`);
  }
  if (memory.checkBeforeUpdate !== undefined && typeof memory.checkBeforeUpdate !== "boolean") {
    throw new SpecError(
      `${m}.checkBeforeUpdate`,
      `must be true or false, got ${show(memory.checkBeforeUpdate)}`,
    );
  }
  if (memory.disableOOMKiller !== undefined && typeof memory.disableOOMKiller !== "boolean") {
    throw new SpecError(
      `${m}.disableOOMKiller`,
      `must be true or false, got ${show(memory.disableOOMKiller)}`,
    );
  }
}

function rdmaWrites(rdma: unknown): Omit<Write, "controller">[] {
  const map = optObject(rdma, `${R}.rdma`, NULL_IS_UNSET);
  if (!map) return [];
  const out: Omit<Write, "controller">[] = [];
  for (const [device, limits] of Object.entries(map)) {
    const at = `${R}.rdma[${JSON.stringify(device)}]`;
    if (!/^[A-Za-z0-9_.:-]+$/.test(device)) {
      throw new SpecError(at, `the key must be an RDMA device name, got ${show(device)}`);
    }
    const o = optObject(limits, at, NULL_IS_UNSET) ?? required(at);
    const handles = optInteger(o.hcaHandles, `${at}.hcaHandles`, 0, 0xffffffff, NULL_IS_UNSET);
    const objects = optInteger(o.hcaObjects, `${at}.hcaObjects`, 0, 0xffffffff, NULL_IS_UNSET);
    if (handles === undefined && objects === undefined) continue;
    let value = device;
    if (handles !== undefined) value += ` hca_handle=${handles}`;
    if (objects !== undefined) value += ` hca_object=${objects}`;
    out.push({ file: "rdma.max", value, field: at });
  }
  return out;
}

// ---------------------------------------------------------------- cgroup v1

/**
 * The cgroup v1 writes for `resources`, in runc's subsystem order (cpuset, devices, memory, cpu,
 * pids, blkio, hugetlb, net_cls, net_prio, rdma, then unified on hybrid hosts).
 */
export function planV1(
  resources: Resources | undefined,
  facts: HostFacts = {},
  options: PlanOptions = {},
): Plan {
  const writes: Write[] = [];
  const warnings: string[] = [];
  const res = optObject(resources, R, NULL_IS_UNSET);
  if (!res) return { writes, warnings };
  const where = "mounted v1 hierarchies";
  const add = (controller: string, file: string, value: string, field: string, extra = {}) =>
    writes.push({ controller, file, value, field, ...extra });
  const cpu = optObject(res.cpu, `${R}.cpu`, NULL_IS_UNSET);

  // cpuset (fs/cpuset.go)
  if (cpu) {
    const cpus = cpusetList(cpu.cpus, `${R}.cpu.cpus`);
    const mems = cpusetList(cpu.mems, `${R}.cpu.mems`);
    if (cpus !== undefined) {
      need(facts, "cpuset", `${R}.cpu.cpus`, where);
      add("cpuset", "cpuset.cpus", cpus, `${R}.cpu.cpus`);
    }
    if (mems !== undefined) {
      need(facts, "cpuset", `${R}.cpu.mems`, where);
      add("cpuset", "cpuset.mems", mems, `${R}.cpu.mems`);
    }
  }

  // devices (fs/devices.go)
  if (!options.skipDevices && res.devices !== undefined) {
    const rules = normalizeDeviceRules(res.devices as never);
    need(facts, "devices", `${R}.devices`, where);
    for (const w of planV1Devices(rules)) add("devices", w.file, w.value, `${R}.devices`);
  }

  // memory (fs/memory.go)
  const memory = optObject(res.memory, `${R}.memory`, NULL_IS_UNSET);
  if (memory) {
    const m = `${R}.memory`;
    const limit = optInteger(memory.limit, `${m}.limit`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    let swap = optInteger(memory.swap, `${m}.swap`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const reservation =
      optInteger(memory.reservation, `${m}.reservation`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const swappiness = optInteger(
      memory.swappiness,
      `${m}.swappiness`,
      -1,
      Infinity,
      NULL_IS_UNSET,
    );
    const kernel = optInteger(memory.kernel, `${m}.kernel`, -1, Infinity, NULL_IS_UNSET);
    const kernelTCP = optInteger(memory.kernelTCP, `${m}.kernelTCP`, -1, Infinity, NULL_IS_UNSET);
    const anything = limit !== 0 || swap !== 0 || reservation !== 0 ||
      memory.disableOOMKiller === true || (swappiness !== undefined && swappiness !== -1) ||
      kernel !== undefined || kernelTCP !== undefined;
    if (anything) need(facts, "memory", m, where);
    // Unlimited memory with swap unset: unlimited swap too (when the kernel accounts swap).
    if (limit === -1 && swap === 0 && facts.swapAccounting !== false) swap = -1;
    if (swap !== 0 && facts.swapAccounting === false) {
      throw new SpecError(
        `${m}.swap`,
        "cannot be applied: swap accounting is off on this host (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
      );
    }
    const limitWrite: Write = {
      controller: "memory",
      file: "memory.limit_in_bytes",
      value: decimal(limit),
      field: `${m}.limit`,
    };
    const swapWrite: Write = {
      controller: "memory",
      file: "memory.memsw.limit_in_bytes",
      value: decimal(swap),
      field: `${m}.swap`,
    };
    if (limit !== 0 && swap !== 0) {
      if (swap !== -1 && limit !== -1 && swap < limit) {
        throw new SpecError(
          `${m}.swap`,
          `memory+swap limit ${swap} should be >= memory limit ${limit}`,
        );
      }
      // The kernel wants limit <= memsw at every step: raise memsw first when it grows.
      const current = facts.currentMemoryLimit ?? Number.MAX_SAFE_INTEGER;
      if (swap === -1 || current < swap) writes.push(swapWrite, limitWrite);
      else writes.push(limitWrite, swapWrite);
    } else if (limit !== 0) {
      writes.push(limitWrite);
    } else if (swap !== 0) {
      writes.push(swapWrite);
    }
    if (reservation !== 0) {
      add("memory", "memory.soft_limit_in_bytes", decimal(reservation), `${m}.reservation`);
    }
    if (memory.disableOOMKiller === true) {
      add("memory", "memory.oom_control", "1", `${m}.disableOOMKiller`);
    }
    if (swappiness !== undefined && swappiness !== -1) {
      if (swappiness > 100) {
        throw new SpecError(`${m}.swappiness`, `must be 0..100, got ${swappiness}`);
      }
      add("memory", "memory.swappiness", String(swappiness), `${m}.swappiness`);
    }
    // Deprecated by the kernel (runc ignores them); applied where this kernel still has the file.
    if (kernel !== undefined && kernel !== 0) {
      add("memory", "memory.kmem.limit_in_bytes", decimal(kernel), `${m}.kernel`, {
        optional: true,
      });
    }
    if (kernelTCP !== undefined && kernelTCP !== 0) {
      add("memory", "memory.kmem.tcp.limit_in_bytes", decimal(kernelTCP), `${m}.kernelTCP`, {
        optional: true,
      });
    }
    warnIgnored(memory, warnings, "v1");
  }

  // cpu (fs/cpu.go)
  if (cpu) {
    const c = `${R}.cpu`;
    const shares = optInteger(cpu.shares, `${c}.shares`, 0, Infinity, NULL_IS_UNSET) ?? 0;
    const quota = optInteger(cpu.quota, `${c}.quota`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const period = optInteger(cpu.period, `${c}.period`, 0, Infinity, NULL_IS_UNSET) ?? 0;
    const burst = optInteger(cpu.burst, `${c}.burst`, 0, Infinity, NULL_IS_UNSET);
    const idle = optInteger(cpu.idle, `${c}.idle`, 0, 1, NULL_IS_UNSET);
    const rtRuntime =
      optInteger(cpu.realtimeRuntime, `${c}.realtimeRuntime`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const rtPeriod =
      optInteger(cpu.realtimePeriod, `${c}.realtimePeriod`, 0, Infinity, NULL_IS_UNSET) ?? 0;
    const cpuNeeded = shares || quota || period || burst !== undefined || idle !== undefined ||
      rtRuntime || rtPeriod;
    if (cpuNeeded) need(facts, "cpu", c, where);
    if (shares !== 0) add("cpu", "cpu.shares", decimal(shares), `${c}.shares`, { readBack: true });
    if (period !== 0) {
      add("cpu", "cpu.cfs_period_us", decimal(period), `${c}.period`, {
        retryOnEinval: quota !== 0,
      });
    }
    if (burst !== undefined) {
      add("cpu", "cpu.cfs_burst_us", decimal(burst), `${c}.burst`, {
        retryOnEinval: quota !== 0,
        optional: true,
      });
    }
    if (quota !== 0) add("cpu", "cpu.cfs_quota_us", decimal(quota), `${c}.quota`);
    if (idle !== undefined) add("cpu", "cpu.idle", String(idle), `${c}.idle`);
    if (rtPeriod !== 0) {
      add("cpu", "cpu.rt_period_us", decimal(rtPeriod), `${c}.realtimePeriod`, {
        retryOnEinval: rtRuntime !== 0,
      });
    }
    if (rtRuntime !== 0) {
      add("cpu", "cpu.rt_runtime_us", decimal(rtRuntime), `${c}.realtimeRuntime`);
    }
  }

  // pids (fs/pids.go)
  const pids = optObject(res.pids, `${R}.pids`, NULL_IS_UNSET);
  const pidsLimit = optInteger(pids?.limit, `${R}.pids.limit`, -Infinity, Infinity, NULL_IS_UNSET);
  if (pidsLimit !== undefined) {
    need(facts, "pids", `${R}.pids.limit`, where);
    add("pids", "pids.max", pidsLimit > 0 ? decimal(pidsLimit) : "max", `${R}.pids.limit`);
  }

  // blkio (fs/blkio.go)
  const blockIO = optObject(res.blockIO, `${R}.blockIO`, NULL_IS_UNSET);
  if (blockIO) {
    const b = `${R}.blockIO`;
    const weightFile = facts.bfq ? "blkio.bfq.weight" : "blkio.weight";
    const weightDeviceFile = facts.bfq ? "blkio.bfq.weight_device" : "blkio.weight_device";
    const weight = optInteger(blockIO.weight, `${b}.weight`, 0, 1000, NULL_IS_UNSET) ?? 0;
    const leafWeight = optInteger(blockIO.leafWeight, `${b}.leafWeight`, 0, 1000, NULL_IS_UNSET) ??
      0;
    if (weight !== 0 && weight < 10) {
      throw new SpecError(`${b}.weight`, `must be 10..1000, got ${weight}`);
    }
    const blk = (file: string, value: string, field: string): void => {
      need(facts, "blkio", field, where);
      add("blkio", file, value, field);
    };
    if (weight !== 0) blk(weightFile, String(weight), `${b}.weight`);
    if (leafWeight !== 0) blk("blkio.leaf_weight", String(leafWeight), `${b}.leafWeight`);
    optArray(blockIO.weightDevice, `${b}.weightDevice`).forEach((entry, i) => {
      const at = `${b}.weightDevice[${i}]`;
      const o = optObject(entry, at, NULL_IS_UNSET) ?? required(at);
      const major = optInteger(o.major, `${at}.major`, 0, Infinity, NULL_IS_UNSET) ??
        required(`${at}.major`);
      const minor = optInteger(o.minor, `${at}.minor`, 0, Infinity, NULL_IS_UNSET) ??
        required(`${at}.minor`);
      const w = optInteger(o.weight, `${at}.weight`, 0, 1000, NULL_IS_UNSET) ?? 0;
      const lw = optInteger(o.leafWeight, `${at}.leafWeight`, 0, 1000, NULL_IS_UNSET) ?? 0;
      if (w !== 0) blk(weightDeviceFile, `${major}:${minor} ${w}`, `${at}.weight`);
      if (lw !== 0) blk("blkio.leaf_weight_device", `${major}:${minor} ${lw}`, `${at}.leafWeight`);
    });
    for (const [key, , file] of THROTTLES) {
      const field = `${b}.${key}`;
      for (const t of throttles(blockIO[key], field)) {
        blk(file, `${t.major}:${t.minor} ${decimal(t.rate)}`, field);
      }
    }
  }

  // hugetlb (fs/hugetlb.go); on a hybrid host whose cgroup2 has hugetlb, there.
  const hugepages = optArray(res.hugepageLimits, `${R}.hugepageLimits`);
  hugepages.forEach((entry, i) => {
    const at = `${R}.hugepageLimits[${i}]`;
    const o = optObject(entry, at, NULL_IS_UNSET) ?? required(at);
    const pageSize = optString(o.pageSize, `${at}.pageSize`, NULL_IS_UNSET) ??
      required(`${at}.pageSize`);
    const limit = optInteger(o.limit, `${at}.limit`, 0, Infinity, NULL_IS_UNSET) ??
      required(`${at}.limit`);
    checkPageSize(facts, pageSize, `${at}.pageSize`);
    const value = decimal(limit);
    if (!facts.controllers || facts.controllers.includes("hugetlb")) {
      add("hugetlb", `hugetlb.${pageSize}.limit_in_bytes`, value, `${at}.limit`);
      add("hugetlb", `hugetlb.${pageSize}.rsvd.limit_in_bytes`, value, `${at}.limit`, {
        optional: true,
      });
    } else if (facts.unifiedControllers?.includes("hugetlb")) {
      const extra = { enable: "hugetlb" };
      add("unified", `hugetlb.${pageSize}.max`, value, `${at}.limit`, extra);
      add("unified", `hugetlb.${pageSize}.rsvd.max`, value, `${at}.limit`, {
        ...extra,
        optional: true,
      });
    } else {
      need(facts, "hugetlb", at, where);
    }
  });

  // net_cls, net_prio (fs/net_cls.go, fs/net_prio.go)
  const network = optObject(res.network, `${R}.network`, NULL_IS_UNSET);
  if (network) {
    const classID = optInteger(
      network.classID,
      `${R}.network.classID`,
      0,
      0xffffffff,
      NULL_IS_UNSET,
    );
    if (classID !== undefined && classID !== 0) {
      need(facts, "net_cls", `${R}.network.classID`, where);
      add("net_cls", "net_cls.classid", String(classID), `${R}.network.classID`);
    }
    optArray(network.priorities, `${R}.network.priorities`).forEach((entry, i) => {
      const at = `${R}.network.priorities[${i}]`;
      const o = optObject(entry, at, NULL_IS_UNSET) ?? required(at);
      const name = optString(o.name, `${at}.name`, NULL_IS_UNSET) ?? required(`${at}.name`);
      if (!/^[^\s/]+$/.test(name)) {
        throw new SpecError(`${at}.name`, `must be an interface name, got ${show(name)}`);
      }
      const priority = optInteger(o.priority, `${at}.priority`, 0, 0xffffffff, NULL_IS_UNSET) ??
        required(`${at}.priority`);
      need(facts, "net_prio", at, where);
      add("net_prio", "net_prio.ifpriomap", `${name} ${priority}`, at);
    });
  }

  // rdma (fs/rdma.go)
  for (const w of rdmaWrites(res.rdma)) {
    if (!facts.controllers || facts.controllers.includes("rdma")) {
      writes.push({ controller: "rdma", ...w });
    } else if (facts.unifiedControllers?.includes("rdma")) {
      writes.push({ controller: "unified", enable: "rdma", ...w });
    } else {
      need(facts, "rdma", w.field, where);
    }
  }

  // unified: only the cgroup2 mount of a hybrid host can take it (runc refuses it on v1).
  if (res.unified !== undefined && res.unified !== null) {
    const entries = Object.keys(optObject(res.unified, `${R}.unified`, NULL_IS_UNSET) ?? {});
    if (entries.length > 0) {
      if (!facts.unifiedControllers) {
        throw new SpecError(
          `${R}.unified`,
          "cannot be applied: this host has only cgroup v1 hierarchies (no cgroup2 mount)",
        );
      }
      writes.push(
        ...unifiedWrites(
          res.unified,
          facts.unifiedControllers,
          (c) => c === "cgroup" ? { controller: "unified" } : { controller: "unified", enable: c },
          "controllers of the hybrid cgroup2 mount",
        ),
      );
    }
  }
  return { writes, warnings };
}
