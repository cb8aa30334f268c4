/**
 * The init of `skiff exec`: a process that joins a running container and execs a new process in
 * it. The CLI spawns it inside the container's PID, network, IPC, UTS and cgroup namespaces; the
 * mount namespace it joins itself, after it has loaded (a Deno process born inside the container's
 * root could not even find its own binary).
 */
import {
  CLONE_FS,
  CLONE_NEWCGROUP,
  CLONE_NEWNS,
  O_CLOEXEC,
  O_RDONLY,
  PR_SET_PDEATHSIG,
} from "../../ffi/constants.ts";
import { chdir, chroot, close, open } from "../../ffi/fs.ts";
import { setns, unshare } from "../../ffi/namespace.ts";
import { prctl } from "../../ffi/process.ts";
import { type ExecBootstrap, send } from "../process/protocol.ts";
import { attachConsole, connectConsole } from "../console.ts";
import {
  capabilityMasks,
  grantableCapabilities,
  lastCapability,
} from "../security/capabilities.ts";
import { type ExecTarget, execTarget, finalizeWithSeccomp } from "./finalize.ts";
import { errorChain, ExitError } from "../errors.ts";
import { debug, forwardDebug } from "../log.ts";
import { readHostPid, setOomScoreAdj } from "./container_settings.ts";
import { connectListener } from "./seccomp_listener.ts";
import { applyFinalAffinity, applyProcessAttrs } from "./process_attrs.ts";

/** Runs the exec init to its execve; reports errors to the CLI and exits 1 before that point. */
export function setnsInitMain(boot: ExecBootstrap, syncFd: number): never {
  let target: ExecTarget;
  try {
    const process = boot.process;
    const lastCap = lastCapability();
    const masks = capabilityMasks(process.capabilities, lastCap, grantableCapabilities());
    for (const message of masks.warnings) send(syncFd, { type: "warning", message });
    const hostPid = readHostPid();
    // Host paths first: the console socket, the seccomp listener, the cgroup and the namespace.
    const consoleSocket = boot.consoleSocket ? connectConsole(boot.consoleSocket) : undefined;
    const listener = boot.seccomp?.listenerPath
      ? connectListener(boot.seccomp.listenerPath)
      : undefined;
    for (const procs of boot.cgroupProcs ?? []) {
      try {
        // "0" is the writer itself: a pid would be read in this process's own PID namespace.
        Deno.writeTextFileSync(procs, "0");
      } catch (err) {
        throw new Error(`cannot join the container's cgroup (${procs})`, { cause: err });
      }
    }
    // `initial` was inherited from the CLI at birth; `final` applies now that the process is in
    // the container's cgroup (runc sets it right after the move).
    applyFinalAffinity(process.execCPUAffinity, "process.execCPUAffinity");
    debug(`joined the cgroup (${(boot.cgroupProcs ?? []).join(", ")})`);
    if (boot.cgroupNamespace) {
      const cgroupNs = open(boot.cgroupNamespace, O_RDONLY | O_CLOEXEC);
      setns(cgroupNs, CLONE_NEWCGROUP, boot.cgroupNamespace);
      close(cgroupNs);
    }
    setOomScoreAdj(process.oomScoreAdj);
    const mountNs = open(boot.mountNamespace, O_RDONLY | O_CLOEXEC);
    // setns(CLONE_NEWNS) needs a thread with its own fs_struct; Deno's threads share one.
    unshare(CLONE_FS);
    setns(mountNs, CLONE_NEWNS, boot.mountNamespace);
    close(mountNs);
    debug(`joined the mount namespace ${boot.mountNamespace}`);
    if (boot.chrootTo) {
      chdir(boot.chrootTo);
      chroot(".");
      chdir("/");
    }
    if (consoleSocket !== undefined) attachConsole(consoleSocket, process.consoleSize, false);
    applyProcessAttrs(process, boot.linux);
    target = finalizeWithSeccomp(process, masks, lastCap, {
      seccomp: boot.seccomp,
      listener,
      container: { id: boot.id, bundle: boot.bundle, annotations: boot.annotations },
      hostPid,
      giveStdio: process.terminal === true || !boot.callerStdio,
      keepFds: boot.preserveFds,
    });
    debug("identity set: about to exec");
    // `exec --detach` leaves this process behind when the CLI exits.
    prctl(PR_SET_PDEATHSIG, 0);
    forwardDebug(undefined);
    send(syncFd, { type: "ready" });
    close(syncFd);
  } catch (err) {
    try {
      send(syncFd, { type: "error", message: errorChain(err) });
    } catch {
      // The CLI is gone.
    }
    throw new ExitError("", 1);
  }
  return execTarget(target);
}
