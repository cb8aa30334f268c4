import {
  CLONE_NEWCGROUP,
  O_CLOEXEC,
  O_RDWR,
  O_WRONLY,
  PR_SET_DUMPABLE,
  PR_SET_PDEATHSIG,
} from "../../ffi/constants.ts";
import { close, open, read, writeAll } from "../../ffi/fs.ts";
import { unshare } from "../../ffi/namespace.ts";
import {
  defaultSignalAction,
  ignoreSignalAction,
  prctl,
  setdomainname,
  sethostname,
} from "../../ffi/process.ts";
import {
  type Bootstrap,
  type ExecBootstrap,
  LineReader,
  readBootstrap,
  send,
  waitHooksAnswer,
} from "../process/protocol.ts";
import { setnsInitMain } from "./setns.ts";
import {
  applySysctl,
  newSessionKeyring,
  readHostPid,
  setOomScoreAdj,
} from "./container_settings.ts";
import { connectListener } from "./seccomp_listener.ts";
import { attachConsole, connectConsole } from "../console.ts";
import { finishRootfs, mountRootfs, switchRoot } from "../rootfs/prepare.ts";
import { runHooks } from "../hooks.ts";
import { creatingState } from "../../spec/state.ts";
import {
  capabilityMasks,
  grantableCapabilities,
  lastCapability,
} from "../security/capabilities.ts";
import { type ExecTarget, execTarget, finalizeWithSeccomp } from "./finalize.ts";
import { errorChain, ExitError } from "../errors.ts";
import { SIGKILL, SIGNALS } from "../signals.ts";
import { forwardDebug, trace } from "../log.ts";
import { applyFinalAffinity, applyProcessAttrs } from "./process_attrs.ts";
import { execWaiter } from "./waiter.ts";

/**
 * `skiff init BOOTSTRAP_FD SYNC_FD`: the container's first process. It is born in the container's
 * namespaces (see process/protocol.ts for the handshake), builds the root filesystem and the
 * process identity, reports ready, waits for `start`, and execve()s process.args. It never returns.
 */
export async function initMain(args: readonly string[]): Promise<never> {
  trace("init: main");
  const bootstrapFd = Number(args[0]);
  const syncFd = Number(args[1]);
  // Nothing in the container may open /proc/<pid>/exe or /proc/<pid>/mem of this process
  // (CVE-2019-5736): only a dumpable process's exe link is reachable by others.
  prctl(PR_SET_DUMPABLE, 0);
  // If the CLI dies before the container is created, the init must not linger.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  let message: Bootstrap | ExecBootstrap;
  const fromCli = new LineReader(bootstrapFd, (fd) => read(fd));
  try {
    message = readBootstrap(fromCli);
  } catch (err) {
    send(syncFd, { type: "error", message: `cannot read the bootstrap: ${errorChain(err)}` });
    throw new ExitError("", 1);
  }
  if (message.debug) {
    // The trace labels say "init: ..." already; runc's lines look like "nsexec-2[1]: ...".
    const prefix = `init[${Deno.pid}]: `;
    forwardDebug((msg) =>
      send(syncFd, { type: "debug", message: prefix + msg.replace(/^init: /, "") })
    );
  }
  if ("mode" in message && message.mode === "exec") {
    close(bootstrapFd);
    return setnsInitMain(message, syncFd);
  }
  return await standardInit(message as Bootstrap, syncFd, fromCli, bootstrapFd);
}

/**
 * Moves this process into the container's cgroup (every hierarchy) through fds opened before
 * pivot_root. Only what the init allocates from here on is charged to the container.
 */
function joinCgroup(procs: { file: string; fd: number }[]): void {
  for (const { file, fd } of procs) {
    try {
      // "0" is the writer itself: a pid would be read in this process's own PID namespace.
      writeAll(fd, new TextEncoder().encode("0"));
    } catch (err) {
      throw new Error(`cannot join the container's cgroup (${file})`, { cause: err });
    } finally {
      close(fd);
    }
  }
}

