/**
 * The container's init without a second Deno (issue 11): a generated trampoline (runtime/trampoline/)
 * makes the namespaces and PID 1, the CLI's own main thread joins them and builds the root
 * filesystem with the code the Deno init uses (runtime/rootfs/), and PID 1 switches root, becomes
 * the process's identity and waits for `start` as the waiter does. This module is that path's
 * whole protocol; what it can't do yet goes to the Deno init, chosen in one place:
 * trampolineInitReason().
 *
 * ```
 *   CLI (Deno, host; container/create.ts)            trampoline, then PID 1 (static ELF, one thread)
 *   -------------------------------------            -----------------------------------------------
 *   mkfifo exec.fifo, open it O_RDWR (F);
 *   memfd M (empty, inherited); socketpair R
 *   posix_spawn /proc/self/fd/<stage 1> ----------->  setns joined namespaces (user first)
 *                                                     [unshare(CLONE_NEWUSER)]
 *   read R  <---------------------------------------  [SYNC 4: a new user namespace]
 *   gid_map, uid_map (userns/maps.ts); answer ----->  [setresgid(0), setresuid(0): its root]
 *                                                     unshare the other new ones
 *   read R  <---------------------------------------  [SYNC 3: a new time namespace]
 *   /proc/T/timens_offsets; answer ---------------->
 *   read R  <---------------------------------------  PID p: clone(CLONE_PARENT); the first half
 *                                                     exits 0, p is PID 1 and a child of the CLI
 *                                                     p: PDEATHSIG, "/" rslave, bind <rootfs>
 *                                                        on itself, mount proc at
 *                                                        <rootfs>/proc (its own PID namespace's)
 *   read R  <---------------------------------------  SYNC 1 (from p)
 *   net devices, RDT, cgroup (p joins it),
 *   oom_score_adj, affinity of p;
 *   main thread (a Worker's thread when Skiff is in
 *   a nested user namespace: namespace_work.ts):
 *   unshare(CLONE_FS), setns into p's uts, ipc, net,
 *   mnt [as the user namespace's root: setfsuid/
 *   setfsgid]: mountRootfs (without the proc p made),
 *   [prestart, createRuntime hooks from the host],
 *   hostname, sysctl, finishRootfs on <rootfs>,
 *   lookPath(args[0]) in a chroot; setns/chroot back
 *   to the saved host ones (the worker ends instead).
 *   stage 2 -> M, sealed; answer ------------------>  execveat(M): stage 2 (R stays open)
 *                                                     [session keyring], pivot_root(<rootfs>),
 *                                                     old root detached (--no-pivot: MS_MOVE,
 *                                                     chroot), [rootfsPropagation], [unshare
 *                                                     cgroup ns], [personality, mempolicy],
 *                                                     the identity (process_ops.ts identityOps),
 *                                                     PDEATHSIG off
 *   read R  <---------------------------------------  SYNC 2: ready
 *   answer, close R; state.json; exit (create) ---->  read(F): blocks until `skiff start`
 *                                                     execve(process.args) (R close-on-exec)
 *   ERROR(step, errno) on R at any point: that step failed, PID 1 exits 127; the CLI kills it.
 * ```
 * PID 1 is never a Deno.Command child: waitpid(2) through FFI reaps it (init_process.ts).
 */
