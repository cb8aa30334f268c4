/** A container's cgroup manager from its record, and whether the container is paused. */
import { type CgroupManager, cgroupManager } from "../cgroups/manager.ts";
import type { ContainerRecord } from "../state/store.ts";

/** The cgroup as the record has it; `paths` (dirs() at create) when the record keeps them. */
type RecordedCgroup = NonNullable<ContainerRecord["cgroup"]> & { paths?: Record<string, string> };

/** The manager of the container's cgroup; throws when the record has no cgroup. */
export function containerCgroup(record: ContainerRecord): CgroupManager {
  const cgroup = record.cgroup as RecordedCgroup | undefined;
  if (!cgroup) throw new Error(`container ${JSON.stringify(record.id)} has no cgroup recorded`);
  return cgroupManager({
    id: record.id,
    cgroupsPath: cgroup.cgroupsPath,
    systemd: cgroup.systemd,
    paths: cgroup.paths,
  });
}

/** True when the container's cgroup is frozen (status "paused"); false when it has none. */
export function isPaused(record: ContainerRecord): boolean {
  if (!record.cgroup) return false;
  try {
    return containerCgroup(record).isFrozen();
  } catch {
    return false;
  }
}
