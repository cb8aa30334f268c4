/**
 * The D-Bus half of the systemd cgroup driver (systemd.ts): linux.resources as unit properties,
 * and the org.freedesktop.systemd1.Manager calls (StartTransientUnit, SetUnitProperties,
 * StopUnit, ResetFailedUnit) with their jobs awaited. It is imported only when --systemd-cgroup
 * is used (systemd.ts imports it on use), so other commands never load the D-Bus client.
 *
 * As runc's systemd driver (opencontainers/cgroups systemd/common.go, v1.go, v2.go): the unified
 * properties on cgroup v2, the legacy ones (MemoryLimit, CPUShares, BlockIOWeight) on v1/hybrid.
 */
import type { DeviceCgroupRule, Resources } from "../../spec/config.ts";
import { SpecError } from "../../spec/errors.ts";
import { DBusConnection, DBusError, type DBusMessage, unixPathOf, Variant } from "./dbus.ts";
import { type DeviceRule, normalizeDeviceRules } from "./device_rules.ts";
import { blkioWeightToIoWeight, cpuSharesToWeight, memorySwapToV2 } from "./resources.ts";

const SYSTEMD = "org.freedesktop.systemd1";
const MANAGER_PATH = "/org/freedesktop/systemd1";
const MANAGER = "org.freedesktop.systemd1.Manager";
/** systemd's "infinity" for uint64 properties. */
export const UINT64_MAX = 2n ** 64n - 1n;
/** How long a job (start, stop) may take; PID 1 answers slowly in an emulated VM. */
const JOB_TIMEOUT_MS = 60_000;

/** One unit property, as StartTransientUnit's a(sv) wants it. */
export type UnitProperty = [string, Variant];

const t = (v: number | bigint): Variant => new Variant("t", typeof v === "bigint" ? v : BigInt(v));

/**
 * A cpuset list ("0-2,5") as systemd's AllowedCPUs/AllowedMemoryNodes byte mask: byte i holds
 * CPUs 8i..8i+7, lowest bit first (runc RangeToBits).
 */
export function cpusetMask(list: string, field: string): Uint8Array {
  const bits: number[] = [];
  for (const part of list.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || hi < lo || hi > 65535) {
      throw new SpecError(field, `${JSON.stringify(list)} is not a cpu list ("0-2,5")`);
    }
    for (let i = lo; i <= hi; i++) bits.push(i);
  }
  if (bits.length === 0) throw new SpecError(field, `${JSON.stringify(list)} names no cpu`);
  const mask = new Uint8Array((Math.max(...bits) >> 3) + 1);
  for (const b of bits) mask[b >> 3] |= 1 << (b & 7);
  return mask;
}

/**
 * CPUQuotaPerSecUSec from cpu.quota/period (runc addCpuQuota): quota * 1s / period, rounded UP to
 * whole 10 ms because systemd keeps percents; no quota (-1 or 0 with a period) is infinity.
 */
export function cpuQuotaPerSecUSec(quota: number, period: number): bigint {
  if (quota <= 0) return UINT64_MAX;
  const p = period > 0 ? period : 100_000;
  let perSec = Math.floor((quota * 1_000_000) / p);
  if (perSec % 10_000 !== 0) perSec = (Math.floor(perSec / 10_000) + 1) * 10_000;
  return BigInt(perSec);
}

/** The node name of a block device maj:min (sysfs uevent DEVNAME), for IO*BandwidthMax. */
function blockDevicePath(major: number, minor: number): string | undefined {
  try {
    const uevent = Deno.readTextFileSync(`/sys/dev/block/${major}:${minor}/uevent`);
    const name = /^DEVNAME=(.+)$/m.exec(uevent)?.[1];
    return name ? `/dev/${name}` : undefined;
  } catch {
    return undefined;
  }
}

