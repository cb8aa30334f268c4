/** The container's cgroup: its manager from the record create wrote, and whether it is frozen. */
import { type CgroupManager, cgroupManager } from "../cgroups/manager.ts";
import type { ContainerRecord } from "../state/store.ts";

/** The manager of the container's cgroup, from what create recorded. */
export function containerCgroup(record: ContainerRecord): CgroupManager {
  const cgroup = record.cgroup;
  return cgroupManager({
    id: record.id,
    cgroupsPath: cgroup.cgroupsPath,
    systemd: cgroup.systemd,
    paths: cgroup.paths,
  });
}

/** True when the container's cgroup is frozen (status "paused"). */
export function isPaused(record: ContainerRecord): boolean {
  try {
    return containerCgroup(record).isFrozen();
  } catch {
    return false;
  }
}
