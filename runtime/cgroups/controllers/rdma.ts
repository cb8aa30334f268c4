/** rdma (runc fs/rdma.go, fscommon/rdma.go). */
import { show, SpecError } from "../../../spec/errors.ts";
import { type Json, NULL_IS_UNSET, optInteger, optObject, required } from "../../../spec/json.ts";
import { type PlanBuilder, R, type Write } from "./plan.ts";

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

/** The cgroup v2 rdma.max writes. */
export function planRdmaV2(res: Json, p: PlanBuilder): void {
  for (const w of rdmaWrites(res.rdma)) {
    p.need("rdma", w.field);
    p.writes.push({ controller: "rdma", ...w });
  }
}

/** The cgroup v1 rdma.max writes; on a hybrid host whose cgroup2 has rdma, there. */
export function planRdmaV1(res: Json, p: PlanBuilder): void {
  for (const w of rdmaWrites(res.rdma)) {
    if (!p.facts.controllers || p.facts.controllers.includes("rdma")) {
      p.writes.push({ controller: "rdma", ...w });
    } else if (p.facts.unifiedControllers?.includes("rdma")) {
      p.writes.push({ controller: "unified", enable: "rdma", ...w });
    } else {
      p.need("rdma", w.field);
    }
  }
}