/** A driver's name in /proc/devices ("136" -> "pts" for char), for "char-pts" allow entries. */
function driverName(type: "c" | "b", major: number): string | undefined {
  try {
    const text = Deno.readTextFileSync("/proc/devices");
    const section = type === "c" ? "Character devices:" : "Block devices:";
    const body = text.split(section)[1]?.split(/\n\s*\n/)[0] ?? "";
    for (const line of body.trim().split("\n")) {
      const [n, name] = line.trim().split(/\s+/);
      if (Number(n) === major) return name;
    }
  } catch { /* no /proc/devices: fall back */ }
  return undefined;
}

/**
 * DevicePolicy and DeviceAllow for the rules, when systemd can express them exactly: allow-all
 * ("auto", no list), or a deny-all followed by allows only ("strict" with one entry per allow).
 * Anything else gets "auto" without a list: systemd then filters nothing, and the eBPF program the
 * cgroupfs half attaches (device_bpf.ts) is the only filter. (runc instead emulates the rules; an
 * inexact list here would be a second, different filter that systemd re-applies on every
 * property change, so Skiff leaves it out.)
 */
export function deviceProperties(rules: readonly DeviceRule[]): UnitProperty[] {
  const auto: UnitProperty[] = [["DevicePolicy", new Variant("s", "auto")]];
  let start = -1;
  rules.forEach((r, i) => {
    if (r.type === "a" && r.major < 0 && r.minor < 0 && r.access === "rwm") start = i;
  });
  if (start < 0) return auto;
  // An allow-all last catch-all: systemd filters nothing ("auto"), later denies are the eBPF
  // program's.
  if (rules[start].allow) return auto;
  const allow: [string, string][] = [];
  for (const r of rules.slice(start + 1)) {
    if (!r.allow || r.type === "a") return auto;
    const kind = r.type === "c" ? "char" : "block";
    if (r.major < 0) allow.push([`${kind}-*`, r.access]);
    else if (r.minor < 0) {
      const name = driverName(r.type, r.major);
      if (!name) return auto;
      allow.push([`${kind}-${name}`, r.access]);
    } else allow.push([`/dev/${kind}/${r.major}:${r.minor}`, r.access]);
  }
  return [["DevicePolicy", new Variant("s", "strict")], [
    "DeviceAllow",
    new Variant("a(ss)", allow),
  ]];
}

/**
 * linux.resources as cgroup v2 unit properties (runc genV2ResourcesProperties). Fields systemd has
 * no property for (cpu.burst, cpu.idle, hugetlb, rdma, unified, per-device io weights...) are
 * written to the files afterwards by the cgroupfs half, as runc does.
 */
