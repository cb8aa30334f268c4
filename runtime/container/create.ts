import { exists, resolve } from "../path.ts";
import { loadSpec } from "../../spec/validate.ts";
import { OCI_VERSION } from "../../spec/version.ts";
import { creatingState, rfc3339Nano, type State } from "../../spec/state.ts";
import { runHooks } from "../hooks.ts";
import { checkLsm } from "../security/lsm.ts";
import { setupNotifySocket } from "../notify_socket.ts";
import { type CgroupManager, cgroupManager } from "../cgroups/manager.ts";
import { withDefaultDeviceRules } from "../cgroups/device_rules.ts";
import { setFromHost } from "./process_ops.ts";
import { checkUserNamespaceConfig, hostFacts } from "./userns_checks.ts";
import { NoCgroup, noCgroupFor, rootlessCgroupBlocker } from "../cgroups/none.ts";
import { SystemdCgroupManager } from "../cgroups/systemd.ts";
import { geteuid } from "../../ffi/process.ts";
import { inUserNamespace } from "../rootless.ts";
import { CLONE_NEWCGROUP, O_CLOEXEC, O_RDONLY } from "../../ffi/constants.ts";
import { close, mkfifo, open, setCloexec } from "../../ffi/fs.ts";
import { ioctlNsGetType } from "../../ffi/namespace.ts";
import { type NamespacePlan, planNamespaces, sharesHostMounts } from "../namespaces.ts";
import { mountsAt, releaseHostRootfs } from "../rootfs/prepare.ts";
import {
  answerHooks,
  type Bootstrap,
  type BootstrapSeccomp,
  sendBootstrap,
  waitReady,
} from "../process/protocol.ts";
import type { InitProcess } from "../process/init_process.ts";
import { hasUserNamespace, type UserNamespaceSetup } from "../process/spawn_userns.ts";
import { joinCgroupProcs } from "../cgroups/files.ts";
import { hostRootOf } from "../userns/maps.ts";
import { receiveConsole, spawnInit } from "../process/spawn_init.ts";
import { killInit } from "../process/init_process.ts";
import type { compileFilter } from "../security/seccomp/filter.ts";
import { type ContainerRecord, type StateStore, validateId, writePidFile } from "../state/store.ts";
import { processStartTime } from "../state/liveness.ts";
import * as log from "../log.ts";
import { listenUnix } from "../../ffi/socket.ts";
import { checkConsoleFlags } from "../console.ts";
import { SpecError, withFile } from "../../spec/errors.ts";
import type { Spec } from "../../spec/config.ts";
import { trace } from "../log.ts";
import { applyIntelRdt, checkIntelRdt, type RdtRecord, removeIntelRdt } from "../intel_rdt.ts";
import { connectPidfdSocket, sendPidfd } from "../pidfd_socket.ts";
import { openIdmappedMounts } from "./idmapped_mounts.ts";
import { undoCreating } from "./creating.ts";
import { creatingRecord } from "./half_made.ts";
import { startTrampolineInit, trampolineInitReason } from "./init_trampoline.ts";

/** Options of `skiff create` (and the create half of `skiff run`). */
export interface CreateOptions {
  bundle: string;
  /** A config.json elsewhere than in the bundle (its root.path is relative to the file). */
  configFile?: string;
  pidFile?: string;
  consoleSocket?: string;
  /** `--pidfd-socket`: a unix socket that receives a pidfd of the init once it is ready. */
  pidfdSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** True for `skiff run` in the foreground: the CLI stays the parent and waits. */
  foreground?: boolean;
  /** With foreground: the process's stdio are pipes (Created.child.stdio), for the library. */
  piped?: boolean;
  /** The caller waits for the init even when detached (the library): it keeps the event loop. */
  keepChild?: boolean;
  /**
   * The library: a process.terminal pty that no console socket takes comes back as
   * Created.consoleMaster even when detached (the command line refuses that config).
   */
  keepTerminal?: boolean;
  /** The image bundle `run --image` assembled, released again by delete. */
  image?: { store: string; dir: string };
  /**
   * `run --image` made the state directory and its write-ahead record before it assembled the
   * bundle (and holds no lock on it now): create goes on in that directory.
   */
  stateDirMade?: boolean;
  /** `--systemd-cgroup`: linux.cgroupsPath is slice:prefix:name. */
  systemdCgroup?: boolean;
  /** The cgroup is optional (--rootless; docs/rootless.md): made only where the caller may. */
  rootlessCgroups?: boolean;
}

