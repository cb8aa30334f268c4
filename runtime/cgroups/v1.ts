/**
 * The container's cgroup on a legacy or hybrid host: one directory per mounted v1 hierarchy
 * (cpu, cpuacct, cpuset, memory, devices, freezer, blkio, pids, ...) and, on a hybrid host, one in
 * the cgroup2 mount too, so the container is fully placed and can use the controllers found
 * only there (hugetlb on this kind of machine).
 */
import { trace } from "../log.ts";
import { exists, join } from "../path.ts";
import type { Resources } from "../../spec/config.ts";
import type { CgroupLayout, HostCgroups } from "./detect.ts";
import { hugepageSizes } from "./detect.ts";
import { parseKeyValues, readCgroupFile, readNumber, runWrites, writeCgroupFile } from "./files.ts";
import { v1Frozen } from "./freezer.ts";
import { type CgroupPlace, v1Places } from "./places.ts";
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
import { type HostFacts, planV1 } from "./resources.ts";
import {
  type BlkioEntry,
  type CgroupStats,
  emptyStats,
  type MemoryEntry,
  parseCpuList,
} from "./stats.ts";

/** USER_HZ: cpuacct.stat counts in these ticks (always 100 on Linux's user ABI). */
const USER_HZ = 100;

/** A container cgroup on cgroup v1 (legacy or hybrid host). */
export class CgroupV1Manager implements CgroupManager {
  readonly layout: CgroupLayout;
  readonly #host: HostCgroups;
  /** Controller (or "unified") -> directory. */
  readonly #dirs: Record<string, string>;

  constructor(host: HostCgroups, dirs: Record<string, string>) {
    this.layout = host.unified ? "hybrid" : "legacy";
    this.#host = host;
    this.#dirs = { ...dirs };
  }