export function unitProperties(
  resources: Resources | undefined,
  devices?: readonly DeviceCgroupRule[],
  v1 = false,
): UnitProperty[] {
  if (v1) return v1UnitProperties(resources, devices);
  const props: UnitProperty[] = [];
  const r = resources ?? {};
  const limit = r.memory?.limit ?? 0;
  if (limit !== 0) props.push(["MemoryMax", t(limit < 0 ? UINT64_MAX : limit)]);
  const reservation = r.memory?.reservation ?? 0;
  if (reservation !== 0) {
    props.push(["MemoryLow", t(reservation < 0 ? UINT64_MAX : reservation)]);
  }
  const swap = r.memory?.swap ?? 0;
  if (swap !== 0 || limit === -1) {
    let v2: number;
    try {
      v2 = memorySwapToV2(swap, limit);
    } catch (err) {
      throw new SpecError("linux.resources.memory.swap", (err as Error).message);
    }
    props.push(["MemorySwapMax", t(v2 < 0 ? UINT64_MAX : v2)]);
  }
  const shares = r.cpu?.shares ?? 0;
  if (shares > 0) props.push(["CPUWeight", t(cpuSharesToWeight(shares))]);
  const quota = r.cpu?.quota ?? 0;
  const period = r.cpu?.period ?? 0;
  if (quota !== 0 || period !== 0) {
    props.push(["CPUQuotaPerSecUSec", t(cpuQuotaPerSecUSec(quota, period))]);
    if (period !== 0) props.push(["CPUQuotaPeriodUSec", t(period)]);
  }
  if (r.cpu?.cpus) {
    props.push([
      "AllowedCPUs",
      new Variant("ay", cpusetMask(r.cpu.cpus, "linux.resources.cpu.cpus")),
    ]);
  }
  if (r.cpu?.mems) {
    props.push([
      "AllowedMemoryNodes",
      new Variant("ay", cpusetMask(r.cpu.mems, "linux.resources.cpu.mems")),
    ]);
  }
  const pids = r.pids?.limit;
  if (pids !== undefined && pids !== null) {
    props.push(["TasksMax", t(pids > 0 ? pids : UINT64_MAX)]);
  }
  const weight = r.blockIO?.weight ?? 0;
  if (weight > 0) props.push(["IOWeight", t(blkioWeightToIoWeight(weight))]);
  const bandwidth = [
    ["IOReadBandwidthMax", r.blockIO?.throttleReadBpsDevice],
    ["IOWriteBandwidthMax", r.blockIO?.throttleWriteBpsDevice],
    ["IOReadIOPSMax", r.blockIO?.throttleReadIOPSDevice],
    ["IOWriteIOPSMax", r.blockIO?.throttleWriteIOPSDevice],
  ] as const;
  for (const [name, list] of bandwidth) {
    const entries: [string, bigint][] = [];
    for (const d of list ?? []) {
      // systemd names devices by path; one it cannot find is left to io.max (cgroupfs half).
      const path = blockDevicePath(d.major, d.minor);
      if (path) entries.push([path, BigInt(d.rate)]);
    }
    if (entries.length > 0) props.push([name, new Variant("a(st)", entries)]);
  }
  if (devices !== undefined) props.push(...deviceProperties(normalizeDeviceRules(devices)));
  return props;
}

/**
 * linux.resources as the properties of a cgroup v1 (or hybrid) host, as runc's v1 driver
 * (genV1ResourcesProperties): MemoryLimit, CPUShares, the CPU quota, BlockIOWeight, TasksMax and
 * the devices. Everything else (swap, reservation, cpuset, throttling...) is only written to the
 * files by the cgroupfs half, which also makes the hierarchies systemd does not manage (cpuset,
 * freezer, hugetlb, net_cls...) and puts the init there, as runc joins them.
 */
function v1UnitProperties(
  resources: Resources | undefined,
  devices?: readonly DeviceCgroupRule[],
): UnitProperty[] {
  const props: UnitProperty[] = [];
  const r = resources ?? {};
  const limit = r.memory?.limit ?? 0;
  if (limit !== 0) props.push(["MemoryLimit", t(limit < 0 ? UINT64_MAX : limit)]);
  const shares = r.cpu?.shares ?? 0;
  if (shares > 0) props.push(["CPUShares", t(shares)]);
  const quota = r.cpu?.quota ?? 0;
  const period = r.cpu?.period ?? 0;
  if (quota !== 0 || period !== 0) {
    props.push(["CPUQuotaPerSecUSec", t(cpuQuotaPerSecUSec(quota, period))]);
    if (period !== 0) props.push(["CPUQuotaPeriodUSec", t(period)]);
  }
  const weight = r.blockIO?.weight ?? 0;
  if (weight > 0) props.push(["BlockIOWeight", t(weight)]);
  const pids = r.pids?.limit;
  if (pids !== undefined && pids !== null) {
    props.push(["TasksMax", t(pids > 0 ? pids : UINT64_MAX)]);
  }
  if (devices !== undefined) props.push(...deviceProperties(normalizeDeviceRules(devices)));
  return props;
}

/**
 * The properties of the transient unit itself (runc Apply): its slice, Delegate=yes and the
 * init's pid for a scope (a slice gets neither), no default dependencies, accounting on.
 */