import type { Spec } from "../../spec/config.ts";
import {
  CLONE_NEWCGROUP,
  CLONE_NEWNS,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  MNT_DETACH,
  MS_BIND,
  MS_MOVE,
  MS_REC,
  MS_SLAVE,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  PR_SET_PDEATHSIG,
} from "../../ffi/constants.ts";
import {
  addSeals,
  close,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  memfdCreate,
  MFD_ALLOW_SEALING,
  mkfifo,
  open,
  setCloexec,
  writeAll,
} from "../../ffi/fs.ts";
import { ioctlNsGetType } from "../../ffi/namespace.ts";
import { pidfdGetfd, pidfdOpen } from "../../ffi/process.ts";
import { posixSpawn } from "../../ffi/spawn.ts";
import { connectListener, sendListener } from "../init/seccomp_listener.ts";
import type { NamespacePlan } from "../namespaces.ts";
import {
  hasUserNamespace,
  inNestedUserNamespace,
  type UserNamespaceSetup,
} from "../process/spawn_userns.ts";
import { writeIdMaps } from "../userns/maps.ts";
import type { BootstrapSeccomp } from "../process/protocol.ts";
import {
  clonedInit,
  type InitProcess,
  killTrampoline,
  type StdioPipes,
  stdioPipes,
} from "../process/init_process.ts";
import { selfCommand } from "../process/self_command.ts";
import {
  capabilityMasks,
  grantableCapabilities,
  lastCapability,
} from "../security/capabilities.ts";
import type { rootPropagationAfterSwitch } from "../rootfs/prepare.ts";
import { parseMountOptions } from "../rootfs/mount_options.ts";
import {
  buildTrampoline,
  type TrampolineOp,
  type TrampolineProgram,
} from "../trampoline/program.ts";
import { answer, nextEvent, trampolineMemfd, trampolineSocket } from "../trampoline/spawn.ts";
import { connectConsole } from "../console.ts";
import { sendFds } from "../../ffi/socket.ts";
import { fchown } from "../../ffi/file_attrs.ts";
import { identityOps, personalityAndPolicyOps, privileged } from "./process_ops.ts";
import {
  enterNamespacesOf,
  finishIn,
  hostIdsFrom,
  inNamespacesOf,
  mountsIn,
  type NamespaceWork,
} from "./namespace_work.ts";
import type { NamespaceWorker } from "./namespace_worker.ts";
import { HookError, hookTimeoutReason, runHooks } from "../hooks.ts";
import { applyScheduling } from "../init/process_attrs.ts";
import { type TimeOffsets, writeTimeOffsets } from "../process/spawn_in_namespaces.ts";
import { creatingState } from "../../spec/state.ts";
import * as log from "../log.ts";
import { trace } from "../log.ts";

/** What the trampoline init needs, worked out by create. */
export interface TrampolineInitPlan {
  id: string;
  spec: Spec;
  bundle: string;
  rootfs: string;
  /** The namespaces, without CLONE_NEWCGROUP (PID 1 makes that one once it is in its cgroup). */
  namespaces: NamespacePlan;
  newCgroupNamespace: boolean;
  /** exec.fifo's path: made and opened here, inherited by PID 1. */
  fifo: string;
  seccomp?: BootstrapSeccomp;
  noNewKeyring: boolean;
  preserveFds: number;
  listenFds?: number;
  /** The maps of a new user namespace (linux.uidMappings, linux.gidMappings). */
  userns?: UserNamespaceSetup;
  /** `--no-pivot`: PID 1 moves the rootfs over "/" (MS_MOVE) and chroots instead of pivot_root. */
  noPivot: boolean;
  /** linux.timeOffsets of a new time namespace: written before the clone enters it. */
  timeOffsets?: TimeOffsets;
  /** `run` in the foreground: the process keeps the caller's stdio and its owner. */
  callerStdio: boolean;
  /** The library's "piped" stdio: PID 1 gets new pipes, the caller their streams (no terminal). */
  piped?: boolean;
  /** With process.terminal: --console-socket (absolute); without it the CLI keeps the master. */
  consoleSocket?: string;
  /** Idmapped mounts the CLI made: mounts[] index -> detached mount fd. */
  mountFds?: Record<number, number>;
  /** PID 1 exists (host pid): create records it before anything else is made for it. */
  onPid: (pid: number) => void;
  /**
   * At the sync point, before the rootfs: net devices, RDT, the cgroup (PID 1 joined to it),
   * oom_score_adj, affinity. Returns the cgroup's directories (a cgroup mount shows them).
   */
  atSync: (pid: number) => Promise<Record<string, string>>;
}

const SYNC_ROOTFS = 1;
const SYNC_READY = 2;
const SYNC_TIME = 3;
const SYNC_MAPS = 4;
const SIGKILL = 9;

/**
 * The reason create needs the Deno init for `spec`, or undefined when the trampoline init does it
 * all. The one place that chooses; docs/architecture.md lists the same cases.
 */