  dirs(): Record<string, string> {
    return { ...this.#dirs };
  }

  /** Distinct directories, each with the mount it lives in. */
  #places(): CgroupPlace[] {
    return v1Places(this.#dirs, this.#host);
  }

  exists(): boolean {
    return this.#places().some((p) => exists(p.dir));
  }

  create(): void {
    for (const place of this.#places()) {
      const created = makeCgroupDirs(place.mountPoint, place.dir);
      if (this.#host.v1[place.key]?.controllers.includes("cpuset")) {
        // A new cpuset cgroup starts with empty cpus/mems and takes no process (ENOSPC) until
        // they are set: copy them from the parent, level by level (runc fs/cpuset.go ensureParent).
        for (const dir of created) this.#inheritCpuset(dir);
        this.#inheritCpuset(place.dir);
      }
    }
  }

  #inheritCpuset(dir: string): void {
    const parent = join(dir, "..");
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      if ((readCgroupFile(dir, file) ?? "").trim() !== "") continue;
      const value = (readCgroupFile(parent, file) ?? "").trim();
      try {
        writeCgroupFile(dir, file, value);
      } catch (err) {
        throw new Error(`cannot copy ${file} "${value}" from ${parent} to ${dir}`, { cause: err });
      }
    }
  }

  check(resources: Resources | undefined): string[] {
    return planV1(resources, this.#facts(true)).warnings;
  }

  /** What planV1() needs to know, read from the cgroup (or its nearest existing ancestors). */
  #facts(ancestors = false): HostFacts {
    const at = (dir: string | undefined) => dir && ancestors ? nearestExisting(dir) : dir;
    const blkio = at(this.#dirs.blkio);
    const memory = at(this.#dirs.memory);
    const limit = memory ? readNumber(memory, "memory.limit_in_bytes") : undefined;
    return {
      controllers: Object.keys(this.#dirs).filter((c) => c !== "unified" && !c.startsWith("name=")),
      unifiedControllers: this.#host.unified ? this.#host.unifiedControllers : undefined,
      hugepageSizes: hugepageSizes(),
      bfq: blkio !== undefined && !exists(join(blkio, "blkio.weight")) &&
        exists(join(blkio, "blkio.bfq.weight")),
      leafWeight: blkio !== undefined ? exists(join(blkio, "blkio.leaf_weight")) : undefined,
      swapAccounting: memory ? exists(join(memory, "memory.memsw.limit_in_bytes")) : undefined,
      currentMemoryLimit: limit === Infinity ? undefined : limit,
    };
  }

  set(resources: Resources | undefined, options: SetOptions = {}): string[] {
    if (!this.exists()) throw new Error(`cgroup ${Object.values(this.#dirs)[0]} does not exist`);
    const plan = planV1(resources, this.#facts(), options);
    const unified = this.#dirs.unified;
    const toEnable = [...new Set(plan.writes.flatMap((w) => w.enable ? [w.enable] : []))];
    if (toEnable.length && unified && this.#host.unified) {
      enableControllers(this.#host.unified.mountPoint, unified, toEnable);
    }
    this.#checkBeforeUpdate(resources);
    runWrites(plan.writes, (w) => {
      const dir = this.#dirs[w.controller];
      if (!dir) throw new Error(`${w.field}: no ${w.controller} cgroup for this container`);
      return dir;
    });
    return plan.warnings;
  }

  #checkBeforeUpdate(resources: Resources | undefined): void {
    const memory = resources?.memory;
    const dir = this.#dirs.memory;
    if (!memory?.checkBeforeUpdate || !dir) return;
    const usage = readNumber(dir, "memory.usage_in_bytes");
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

  procsFiles(): string[] {
    return this.#places().map((p) => join(p.dir, "cgroup.procs"));
  }

  #freezer(): string {
    const dir = this.#dirs.freezer;
    if (!dir) throw new Error("the freezer cgroup v1 controller is not mounted on this host");
    return dir;
  }

  async freeze(): Promise<void> {
    const dir = this.#freezer();
    // fs/freezer.go: a v1 cgroup can stay FREEZING while new tasks appear; write FROZEN again
    // until it reports FROZEN, thawing briefly now and then.
    try {
      for (let i = 0; i < 1000; i++) {
        if (i % 50 === 49) {
          writeCgroupFile(dir, "freezer.state", "THAWED");
          await sleep(10);
        }
        writeCgroupFile(dir, "freezer.state", "FROZEN");
        if (i === 0) trace("pause: freeze written");
        if (i % 25 === 24) await sleep(1);
        const state = readCgroupFile(dir, "freezer.state")?.trim();
        if (state === "FROZEN") return;
        if (state !== "FREEZING") {
          throw new Error(`unexpected freezer.state ${state} while freezing`);
        }
      }
    } catch (err) {
      this.#thawQuietly(dir);
      throw new Error(`cannot freeze ${dir}`, { cause: err });
    }
    this.#thawQuietly(dir);
    throw new Error(`cannot freeze ${dir}: it stayed FREEZING`);
  }

  #thawQuietly(dir: string): void {
    try {
      writeCgroupFile(dir, "freezer.state", "THAWED");
    } catch {
      // Best effort: the error being reported matters more.
    }
  }

  thaw(): void {
    const dir = this.#freezer();
    try {
      writeCgroupFile(dir, "freezer.state", "THAWED");
    } catch (err) {
      throw new Error(`cannot thaw ${dir}`, { cause: err });
    }
  }

  isFrozen(): boolean {
    const dir = this.#dirs.freezer;
    return dir ? v1Frozen(dir) : false;
  }

  /** The directory whose cgroup.procs lists the container's processes. */
  #procsDir(): string | undefined {
    const d = this.#dirs;
    return d.pids ?? d.freezer ?? d.memory ?? d.devices ?? d.cpu ?? Object.values(d)[0];
  }

  pids(): number[] {
    const dir = this.#procsDir();
    return dir ? allPids(dir) : [];
  }

  oomKillCount(): number {
    const dir = this.#dirs.memory;
    if (!dir) return 0;
    return parseKeyValues(readCgroupFile(dir, "memory.oom_control")).oom_kill ?? 0;
  }

  stats(): CgroupStats {
    const s = emptyStats();
    const d = this.#dirs;
    if (d.cpuacct) {
      s.cpu.usage.total = readNumber(d.cpuacct, "cpuacct.usage") ?? 0;
      s.cpu.usage.percpu = numbers(readCgroupFile(d.cpuacct, "cpuacct.usage_percpu"));
      s.cpu.usage.percpu_user = numbers(readCgroupFile(d.cpuacct, "cpuacct.usage_percpu_user"));
      s.cpu.usage.percpu_kernel = numbers(readCgroupFile(d.cpuacct, "cpuacct.usage_percpu_sys"));
      const ticks = parseKeyValues(readCgroupFile(d.cpuacct, "cpuacct.stat"));
      s.cpu.usage.user = (ticks.user ?? 0) * (1e9 / USER_HZ);
      s.cpu.usage.kernel = (ticks.system ?? 0) * (1e9 / USER_HZ);
    }
    if (d.cpu) {
      const cpu = parseKeyValues(readCgroupFile(d.cpu, "cpu.stat"));
      s.cpu.throttling.periods = cpu.nr_periods ?? 0;
      s.cpu.throttling.throttledPeriods = cpu.nr_throttled ?? 0;
      s.cpu.throttling.throttledTime = cpu.throttled_time ?? 0;
    }
    if (d.cpuset) {
      s.cpuset.cpus = parseCpuList(readCgroupFile(d.cpuset, "cpuset.cpus"));
      s.cpuset.mems = parseCpuList(readCgroupFile(d.cpuset, "cpuset.mems"));
    }
    if (d.memory) {
      const m = d.memory;
      const entry = (prefix: string): MemoryEntry => ({
        usage: readNumber(m, `${prefix}.usage_in_bytes`) ?? 0,
        max: readNumber(m, `${prefix}.max_usage_in_bytes`) ?? 0,
        failcnt: readNumber(m, `${prefix}.failcnt`) ?? 0,
        limit: readNumber(m, `${prefix}.limit_in_bytes`) ?? 0,
      });
      s.memory.usage = entry("memory");
      if (exists(join(m, "memory.memsw.usage_in_bytes"))) s.memory.swap = entry("memory.memsw");
      if (exists(join(m, "memory.kmem.usage_in_bytes"))) s.memory.kernel = entry("memory.kmem");
      if (exists(join(m, "memory.kmem.tcp.usage_in_bytes"))) {
        s.memory.kernelTCP = entry("memory.kmem.tcp");
      }
      s.memory.raw = parseKeyValues(readCgroupFile(m, "memory.stat"));
      s.memory.cache = s.memory.raw.cache ?? 0;
    }
    if (d.pids) {
      s.pids.current = readNumber(d.pids, "pids.current") ?? 0;
      const max = readNumber(d.pids, "pids.max");
      s.pids.limit = max === undefined || max === Infinity ? 0 : max;
    } else {
      s.pids.current = this.pids().length;
    }
    if (d.blkio) {
      s.blkio.ioServiceBytesRecursive = blkioEntries(
        readCgroupFile(d.blkio, "blkio.throttle.io_service_bytes_recursive"),
      );
      s.blkio.ioServicedRecursive = blkioEntries(
        readCgroupFile(d.blkio, "blkio.throttle.io_serviced_recursive"),
      );
    }
    for (const size of hugepageSizes()) {
      if (d.hugetlb) {
        const usage = readNumber(d.hugetlb, `hugetlb.${size}.usage_in_bytes`);
        if (usage === undefined) continue;
        s.hugetlb[size] = {
          usage,
          max: readNumber(d.hugetlb, `hugetlb.${size}.max_usage_in_bytes`) ?? 0,
          failcnt: readNumber(d.hugetlb, `hugetlb.${size}.failcnt`) ?? 0,
        };
      } else if (d.unified) {
        const usage = readNumber(d.unified, `hugetlb.${size}.current`);
        if (usage === undefined) continue;
        s.hugetlb[size] = {
          usage,
          max: 0,
          failcnt: parseKeyValues(readCgroupFile(d.unified, `hugetlb.${size}.events`)).max ?? 0,
        };
      }
    }
    return s;
  }

  async destroy(): Promise<void> {
    const places = this.#places().filter((p) => exists(p.dir));
    if (places.length === 0) return;
    const freezer = this.#dirs.freezer;
    // Frozen v1 tasks do not die until thawed: signal, then thaw.
    const thaw = (): void => {
      if (freezer && exists(freezer)) this.#thawQuietly(freezer);
    };
    for (const place of places) await killAll(place.dir, thaw);
    for (const place of places) await removeCgroup(place.dir);
  }
}

function numbers(text: string | undefined): number[] {
  return (text ?? "").trim().split(/\s+/).filter(Boolean).map(Number);
}

/** "8:0 Read 4096" lines; the "Total" lines are dropped, as runc does. */
function blkioEntries(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const [device, op, value] = line.trim().split(/\s+/);
    if (!device || !device.includes(":") || value === undefined) continue;
    const [major, minor] = device.split(":").map(Number);
    out.push({ major, minor, op, value: Number(value) });
  }
  return out;
}
