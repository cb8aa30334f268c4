/**
 * linux.resources -> cgroup file writes, as runc's cgroupfs drivers do them
 * (opencontainers/cgroups fs/*.go for v1, fs2/*.go for v2, conversions from utils.go).
 *
 * Pure: what the host has is passed in as HostFacts; the managers (v1.ts, v2.ts) read those facts,
 * run the writes and turn a refused write into an error naming the field and the file. A field
 * that cannot be applied on a layout is a SpecError here; a field that is ignored on purpose
 * (as runc ignores it) becomes a warning. docs/cgroups.md has the full table.
 *
 * Each controller's planners are in controllers/ (one file per controller, as runc's fs2); this
 * file runs them in runc's order for each version.
 */
import type { Resources } from "../../spec/config.ts";
import { NULL_IS_UNSET, optObject } from "../../spec/json.ts";
import { normalizeDeviceRules } from "./device_rules.ts";
import { planCpuV1, planCpuV2 } from "./controllers/cpu.ts";
import { planCpuset } from "./controllers/cpuset.ts";
import { planDevicesV1 } from "./controllers/devices.ts";
import { planHugetlbV1, planHugetlbV2 } from "./controllers/hugetlb.ts";
import { planBlkioV1, planIoV2 } from "./controllers/io.ts";
import { planMemoryV1, planMemoryV2 } from "./controllers/memory.ts";
import { planNetworkV1, refuseNetworkV2 } from "./controllers/network.ts";
import { planPids } from "./controllers/pids.ts";
import { type HostFacts, type Plan, PlanBuilder, type PlanOptions, R } from "./controllers/plan.ts";
import { planRdmaV1, planRdmaV2 } from "./controllers/rdma.ts";
import { planUnifiedV1, planUnifiedV2 } from "./controllers/unified.ts";

export type { HostFacts, Plan, PlanOptions, Write } from "./controllers/plan.ts";
export { cpuSharesToWeight } from "./controllers/cpu.ts";
export { blkioWeightToIoWeight } from "./controllers/io.ts";
export { memorySwapToV2 } from "./controllers/memory.ts";

/**
 * The cgroup v2 writes for `resources`, in runc's order (pids, memory, io, cpu, cpuset, hugetlb,
 * rdma, unified). Devices are not file writes on v2: see device_bpf.ts.
 */
export function planV2(
  resources: Resources | undefined,
  facts: HostFacts = {},
  options: PlanOptions = {},
): Plan {
  const p = new PlanBuilder(facts, "cgroup.controllers");
  const res = optObject(resources, R, NULL_IS_UNSET);
  if (!res) return p.plan();
  if (!options.skipDevices) normalizeDeviceRules(res.devices as never);
  planPids(res, p);
  planMemoryV2(res, p);
  planIoV2(res, p);
  planCpuV2(res, p);
  planCpuset(res, p);
  planHugetlbV2(res, p);
  planRdmaV2(res, p);
  refuseNetworkV2(res);
  planUnifiedV2(res, p);
  return p.plan();
}

/**
 * The cgroup v1 writes for `resources`, in runc's subsystem order (cpuset, devices, memory, cpu,
 * pids, blkio, hugetlb, net_cls, net_prio, rdma, then unified on hybrid hosts).
 */
export function planV1(
  resources: Resources | undefined,
  facts: HostFacts = {},
  options: PlanOptions = {},
): Plan {
  const p = new PlanBuilder(facts, "mounted v1 hierarchies");
  const res = optObject(resources, R, NULL_IS_UNSET);
  if (!res) return p.plan();
  planCpuset(res, p);
  planDevicesV1(res, p, options);
  planMemoryV1(res, p);
  planCpuV1(res, p);
  planPids(res, p);
  planBlkioV1(res, p);
  planHugetlbV1(res, p);
  planNetworkV1(res, p);
  planRdmaV1(res, p);
  planUnifiedV1(res, p);
  return p.plan();
}
