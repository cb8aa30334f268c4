/** net_cls and net_prio (runc fs/net_cls.go, fs/net_prio.go): cgroup v1 only. */
import { show, SpecError } from "../../../spec/errors.ts";
import {
  type Json,
  NULL_IS_UNSET,
  optArray,
  optInteger,
  optObject,
  optString,
  required,
} from "../../../spec/json.ts";
import { type PlanBuilder, R } from "./plan.ts";

/** linux.resources.network.classID, checked (a uint32). */
function classIdOf(network: Json): number | undefined {
  return optInteger(network.classID, `${R}.network.classID`, 0, 0xffffffff, NULL_IS_UNSET);
}

/** Refuses linux.resources.network on cgroup v2, which has neither controller. */
export function refuseNetworkV2(res: Json): void {
  const network = optObject(res.network, `${R}.network`, NULL_IS_UNSET);
  if (network) {
    const classID = classIdOf(network);
    const priorities = optArray(network.priorities, `${R}.network.priorities`);
    if (classID !== undefined || priorities.length > 0) {
      throw new SpecError(
        `${R}.network${classID !== undefined ? ".classID" : ".priorities"}`,
        "net_cls and net_prio exist only on cgroup v1; on cgroup v2 use an eBPF program or tc in the network namespace",
      );
    }
  }
}

/** The cgroup v1 net_cls.classid and net_prio.ifpriomap writes. */
export function planNetworkV1(res: Json, p: PlanBuilder): void {
  const network = optObject(res.network, `${R}.network`, NULL_IS_UNSET);
  if (network) {
    const classID = classIdOf(network);
    if (classID !== undefined && classID !== 0) {
      p.need("net_cls", `${R}.network.classID`);
      p.add("net_cls", "net_cls.classid", String(classID), `${R}.network.classID`);
    }
    optArray(network.priorities, `${R}.network.priorities`).forEach((entry, i) => {
      const at = `${R}.network.priorities[${i}]`;
      const o = optObject(entry, at, NULL_IS_UNSET) ?? required(at);
      const name = optString(o.name, `${at}.name`, NULL_IS_UNSET) ?? required(`${at}.name`);
      if (!/^[^\s/]+$/.test(name)) {
        throw new SpecError(`${at}.name`, `must be an interface name, got ${show(name)}`);
      }
      const priority = optInteger(o.priority, `${at}.priority`, 0, 0xffffffff, NULL_IS_UNSET) ??
        required(`${at}.priority`);
      p.need("net_prio", at);
      p.add("net_prio", "net_prio.ifpriomap", `${name} ${priority}`, at);
    });
  }
}
