/** The container's cgroup: its manager from the record create wrote. */
import { type CgroupManager, cgroupManager } from "../cgroups/manager.ts";
import type { ContainerRecord } from "../state/store.ts";
import { NoCgroup } from "../cgroups/none.ts";
import { detectCgroups } from "../cgroups/detect.ts";

/** The manager of the container's cgroup, from what create recorded. */
export function containerCgroup(record: ContainerRecord): CgroupManager {
  const cgroup = record.cgroup;
  if (cgroup.none !== undefined) return new NoCgroup(cgroup.none, detectCgroups().layout);
  return cgroupManager({
    id: record.id,
    cgroupsPath: cgroup.cgroupsPath,
    systemd: cgroup.systemd,
    paths: cgroup.paths,
  });
}