/** A freshly created container and its init process (a child of this process). */
export interface Created {
  record: ContainerRecord;
  child: InitProcess;
  /** The pty master, when process.terminal is set and `run` has no --console-socket. */
  consoleMaster?: number;
}

/**
 * Creates container `id`: validates config.json, spawns the init inside the new namespaces, waits
 * until the init reports that everything but process.args is in place, and records the state.
 * On any failure nothing is left behind: the init is killed (its namespaces and mounts die with it)
 * and the state directory is removed.
 */
export async function createContainer(
  store: StateStore,
  id: string,
  options: CreateOptions,
): Promise<Created> {
  const bundle = resolve(options.bundle);
  const configFile = options.configFile ? resolve(options.configFile) : `${bundle}/config.json`;
  trace("create: begin");
  const spec = loadSpec(configFile);
  const rootfs = resolve(bundle, spec.root!.path);
  const compileSeccomp = await seccompCompiler(spec);
  const { plan, seccomp, cgroupPlan } = preflight(
    id,
    spec,
    rootfs,
    configFile,
    options,
    compileSeccomp,
  );
  // A new cgroup namespace is made by the init itself, once it is in the container's cgroup, so
  // that the namespace's root is that cgroup (runc's order).
  const newCgroupNamespace = (plan.create & CLONE_NEWCGROUP) !== 0;
  plan.create &= ~CLONE_NEWCGROUP;

  const hostMountNamespace = sharesHostMounts(spec);
  // A failed create must take back what its init mounted in the host's namespace, and only that.
  const mountsBefore = hostMountNamespace ? mountsAt(rootfs) : 0;
  // Dialled before anything exists, as runc does: a wrong path leaves nothing to clean up.
  const pidfdSocket = options.pidfdSocket ? connectPidfdSocket(options.pidfdSocket) : undefined;
  try {
    if (!options.stateDirMade) store.createDir(id);
  } catch (err) {
    if (pidfdSocket !== undefined) close(pidfdSocket);
    throw err;
  }
  let child: InitProcess | undefined;
  let cgroup: CgroupManager | undefined;
  let rdt: RdtRecord | undefined;
  try {
    using _lock = store.lock(id);
    // Write-ahead: before anything else exists on the host, the state directory names what this
    // create will make, so that a delete after a SIGKILL finds and removes all of it
    // (container/creating.ts). The fifo and sockets are made inside this directory.
    // Only the cgroups this create makes: one that exists already (a cgroupsPath shared with
    // other processes, or refused below because it is frozen) is not this create's to remove.
    const cgroupPaths = cgroupPlan instanceof NoCgroup ? undefined : notYetMade(cgroupPlan.dirs());
    const ahead = creatingRecord({
      id,
      bundle,
      rootfs,
      annotations: spec.annotations,
      cgroupPaths,
      // The unit StartTransientUnit will make, named before it is asked for; likewise only when
      // its directory is not there yet (a running unit of that name is not this create's).
      systemdUnit: cgroupPlan instanceof SystemdCgroupManager &&
          Object.keys(cgroupPaths ?? {}).length > 0
        ? cgroupPlan.unit
        : undefined,
      hostRootfs: hostMountNamespace ? { rootfs, before: mountsBefore } : undefined,
      image: options.image,
    });
    store.writeCreating(ahead);
    trace("create: state dir locked");
    let consoleMaster: number | undefined;
    // Netlink (ffi/netlink.ts) only for a config that moves devices: ~8 KB of code, imported here,
    // on the host's namespaces, before the main thread enters the container's.
    const moveNetDevices = spec.linux?.netDevices
      ? (await import("../net_devices.ts")).moveNetDevices
      : undefined;
    const denoInit = trampolineInitReason(spec, plan, rootfs, {
      noPivot: options.noPivot,
      hostMountNamespace,
    });
    if (denoInit === undefined) {
      // Before the rootfs is built: it adds a mount and the process's NOTIFY_SOCKET.
      setupNotifySocket(spec, store.dir(id));
      // The CLI mounts them itself: PID 1 need not inherit them.
      const idmapped = await openIdmappedMounts(spec, bundle);
      for (const fd of Object.values(idmapped.fds)) setCloexec(fd, true);
      const started = await startTrampolineInit({
        id,
        spec,
        bundle,
        rootfs,
        namespaces: plan,
        newCgroupNamespace,
        fifo: store.fifoPath(id),
        seccomp,
        noNewKeyring: options.noNewKeyring ?? false,
        noPivot: options.noPivot ?? false,
        timeOffsets: spec.linux?.timeOffsets,
        userns: userNamespaceSetup(spec),
        preserveFds: options.preserveFds ?? 0,
        listenFds: listenFds(),
        callerStdio: options.foreground ?? false,
        piped: options.piped,
        consoleSocket: options.consoleSocket ? resolve(options.consoleSocket) : undefined,
        mountFds: idmapped.fds,
        onPid: (pid) => {
          // Write-ahead, as below: PID 1 is recorded before anything is made for it.
          ahead.init = { pid, startTime: processStartTime(pid) ?? 0 };
          store.writeCreating(ahead);
        },
        atSync: async (pid) => {
          if (moveNetDevices && spec.linux?.netDevices) moveNetDevices(spec.linux.netDevices, pid);
          if (spec.linux?.intelRdt) {
            rdt = applyIntelRdt(spec.linux.intelRdt, id, pid);
            ahead.intelRdt = rdt;
            store.writeCreating(ahead);
          }
          cgroup = await createCgroup(cgroupPlan, spec, configFile, pid, options);
          joinCgroupProcs(cgroup.procsFiles(), pid);
          setFromHost(spec.process?.oomScoreAdj, pid);
          return cgroup.dirs();
        },
      }).finally(() => idmapped.close());
      child = started.child;
      consoleMaster = started.consoleMaster;
      trace("create: init ready");
    } else {
      log.debug(`create: the Deno init (${denoInit})`);
      // The Deno init: spawned first, so that this process makes the cgroup while its Deno boots.
      let consoleSocket = options.consoleSocket ? resolve(options.consoleSocket) : undefined;
      const userns = userNamespaceSetup(spec);
      // Made before the init, which inherits them; our copies are closed once it is spawned.
      const idmapped = await openIdmappedMounts(spec, bundle);
      let init: Awaited<ReturnType<typeof spawnInit>>;
      try {
        init = await spawnInit(plan, spec.process?.terminal === true, {
          timeOffsets: spec.linux?.timeOffsets,
          userns,
          piped: options.piped,
        });
      } finally {
        idmapped.close();
      }
      child = init.child;
      // Recorded before the init gets its bootstrap: an init killed with no record never got one
      // and exits on its own (EOF on the bootstrap pipe, or its parent-death signal).
      ahead.init = { pid: child.pid, startTime: processStartTime(child.pid) ?? 0 };
      store.writeCreating(ahead);
      trace("create: init spawned");
      // Before the init builds anything: hooks and the process find the devices in place.
      if (moveNetDevices && spec.linux?.netDevices) {
        moveNetDevices(spec.linux.netDevices, child.pid);
      }
      if (spec.linux?.intelRdt) {
        rdt = applyIntelRdt(spec.linux.intelRdt, id, child.pid);
        ahead.intelRdt = rdt;
        store.writeCreating(ahead);
      }
      cgroup = await createCgroup(cgroupPlan, spec, configFile, child.pid, options);
      // In a user namespace the init's root does not own the host's cgroup files: join it from here.
      const cliJoinsCgroup = hasUserNamespace(plan);
      if (cliJoinsCgroup) joinCgroupProcs(cgroup.procsFiles(), child.pid);
      trace("create: cgroup ready");
      const fifo = store.fifoPath(id);
      mkfifo(fifo, 0o622);
      // The init opens it read-write as the user namespace's root, a host id that does not own it.
      const rootIds = hostRootOf(child.pid);
      if (rootIds) Deno.chownSync(fifo, rootIds.uid, rootIds.gid);
      setupNotifySocket(spec, store.dir(id));
      // `skiff run -t` without --console-socket receives the pty master itself.
      let consoleListener: number | undefined;
      trace("create: fifo made");
      if (spec.process?.terminal && !consoleSocket) {
        consoleSocket = `${store.dir(id)}/console.sock`;
        consoleListener = listenUnix(consoleSocket, 1);
        if (rootIds) Deno.chownSync(consoleSocket, rootIds.uid, rootIds.gid);
      }
      const bootstrap: Bootstrap = {
        id,
        bundle,
        rootfs,
        fifo,
        spec,
        noPivot: options.noPivot ?? false,
        hostMountNamespace,
        noNewKeyring: options.noNewKeyring ?? false,
        preserveFds: options.preserveFds ?? 0,
        listenFds: listenFds(),
        cgroup: {
          procs: cliJoinsCgroup ? [] : cgroup.procsFiles(),
          dirs: cgroup.dirs(),
          newNamespace: newCgroupNamespace,
        },
        consoleSocket: spec.process?.terminal ? consoleSocket : undefined,
        seccomp,
        debug: log.logOptions().debug,
        callerStdio: options.foreground ?? false,
        mountFds: idmapped.fds,
      };
      sendBootstrap(init.toInit, bootstrap);
      trace("create: bootstrap sent");
      const creating = creatingState(
        { id, bundle, rootfs, annotations: spec.annotations },
        child.pid,
      );
      try {
        await waitReady(init.fromInit, () => runRuntimeHooks(spec, creating, init.toInit));
      } catch (err) {
        throw explainOom(err, cgroup, spec, configFile);
      } finally {
        close(init.toInit);
        close(init.fromInit);
      }
      trace("create: init ready");
      if (consoleListener !== undefined) {
        try {
          consoleMaster = receiveConsole(consoleListener);
        } finally {
          close(consoleListener);
        }
      }
    }
    if (!child || !cgroup) throw new Error("create: the init did not start");
    if (pidfdSocket !== undefined) {
      sendPidfd(pidfdSocket, child.pid, "standard");
      log.debug(`create: sent a pidfd of ${child.pid} to ${options.pidfdSocket}`);
    }
    const startTime = processStartTime(child.pid);
    if (startTime === undefined) throw new Error("container init exited during create");
    const record: ContainerRecord = {
      ociVersion: OCI_VERSION,
      id,
      pid: child.pid,
      initStartTime: startTime,
      bundle,
      rootfs,
      created: rfc3339Nano(new Date()),
      owner: "",
      annotations: spec.annotations,
      config: spec,
      image: options.image,
      intelRdt: rdt,
      cgroup: {
        cgroupsPath: spec.linux?.cgroupsPath ?? "",
        systemd: options.systemdCgroup ?? false,
        paths: cgroup.dirs(),
        none: cgroup instanceof NoCgroup ? cgroup.reason : undefined,
      },
    };
    store.write(record);
    store.finishCreating(id);
    trace("create: state written");
    if (options.pidFile) writePidFile(resolve(options.pidFile), child.pid);
    if (!options.foreground && !options.keepChild) child.unref();
    return { record, child, consoleMaster };
  } catch (err) {
    if (child) await killInit(child);
    if (hostMountNamespace) releaseHostRootfs(rootfs, mountsBefore);
    await cgroup?.destroy().catch(() => {});
    if (rdt) removeIntelRdt(rdt);
    // What the record names and is still there (the image's layer, the state directory).
    await undoCreating(store, id);
    throw err;
  } finally {
    if (pidfdSocket !== undefined) close(pidfdSocket);
  }
}

