/**
 * The write-ahead record of a create (creating.json, state/store.ts) as `create` writes it and as
 * `list` and `state` show it. Light on purpose: those commands load no cgroup managers (issue 11).
 */
import type { State } from "../../spec/state.ts";
import { orderedState, rfc3339Nano } from "../../spec/state.ts";
import { OCI_VERSION } from "../../spec/version.ts";
import { isAlive, processStartTime } from "../state/liveness.ts";
import type { CreatingRecord } from "../state/store.ts";

/** The creating record of this process, for container `id` (the fields create knows up front). */
export function creatingRecord(
  fields: Omit<CreatingRecord, "creator" | "created">,
): CreatingRecord {
  return {
    ...fields,
    creator: { pid: Deno.pid, startTime: processStartTime(Deno.pid) ?? 0 },
    created: rfc3339Nano(new Date()),
  };
}

/** True while the process that wrote `record` is still alive (same pid and start time). */
export function creatorAlive(record: CreatingRecord): boolean {
  return isAlive(record.creator.pid, record.creator.startTime);
}

/** The state a half-made container shows: creating while its creator lives, stopped after. */
export function halfMadeState(record: CreatingRecord): State {
  const alive = creatorAlive(record);
  const initAlive = record.init !== undefined && isAlive(record.init.pid, record.init.startTime);
  return orderedState({
    ociVersion: OCI_VERSION,
    id: record.id,
    pid: alive && initAlive ? record.init!.pid : 0,
    status: alive ? "creating" : "stopped",
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    annotations: record.annotations,
    owner: "",
  });
}