/** The container's first process: build the container, wait for `start`, exec process.args. */
async function standardInit(
  boot: Bootstrap,
  syncFd: number,
  fromCli: LineReader,
  bootstrapFd: number,
): Promise<never> {
  // Read from the host's /proc before pivot_root; the startContainer hooks need it after.
  let hostPid = 0;
  let fifoFd: number;
  let target: ExecTarget;
  try {
    const spec = boot.spec;
    const process = spec.process!;
    // Read what the host knows before the host disappears behind pivot_root.
    const lastCap = lastCapability();
    const masks = capabilityMasks(process.capabilities, lastCap, grantableCapabilities());
    for (const message of masks.warnings) send(syncFd, { type: "warning", message });
    trace("init: bootstrap read");
    fifoFd = open(boot.fifo, O_RDWR | O_CLOEXEC);
    hostPid = readHostPid();
    const consoleSocket = boot.consoleSocket ? connectConsole(boot.consoleSocket) : undefined;
    // The listener socket is on the host: connect before pivot_root hides it.
    const listener = boot.seccomp?.listenerPath
      ? connectListener(boot.seccomp.listenerPath)
      : undefined;
    setOomScoreAdj(process.oomScoreAdj);
    if (!boot.noNewKeyring) newSessionKeyring(boot.id);
    // cgroup.procs is a host path too; opened now, written once the rootfs is built, so that the
    // init's own (Deno) memory stays charged where it was (docs/cgroups.md "memory floor").
    const cgroupProcs = boot.cgroup.procs.map((file) => ({
      file,
      fd: open(file, O_WRONLY | O_CLOEXEC),
    }));
    const rootfsOptions = {
      rootfs: boot.rootfs,
      bundle: boot.bundle,
      noPivot: boot.noPivot,
      cgroupDirs: boot.cgroup.dirs,
      hostMountNamespace: boot.hostMountNamespace,
      mountFds: boot.mountFds,
    };
    mountRootfs(spec, rootfsOptions);
    // prestart and createRuntime run in the runtime's namespaces: the CLI runs them.
    if (spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length) {
      send(syncFd, { type: "hooks" });
      waitHooksAnswer(fromCli);
    }
    // createContainer: in the container's namespaces, before pivot_root (paths are the host's).
    const creating = creatingState({ ...boot, annotations: spec.annotations }, hostPid);
    await runHooks(spec.hooks, "createContainer", creating);
    switchRoot(spec, rootfsOptions);
    trace("init: rootfs ready");
    if (consoleSocket !== undefined) attachConsole(consoleSocket, process.consoleSize, true);
    if (spec.hostname) sethostname(spec.hostname);
    if (spec.domainname) setdomainname(spec.domainname);
    // Before readonlyPaths, which usually include /proc/sys (runc's order).
    applySysctl(spec.linux?.sysctl ?? {});
    finishRootfs(spec);
    trace("init: rootfs finished");
    joinCgroup(cgroupProcs);
    trace("init: cgroup joined");
    if (boot.cgroup.newNamespace) unshare(CLONE_NEWCGROUP);
    // execCPUAffinity is for exec only (config.md); like runc, the init drops the affinity it
    // inherited from the CLI so that it gets every CPU of its cpuset.
    applyFinalAffinity(undefined, "process.execCPUAffinity");
    applyProcessAttrs(process, spec.linux);
    // Only fds 0-2, LISTEN_FDS and the preserved ones reach the container process.
    target = finalizeWithSeccomp(process, masks, lastCap, {
      seccomp: boot.seccomp,
      listener,
      container: { id: boot.id, bundle: boot.bundle, annotations: spec.annotations },
      hostPid,
      giveStdio: process.terminal === true || !boot.callerStdio,
      keepFds: (boot.listenFds ?? 0) + (boot.preserveFds ?? 0),
    });
    if (boot.listenFds) {
      target.env = target.env.filter((e) => !/^LISTEN_(FDS|PID)=/.test(e));
      target.env.push(`LISTEN_FDS=${boot.listenFds}`, "LISTEN_PID=1");
    }
    prctl(PR_SET_PDEATHSIG, 0);
    trace("init: ready");
    forwardDebug(undefined);
    send(syncFd, { type: "ready" });
    close(syncFd);
    close(bootstrapFd);
  } catch (err) {
    try {
      send(syncFd, { type: "error", message: errorChain(err) });
    } catch {
      // The CLI is gone; nobody to tell.
    }
    throw new ExitError("", 1);
  }
  // Wait as a few hundred bytes rather than as a whole Deno (init/waiter.ts), unless a
  // startContainer hook must run after start: that needs this process.
  if (!boot.spec.hooks?.startContainer?.length) execWaiter(target, fifoFd);
  // Block until `skiff start` writes a byte.
  for (;;) {
    const got = read(fifoFd, 1);
    if (got.length > 0) break;
  }
  close(fifoFd);
  // Each hook's state goes into a pipe: one that exits without reading it must fail as a hook, not
  // kill this process with SIGPIPE, which finalize gave back its default action for process.args.
  // (PID 1 of a PID namespace is spared the signal; without one of its own, the init is not.) A
  // seccomp profile that refuses rt_sigaction leaves it as it was.
  let pipeIgnored = false;
  try {
    ignoreSignalAction(SIGNALS.SIGPIPE);
    pipeIgnored = true;
  } catch {
    // Refused by the container's seccomp profile.
  }
  try {
    // startContainer: in the container, after start, before process.args (paths are the container's).
    await runHooks(boot.spec.hooks, "startContainer", {
      ...creatingState({ ...boot, annotations: boot.spec.annotations }, hostPid),
      status: "created",
    });
  } catch (err) {
    throw new ExitError(errorChain(err), 1);
  }
  if (pipeIgnored) defaultSignalAction(SIGNALS.SIGPIPE);
  trace("init: started, execve");
  return execTarget(target);
}
