/** Steps shared by the container's init (standard.ts) and by `exec` (tenant.ts). */
import { close, writeAll } from "../../ffi/fs.ts";
import { defaultSignalAction, joinSessionKeyring, setKeyPermissions } from "../../ffi/process.ts";
import type { BootstrapSeccomp, SyncMessage } from "../process/bootstrap.ts";
import { loadSeccompFilter } from "../../ffi/seccomp.ts";
import { isErrno } from "../../ffi/errno.ts";
import { connectUnix, sendFds } from "../../ffi/socket.ts";
import { OCI_VERSION } from "../../spec/version.ts";
import type { Process } from "../../spec/config.ts";
import type { CapabilityMasks } from "../security/capabilities.ts";
import { type ExecTarget, finalizeProcess } from "./finalize.ts";

const encoder = new TextEncoder();
/** SIGPIPE, and 32 (the first real-time signal, which glibc keeps for itself). */
const DENO_IGNORED_SIGNALS = [13, 32];

/** Writes one message to the CLI over the sync pipe. */
export function send(fd: number, message: SyncMessage): void {
  writeAll(fd, encoder.encode(JSON.stringify(message) + "\n"));
}

/** Writes linux.sysctl under /proc/sys (inside the container's namespaces). */
export function applySysctl(sysctl: Record<string, string>): void {
  for (const [key, value] of Object.entries(sysctl)) {
    const file = `/proc/sys/${key.replaceAll(".", "/")}`;
    try {
      Deno.writeTextFileSync(file, value);
    } catch (err) {
      throw new Error(`linux.sysctl.${key}: cannot write ${JSON.stringify(value)} to ${file}`, {
        cause: err,
      });
    }
  }
}

/** Sets process.oomScoreAdj, when given. */
export function setOomScoreAdj(value: number | undefined): void {
  if (value === undefined) return;
  try {
    Deno.writeTextFileSync("/proc/self/oom_score_adj", String(value));
  } catch (err) {
    throw new Error(`process.oomScoreAdj: cannot set ${value}`, { cause: err });
  }
}

/** This process's pid in the host's PID namespace (first NSpid entry), read before pivot_root. */
export function readHostPid(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

/** Connects to --console-socket (a host path: before pivot_root or setns into the mount namespace). */
export function connectConsole(path: string): number {
  try {
    return connectUnix(path);
  } catch (err) {
    throw new Error(`--console-socket: cannot connect to ${path}`, { cause: err });
  }
}

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
  container: {
    id: string;
    bundle: string;
    annotations?: Record<string, string>;
    metadata?: string;
  },
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

/**
 * Gives the container its own session keyring, named `_ses.<id>` as runc does, so containers do not
 * share the caller's keys. Possessor and user get every right, so a uid change keeps access.
 */
export function newSessionKeyring(id: string): void {
  let serial: number;
  try {
    serial = joinSessionKeyring(`_ses.${id}`);
  } catch (err) {
    // Kernels without keyrings (ENOSYS) or that refuse them to containers are skipped, as runc does.
    if (isErrno(err, "ENOSYS", "EACCES")) return;
    throw new Error("cannot join a new session keyring (use --no-new-keyring to skip)", {
      cause: err,
    });
  }
  setKeyPermissions(serial, 0x3f3f0000);
}

/** Who a seccomp listener is told about (the container process state's fields). */
export interface ListenerContainer {
  id: string;
  bundle: string;
  annotations?: Record<string, string>;
  metadata?: string;
}

/**
 * Turns this process into the container process's identity (finalize.ts) with the seccomp filter
 * placed as runc places it: without no_new_privs while the process still has CAP_SYS_ADMIN
 * (seccomp(2) needs one of the two), with it as late as possible. A listener fd goes to
 * `listener` (connected to linux.seccomp.listenerPath) with the container's state.
 */
export function finalizeWithSeccomp(
  process: Process,
  masks: CapabilityMasks,
  lastCap: number,
  seccomp: BootstrapSeccomp | undefined,
  listener: number | undefined,
  container: ListenerContainer,
  hostPid: number,
  chownStdio: boolean,
): ExecTarget {
  // Deno ignores SIGPIPE and signal 32, and an ignored signal stays ignored across execve: the
  // container's program must start with the default actions (runc's Go init only installs
  // handlers, which execve resets). Before the filters, which might not allow rt_sigaction.
  for (const signal of DENO_IGNORED_SIGNALS) defaultSignalAction(signal);
  let listenerFd: number | undefined;
  if (seccomp && !process.noNewPrivileges) listenerFd = installFilter(seccomp);
  const target = finalizeProcess(process, masks, lastCap, chownStdio);
  if (seccomp && process.noNewPrivileges) listenerFd = installFilter(seccomp);
  if (listenerFd !== undefined) sendListener(listener, listenerFd, container, hostPid);
  return target;
}