/** The entries of `dirs` whose directory does not exist yet. */
function notYetMade(dirs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(dirs).filter(([, dir]) => !exists(dir)));
}

/** What create refuses before anything exists: a missing rootfs, and terminal/socket mismatches. */
/** What preflight() worked out: the inputs of the rest of create. */
export interface Preflight {
  plan: NamespacePlan;
  seccomp?: BootstrapSeccomp;
  cgroupPlan: CgroupManager;
}

/** The seccomp compiler (runtime/security/seccomp/filter.ts). */
export type SeccompCompiler = typeof compileFilter;

/**
 * The seccomp compiler when `spec` has linux.seccomp, imported on use: with its syscall tables it
 * is ~60 KB of code that a config without a filter (`skiff spec`'s, `runc spec`'s) never runs, and
 * each KB loaded costs a call ~0.1 ms (issue 11; docs/benchmarks.md, "Per-call floor").
 */
export async function seccompCompiler(spec: Spec): Promise<SeccompCompiler | undefined> {
  if (!spec.linux?.seccomp) return undefined;
  return (await import("../security/seccomp/filter.ts")).compileFilter;
}

/**
 * Every check create makes of a validated config before it makes anything on the host, in create's
 * order; the first problem is thrown (a SpecError naming the field where there is one). `skiff
 * check` (runtime/check/) runs exactly this, so that it reports what create would refuse.
 * `compileSeccomp` is seccompCompiler(spec)'s: needed when the config has linux.seccomp.
 */
