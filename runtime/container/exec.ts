import type { Capabilities, Process } from "../../spec/config.ts";
import { validateProcess } from "../../spec/validate.ts";
import { withFile } from "../../spec/errors.ts";
import { close } from "../../ffi/fs.ts";
import { listenUnix } from "../../ffi/socket.ts";
import { join, resolve } from "../path.ts";
import { debug, logOptions, trace, warn } from "../log.ts";
import { connectPidfdSocket, sendPidfd } from "../pidfd_socket.ts";
import type { NamespaceType } from "../../spec/config.ts";
import {
  NAMESPACE_FLAGS,
  type NamespacePlan,
  PROC_NS_NAMES,
  sharesHostMounts,
} from "../namespaces.ts";
import {
  type BootstrapSeccomp,
  type ExecBootstrap,
  sendBootstrap,
  waitReady,
} from "../process/protocol.ts";
import { denoInitReason, execViaTrampoline } from "./exec_trampoline.ts";
import {
  capabilityMasks,
  grantableCapabilities,
  lastCapability,
} from "../security/capabilities.ts";
import type { InitProcess } from "../process/init_process.ts";
import { hasUserNamespace } from "../process/spawn_userns.ts";
import { joinCgroupProcs } from "../cgroups/files.ts";
import { hostRootOf } from "../userns/maps.ts";
import { receiveConsole, spawnInit } from "../process/spawn_init.ts";
import { killInit } from "../process/init_process.ts";
import { type ContainerRecord, type StateStore, writePidFile } from "../state/store.ts";
import { loadContainer } from "./container.ts";
import { checkLsm } from "../security/lsm.ts";
import { checkConsoleFlags } from "../console.ts";
import { recordedProcsFiles } from "../cgroups/places.ts";
import { joinIntelRdt } from "../intel_rdt.ts";
import { withInitialAffinity } from "../init/process_attrs.ts";

/** What `skiff exec` was asked for, beyond the container. */
export interface ExecOptions {
  /** A process.json (`--process`); the other fields, when set, override its fields. */
  processFile?: string;
  args: string[];
  env: string[];
  cwd?: string;
  /** `uid[:gid]`. */
  user?: string;
  additionalGids: string[];
  caps: string[];
  tty: boolean;
  noNewPrivs: boolean;
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
  /** `--pidfd-socket`: a unix socket that receives a pidfd of the new process. */
  pidfdSocket?: string;
  preserveFds: number;
  ignorePaused: boolean;
  /** cgroup.procs files to join instead of the container's, for callers that know better. */
  cgroupProcs?: string[];
  /** `--cgroup`: sub-cgroups of the container's cgroup, "PATH" or "CONTROLLERS:PATH" (v1). */
  subCgroups?: string[];
  /** The caller waits for the process even when detached (the library). */
  keepChild?: boolean;
  /** `--apparmor`, `--process-label`. */
  apparmorProfile?: string;
  selinuxLabel?: string;
}

/** A started exec process (a child of this CLI). */
export interface Executed {
  child: InitProcess;
  pid: number;
  consoleMaster?: number;
}

function readProcessFile(file: string): Process {
  let json: unknown;
  try {
    json = JSON.parse(Deno.readTextFileSync(file));
  } catch (err) {
    throw new Error(`--process ${file}: cannot read a process JSON`, { cause: err });
  }
  try {
    validateProcess(json as Record<string, unknown>, "process");
  } catch (err) {
    throw withFile(err, file);
  }
  return json as Process;
}

function withCaps(base: Capabilities | undefined, extra: string[]): Capabilities | undefined {
  if (extra.length === 0) return base;
  const add = (list: string[] | undefined) => [...new Set([...(list ?? []), ...extra])];
  return {
    bounding: add(base?.bounding),
    effective: add(base?.effective),
    permitted: add(base?.permitted),
    inheritable: add(base?.inheritable),
    ambient: add(base?.ambient),
  };
}

/**
 * The process an exec runs: the --process file, or else the container's process.args etc., with
 * the CLI's flags on top. A process file without `user` runs as uid 0, gid 0 (runc's zero value);
 * `-u UID` alone keeps the gid the process had (runc).
 */
