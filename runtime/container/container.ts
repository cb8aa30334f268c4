import type { ContainerStatus, State } from "../../spec/state.ts";
import { orderedState } from "../../spec/state.ts";
import { isAlive } from "../state/liveness.ts";
import { frozenAt } from "../cgroups/freezer.ts";
import type { ContainerRecord, StateStore } from "../state/store.ts";
import { ContainerNotExistError } from "../errors.ts";
import { halfMadeState } from "./half_made.ts";

/** A container as found in the state store, with its live status. */
export interface Container {
  record: ContainerRecord;
  status: ContainerStatus;
}

/**
 * Computes a container's status: `stopped` when its init is gone (or the pid was reused),
 * `paused` while its cgroup is frozen, `created` while the exec fifo still exists (the init waits
 * on it), `running` otherwise.
 */
export function containerStatus(store: StateStore, record: ContainerRecord): ContainerStatus {
  if (!isAlive(record.pid, record.initStartTime)) return "stopped";
  if (isPaused(record)) return "paused";
  try {
    // realpath, not lstat: a FileInfo makes the process's first Date (~1 ms for state and start
    // of a created container; issue 11). Only create makes exec.fifo, never a link.
    Deno.realPathSync(store.fifoPath(record.id));
    return "created";
  } catch {
    return "running";
  }
}

/** Loads container `id` with its current status. */
export function loadContainer(store: StateStore, id: string): Container {
  const record = store.read(id);
  return { record, status: containerStatus(store, record) };
}

/**
 * The state of container `id` for `state` and `list`: from state.json, or, for a create killed
 * half-way, from its write-ahead record (creating while the creator lives, stopped after).
 */
export function stateOfId(store: StateStore, id: string): State {
  try {
    return stateOf(loadContainer(store, id));
  } catch (err) {
    if (!(err instanceof ContainerNotExistError)) throw err;
    const creating = store.readCreating(id);
    if (!creating) throw err;
    return halfMadeState(creating);
  }
}

/** The state JSON the spec and runc define, for `state`, `list` and hooks. */
export function stateOf(container: Container): State {
  const { record, status } = container;
  return orderedState({
    ociVersion: record.ociVersion,
    id: record.id,
    pid: status === "stopped" ? 0 : record.pid,
    status,
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    annotations: record.annotations,
    owner: record.owner,
  });
}

/**
 * True when the container's cgroup is frozen (status "paused"). It reads the directories create
 * recorded, without the cgroup managers, which `state` and `list` would otherwise load (~5 ms); a
 * record without them is from before containers had cgroups.
 */
export function isPaused(record: ContainerRecord): boolean {
  try {
    return frozenAt(record.cgroup.paths ?? {});
  } catch {
    return false;
  }
}
