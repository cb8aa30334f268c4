import {
  cloexecFrom,
  close,
  execve,
  joinSessionKeyring,
  O_CLOEXEC,
  O_RDWR,
  open,
  PR_SET_DUMPABLE,
  PR_SET_PDEATHSIG,
  prctl,
  read,
  readAll,
  setdomainname,
  sethostname,
  setKeyPermissions,
  writeAll,
} from "../../ffi/mod.ts";
import type { Bootstrap, BootstrapSeccomp, SyncMessage } from "../process/bootstrap.ts";
import { loadSeccompFilter } from "../../ffi/seccomp.ts";
import { connectUnix, sendFds } from "../../ffi/socket.ts";
import { OCI_VERSION } from "../../spec/version.ts";
import { attachConsole } from "../console.ts";
import { finishRootfs, setupRootfs } from "../rootfs/prepare.ts";
import { capabilityMasks, lastCapability } from "../security/capabilities.ts";
import { finalizeProcess } from "./finalize.ts";
import { errorChain } from "../errors.ts";
import { trace } from "../log.ts";

const encoder = new TextEncoder();

function send(fd: number, message: SyncMessage): void {
  writeAll(fd, encoder.encode(JSON.stringify(message) + "\n"));
}

function applySysctl(sysctl: Record<string, string>): void {
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

function setOomScoreAdj(value: number | undefined): void {
  if (value === undefined) return;
  try {
    Deno.writeTextFileSync("/proc/self/oom_score_adj", String(value));
  } catch (err) {
    throw new Error(`process.oomScoreAdj: cannot set ${value}`, { cause: err });
  }
}

/** This process's pid in the host's PID namespace (first NSpid entry), read before pivot_root. */
function readHostPid(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

function connectConsole(path: string): number {
  try {
    return connectUnix(path);
  } catch (err) {
    throw new Error(`--console-socket: cannot connect to ${path}`, { cause: err });
  }
}

function connectListener(path: string): number {
  try {
    return connectUnix(path);
  } catch (err) {
    throw new Error(`linux.seccomp.listenerPath: cannot connect to ${path}`, { cause: err });
  }
}

function installFilter(seccomp: BootstrapSeccomp): number | undefined {
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
function sendListener(
  socket: number | undefined,
  listenerFd: number,
  boot: Bootstrap,
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
    metadata: boot.seccomp?.listenerMetadata ?? "",
    state: {
      ociVersion: OCI_VERSION,
      id: boot.id,
      status: "creating",
      pid: hostPid,
      bundle: boot.bundle,
      annotations: boot.spec.annotations ?? {},
    },
  };
  sendFds(socket, encoder.encode(JSON.stringify(state)), [listenerFd]);
  close(listenerFd);
  close(socket);
}

/**
 * Gives the container its own session keyring, named `_ses.<id>` as runc does, so containers do not
 * share the caller's keys. Possessor and user get every right, so a uid change keeps access.
 */
function newSessionKeyring(id: string): void {
  let serial: number;
  try {
    serial = joinSessionKeyring(`_ses.${id}`);
  } catch (err) {
    // Kernels without keyrings (ENOSYS) or that refuse them to containers are skipped, as runc does.
    if (
      (err as { code?: string }).code === "ENOSYS" || (err as { code?: string }).code === "EACCES"
    ) {
      return;
    }
    throw new Error("cannot join a new session keyring (use --no-new-keyring to skip)", {
      cause: err,
    });
  }
  setKeyPermissions(serial, 0x3f3f0000);
}

/**
 * `skiff init BOOTSTRAP_FD SYNC_FD`: the container's first process. It is born in the container's
 * namespaces (see process/bootstrap.ts for the handshake), builds the root filesystem and the
 * process identity, reports ready, waits for `start`, and execve()s process.args. It never returns.
 */
export function initMain(args: readonly string[]): never {
  trace("init: main");
  const bootstrapFd = Number(args[0]);
  const syncFd = Number(args[1]);
  // Nothing in the container may open /proc/<pid>/exe or /proc/<pid>/mem of this process
  // (CVE-2019-5736): only a dumpable process's exe link is reachable by others.
  prctl(PR_SET_DUMPABLE, 0);
  // If the CLI dies before the container is created, the init must not linger.
  prctl(PR_SET_PDEATHSIG, 9);
  let fifoFd: number;
  let target: ReturnType<typeof finalizeProcess>;
  let boot: Bootstrap;
  try {
    boot = JSON.parse(new TextDecoder().decode(readAll(bootstrapFd)));
    close(bootstrapFd);
    const spec = boot.spec;
    const process = spec.process!;
    // Read what the host knows before the host disappears behind pivot_root.
    const lastCap = lastCapability();
    const masks = capabilityMasks(process.capabilities, lastCap);
    for (const name of masks.unsupported) {
      send(syncFd, {
        type: "warning",
        message: `capability ${name} is not supported by the kernel`,
      });
    }
    trace("init: bootstrap read");
    fifoFd = open(boot.fifo, O_RDWR | O_CLOEXEC);
    const hostPid = readHostPid();
    const consoleSocket = boot.consoleSocket ? connectConsole(boot.consoleSocket) : undefined;
    // The listener socket is on the host: connect before pivot_root hides it.
    const listener = boot.seccomp?.listenerPath
      ? connectListener(boot.seccomp.listenerPath)
      : undefined;
    setOomScoreAdj(process.oomScoreAdj);
    if (!boot.noNewKeyring) newSessionKeyring(boot.id);
    setupRootfs(spec, { rootfs: boot.rootfs, bundle: boot.bundle, noPivot: boot.noPivot });
    trace("init: rootfs ready");
    if (consoleSocket !== undefined) attachConsole(consoleSocket, process.consoleSize, true);
    if (spec.hostname) sethostname(spec.hostname);
    if (spec.domainname) setdomainname(spec.domainname);
    // Before readonlyPaths, which usually include /proc/sys (runc's order).
    applySysctl(spec.linux?.sysctl ?? {});
    finishRootfs(spec);
    // seccomp(2) needs no_new_privs or CAP_SYS_ADMIN: without no_new_privs it goes in while the
    // init still has every capability; with it, as late as possible (runc's order).
    let listenerFd: number | undefined;
    if (boot.seccomp && !process.noNewPrivileges) listenerFd = installFilter(boot.seccomp);
    target = finalizeProcess(process, masks, lastCap);
    if (boot.seccomp && process.noNewPrivileges) listenerFd = installFilter(boot.seccomp);
    if (listenerFd !== undefined) {
      sendListener(listener, listenerFd, boot, hostPid);
    }
    if (boot.listenFds) {
      target.env = target.env.filter((e) => !/^LISTEN_(FDS|PID)=/.test(e));
      target.env.push(`LISTEN_FDS=${boot.listenFds}`, "LISTEN_PID=1");
    }
    prctl(PR_SET_PDEATHSIG, 0);
    // Only fds 0-2, LISTEN_FDS and the preserved ones reach the container process (CVE-2024-21626).
    cloexecFrom(3 + (boot.listenFds ?? 0) + (boot.preserveFds ?? 0));
    trace("init: ready");
    send(syncFd, { type: "ready" });
    close(syncFd);
  } catch (err) {
    try {
      send(syncFd, { type: "error", message: errorChain(err) });
    } catch {
      // The CLI is gone; nobody to tell.
    }
    Deno.exit(1);
  }
  // Block until `skiff start` writes a byte.
  for (;;) {
    const got = read(fifoFd, 1);
    if (got.length > 0) break;
  }
  close(fifoFd);
  trace("init: started, execve");
  try {
    execve(target.path, target.argv, target.env);
  } catch (err) {
    Deno.stderr.writeSync(encoder.encode(`skiff init: ${errorChain(err)}\n`));
    Deno.exit(127);
  }
}