export function execProcess(record: ContainerRecord, options: ExecOptions): Process {
  const fromFile = options.processFile !== undefined;
  const config = record.config.process!;
  const base = fromFile ? readProcessFile(options.processFile!) : config;
  if (fromFile) {
    // runc takes these three from config.json when process.json leaves them out.
    base.scheduler ??= config.scheduler;
    base.ioPriority ??= config.ioPriority;
    base.execCPUAffinity ??= config.execCPUAffinity;
  }
  if (options.args.length === 0 && !fromFile) {
    throw new Error("exec: no command given (and no --process)");
  }
  const env = [...(base.env ?? [])];
  for (const entry of options.env) {
    const key = entry.split("=")[0];
    const i = env.findIndex((e) => e.split("=")[0] === key);
    if (i >= 0) env[i] = entry;
    else env.push(entry);
  }
  const user = { ...base.user, uid: base.user?.uid ?? 0, gid: base.user?.gid ?? 0 };
  if (options.user) {
    const [uid, gid] = options.user.split(":");
    if (!/^\d+$/.test(uid) || (gid !== undefined && !/^\d+$/.test(gid))) {
      throw new Error(`--user: ${JSON.stringify(options.user)} is not uid[:gid]`);
    }
    user.uid = Number(uid);
    if (gid !== undefined) user.gid = Number(gid);
  }
  if (options.additionalGids.length) {
    user.additionalGids = options.additionalGids.map((g) => {
      if (!/^\d+$/.test(g)) throw new Error(`--additional-gids: ${JSON.stringify(g)} is not a gid`);
      return Number(g);
    });
  }
  const process: Process = {
    ...base,
    args: options.args.length ? options.args : base.args,
    env,
    cwd: options.cwd ?? base.cwd,
    user,
    // With a process file, its `terminal` stands unless --tty asks for one.
    terminal: options.tty || (fromFile && base.terminal === true),
    capabilities: withCaps(base.capabilities, options.caps),
    noNewPrivileges: options.noNewPrivs || base.noNewPrivileges,
    apparmorProfile: options.apparmorProfile ?? base.apparmorProfile,
    selinuxLabel: options.selinuxLabel ?? base.selinuxLabel,
  };
  validateProcess(process as unknown as Record<string, unknown>, "process");
  return process;
}

/**
 * The cgroup.procs files an exec joins: the container's, or with `--cgroup` a sub-cgroup of it
 * (runc exec --cgroup). As in runc: one PATH alone applies to every controller; several flags
 * each need a CONTROLLER[,CONTROLLER]: prefix; a sub-cgroup must exist and stay inside the
 * container's cgroup.
 */
export async function execCgroupProcs(
  record: ContainerRecord,
  subCgroups: readonly string[],
): Promise<string[]> {
  if (subCgroups.length === 0) {
    // The recorded directories, without the cgroup managers (runtime/cgroups/places.ts).
    if (record.cgroup.none !== undefined) return [];
    const files = recordedProcsFiles(record.cgroup.paths);
    if (files) return files;
  }
  const { containerCgroup } = await import("./cgroup.ts");
  const cgroup = containerCgroup(record);
  if (subCgroups.length === 0) return cgroup.procsFiles();
  const dirs = cgroup.dirs();
  const chosen = new Map<string, string>();
  for (const spec of subCgroups) {
    const parts = spec.split(":");
    if (parts.length > 2) throw new Error(`invalid --cgroup argument: ${spec}`);
    if (parts.length === 1 && subCgroups.length !== 1) {
      throw new Error(`invalid --cgroup argument: ${spec} (missing <controller>: prefix)`);
    }
    const controllers = parts.length === 2 ? parts[0].split(",") : Object.keys(dirs);
    const sub = parts.at(-1)!;
    for (const controller of controllers) {
      const dir = dirs[controller];
      if (dir === undefined) {
        throw new Error(`--cgroup ${JSON.stringify(spec)}: unknown controller ${controller}`);
      }
      const path = join(dir, sub);
      if (path !== dir && !path.startsWith(`${dir}/`)) {
        throw new Error(`--cgroup ${JSON.stringify(spec)}: ${sub} is not a sub cgroup path`);
      }
      chosen.set(controller, path);
    }
  }
  for (const [controller, dir] of Object.entries(dirs)) {
    if (!chosen.has(controller)) chosen.set(controller, dir);
  }
  return [...new Set(chosen.values())].map((dir) => {
    try {
      Deno.statSync(dir);
    } catch {
      throw new Error(`--cgroup: ${dir} does not exist`);
    }
    return `${dir}/cgroup.procs`;
  });
}

