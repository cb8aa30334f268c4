/** io on cgroup v2, blkio on v1 (runc fs2/io.go, fs/blkio.go). */
import { SpecError } from "../../../spec/errors.ts";
import {
  type Json,
  NULL_IS_UNSET,
  optArray,
  optInteger,
  optObject,
  required,
} from "../../../spec/json.ts";
import { decimal, type PlanBuilder, R } from "./plan.ts";

/** blkio.weight (10..1000) -> io.weight (1..10000), linearly; 0 stays 0 (unset). */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** One entry of a blockIO throttle list. */
interface Throttle {
  major: number;
  minor: number;
  rate: number;
}

/** Reads and checks a blockIO throttle list. */
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

/** The throttle lists: [linux.resources.blockIO key, io.max key (v2), blkio file (v1)]. */
const THROTTLES = [
  ["throttleReadBpsDevice", "rbps", "blkio.throttle.read_bps_device"],
  ["throttleWriteBpsDevice", "wbps", "blkio.throttle.write_bps_device"],
  ["throttleReadIOPSDevice", "riops", "blkio.throttle.read_iops_device"],
  ["throttleWriteIOPSDevice", "wiops", "blkio.throttle.write_iops_device"],
] as const;

/** The cgroup v2 io writes (io.weight or io.bfq.weight, io.max). */
export function planIoV2(res: Json, p: PlanBuilder): void {
  const blockIO = optObject(res.blockIO, `${R}.blockIO`, NULL_IS_UNSET);
  if (blockIO) {
    const weight = optInteger(blockIO.weight, `${R}.blockIO.weight`, 0, 1000, NULL_IS_UNSET) ?? 0;
    if (weight !== 0 && weight < 10) {
      throw new SpecError(`${R}.blockIO.weight`, `must be 10..1000, got ${weight}`);
    }
    if (weight !== 0) {
      p.need("io", `${R}.blockIO.weight`);
      if (p.facts.bfq) p.add("io", "io.bfq.weight", String(weight), `${R}.blockIO.weight`);
      else p.add("io", "io.weight", String(blkioWeightToIoWeight(weight)), `${R}.blockIO.weight`);
    }
    if (blockIO.leafWeight !== undefined && blockIO.leafWeight !== null) {
      optInteger(blockIO.leafWeight, `${R}.blockIO.leafWeight`, 0, 1000, NULL_IS_UNSET);
      p.warnings.push(`${R}.blockIO.leafWeight is ignored: cgroup v2 has no leaf weights`);
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
        p.warnings.push(`${at}.leafWeight is ignored: cgroup v2 has no leaf weights`);
      }
      if (!w) return;
      p.need("io", `${at}.weight`);
      if (p.facts.bfqDeviceWeight) {
        p.add("io", "io.bfq.weight", `${major}:${minor} ${w}`, `${at}.weight`);
      } else {
        p.warnings.push(
          `${at}.weight is ignored: per-device weights need the BFQ scheduler's io.bfq.weight (kernel 5.4+)`,
        );
      }
    });
    for (const [key, name] of THROTTLES) {
      const field = `${R}.blockIO.${key}`;
      for (const t of throttles(blockIO[key], field)) {
        p.need("io", field);
        p.add("io", "io.max", `${t.major}:${t.minor} ${name}=${decimal(t.rate)}`, field);
      }
    }
  }
}

/** The cgroup v1 blkio writes (weights, per-device weights, throttles). */
export function planBlkioV1(res: Json, p: PlanBuilder): void {
  const blockIO = optObject(res.blockIO, `${R}.blockIO`, NULL_IS_UNSET);
  if (blockIO) {
    const b = `${R}.blockIO`;
    const weightFile = p.facts.bfq ? "blkio.bfq.weight" : "blkio.weight";
    const weightDeviceFile = p.facts.bfq ? "blkio.bfq.weight_device" : "blkio.weight_device";
    const weight = optInteger(blockIO.weight, `${b}.weight`, 0, 1000, NULL_IS_UNSET) ?? 0;
    const leafWeight = optInteger(blockIO.leafWeight, `${b}.leafWeight`, 0, 1000, NULL_IS_UNSET) ??
      0;
    if (weight !== 0 && weight < 10) {
      throw new SpecError(`${b}.weight`, `must be 10..1000, got ${weight}`);
    }
    const blk = (file: string, value: string, field: string): void => {
      p.need("blkio", field);
      if (file.startsWith("blkio.leaf_weight") && p.facts.leafWeight === false) {
        // runc writes it and fails on the missing file; this says why, before the cgroup exists.
        throw new SpecError(
          field,
          `cannot be applied: this kernel has no ${file} (leaf weights went with the CFQ I/O scheduler in Linux 5.0)`,
        );
      }
      p.add("blkio", file, value, field);
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
}