export function trampolineInitReason(
  spec: Spec,
  namespaces: NamespacePlan,
  rootfs: string,
  options: { noPivot?: boolean; hostMountNamespace: boolean },
): string | undefined {
  if (Deno.env.get("SKIFF_DENO_INIT") === "1") return "SKIFF_DENO_INIT=1";
  const process = spec.process;
  if (!process) return "no process";
  const hooks = spec.hooks;
  // In a nested user namespace (rootless Podman) a worker thread builds the rootfs in PID 1's
  // namespaces and ends (namespace_work.ts), but createContainer hooks are spawned by the main
  // thread in them, which could not come back to its own uts, ipc and net namespaces: a user
  // namespace above its own owns them.
  if (hooks?.createContainer?.length && namespaces.touched.length > 0 && inNestedUserNamespace()) {
    return "hooks.createContainer with Skiff in a nested user namespace";
  }
  if (hasUserNamespace(namespaces)) {
    // The CLI is no member of the container's user namespace (a multi-threaded process can't
    // join one): user.* sysctls would reach its own, and hooks it spawns would run as its root.
    if (Object.keys(spec.linux?.sysctl ?? {}).some((k) => k.startsWith("user."))) {
      return "linux.sysctl: user.* with a user namespace";
    }
    if (hooks?.createContainer?.length) return "hooks.createContainer with a user namespace";
  }
  if ((namespaces.create & CLONE_NEWNS) === 0 || options.hostMountNamespace) {
    return "no new mount namespace";
  }
  // Without a PID namespace of its own (the host's, or one joined by path, which stage 1 joins
  // before the clone) the clone is no PID 1, but mounts /proc for its PID namespace just the same.
  if (namespaces.join.some((j) => j.flag === CLONE_NEWNS)) {
    return "linux.namespaces: a mount namespace by path";
  }
  if (process.apparmorProfile) return "process.apparmorProfile";
  if (process.selinuxLabel) return "process.selinuxLabel";
  const mounts = spec.mounts ?? [];
  const procs = mounts.map((m, i) => ({ m, i })).filter(({ m }) => m.type === "proc");
  if (procs.length > 1 || procs.some(({ m }) => m.destination.replace(/\/+$/, "") !== "/proc")) {
    return "mounts[]: a proc mount elsewhere than /proc";
  }
  if (procs.length === 1) {
    const first = procs[0].i;
    if (mounts.slice(0, first).some((m) => /^\/proc(\/|$)/.test(m.destination))) {
      return "mounts[]: a mount on /proc before the proc mount";
    }
    // A missing /proc is made before PID 1 starts (startTrampolineInit), as runc makes mount
    // points; a symlink or a file there is left to the Deno init's resolution inside the rootfs.
    if (entryAt(`${rootfs}/proc`) === "other") return "the rootfs's /proc is not a directory";
  }
  if (!privileged()) return "an unprivileged caller";
  return undefined;
}

/** What `path` is without following a symlink: a directory, nothing, or anything else. */
function entryAt(path: string): "directory" | "missing" | "other" {
  try {
    return Deno.lstatSync(path).isDirectory ? "directory" : "other";
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? "missing" : "other";
  }
}

/**
 * The mount point of the proc that PID 1 mounts itself, at `<rootfs>/proc`: made when the rootfs
 * has none (an image built `FROM scratch`), as runc and the Deno init make a mount's destination.
 * Looked at first: most rootfses have it, and a failed mkdir would cost every create a thrown error.
 */
function makeProcMountPoint(rootfs: string, index: number): void {
  const path = `${rootfs}/proc`;
  if (entryAt(path) === "directory") return;
  try {
    Deno.mkdirSync(path, { mode: 0o755 });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) {
      throw new Error(`mounts[${index}]: cannot make the mount point ${path}`, { cause: err });
    }
  }
  if (entryAt(path) !== "directory") {
    throw new Error(`mounts[${index}]: the mount point ${path} is not a directory`);
  }
}

/**
 * Starts the container's PID 1 through the trampoline and builds the container; returns once PID 1
 * waits on exec.fifo (or throws, with PID 1 killed and reaped).
 */