/** The namespaces an exec joins: every one the container has, mount last by the setns init itself. */
function execNamespaces(record: ContainerRecord): NamespacePlan {
  const join: NamespacePlan["join"] = [];
  const touched: NamespaceType[] = [];
  (record.config.linux?.namespaces ?? []).forEach((ns, index) => {
    // mount and cgroup: joined by the setns init itself (see init/setns.ts); time: setns(2) refuses
    // multi-threaded callers.
    if (["mount", "cgroup", "time"].includes(ns.type)) return;
    const name = ns.type === "pid" ? "pid" : PROC_NS_NAMES[ns.type];
    join.push({
      type: ns.type,
      path: `/proc/${record.pid}/ns/${name}`,
      flag: NAMESPACE_FLAGS[ns.type],
      index,
    });
    touched.push(ns.type);
  });
  // The user namespace first: it grants the rights over the others (the trampoline joins them).
  join.sort((a, b) => Number(b.type === "user") - Number(a.type === "user"));
  return { join, create: 0, touched };
}

/**
 * The namespaces the exec trampoline joins before its clone: every one the container has but
 * mount (joined after the clone, once the process is in the cgroup), the user namespace first: it
 * grants the rights over the others.
 */
function trampolineNamespaces(record: ContainerRecord): NamespacePlan {
  const join: NamespacePlan["join"] = [];
  const touched: NamespaceType[] = [];
  (record.config.linux?.namespaces ?? []).forEach((ns, index) => {
    if (ns.type === "mount") return;
    join.push({
      type: ns.type,
      path: `/proc/${record.pid}/ns/${PROC_NS_NAMES[ns.type]}`,
      flag: NAMESPACE_FLAGS[ns.type],
      index,
    });
    touched.push(ns.type);
  });
  join.sort((a, b) => Number(b.type === "user") - Number(a.type === "user"));
  return { join, create: 0, touched };
}

/**
 * Runs a new process in container `id` (runc exec): it joins the container's namespaces, cgroup,
 * capabilities, rlimits, no_new_privs and seccomp. A stopped container is an error, and so is a
 * paused one unless `ignorePaused`.
 */