export function transientProperties(
  slice: string,
  pid: number | undefined,
  v1 = false,
): UnitProperty[] {
  const b = (v: boolean): Variant => new Variant("b", v);
  const props: UnitProperty[] = [
    ["Description", new Variant("s", "skiff container")],
    // A slice unit's parent is implied by its name, and systemd refuses Slice= for one: runc
    // gives it Wants= of the slice instead.
    pid === undefined ? ["Wants", new Variant("as", [slice])] : ["Slice", new Variant("s", slice)],
  ];
  if (pid !== undefined) {
    props.push(["Delegate", b(true)], ["PIDs", new Variant("au", [pid])]);
  }
  props.push(
    ["DefaultDependencies", b(false)],
    // A scope whose processes were killed (OOM, SIGKILL) ends "failed", and a failed unit stays
    // loaded until reset: collect it anyway, so that a crashed container leaves no unit behind.
    ["CollectMode", new Variant("s", "inactive-or-failed")],
    ["MemoryAccounting", b(true)],
    ["CPUAccounting", b(true)],
    [v1 ? "BlockIOAccounting" : "IOAccounting", b(true)],
    ["TasksAccounting", b(true)],
  );
  return props;
}

/** Which bus: the system's, or the caller's systemd user instance (rootless). */
export function busPath(user: boolean): string {
  if (!user) {
    const address = Deno.env.get("DBUS_SYSTEM_BUS_ADDRESS");
    return address ? unixPathOf(address) : "/run/dbus/system_bus_socket";
  }
  const address = Deno.env.get("DBUS_SESSION_BUS_ADDRESS");
  if (address) return unixPathOf(address);
  const runtimeDir = Deno.env.get("XDG_RUNTIME_DIR") || `/run/user/${Deno.uid()}`;
  return `${runtimeDir}/bus`;
}

/** systemd's bus could not be reached: no manager runs there, so none of its units exist. */
export class BusUnreachableError extends Error {
  override name = "BusUnreachableError";
}

/** Connects to systemd's bus, with an error that says what is missing. */
export async function connectSystemd(user: boolean): Promise<SystemdBus> {
  const path = busPath(user);
  let bus: DBusConnection;
  try {
    bus = await DBusConnection.connect(path);
  } catch (err) {
    throw new BusUnreachableError(
      user
        ? `--systemd-cgroup (rootless) needs the systemd user instance of uid ${Deno.uid()}, ` +
          `whose bus ${path} cannot be reached (a login session or \`loginctl enable-linger\` ` +
          "starts it; DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR name it)"
        : `--systemd-cgroup needs systemd's system bus, and ${path} cannot be reached ` +
          "(is dbus running? DBUS_SYSTEM_BUS_ADDRESS names another one)",
      { cause: err },
    );
  }
  const systemd = new SystemdBus(bus);
  try {
    await bus.addMatch(
      `type='signal',sender='${SYSTEMD}',path='${MANAGER_PATH}',interface='${MANAGER}',member='JobRemoved'`,
    );
  } catch (err) {
    await bus.close();
    throw err;
  }
  return systemd;
}

/** systemd's manager object over one connection. */
export class SystemdBus {
  readonly #bus: DBusConnection;
  /** JobRemoved results by job path, and who waits for which. */
  readonly #done = new Map<string, string>();
  readonly #waiters = new Map<string, () => void>();
  #subscribed = false;

  constructor(bus: DBusConnection) {
    this.#bus = bus;
    bus.onSignal((m: DBusMessage) => {
      if (m.interface !== MANAGER || m.member !== "JobRemoved") return;
      // JobRemoved(u id, o job, s unit, s result)
      const [, job, , result] = m.body as [number, string, string, string];
      this.#done.set(job, result);
      this.#waiters.get(job)?.();
    });
  }

