/** devices on cgroup v1 (runc fs/devices.go); v2 uses an eBPF program (device_bpf.ts). */
import type { Json } from "../../../spec/json.ts";
import { type PlanBuilder, type PlanOptions, R } from "./plan.ts";
import { normalizeDeviceRules, planV1Devices } from "../device_rules.ts";

/** The cgroup v1 devices.allow / devices.deny writes. */
export function planDevicesV1(res: Json, p: PlanBuilder, options: PlanOptions): void {
  if (!options.skipDevices && res.devices !== undefined) {
    const rules = normalizeDeviceRules(res.devices as never);
    p.need("devices", `${R}.devices`);
    for (const w of planV1Devices(rules)) p.add("devices", w.file, w.value, `${R}.devices`);
  }
}