export async function execContainer(
  store: StateStore,
  id: string,
  options: ExecOptions,
): Promise<Executed> {
  trace("exec: start");
  const { record, status } = loadContainer(store, id);
  if (status === "stopped") throw new Error("cannot exec in a stopped container");
  if (status === "paused" && !options.ignorePaused) {
    throw new Error("cannot exec in a paused container (use --ignore-paused to override)");
  }
  const process = execProcess(record, options);
  checkLsm(record.config, options.processFile ?? `${record.bundle}/config.json`, process);
  checkConsoleFlags(process.terminal === true, options.consoleSocket, options.detach);
  // The compiler and its syscall tables (~60 KB) only for a container that has a filter.
  const seccomp = record.config.linux?.seccomp
    ? (await import("../security/seccomp/filter.ts")).compileFilter(
      record.config.linux.seccomp,
      `${record.bundle}/config.json`,
    )
    : undefined;
  const cgroupProcs = options.cgroupProcs ??
    await execCgroupProcs(record, options.subCgroups ?? []);
  const denoReason = denoInitReason(process, seccomp);
  if (denoReason === undefined) {
    return await execWithTrampoline(record, process, options, seccomp, cgroupProcs);
  }
  debug(`exec: ${denoReason} needs the Deno exec init`);
  let consoleSocket = options.consoleSocket ? resolve(options.consoleSocket) : undefined;
  let consoleListener: number | undefined;
  const cleanup: string[] = [];
  if (process.terminal && !consoleSocket) {
    consoleSocket = `${store.dir(id)}/exec-${Deno.pid}.sock`;
    consoleListener = listenUnix(consoleSocket, 1);
    cleanup.push(consoleSocket);
    const rootIds = hostRootOf(record.pid);
    if (rootIds) Deno.chownSync(consoleSocket, rootIds.uid, rootIds.gid);
  }
  const bootstrap: ExecBootstrap = {
    mode: "exec",
    id,
    bundle: record.bundle,
    process,
    mountNamespace: `/proc/${record.pid}/ns/mnt`,
    chrootTo: sharesHostMounts(record.config) ? `/proc/${record.pid}/root` : undefined,
    cgroupNamespace: record.config.linux?.namespaces?.some((n) => n.type === "cgroup")
      ? `/proc/${record.pid}/ns/cgroup`
      : undefined,
    preserveFds: options.preserveFds,
    consoleSocket: process.terminal ? consoleSocket : undefined,
    seccomp,
    annotations: record.annotations,
    cgroupProcs: [],
    linux: {
      personality: record.config.linux?.personality,
      memoryPolicy: record.config.linux?.memoryPolicy,
    },
    debug: logOptions().debug,
    callerStdio: !options.detach,
  };
  // The init joins the cgroup itself, but in a user namespace its root does not own the host's
  // cgroup files: then this process moves it.
  const namespaces = execNamespaces(record);
  const cliJoinsCgroup = hasUserNamespace(namespaces);
  if (!cliJoinsCgroup) bootstrap.cgroupProcs = cgroupProcs;
  let child: InitProcess | undefined;
  let fromInit: number | undefined;
  const pidfdSocket = options.pidfdSocket ? connectPidfdSocket(options.pidfdSocket) : undefined;
  try {
    const init = await withInitialAffinity(
      process.execCPUAffinity?.initial,
      () => spawnInit(namespaces, process.terminal === true),
    );
    child = init.child;
    debug(
      `exec: spawned init ${child.pid} in the namespaces of ${record.pid} (${
        namespaces.join.map((ns) => ns.type).join(",")
      }; mount and cgroup joined by the init)`,
    );
    fromInit = init.fromInit;
    trace("exec: init spawned");
    if (cliJoinsCgroup) joinCgroupProcs(cgroupProcs, child.pid);
    if (record.intelRdt) joinIntelRdt(record.intelRdt, child.pid);
    try {
      sendBootstrap(init.toInit, bootstrap);
    } finally {
      close(init.toInit);
    }
    trace("exec: bootstrap sent");
    await waitReady(fromInit);
    trace("exec: init ready");
    const consoleMaster = consoleListener !== undefined
      ? receiveConsole(consoleListener)
      : undefined;
    debug(`exec: process ${child.pid} is ready: execve ${JSON.stringify(process.args)}`);
    if (pidfdSocket !== undefined) sendPidfd(pidfdSocket, child.pid, "setns");
    if (options.pidFile) writePidFile(resolve(options.pidFile), child.pid);
    if (options.detach && !options.keepChild) child.unref();
    return { child, pid: child.pid, consoleMaster };
  } catch (err) {
    if (child) await killInit(child);
    throw err;
  } finally {
    if (fromInit !== undefined) close(fromInit);
    if (pidfdSocket !== undefined) close(pidfdSocket);
    if (consoleListener !== undefined) close(consoleListener);
    for (const path of cleanup) Deno.remove(path).catch(() => {});
  }
}

/** exec through the trampoline (container/exec_trampoline.ts): no second Deno. */
async function execWithTrampoline(
  record: ContainerRecord,
  process: Process,
  options: ExecOptions,
  seccomp: BootstrapSeccomp | undefined,
  cgroupProcs: string[],
): Promise<Executed> {
  const lastCap = lastCapability();
  const masks = capabilityMasks(process.capabilities, lastCap, grantableCapabilities());
  for (const message of masks.warnings) warn(message);
  const pidfdSocket = options.pidfdSocket ? connectPidfdSocket(options.pidfdSocket) : undefined;
  trace("exec: planned");
  try {
    const started = await execViaTrampoline({
      containerPid: record.pid,
      namespaces: trampolineNamespaces(record),
      mountNamespace: !sharesHostMounts(record.config),
      process,
      masks,
      lastCap,
      seccomp,
      preserveFds: options.preserveFds,
      callerStdio: !options.detach,
      consoleSocket: process.terminal && options.consoleSocket
        ? resolve(options.consoleSocket)
        : undefined,
      cgroupProcs,
      atSync: record.intelRdt ? (pid) => joinIntelRdt(record.intelRdt!, pid) : undefined,
      linux: {
        personality: record.config.linux?.personality,
        memoryPolicy: record.config.linux?.memoryPolicy,
      },
    });
    debug(`exec: process ${started.pid} exec'd ${JSON.stringify(process.args)} (trampoline)`);
    try {
      if (pidfdSocket !== undefined) sendPidfd(pidfdSocket, started.pid, "setns");
      if (options.pidFile) writePidFile(resolve(options.pidFile), started.pid);
    } catch (err) {
      if (started.consoleMaster !== undefined) close(started.consoleMaster);
      await killInit(started.child);
      throw err;
    }
    return started;
  } finally {
    if (pidfdSocket !== undefined) close(pidfdSocket);
  }
}