export function preflight(
  id: string,
  spec: Spec,
  rootfs: string,
  configFile: string,
  options: CreateOptions,
  compileSeccomp: SeccompCompiler | undefined,
): Preflight {
  checkBeforeCreate(spec, rootfs, configFile, options);
  const plan = planNamespaces(spec.linux?.namespaces ?? []);
  checkNamespacePaths(plan, configFile);
  let seccomp: BootstrapSeccomp | undefined;
  if (spec.linux?.seccomp) {
    if (!compileSeccomp) throw new Error("preflight: linux.seccomp needs the seccomp compiler");
    seccomp = compileSeccomp(spec.linux.seccomp, configFile);
  }
  checkLsm(spec, configFile);
  checkIntelRdt(spec.linux?.intelRdt, configFile);
  // Before anything exists: a rootless container that asks for limits it cannot have fails here.
  const cgroupPlan = planCgroup(id, spec, configFile, options);
  return { plan, seccomp, cgroupPlan };
}

function checkBeforeCreate(
  spec: Spec,
  rootfs: string,
  configFile: string,
  options: CreateOptions,
): void {
  try {
    if (!Deno.statSync(rootfs).isDirectory) throw new Error("not a directory");
  } catch (err) {
    throw new SpecError("root.path", `rootfs ${rootfs} is not a directory`, configFile, {
      cause: err,
    });
  }
  const keptTerminal = options.keepTerminal === true && !options.consoleSocket;
  checkConsoleFlags(
    spec.process?.terminal === true,
    options.consoleSocket,
    !options.foreground && !keptTerminal,
  );
  checkUserNamespaceConfig(spec, hostFacts(), configFile);
}