export async function startTrampolineInit(
  plan: TrampolineInitPlan,
): Promise<{ child: InitProcess; consoleMaster?: number }> {
  const { spec } = plan;
  const process = spec.process!;
  const lastCap = lastCapability();
  const masks = capabilityMasks(process.capabilities, lastCap, grantableCapabilities());
  for (const warning of masks.warnings) log.warn(warning);
  const procIndex = (spec.mounts ?? []).findIndex((m) => m.type === "proc");
  checkJoinedNamespaces(plan.namespaces);

  if (procIndex >= 0) makeProcMountPoint(plan.rootfs, procIndex);
  mkfifo(plan.fifo, 0o622);
  const fifoFd = open(plan.fifo, O_RDWR | O_CLOEXEC);
  // The trace labels are the Deno init's where the step is the same (tests/integration/crash_test.ts
  // kills create at each of them).
  trace("create: fifo made");
  let memfd: number | undefined;
  let socket: { ours: number; theirs: number } | undefined;
  let trampoline: InitProcess | undefined;
  let pid: number | undefined;
  let consoleMaster: number | undefined;
  let pipes: StdioPipes | undefined;
  let worker: NamespaceWorker | undefined;
  try {
    // In a nested user namespace the main thread could not come back from PID 1's namespaces: a
    // worker thread does that work and ends (namespace_work.ts). Made first: `new Worker` blocks
    // while it makes the isolate, but the worker loads its modules on its own thread while the
    // trampoline starts and the cgroup is made.
    if (inNestedUserNamespace()) {
      worker = new (await import("./namespace_worker.ts")).NamespaceWorker();
    }
    memfd = memfdCreate("skiff-trampoline", MFD_ALLOW_SEALING);
    socket = trampolineSocket();
    setCloexec(fifoFd, false);
    const stage1 = firstStage(plan, socket.theirs, memfd, procIndex);
    const stage1Fd = trampolineMemfd(stage1);
    try {
      const path = `/proc/self/fd/${stage1Fd}`;
      // With a terminal, PID 1's stdio is /dev/null until it switches to the pty: a caller that
      // reads our output to EOF (go-runc does for `create --console-socket`) must not wait for it.
      const terminal = process.terminal === true;
      if (plan.piped && !terminal) pipes = stdioPipes();
      trampoline = clonedInit(posixSpawn(path, [path], [], terminal, pipes?.childFds));
    } finally {
      pipes?.closeChildFds();
      close(stage1Fd);
      close(socket.theirs);
      close(fifoFd);
      setCloexec(memfd, true);
    }
    trace("create: trampoline spawned");
    let program: TrampolineProgram = stage1;
    let pendingSync = false;
    for (;;) {
      const event = await nextEvent(socket.ours, program);
      if (event.kind === "end") throw new Error("the container's init ended before it was ready");
      if (event.kind === "pid") {
        pid = event.pid;
        plan.onPid(pid);
        trace("create: init spawned");
      }
      if (event.kind === "sync" && program.ops[event.op]?.op === "seccomp") {
        // PID 1 loaded a filter with a listener: its fd number is the record's value.
        sendListenerOf(plan, pid!, event.point);
        answer(socket.ours);
        continue;
      }
      if (event.kind === "sync" && event.point === SYNC_MAPS) {
        // The first half made the user namespace; it becomes the mapped root once they are in.
        writeIdMaps(trampoline.pid, plan.userns?.uidMappings ?? [], plan.userns?.gidMappings ?? []);
        trace("trampoline: maps written");
        answer(socket.ours);
        continue;
      }
      if (event.kind === "sync" && event.point === SYNC_TIME) {
        // The first half unshared the time namespace; nothing is in it until the clone.
        writeTimeOffsets(plan.timeOffsets ?? {}, trampoline.pid);
        answer(socket.ours);
        continue;
      }
      if (event.kind === "sync" && event.point === SYNC_READY) {
        answer(socket.ours);
        break;
      }
      if (event.kind === "sync") pendingSync = true;
      // PID 1's sync record may come before its parent's pid record.
      if (pendingSync && pid !== undefined) {
        pendingSync = false;
        const cgroupDirs = await plan.atSync(pid);
        // Set from the host, as root, on PID 1: both pass through its execve()s.
        applyScheduling(process, pid);
        trace("create: cgroup ready");
        const target = await buildContainer(plan, pid, cgroupDirs, procIndex, worker);
        consoleMaster = target.consoleMaster;
        trace("create: rootfs built");
        program = secondStage(plan, socket.theirs, fifoFd, target, masks, lastCap);
        writeAll(memfd, buildTrampoline(program));
        addSeals(memfd, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
        answer(socket.ours);
        // PID 1 has all it needs, as the Deno init once it has its bootstrap.
        trace("create: bootstrap sent");
      }
    }
    const status = await trampoline.status;
    trampoline = undefined;
    if (!status.success) throw new Error(`the init trampoline exited with status ${status.code}`);
    return { child: clonedInit(pid!, pipes?.stdio), consoleMaster };
  } catch (err) {
    if (consoleMaster !== undefined) close(consoleMaster);
    pipes?.close();
    await killTrampoline(trampoline, pid);
    throw err;
  } finally {
    if (socket) close(socket.ours);
    if (memfd !== undefined) close(memfd);
    worker?.close();
  }
}

/**
 * Hands PID 1's seccomp listener (fd `fd` there, copied with pidfd_getfd) to
 * linux.seccomp.listenerPath with the container's state, as the Deno init sends its own.
 */
function sendListenerOf(plan: TrampolineInitPlan, pid: number, fd: number): void {
  const pidfd = pidfdOpen(pid);
  let listener: number;
  try {
    listener = pidfdGetfd(pidfd, fd);
  } finally {
    close(pidfd);
  }
  let socket: number | undefined;
  try {
    const path = plan.seccomp?.listenerPath;
    socket = path ? connectListener(path) : undefined;
  } catch (err) {
    close(listener);
    throw err;
  }
  const { spec } = plan;
  sendListener(socket, listener, {
    id: plan.id,
    bundle: plan.bundle,
    annotations: spec.annotations,
    metadata: plan.seccomp?.listenerMetadata,
  }, pid);
}

/**
 * Each namespace to join by path is opened and its type checked before anything starts, so that
 * a wrong path is an error naming its field rather than a trampoline step's EINVAL.
 */
function checkJoinedNamespaces(namespaces: NamespacePlan): void {
  for (const j of namespaces.join) {
    let fd: number;
    try {
      fd = open(j.path, O_RDONLY | O_CLOEXEC);
    } catch (err) {
      throw new Error(`linux.namespaces[${j.index}].path: cannot open ${j.path}`, { cause: err });
    }
    try {
      const actual = ioctlNsGetType(fd);
      if (actual !== undefined && actual !== j.flag) {
        throw new Error(
          `linux.namespaces[${j.index}].path: ${j.path} is not a ${j.type} namespace`,
        );
      }
    } finally {
      close(fd);
    }
  }
}

/** Stage 1: the namespaces, PID 1, its /proc, the sync point, then stage 2 from `memfd`. */
function firstStage(
  plan: TrampolineInitPlan,
  reportFd: number,
  memfd: number,
  procIndex: number,
): TrampolineProgram {
  const ops: TrampolineOp[] = [];
  const why: (string | undefined)[] = [];
  const add = (op: TrampolineOp, reason?: string) => {
    ops.push(op);
    why.push(reason);
  };
  for (const j of plan.namespaces.join) {
    add({ op: "setns", path: j.path, nstype: j.flag }, `cannot join namespace ${j.path}`);
  }
  // A user namespace first (joined ones come first in plan.join): the others are made by its root,
  // so that it owns them (mounting /proc needs a PID namespace the user namespace owns).
  if (plan.namespaces.create & CLONE_NEWUSER) {
    add({ op: "unshare", flags: CLONE_NEWUSER }, "cannot create the user namespace");
    add({ op: "sync", fd: reportFd, point: SYNC_MAPS });
  }
  if (hasUserNamespace(plan.namespaces)) {
    const why = "cannot become the user namespace's root (is uid/gid 0 mapped?)";
    add({ op: "setresgid", id: 0 }, why);
    add({ op: "setresuid", id: 0 }, why);
  }
  const rest = plan.namespaces.create & ~CLONE_NEWUSER;
  if (rest) add({ op: "unshare", flags: rest }, "cannot create the namespaces");
  if ((plan.namespaces.create & CLONE_NEWTIME) && plan.timeOffsets) {
    // Offsets can be written only while the time namespace has no process: before the clone.
    add({ op: "sync", fd: reportFd, point: SYNC_TIME });
  }
  add({ op: "cloneParent", fd: reportFd });
  // PID 1 must not outlive a CLI that dies before the container is created.
  add({ op: "prctl", option: PR_SET_PDEATHSIG, arg2: SIGKILL });
  // Nothing mounted in the new namespace may propagate to the host's mounts.
  add({ op: "mount", source: "", target: "/", fstype: "", flags: MS_SLAVE | MS_REC });
  // The rootfs bind, before the proc mount goes on it: a proc mounted first would stay below the
  // bind, unmasked, where --no-pivot's MS_MOVE leaves it in the namespace (a fully visible procfs
  // lets a nested user namespace mount another).
  add(
    { op: "mount", source: plan.rootfs, target: plan.rootfs, fstype: "", flags: MS_BIND | MS_REC },
    `root.path: cannot bind ${plan.rootfs}`,
  );
  if (procIndex >= 0) {
    // procfs shows the PID namespace of the process that mounts it: PID 1 mounts its own.
    const m = plan.spec.mounts![procIndex];
    const opts = parseMountOptions(m.options);
    add({
      op: "mount",
      source: m.source ?? "proc",
      target: `${plan.rootfs}/proc`,
      fstype: "proc",
      flags: opts.flags,
      data: opts.data.join(","),
    }, `mounts[${procIndex}]: cannot mount proc on /proc`);
  }
  add({ op: "sync", fd: reportFd, point: SYNC_ROOTFS });
  // The same command line as the Deno init's waiter: ps(1) and the tests know it.
  const self = selfCommand(["init", "waiter"]);
  add({ op: "execveat", fd: memfd, argv: [self.command, ...self.args], envp: [] });
  return { ops, why, reportFd };
}

/** What the container process execs, resolved in its root, and its terminal. */
interface ExecTarget {
  path: string;
  env: string[];
  /** The pty slave as the container sees it (/dev/pts/N), with process.terminal. */
  slavePath?: string;
  /** The pty master when there is no --console-socket (`run -t` relays it). */
  consoleMaster?: number;
  /** linux.rootfsPropagation for "/" after the switch, and the mounts' own to give back. */
  propagation: ReturnType<typeof rootPropagationAfterSwitch>;
  /** PID 1's user namespace says "deny" in /proc/PID/setgroups: an empty group list stays. */
  setgroupsDenied: boolean;
  /** The state startContainer hooks get on stdin (status "created", PID 1's host pid). */
  hookState: string;
}

/**
 * The CLI's part at the sync point, in PID 1's namespaces (namespace_work.ts: on the main thread,
 * or on `worker` in a nested user namespace): the rootfs, the prestart and createRuntime hooks
 * (from the host, once the mounts are made, as with the Deno init), the createContainer hooks (in
 * PID 1's namespaces again), the console, hostname, sysctl, read-only and masked paths, and
 * args[0] resolved. Only sync calls inside the namespaces: async ops run on other threads, which
 * stay in the host's.
 */
async function buildContainer(
  plan: TrampolineInitPlan,
  pid: number,
  cgroupDirs: Record<string, string>,
  procIndex: number,
  worker: NamespaceWorker | undefined,
): Promise<ExecTarget> {
  const { spec, rootfs } = plan;
  const process = spec.process!;
  const maps = hasUserNamespace(plan.namespaces)
    ? {
      uid: Deno.readTextFileSync(`/proc/${pid}/uid_map`),
      gid: Deno.readTextFileSync(`/proc/${pid}/gid_map`),
    }
    : undefined;
  const hostId = maps ? hostIdsFrom(maps) : undefined;
  const work: NamespaceWork = {
    pid,
    spec,
    rootfs,
    bundle: plan.bundle,
    noPivot: plan.noPivot,
    cgroupDirs,
    procIndex,
    mountFds: plan.mountFds,
    maps,
  };
  if (worker) await worker.mounts(work);
  else inNamespacesOf(pid, () => mountsIn(work));
  if (spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length) {
    const state = creatingState(
      { id: plan.id, bundle: plan.bundle, rootfs, annotations: spec.annotations },
      pid,
    );
    await runHooks(spec.hooks, "prestart", state);
    await runHooks(spec.hooks, "createRuntime", state);
  }
  if (spec.hooks?.createContainer?.length) {
    // In the container's namespaces, PID namespace included, before the root switch (host paths),
    // as the Deno init runs them. The main thread is in them only for each spawn (fork happens on
    // the calling thread): a thread whose children go to another PID namespace can't make threads
    // (EINVAL, a Deno panic), and waiting or writing the hook's stdin may need one. Not in a
    // nested user namespace, where it could not come back (trampolineInitReason()).
    const state = creatingState(
      { id: plan.id, bundle: plan.bundle, rootfs, annotations: spec.annotations },
      pid,
    );
    await runHooks(spec.hooks, "createContainer", state, (spawn) => {
      const back = enterNamespacesOf(pid, true);
      try {
        return spawn();
      } finally {
        back();
      }
    });
  }
  const env = process.env ?? [];
  const { path, env: withHome, pty, propagation } = worker
    ? await worker.finish(work, env)
    : inNamespacesOf(pid, () => finishIn(work, env));
  let consoleMaster: number | undefined;
  if (pty) {
    try {
      // The process user's terminal (runc's fixStdioPermissions); the group stays.
      fchown(pty.slave, hostId?.("uid", process.user.uid) ?? process.user.uid, 0xffffffff);
      if (plan.consoleSocket) {
        const conn = connectConsole(plan.consoleSocket);
        try {
          sendFds(conn, new TextEncoder().encode("/dev/ptmx"), [pty.master]);
        } finally {
          close(conn);
        }
        close(pty.master);
      } else {
        consoleMaster = pty.master;
      }
    } catch (err) {
      close(pty.master);
      throw err;
    } finally {
      close(pty.slave);
    }
  }
  const kept = plan.listenFds ? withHome.filter((e) => !/^LISTEN_(FDS|PID)=/.test(e)) : withHome;
  if (plan.listenFds) kept.push(`LISTEN_FDS=${plan.listenFds}`, "LISTEN_PID=1");
  // "deny" in a user namespace of the container's, or in the CLI's own (nested) that PID 1 shares.
  const setgroupsDenied = (hostId !== undefined || worker !== undefined) &&
    Deno.readTextFileSync(`/proc/${pid}/setgroups`).trim() === "deny";
  return {
    path,
    env: kept,
    slavePath: pty?.slavePath,
    consoleMaster,
    propagation,
    setgroupsDenied,
    hookState: JSON.stringify({
      ...creatingState(
        { id: plan.id, bundle: plan.bundle, rootfs, annotations: spec.annotations },
        pid,
      ),
      status: "created",
    }),
  };
}

/** Stage 2: the root switch, the identity, ready, the wait for `start`, execve. */
function secondStage(
  plan: TrampolineInitPlan,
  reportFd: number,
  fifoFd: number,
  target: ExecTarget,
  masks: ReturnType<typeof capabilityMasks>,
  lastCap: number,
): TrampolineProgram {
  const { spec, rootfs } = plan;
  const process = spec.process!;
  const ops: TrampolineOp[] = [];
  const why: (string | undefined)[] = [];
  const add = (op: TrampolineOp, reason?: string) => {
    ops.push(op);
    why.push(reason);
  };
  if (!plan.noNewKeyring) {
    add(
      { op: "sessionKeyring", name: `_ses.${plan.id}`, perm: 0x3f3f0000 },
      "cannot join a new session keyring (use --no-new-keyring to skip)",
    );
  }
  // pivot_root(".", "."): the old root is stacked on the new one, and umount2 (which follows the
  // mounts on ".") detaches it. Stage 1 made the whole old tree a slave before anything was
  // mounted, so the unmount propagates nowhere; a mount(MS_SLAVE) on "." here would reach the new
  // root instead (mount(2) does not follow the mount stacked on the cwd) and undo the mounts'
  // own "shared" propagation.
  add({ op: "chdir", path: rootfs }, `root.path: cannot enter ${rootfs}`);
  if (plan.noPivot) {
    // --no-pivot (ramdisk roots, where pivot_root fails): the rootfs moved over "/", then chroot.
    add(
      { op: "mount", source: rootfs, target: "/", fstype: "", flags: MS_MOVE },
      `root.path: cannot move ${rootfs} to / (--no-pivot)`,
    );
    add({ op: "chroot", path: "." }, `root.path: cannot chroot to ${rootfs} (--no-pivot)`);
  } else {
    add(
      { op: "pivotRoot", newRoot: ".", putOld: "." },
      `root.path: cannot pivot_root to ${rootfs}`,
    );
    add({ op: "umount2", target: ".", flags: MNT_DETACH });
  }
  add({ op: "chdir", path: "/" });
  const { root: rootPropagation, mounts: ownPropagation } = target.propagation;
  if (rootPropagation) {
    add(
      { op: "mount", source: "", target: "/", fstype: "", flags: rootPropagation },
      `linux.rootfsPropagation: cannot make / ${spec.linux?.rootfsPropagation}`,
    );
    // A recursive one reached every mount: the mounts that asked for their own get it back.
    for (const m of ownPropagation) {
      add(
        { op: "mount", source: "", target: m.target, fstype: "", flags: m.flag },
        `mounts: cannot set the propagation of ${m.target}`,
      );
    }
  }
  if (target.slavePath) {
    add({ op: "setsid" });
    add(
      { op: "openDup", path: target.slavePath, flags: O_RDWR, to: [0, 1, 2] },
      `process.terminal: cannot open ${target.slavePath}`,
    );
    add({ op: "setctty", fd: 0 }, "process.terminal: cannot make the pty the controlling terminal");
  }
  if (plan.newCgroupNamespace) {
    add({ op: "unshare", flags: CLONE_NEWCGROUP }, "cannot create the cgroup namespace");
  }
  personalityAndPolicyOps(spec.linux, add);
  identityOps({
    process,
    masks,
    lastCap,
    seccomp: plan.seccomp,
    keepFds: (plan.listenFds ?? 0) + plan.preserveFds,
    // The pty slave was given to the user by the CLI.
    chownStdio: !plan.callerStdio && !target.slavePath,
    listenerReportFd: reportFd,
    setgroupsDenied: target.setgroupsDenied,
  }, add);
  add({ op: "prctl", option: PR_SET_PDEATHSIG, arg2: 0 });
  add({ op: "sync", fd: reportFd, point: SYNC_READY });
  add({ op: "waitByte", fd: fifoFd }, "exec.fifo: the wait for start failed");
  // startContainer (runtime.md: after start, before process.args, in the container): run by PID 1
  // as runc's init runs them, in its namespaces, root and identity, paths the container's.
  // One that fails, or runs past its timeout and is killed, makes PID 1 say so on the container's
  // stderr and exit 1, as the Deno init does (its error line; nobody reads the report socket after
  // start).
  (spec.hooks?.startContainer ?? []).forEach((hook, i) => {
    add({
      op: "runHook",
      path: hook.path,
      argv: hook.args?.length ? hook.args : [hook.path],
      envp: hook.env ?? [],
      stdin: target.hookState,
      // The generated code appends HookError's reason ("exit status 3", "killed by SIGKILL").
      failMessage: `skiff: ${new HookError("startContainer", i, hook, "").message}`,
      ...(hook.timeout === undefined ? {} : {
        // A longer one (config.md allows any positive integer) is as good as none: 68 years.
        timeout: Math.min(hook.timeout, 0x7fffffff),
        timeoutMessage: `skiff: ${
          new HookError("startContainer", i, hook, hookTimeoutReason(hook.timeout)).message
        }\n`,
      }),
    }, `hooks.startContainer[${i}]: ${hook.path} failed`);
  });
  const argv = process.args ?? [];
  add(
    { op: "execve", path: target.path, argv, envp: target.env },
    `exec: ${JSON.stringify(argv[0])}`,
  );
  return { ops, why, reportFd };
}
