/** cpuset (runc fs/cpuset.go, fs2/cpuset.go): the same files on both versions. */
import { show, SpecError } from "../../../spec/errors.ts";
import { type Json, NULL_IS_UNSET, optObject, optString } from "../../../spec/json.ts";
import { type PlanBuilder, R } from "./plan.ts";

/** cpuset lists: "0-3,5", "" is allowed (unset). */
function cpusetList(value: unknown, field: string): string | undefined {
  const v = optString(value, field, NULL_IS_UNSET);
  if (v === undefined || v === "") return undefined;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) {
    throw new SpecError(field, `must be a list like "0-3,5", got ${show(v)}`);
  }
  return v;
}

/** cpuset.cpus and cpuset.mems from linux.resources.cpu (v1 and v2 alike). */
export function planCpuset(res: Json, p: PlanBuilder): void {
  const cpu = optObject(res.cpu, `${R}.cpu`, NULL_IS_UNSET);
  if (cpu) {
    const cpus = cpusetList(cpu.cpus, `${R}.cpu.cpus`);
    const mems = cpusetList(cpu.mems, `${R}.cpu.mems`);
    if (cpus !== undefined) {
      p.need("cpuset", `${R}.cpu.cpus`);
      p.add("cpuset", "cpuset.cpus", cpus, `${R}.cpu.cpus`);
    }
    if (mems !== undefined) {
      p.need("cpuset", `${R}.cpu.mems`);
      p.add("cpuset", "cpuset.mems", mems, `${R}.cpu.mems`);
    }
  }
}