/**
 * Each namespace to join by path must open and be of its entry's type. This is checked before
 * anything is made, and so for every init: the trampoline that joins a user namespace would
 * otherwise only report setns(2)'s EINVAL, naming no field (the inits check again as they join).
 */
function checkNamespacePaths(plan: NamespacePlan, configFile: string): void {
  for (const j of plan.join) {
    const field = `linux.namespaces[${j.index}].path`;
    let fd: number;
    try {
      fd = open(j.path, O_RDONLY | O_CLOEXEC);
    } catch (err) {
      throw new SpecError(field, `cannot open ${j.path}`, configFile, { cause: err });
    }
    try {
      const actual = ioctlNsGetType(fd);
      if (actual !== undefined && actual !== j.flag) {
        throw new SpecError(field, `${j.path} is not a ${j.type} namespace`, configFile);
      }
    } finally {
      close(fd);
    }
  }
}

/**
 * prestart and createRuntime, which the init asks for once its mounts are made: they run here, in
 * the runtime's namespaces, before the init's pivot_root; the init then goes on or aborts.
 */
async function runRuntimeHooks(spec: Spec, state: State, toInit: number): Promise<void> {
  try {
    await runHooks(spec.hooks, "prestart", state);
    await runHooks(spec.hooks, "createRuntime", state);
  } catch (err) {
    answerHooks(toInit, "abort");
    throw err;
  }
  answerHooks(toInit, "continue");
}

/**
 * An init that died during create because its cgroup ran out of memory gets an error that says so
 * and names the limit (runc#2736: "exited before it was ready" alone leaves people guessing).
 */
function explainOom(err: unknown, cgroup: CgroupManager, spec: Spec, configFile: string): unknown {
  let kills = 0;
  try {
    kills = cgroup.oomKillCount();
  } catch {
    return err;
  }
  if (kills === 0) return err;
  const limit = spec.linux?.resources?.memory?.limit;
  return new SpecError(
    "linux.resources.memory.limit",
    `the container was OOM-killed while it was being ` +
      `created; the limit (${limit} bytes) is too low (Skiff's init needs about 512 KiB)`,
    configFile,
    { cause: err },
  );
}

/**
 * The manager of the container's cgroup, not created yet. A rootless create (--rootless) gets a
 * cgroup only where the caller may make one; otherwise a NoCgroup, or an error naming the field
 * that needs a cgroup (runtime/cgroups/none.ts).
 */
