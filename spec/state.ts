import { OCI_VERSION } from "./version.ts";

/** Container status values: the spec's four plus runc's `paused`. */
export type ContainerStatus = "creating" | "created" | "running" | "stopped" | "paused";

/**
 * The state that `skiff state` prints: the OCI runtime.md fields plus runc's (rootfs, created,
 * owner), in runc's key order so output matches `runc state` byte for byte.
 */
export interface State {
  /** The version of the runtime specification the state follows. */
  ociVersion: string;
  /** The container's ID, unique among the containers of one state directory. */
  id: string;
  /** The host pid of the container's init process; 0 once it has stopped. */
  pid: number;
  /** Where the container is in its lifecycle. */
  status: ContainerStatus;
  /** The absolute path of the container's bundle directory. */
  bundle: string;
  /** The absolute path of the container's root filesystem on the host. */
  rootfs: string;
  /** When the container was created, as RFC 3339 with nanoseconds, in UTC. */
  created: string;
  /** The config's annotations. */
  annotations?: Record<string, string>;
  /** The container's owner, as runc reports it (empty from `state`). */
  owner: string;
}

/** Returns `state` with its keys in runc's order, dropping empty annotations as runc does. */
export function orderedState(state: State): State {
  const out: State = {
    ociVersion: state.ociVersion,
    id: state.id,
    pid: state.pid,
    status: state.status,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    owner: state.owner,
  };
  if (state.annotations && Object.keys(state.annotations).length > 0) {
    // Insert before owner, as runc's struct does.
    return {
      ociVersion: out.ociVersion,
      id: out.id,
      pid: out.pid,
      status: out.status,
      bundle: out.bundle,
      rootfs: out.rootfs,
      created: out.created,
      annotations: state.annotations,
      owner: out.owner,
    };
  }
  return out;
}

/**
 * The state hooks get while a container is being created (prestart, createRuntime, createContainer
 * and, with status "created", startContainer): no creation time or owner yet.
 */
export function creatingState(
  container: { id: string; bundle: string; rootfs: string; annotations?: Record<string, string> },
  pid: number,
): State {
  return orderedState({
    ociVersion: OCI_VERSION,
    id: container.id,
    pid,
    status: "creating",
    bundle: container.bundle,
    rootfs: container.rootfs,
    created: "",
    annotations: container.annotations,
    owner: "",
  });
}

/** Formats a time like Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped). */
export function rfc3339Nano(date: Date, extraNanos = 0): string {
  const iso = date.toISOString(); // 2024-01-02T03:04:05.678Z
  const base = iso.slice(0, 19);
  const nanos = date.getUTCMilliseconds() * 1_000_000 + extraNanos;
  if (nanos === 0) return `${base}Z`;
  const fraction = String(nanos).padStart(9, "0").replace(/0+$/, "");
  return `${base}.${fraction}Z`;
}
