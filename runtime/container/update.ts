import { trace } from "../log.ts";
import type {
  BlockIoResources,
  Resources,
  ThrottleDevice,
  WeightDevice,
} from "../../spec/config.ts";
import type { StateStore } from "../state/store.ts";
import { loadContainer } from "./container.ts";
import { containerCgroup } from "./cgroup.ts";

/** `value` without its undefined keys. */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Replaces the entry with the same key, or appends (runc update.go upsert*Device). */
function upsert<T>(
  list: readonly T[] | undefined,
  items: readonly T[] | undefined,
  key: (t: T) => string,
  merge: (old: T, next: T) => T,
): T[] {
  const out = [...(list ?? [])];
  for (const item of items ?? []) {
    const i = out.findLastIndex((o) => key(o) === key(item));
    if (i >= 0) out[i] = merge(out[i], item);
    else out.push(item);
  }
  return out;
}

const device = (d: { major: number; minor: number }): string => `${d.major}:${d.minor}`;

function mergeBlockIO(old: BlockIoResources | undefined, next: BlockIoResources): BlockIoResources {
  const out: BlockIoResources = { ...old, ...defined(next) };
  out.weightDevice = upsert<WeightDevice>(old?.weightDevice, next.weightDevice, device, (o, n) => ({
    ...o,
    ...defined(n),
  }));
  for (
    const key of [
      "throttleReadBpsDevice",
      "throttleWriteBpsDevice",
      "throttleReadIOPSDevice",
      "throttleWriteIOPSDevice",
    ] as const
  ) {
    out[key] = upsert<ThrottleDevice>(old?.[key], next[key], device, (_, n) => n);
  }
  for (const key of Object.keys(out) as (keyof BlockIoResources)[]) {
    const value = out[key];
    if (Array.isArray(value) && value.length === 0) delete out[key];
  }
  return out;
}

/**
 * The resources after `runc update`: fields given in `update` replace the old ones, per-device and
 * per-size entries are replaced by device/size or added, and absent fields keep their value.
 * Device rules are not changed (runc update cannot change them either). Two runc fix-ups: a
 * memory limit of -1 without a swap value makes swap unlimited too, and cpu.idle without shares
 * drops the shares (a cpu.weight write fails on an idle cgroup).
 */
export function mergeResources(old: Resources | undefined, update: Resources): Resources {
  const out: Resources = structuredClone(old ?? {});
  if (update.memory) {
    out.memory = { ...out.memory, ...defined(update.memory) };
    if (update.memory.limit === -1 && update.memory.swap === undefined) delete out.memory.swap;
  }
  if (update.cpu) {
    out.cpu = { ...out.cpu, ...defined(update.cpu) };
    if (update.cpu.idle !== undefined && update.cpu.shares === undefined) delete out.cpu.shares;
  }
  if (update.pids?.limit !== undefined) out.pids = { limit: update.pids.limit };
  if (update.blockIO) out.blockIO = mergeBlockIO(out.blockIO, update.blockIO);
  if (update.hugepageLimits) {
    out.hugepageLimits = upsert(
      out.hugepageLimits,
      update.hugepageLimits,
      (h) => h.pageSize,
      (_, n) => n,
    );
  }
  if (update.rdma) out.rdma = { ...out.rdma, ...update.rdma };
  if (update.network) {
    const priorities = upsert(
      out.network?.priorities,
      update.network.priorities,
      (p) => p.name,
      (_, n) => n,
    );
    out.network = { ...out.network, ...defined(update.network) };
    if (priorities.length) out.network.priorities = priorities;
  }
  if (update.unified) out.unified = { ...out.unified, ...update.unified };
  return out;
}

/** What an update did. */
export interface UpdateResult {
  /** The container's resources now (for the lead to record). */
  resources: Resources;
  /** Fields that were ignored, with the reason. */
  warnings: string[];
}

/**
 * Applies `update` to the cgroup of container `id` (runtime `update`); the device rules are left
 * alone. A stopped container is "container not running", as in runc.
 */
export async function updateContainer(
  store: StateStore,
  id: string,
  update: Resources,
): Promise<UpdateResult> {
  using _lock = store.lock(id);
  const { record, status } = loadContainer(store, id);
  if (status === "stopped") throw new Error("container not running");
  const resources = mergeResources(record.config.linux?.resources, update);
  trace("update: locked");
  const cgroup = containerCgroup(record);
  // The systemd driver's unit properties first (SetUnitProperties), then the files, as runc.
  await cgroup.setProperties?.(resources, { skipDevices: true });
  const warnings = cgroup.set(resources, { skipDevices: true });
  trace("update: cgroup set");
  // The new limits are the container's from now on (a later update merges with them).
  record.config.linux = {
    ...record.config.linux,
    resources: { ...resources, devices: record.config.linux?.resources?.devices },
  };
  store.write(record);
  return { resources, warnings };
}
