/** cpu (runc fs/cpu.go, fs2/cpu.go). */
import { SpecError } from "../../../spec/errors.ts";
import { type Json, NULL_IS_UNSET, optInteger, optObject } from "../../../spec/json.ts";
import { decimal, type PlanBuilder, R } from "./plan.ts";

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

/** The cgroup v2 cpu writes (cpu.weight, cpu.max, cpu.max.burst, cpu.idle). */
export function planCpuV2(res: Json, p: PlanBuilder): void {
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
      p.need("cpu", `${R}.cpu.shares`);
      p.add("cpu", "cpu.weight", String(weight), `${R}.cpu.shares`);
    }
    if (burst !== undefined) {
      p.need("cpu", `${R}.cpu.burst`);
      p.add("cpu", "cpu.max.burst", decimal(burst), `${R}.cpu.burst`, {
        retryOnEinval: quota !== 0,
      });
    }
    if (quota !== 0 || period !== 0) {
      p.need("cpu", `${R}.cpu.${quota !== 0 ? "quota" : "period"}`);
      let value = quota > 0 ? decimal(quota) : "max";
      if (period !== 0) value += ` ${decimal(period)}`;
      p.add("cpu", "cpu.max", value, `${R}.cpu.${quota !== 0 ? "quota" : "period"}`);
    }
    if (idle !== undefined) {
      p.need("cpu", `${R}.cpu.idle`);
      p.add("cpu", "cpu.idle", String(idle), `${R}.cpu.idle`);
    }
  }
}

/** The cgroup v1 cpu writes (shares, CFS and realtime periods and quotas, idle). */
export function planCpuV1(res: Json, p: PlanBuilder): void {
  const cpu = optObject(res.cpu, `${R}.cpu`, NULL_IS_UNSET);
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
    if (cpuNeeded) p.need("cpu", c);
    if (shares !== 0) {
      p.add("cpu", "cpu.shares", decimal(shares), `${c}.shares`, { readBack: true });
    }
    if (period !== 0) {
      p.add("cpu", "cpu.cfs_period_us", decimal(period), `${c}.period`, {
        retryOnEinval: quota !== 0,
      });
    }
    if (burst !== undefined) {
      p.add("cpu", "cpu.cfs_burst_us", decimal(burst), `${c}.burst`, {
        retryOnEinval: quota !== 0,
        optional: true,
      });
    }
    if (quota !== 0) p.add("cpu", "cpu.cfs_quota_us", decimal(quota), `${c}.quota`);
    if (idle !== undefined) p.add("cpu", "cpu.idle", String(idle), `${c}.idle`);
    if (rtPeriod !== 0) {
      p.add("cpu", "cpu.rt_period_us", decimal(rtPeriod), `${c}.realtimePeriod`, {
        retryOnEinval: rtRuntime !== 0,
      });
    }
    if (rtRuntime !== 0) {
      p.add("cpu", "cpu.rt_runtime_us", decimal(rtRuntime), `${c}.realtimeRuntime`);
    }
  }
}