function planCgroup(
  id: string,
  spec: Spec,
  configFile: string,
  options: CreateOptions,
): CgroupManager {
  // The ID names the default cgroup: a bad one gets the ID's own error, as before any cgroup.
  validateId(id);
  let cgroup: CgroupManager;
  try {
    cgroup = cgroupManager({
      id,
      cgroupsPath: spec.linux?.cgroupsPath,
      systemd: options.systemdCgroup ?? false,
    });
  } catch (err) {
    throw new SpecError("linux.cgroupsPath", "cannot create the container's cgroup", configFile, {
      cause: err,
    });
  }
  // With --systemd-cgroup, systemd makes the scope and delegates it to the caller: its user
  // instance is asked at start(), which fails naming the bus it needs when there is none.
  if (!options.rootlessCgroups || options.systemdCgroup) return cgroup;
  const reason = rootlessCgroupBlocker(cgroup);
  if (reason === undefined) return cgroup;
  return noCgroupFor(
    reason,
    cgroup.layout,
    spec.linux?.cgroupsPath,
    spec.linux?.resources,
    configFile,
  );
}

/**
 * Makes the container's cgroup and applies linux.resources with runc's default device rules;
 * warnings (fields the host ignores) are logged, errors name the file and the field. A rootless
 * create (--rootless) by a user who is not root in the host's user namespace installs no device
 * filter: loading a cgroup eBPF program needs privileges there, and runc's rootless managers
 * ignore device errors likewise (its devices are bind-mounted host nodes the user could open
 * anyway).
 */
async function createCgroup(
  cgroup: CgroupManager,
  spec: Spec,
  configFile: string,
  pid: number,
  options: CreateOptions,
): Promise<CgroupManager> {
  if (cgroup instanceof NoCgroup) {
    log.debug(`create: no cgroup (${cgroup.reason})`);
    return cgroup;
  }
  const resources = spec.linux?.resources;
  checkExistingCgroup(cgroup, configFile);
  try {
    cgroup.create();
    trace("create: cgroup made");
  } catch (err) {
    throw new SpecError("linux.cgroupsPath", "cannot create the container's cgroup", configFile, {
      cause: err,
    });
  }
  const unprivileged = options.rootlessCgroups && (geteuid() !== 0 || inUserNamespace());
  const withDevices = {
    ...resources,
    devices: unprivileged
      ? undefined
      : withDefaultDeviceRules(resources?.devices, spec.linux?.devices),
  };
  try {
    // The systemd driver's unit (runtime/cgroups/systemd.ts).
    await cgroup.start?.(pid, withDevices);
    const warnings = cgroup.set(withDevices);
    for (const warning of warnings) log.warn(warning);
  } catch (err) {
    // Awaited: the process exits right after the error is reported.
    await cgroup.destroy().catch(() => {});
    throw withFile(err, configFile);
  }
  return cgroup;
}

/**
 * A cgroup that exists already (linux.cgroupsPath names one) is checked as runc 1.1 does before it
 * touches anything: processes in it are only warned about (runc plans to refuse them), a cgroup
 * frozen by its own freezer is refused.
 */
function checkExistingCgroup(cgroup: CgroupManager, configFile: string): void {
  if (!cgroup.exists()) return;
  const pids = cgroup.pids();
  if (pids.length > 0) {
    log.warn(`container's cgroup is not empty: ${pids.length} process(es) found`);
    log.warn(
      "DEPRECATED: running container in a non-empty cgroup won't be supported in runc 1.2; https://github.com/opencontainers/runc/issues/3132",
    );
  }
  if (cgroup.isFrozen()) {
    throw new SpecError(
      "linux.cgroupsPath",
      `container's cgroup unexpectedly frozen (${
        Object.values(cgroup.dirs())[0]
      }): thaw it or choose another cgroup`,
      configFile,
    );
  }
}

/**
 * Socket activation: when Skiff itself was started with LISTEN_FDS=N, fds 3..3+N-1 go to the
 * container and its environment gets LISTEN_FDS=N and LISTEN_PID=1 (runc's behaviour).
 */
function listenFds(): number | undefined {
  const value = Deno.env.get("LISTEN_FDS");
  if (!value) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The maps of a new user namespace in `spec` (undefined when it creates none). */
function userNamespaceSetup(spec: Spec): UserNamespaceSetup | undefined {
  const user = spec.linux?.namespaces?.find((ns) => ns.type === "user");
  if (!user || user.path) return undefined;
  return { uidMappings: spec.linux?.uidMappings ?? [], gidMappings: spec.linux?.gidMappings ?? [] };
}