  close(): Promise<void> {
    return this.#bus.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #call(member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return this.#bus.call({
      destination: SYSTEMD,
      path: MANAGER_PATH,
      interface: MANAGER,
      member,
      signature,
      body,
    }, JOB_TIMEOUT_MS);
  }

  /** Waits for the JobRemoved of `job`; throws unless its result is "done". */
  async #waitJob(job: string, what: string): Promise<void> {
    if (!this.#done.has(job)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#waiters.delete(job);
          reject(new Error(`${what}: systemd job ${job} did not finish in ${JOB_TIMEOUT_MS} ms`));
        }, JOB_TIMEOUT_MS);
        this.#waiters.set(job, () => {
          clearTimeout(timer);
          this.#waiters.delete(job);
          resolve();
        });
      });
    }
    const result = this.#done.get(job);
    if (result !== "done") throw new Error(`${what}: systemd job ${job} ended with "${result}"`);
  }

  /**
   * StartTransientUnit(name, "replace", properties) and waits for its job. A unit of that name
   * that exists already (a failed one from a crash) is reset once and started again.
   */
  async startUnit(name: string, properties: UnitProperty[]): Promise<void> {
    const what = `cannot start systemd unit ${name}`;
    for (let attempt = 0;; attempt++) {
      try {
        await this.#subscribe();
        const [job] = await this.#call("StartTransientUnit", "ssa(sv)a(sa(sv))", [
          name,
          "replace",
          properties,
          [],
        ]);
        await this.#waitJob(job as string, what);
        return;
      } catch (err) {
        if (
          attempt === 0 && err instanceof DBusError &&
          err.errorName === "org.freedesktop.systemd1.UnitExists"
        ) {
          await this.resetFailed(name);
          continue;
        }
        throw new Error(what, { cause: err });
      }
    }
  }

  /** SetUnitProperties(name, runtime=true, properties). */
  async setProperties(name: string, properties: UnitProperty[]): Promise<void> {
    if (properties.length === 0) return;
    try {
      await this.#call("SetUnitProperties", "sba(sv)", [name, true, properties]);
    } catch (err) {
      throw new Error(`cannot set the properties of systemd unit ${name}`, { cause: err });
    }
  }

  /**
   * Subscribe(), once per connection, before the first job: systemd sends JobRemoved on the bus
   * only while some client has subscribed (a user instance has no other subscriber, and without
   * it each job wait ran into its time limit); the subscription ends with the connection.
   */
  async #subscribe(): Promise<void> {
    if (this.#subscribed) return;
    await this.#call("Subscribe", "", []);
    this.#subscribed = true;
  }

  /** StopUnit(name, "replace"), its job awaited; a unit that does not exist is already stopped. */
  async stopUnit(name: string): Promise<void> {
    try {
      await this.#subscribe();
      const [job] = await this.#call("StopUnit", "ss", [name, "replace"]);
      await this.#waitJob(job as string, `cannot stop systemd unit ${name}`);
    } catch (err) {
      if (err instanceof DBusError && err.errorName === "org.freedesktop.systemd1.NoSuchUnit") {
        return;
      }
      throw err;
    }
  }

  /** ResetFailedUnit(name); a unit that is not loaded (or not failed) is fine. */
  async resetFailed(name: string): Promise<void> {
    try {
      await this.#call("ResetFailedUnit", "s", [name]);
    } catch (err) {
      if (!(err instanceof DBusError)) throw err;
    }
  }

  /** True while systemd has the unit loaded (GetUnit answers). */
  async unitLoaded(name: string): Promise<boolean> {
    try {
      await this.#call("GetUnit", "s", [name]);
      return true;
    } catch (err) {
      if (err instanceof DBusError && err.errorName === "org.freedesktop.systemd1.NoSuchUnit") {
        return false;
      }
      throw err;
    }
  }

  /** Stops the unit and waits until systemd has forgotten it (reset if it failed). */
  async removeUnit(name: string, timeoutMs = 30_000): Promise<void> {
    await this.stopUnit(name);
    const deadline = Date.now() + timeoutMs;
    while (await this.unitLoaded(name)) {
      await this.resetFailed(name);
      if (!(await this.unitLoaded(name))) return;
      if (Date.now() > deadline) {
        throw new Error(`systemd unit ${name} is still loaded ${timeoutMs} ms after StopUnit`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
