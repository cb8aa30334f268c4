/** linux.seccomp in the init: loading the compiled filter and handing its listener to the agent. */
import { close } from "../../ffi/fs.ts";
import { loadSeccompFilter } from "../../ffi/seccomp.ts";
import { connectUnix, sendFds } from "../../ffi/socket.ts";
import { OCI_VERSION } from "../../spec/version.ts";
import type { BootstrapSeccomp } from "../process/protocol.ts";

/** Connects to linux.seccomp.listenerPath (a host path, like the console socket). */
export function connectListener(path: string): number {
  try {
    return connectUnix(path);
  } catch (err) {
    throw new Error(`linux.seccomp.listenerPath: cannot connect to ${path}`, { cause: err });
  }
}

/** Loads the compiled seccomp filter; returns the listener fd with SCMP_ACT_NOTIFY. */
export function installFilter(seccomp: BootstrapSeccomp): number | undefined {
  const program = Uint8Array.from(atob(seccomp.program), (c) => c.charCodeAt(0));
  try {
    return loadSeccompFilter(program, seccomp.flags);
  } catch (err) {
    throw new Error("linux.seccomp: cannot load the filter", { cause: err });
  }
}

/**
 * Hands the seccomp user-notification fd to linux.seccomp.listenerPath with the container process
 * state (config.md "seccomp"): one message, the fd attached as SCM_RIGHTS.
 */
export function sendListener(
  socket: number | undefined,
  listenerFd: number,
  container: ListenerContainer,
  hostPid: number,
): void {
  if (socket === undefined) {
    // NOTIFY without listenerPath: nobody could answer, and the spec requires the path.
    throw new Error("linux.seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath");
  }
  const state = {
    ociVersion: OCI_VERSION,
    fds: ["seccompFd"],
    pid: hostPid,
    metadata: container.metadata ?? "",
    state: {
      ociVersion: OCI_VERSION,
      id: container.id,
      status: "creating",
      pid: hostPid,
      bundle: container.bundle,
      annotations: container.annotations ?? {},
    },
  };
  sendFds(socket, new TextEncoder().encode(JSON.stringify(state)), [listenerFd]);
  close(listenerFd);
  close(socket);
}

/** Who a seccomp listener is told about (the container process state's fields). */
export interface ListenerContainer {
  id: string;
  bundle: string;
  annotations?: Record<string, string>;
  metadata?: string;
}
