/** pids (runc fs/pids.go, fs2/pids.go): the same file on both versions. */
import { type Json, NULL_IS_UNSET, optInteger, optObject } from "../../../spec/json.ts";
import { decimal, type PlanBuilder, R } from "./plan.ts";

/** pids.max from linux.resources.pids.limit (v1 and v2 alike). */
export function planPids(res: Json, p: PlanBuilder): void {
  const pids = optObject(res.pids, `${R}.pids`, NULL_IS_UNSET);
  const pidsLimit = optInteger(pids?.limit, `${R}.pids.limit`, -Infinity, Infinity, NULL_IS_UNSET);
  if (pidsLimit !== undefined) {
    p.need("pids", `${R}.pids.limit`);
    p.add("pids", "pids.max", pidsLimit > 0 ? decimal(pidsLimit) : "max", `${R}.pids.limit`);
  }
}
