/**
 * linux.intelRdt: the container's resctrl group (config-linux.md "IntelRdt";
 * Documentation/filesystems/resctrl.rst). The group is `closID` (or the container ID), its
 * `schemata` get l3CacheSchema, memBwSchema and then every schemata line, and the container's
 * processes are written to its `tasks`. With enableMonitoring, a MON group named after the
 * container under `mon_groups/` holds them instead.
 */
import { SpecError } from "../spec/errors.ts";
import { exists } from "./path.ts";
import { readMountinfo } from "./mountinfo.ts";
import type { IntelRdt } from "../spec/config.ts";

/** What create made in resctrl, recorded in state.json so that delete can undo it. */
export interface RdtRecord {
  /** The CTRL_MON group directory the container is in. */
  group: string;
  /** True when create made `group` (no closID): delete removes it. */
  created: boolean;
  /** The MON group directory (enableMonitoring), removed by delete. */
  monGroup?: string;
}

/** The mount point of the resctrl filesystem in this mount namespace, if one is mounted. */
export function resctrlMount(): string | undefined {
  try {
    return readMountinfo().find((m) => m.fstype === "resctrl")?.mountPoint;
  } catch {
    return undefined;
  }
}

/** Throws naming linux.intelRdt when the host has no resctrl mounted (the spec requires an error). */
export function checkIntelRdt(rdt: IntelRdt | undefined, configFile: string): void {
  if (rdt === undefined) return;
  if (resctrlMount() === undefined) {
    throw new SpecError(
      "linux.intelRdt",
      `Intel RDT is not available: no resctrl filesystem is ` +
        "mounted (mount -t resctrl resctrl /sys/fs/resctrl on a CPU with RDT)",
      configFile,
    );
  }
}

/**
 * Puts process `pid` of container `id` into its resctrl group, making the group as the spec says.
 * `mount` is the resctrl mount point (a parameter for the tests: this machine has no RDT).
 */
export function applyIntelRdt(
  rdt: IntelRdt,
  id: string,
  pid: number,
  mount = resctrlMount(),
): RdtRecord {
  if (mount === undefined) throw new Error("linux.intelRdt: no resctrl filesystem is mounted");
  const lines = [
    ...(rdt.l3CacheSchema ? [rdt.l3CacheSchema] : []),
    ...(rdt.memBwSchema ? [rdt.memBwSchema] : []),
    ...(rdt.schemata ?? []),
  ];
  const group = rdt.closID === "/" ? mount : `${mount}/${rdt.closID ?? id}`;
  const record: RdtRecord = { group, created: false };
  try {
    if (!exists(group)) {
      if (rdt.closID !== undefined && lines.length === 0) {
        throw new Error(`linux.intelRdt.closID: resctrl group ${group} does not exist`);
      }
      Deno.mkdirSync(group);
      record.created = rdt.closID === undefined;
    }
    for (const line of lines) {
      try {
        // One write per line: resctrl parses each write on its own, in order.
        Deno.writeTextFileSync(`${group}/schemata`, `${line}\n`, { append: true });
      } catch (err) {
        throw new Error(
          `linux.intelRdt: cannot write ${JSON.stringify(line)} to ${group}/schemata`,
          {
            cause: err,
          },
        );
      }
    }
    let tasks = `${group}/tasks`;
    if (rdt.enableMonitoring) {
      record.monGroup = `${group}/mon_groups/${id}`;
      try {
        Deno.mkdirSync(record.monGroup);
      } catch (err) {
        throw new Error(`linux.intelRdt.enableMonitoring: cannot create ${record.monGroup}`, {
          cause: err,
        });
      }
      tasks = `${record.monGroup}/tasks`;
    }
    addTask(tasks, pid);
    return record;
  } catch (err) {
    removeIntelRdt(record);
    throw err;
  }
}

/** Adds process `pid` (an exec'd one) to the container's resctrl group. */
export function joinIntelRdt(record: RdtRecord, pid: number): void {
  addTask(`${record.monGroup ?? record.group}/tasks`, pid);
}

function addTask(tasks: string, pid: number): void {
  try {
    Deno.writeTextFileSync(tasks, String(pid), { append: true });
  } catch (err) {
    throw new Error(`linux.intelRdt: cannot add process ${pid} to ${tasks}`, { cause: err });
  }
}

/** Removes what create made: the MON group, and the group when create made it. */
export function removeIntelRdt(record: RdtRecord): void {
  for (const dir of [record.monGroup, record.created ? record.group : undefined]) {
    if (dir === undefined) continue;
    try {
      Deno.removeSync(dir);
    } catch {
      // Gone already.
    }
  }
}
