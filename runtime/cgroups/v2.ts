/**
 * The container's cgroup on a unified (pure cgroup v2) host: one directory, limits through
 * planV2(), devices through an eBPF program (device_bpf.ts) attached with bpf(2).
 */
import { trace } from "../log.ts";
import { exists, join } from "../path.ts";
import type { Resources } from "../../spec/config.ts";
import {
  BPF_CGROUP_DEVICE,
  BPF_F_ALLOW_MULTI,
  BPF_PROG_TYPE_CGROUP_DEVICE,
  bpfProgAttach,
  bpfProgDetach,
  bpfProgGetFdById,
  bpfProgLoad,
  bpfProgQuery,
  closeFd,
  openCgroupDir,
} from "../../ffi/bpf.ts";
import type { CgroupLayout, HostCgroups } from "./detect.ts";
import { hugepageSizes } from "./detect.ts";
import { compileDeviceFilter, DEVICE_PROGRAM_LICENSE, encodeBpf } from "./device_bpf.ts";
import { type DeviceRule, normalizeDeviceRules } from "./device_rules.ts";
import { parseKeyValues, readCgroupFile, readNumber, runWrites, writeCgroupFile } from "./files.ts";
import { v2Frozen } from "./freezer.ts";
import {
  allPids,
  enableControllers,
  killAll,
  makeCgroupDirs,
  nearestExisting,
  removeCgroup,
} from "./tree.ts";
import { sleep } from "../sleep.ts";
import type { CgroupManager, SetOptions } from "./interface.ts";
import { type HostFacts, planV2 } from "./resources.ts";
import { type CgroupStats, emptyStats, type MemoryEntry, parseCpuList } from "./stats.ts";

/** A container cgroup on cgroup v2. */
export class CgroupV2Manager implements CgroupManager {
  readonly layout: CgroupLayout = "unified";
  readonly #dir: string;
  readonly #mountPoint: string;

  constructor(dir: string, host: HostCgroups) {
    if (!host.unified) throw new Error("cgroup v2 manager on a host without a cgroup2 mount");
    this.#dir = dir;
    this.#mountPoint = host.unified.mountPoint;
  }

  dirs(): Record<string, string> {
    return { "": this.#dir };
  }

  exists(): boolean {
    return exists(this.#dir);
  }

  create(): void {
    makeCgroupDirs(this.#mountPoint, this.#dir);
    // runc (fs2/create.go) enables every controller the root offers along the path.
    const offered = (readCgroupFile(this.#mountPoint, "cgroup.controllers") ?? "").trim();
    enableControllers(this.#mountPoint, this.#dir, offered.split(/\s+/).filter(Boolean));
  }

  check(resources: Resources | undefined): string[] {
    return planV2(resources, this.#facts(nearestExisting(this.#dir))).warnings;
  }

  /** What planV2() needs to know, read from the cgroup (or `dir`). */
  #facts(dir = this.#dir): HostFacts {
    const controllers = (readCgroupFile(dir, "cgroup.controllers") ?? "").trim();
    const bfq = readCgroupFile(dir, "io.bfq.weight");
    return {
      controllers: controllers.split(/\s+/).filter(Boolean),
      hugepageSizes: hugepageSizes(),
      bfq: bfq !== undefined,
      // Kernels with per-device BFQ weights print "default N" plus device lines, not a bare number.
      bfqDeviceWeight: bfq !== undefined && !/^\d+$/.test(bfq.trim()),
    };
  }

  set(resources: Resources | undefined, options: SetOptions = {}): string[] {
    if (!this.exists()) throw new Error(`cgroup ${this.#dir} does not exist`);
    const plan = planV2(resources, this.#facts(), options);
    // Controllers of the plan that the parent has but has not enabled yet (update after a
    // create that needed fewer).
    const needed = [...new Set(plan.writes.map((w) => w.controller))].filter((c) => c !== "cgroup");
    if (needed.length) enableControllers(this.#mountPoint, this.#dir, needed);
    this.#checkBeforeUpdate(resources);
    runWrites(plan.writes, () => this.#dir);
    if (!options.skipDevices && resources?.devices !== undefined) {
      this.#applyDevices(normalizeDeviceRules(resources.devices));
    }
    return plan.warnings;
  }

  /** memory.checkBeforeUpdate: refuse a limit below the current usage (runc CheckMemoryUsage). */
  #checkBeforeUpdate(resources: Resources | undefined): void {
    const memory = resources?.memory;
    if (!memory?.checkBeforeUpdate) return;
    const usage = readNumber(this.#dir, "memory.current");
    if (usage === undefined) return;
    if (memory.swap !== undefined && memory.swap > 0 && memory.swap <= usage) {
      throw new Error(
        `linux.resources.memory.swap: rejecting memory+swap limit ${memory.swap} <= usage ${usage}`,
      );
    }
    if (memory.limit !== undefined && memory.limit > 0 && memory.limit <= usage) {
      throw new Error(
        `linux.resources.memory.limit: rejecting memory limit ${memory.limit} <= usage ${usage}`,
      );
    }
  }

  /**
   * Loads the device filter and attaches it; then detaches the programs attached before (so the
   * cgroup is never without a filter: with BPF_F_ALLOW_MULTI all attached programs must allow).
   */
  #applyDevices(rules: DeviceRule[]): void {
    const insns = encodeBpf(compileDeviceFilter(rules));
    let cgroupFd: number;
    try {
      cgroupFd = openCgroupDir(this.#dir);
    } catch (err) {
      throw new Error(`linux.resources.devices: cannot open ${this.#dir}`, { cause: err });
    }
    try {
      const old = bpfProgQuery(cgroupFd);
      const progFd = bpfProgLoad(BPF_PROG_TYPE_CGROUP_DEVICE, insns, DEVICE_PROGRAM_LICENSE);
      try {
        bpfProgAttach(cgroupFd, progFd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
      } finally {
        closeFd(progFd);
      }
      for (const id of old) {
        const fd = bpfProgGetFdById(id);
        try {
          bpfProgDetach(cgroupFd, fd, BPF_CGROUP_DEVICE);
        } finally {
          closeFd(fd);
        }
      }
    } catch (err) {
      throw new Error(
        `linux.resources.devices: cannot install the eBPF device filter on ${this.#dir}`,
        { cause: err },
      );
    } finally {
      closeFd(cgroupFd);
    }
  }

  procsFiles(): string[] {
    return [join(this.#dir, "cgroup.procs")];
  }

  async freeze(): Promise<void> {
    try {
      writeCgroupFile(this.#dir, "cgroup.freeze", "1");
      trace("pause: freeze written");
    } catch (err) {
      throw new Error(`cannot freeze ${this.#dir}`, { cause: err });
    }
    // cgroup.events says "frozen 1" once every task has stopped (fs2/freezer.go waitFrozen).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const events = parseKeyValues(readCgroupFile(this.#dir, "cgroup.events"));
      if (events.frozen === 1) return;
      if (Date.now() > deadline) {
        this.thaw();
        throw new Error(`${this.#dir} did not report "frozen 1" in cgroup.events within 10s`);
      }
      await sleep(5);
    }
  }

  thaw(): void {
    try {
      writeCgroupFile(this.#dir, "cgroup.freeze", "0");
    } catch (err) {
      throw new Error(`cannot thaw ${this.#dir}`, { cause: err });
    }
  }

  isFrozen(): boolean {
    return v2Frozen(this.#dir);
  }

  pids(): number[] {
    return allPids(this.#dir);
  }

  oomKillCount(): number {
    return parseKeyValues(readCgroupFile(this.#dir, "memory.events")).oom_kill ?? 0;
  }

  stats(): CgroupStats {
    const dir = this.#dir;
    const s = emptyStats();
    // cpu.stat is there even without the cpu controller (usage only).
    const cpu = parseKeyValues(readCgroupFile(dir, "cpu.stat"));
    s.cpu.usage.total = (cpu.usage_usec ?? 0) * 1000;
    s.cpu.usage.user = (cpu.user_usec ?? 0) * 1000;
    s.cpu.usage.kernel = (cpu.system_usec ?? 0) * 1000;
    s.cpu.throttling.periods = cpu.nr_periods ?? 0;
    s.cpu.throttling.throttledPeriods = cpu.nr_throttled ?? 0;
    s.cpu.throttling.throttledTime = (cpu.throttled_usec ?? 0) * 1000;
    s.cpuset.cpus = parseCpuList(readCgroupFile(dir, "cpuset.cpus.effective"));
    s.cpuset.mems = parseCpuList(readCgroupFile(dir, "cpuset.mems.effective"));
    // memory (fs2/memory.go statMemory)
    const raw = parseKeyValues(readCgroupFile(dir, "memory.stat"));
    s.memory.raw = raw;
    s.memory.cache = raw.file ?? 0;
    const events = parseKeyValues(readCgroupFile(dir, "memory.events"));
    const usage: MemoryEntry = {
      usage: readNumber(dir, "memory.current") ?? 0,
      limit: readNumber(dir, "memory.max") ?? Infinity,
      max: readNumber(dir, "memory.peak") ?? 0,
      failcnt: events.max ?? 0,
    };
    s.memory.usage = usage;
    const swapCurrent = readNumber(dir, "memory.swap.current");
    if (swapCurrent !== undefined) {
      // v1 compatibility (runc): swap is reported as memory+swap.
      const swapMax = readNumber(dir, "memory.swap.max") ?? Infinity;
      s.memory.swap = {
        usage: swapCurrent + usage.usage,
        limit: swapMax === Infinity || usage.limit === Infinity ? Infinity : swapMax + usage.limit,
        max: 0,
        failcnt: parseKeyValues(readCgroupFile(dir, "memory.swap.events")).max ?? 0,
      };
    }
    // pids
    s.pids.current = readNumber(dir, "pids.current") ?? this.pids().length;
    const pidsMax = readNumber(dir, "pids.max");
    s.pids.limit = pidsMax === undefined || pidsMax === Infinity ? 0 : pidsMax;
    // io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
    for (const line of (readCgroupFile(dir, "io.stat") ?? "").split("\n")) {
      const [device, ...fields] = line.trim().split(/\s+/);
      if (!device || !device.includes(":")) continue;
      const [major, minor] = device.split(":").map(Number);
      const kv = Object.fromEntries(
        fields.map((f) => f.split("=")).map(([k, v]) => [k, Number(v)]),
      );
      const entry = (op: string, value: number | undefined) => ({
        major,
        minor,
        op,
        value: value ?? 0,
      });
      s.blkio.ioServiceBytesRecursive.push(entry("Read", kv.rbytes), entry("Write", kv.wbytes));
      s.blkio.ioServicedRecursive.push(entry("Read", kv.rios), entry("Write", kv.wios));
    }
    for (const size of hugepageSizes()) {
      const current = readNumber(dir, `hugetlb.${size}.current`);
      if (current === undefined) continue;
      s.hugetlb[size] = {
        usage: current,
        max: 0,
        failcnt: parseKeyValues(readCgroupFile(dir, `hugetlb.${size}.events`)).max ?? 0,
      };
    }
    return s;
  }

  async destroy(): Promise<void> {
    if (!this.exists()) return;
    // cgroup.kill (5.14+) kills everything at once, frozen or not; else SIGKILL each pid.
    if (exists(join(this.#dir, "cgroup.kill"))) {
      try {
        writeCgroupFile(this.#dir, "cgroup.kill", "1");
      } catch {
        // Fall back to the loop below.
      }
    }
    await killAll(this.#dir, () => {
      if (this.isFrozen()) this.thaw();
    });
    await removeCgroup(this.#dir);
  }
}
