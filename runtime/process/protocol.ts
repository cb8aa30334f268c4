/**
 * The create/exec <-> init protocol, all of it: the messages both ways, the reader, the writers and
 * the waits. Nothing else writes to or reads from the two pipes.
 *
 * ```
 *   CLI (create; runtime/container/create.ts)        init (runtime/init/standard.ts)
 *   -----------------------------------------        -------------------------------
 *   mkdir <root>/<id>, lock; pipes B (to init), S (from init)
 *   spawn the init in its namespaces ------------->  born there: spawn_in_namespaces.ts, or through
 *     (the trampoline with a user namespace)           the trampoline (spawn_userns.ts)
 *   cgroup, mkfifo exec.fifo (CLI joins the init to the cgroup itself with a user namespace)
 *   sendBootstrap(): Bootstrap JSON line on B --->  readBootstrap(): the first line on B
 *                                                   open exec.fifo O_RDWR, cgroup.procs, sockets
 *                                                   mounts (before pivot_root)
 *   [prestart/createRuntime hooks]
 *   waitReady() reads S  <------------------------  send({type:"hooks"})
 *   run the hooks; answerHooks(): "continue" or
 *   "abort" on B ---------------------------------> waitHooksAnswer()
 *                                                   createContainer hooks, pivot_root, /dev, sysctl,
 *                                                   masked paths, cgroup join, identity, seccomp
 *   waitReady() returns  <------------------------  send({type:"ready"}); close S and B
 *   close B and S; state.json, --pid-file; exit     execve the waiter (init/waiter.ts): blocks in
 *                                                   read(exec.fifo) as a few kB, not a Deno
 *   skiff start: one byte into exec.fifo -------->  capset, late rlimits, execve(process.args)
 *   remove exec.fifo (status running)
 * ```
 * Meanwhile S also carries {type:"warning"} and, with --debug, {type:"debug"} lines, and an
 * {type:"error"} line ends the init's part: the CLI kills it and removes what create made. `exec`
 * starts no init: its protocol with the exec trampoline is runtime/container/exec_trampoline.ts. Only
 * in the rare cases listed there (denoInitReason()) does an exec init (init/setns.ts) read an
 * ExecBootstrap the same way; it answers only ready or error and execve()s process.args at once. The init opens the fifo O_RDWR so its open never blocks and
 * needs no /proc in the container; `start` opens it O_WRONLY|O_NONBLOCK, which fails with ENXIO
 * when the init is gone. A startContainer hook keeps the init a Deno until start (it runs it).
 * Every message is one line of JSON, or one of the words of HookAnswer.
 */
import type { Linux, Process, Spec } from "../../spec/config.ts";
import { pollReadable, read, writeAll } from "../../ffi/fs.ts";
import * as log from "../log.ts";

/** Everything the init needs, sent by the CLI over the bootstrap pipe. */
export interface Bootstrap {
  id: string;
  bundle: string;
  rootfs: string;
  fifo: string;
  spec: Spec;
  noPivot: boolean;
  /** No mount namespace in the config: the rootfs is prepared in the host's (prepare.ts). */
  hostMountNamespace: boolean;
  noNewKeyring: boolean;
  /** Extra fds (3..3+n-1) passed to the container process. */
  preserveFds: number;
  /** LISTEN_FDS handling: when set, the container env gets LISTEN_FDS and LISTEN_PID=1. */
  listenFds?: number;
  debug: boolean;
  /** The container's cgroup: the init joins it (then unshares the cgroup namespace if asked). */
  cgroup: { procs: string[]; dirs: Record<string, string>; newNamespace: boolean };
  /** The --console-socket path (absolute), when process.terminal is set. */
  consoleSocket?: string;
  /** linux.seccomp compiled by the CLI (errors surface before anything is spawned). */
  seccomp?: BootstrapSeccomp;
  /**
   * True when the init's stdio is the caller's own, passed straight through (`run` or `exec` in
   * the foreground): runc gives such a container pipes of its own, so their owner is left alone.
   * Otherwise (create, --detach) stdio is chowned to the process user as runc does.
   */
  callerStdio?: boolean;
  /**
   * Idmapped mounts made by the CLI (container/idmapped_mounts.ts): mounts[] index -> fd of the
   * detached mount, inherited by the init, which attaches it in place of that bind mount.
   */
  mountFds?: Record<number, number>;
}

/** A compiled seccomp filter and where its listener fd goes. */
export interface BootstrapSeccomp {
  /** struct sock_filter[] bytes, base64. */
  program: string;
  /** SECCOMP_FILTER_FLAG_* bits. */
  flags: number;
  /** True when the filter returns a user-notification fd. */
  newListener: boolean;
  listenerPath?: string;
  listenerMetadata?: string;
}

/** What `skiff exec` sends to its init (runc calls it the "setns init"). */
export interface ExecBootstrap {
  mode: "exec";
  id: string;
  bundle: string;
  /** The process to run, complete (from --process or the container's process plus flags). */
  process: Process;
  /** The container's mount namespace (/proc/<init pid>/ns/mnt), joined by the setns init itself. */
  mountNamespace: string;
  /**
   * Set when the container shares the host's mount namespace: the init's root (/proc/<pid>/root),
   * which setns(CLONE_NEWNS) does not give, so the setns init chroots into it.
   */
  chrootTo?: string;
  /**
   * The container's cgroup namespace, joined by the setns init after it has joined the cgroup: cgroup
   * v2 refuses a move whose source cgroup lies outside the mover's cgroup namespace (ENOENT).
   */
  cgroupNamespace?: string;
  preserveFds: number;
  consoleSocket?: string;
  seccomp?: BootstrapSeccomp;
  annotations?: Record<string, string>;
  /** cgroup.procs files of the container's cgroup, written before the identity change. */
  cgroupProcs?: string[];
  /** The container's linux.personality and linux.memoryPolicy, which exec'd processes get too. */
  linux?: Pick<Linux, "personality" | "memoryPolicy">;
  /** --debug: the setns init reports its steps as "debug" messages. */
  debug?: boolean;
  /** As Bootstrap.callerStdio: `exec` without --detach passes the caller's stdio through. */
  callerStdio?: boolean;
}

/** What the init reports on the sync pipe. */
export type SyncMessage =
  | { type: "ready" }
  | { type: "hooks" }
  | { type: "warning"; message: string }
  /** With --debug: one step of the init, logged by the CLI as a debug line. */
  | { type: "debug"; message: string }
  | { type: "error"; message: string };

/** Reads newline-terminated messages from a blocking fd (the bootstrap pipe, in the init). */
export class LineReader {
  #fd: number;
  #buffer = "";
  #decoder = new TextDecoder();
  #read: (fd: number) => Uint8Array;

  constructor(fd: number, read: (fd: number) => Uint8Array) {
    this.#fd = fd;
    this.#read = read;
  }

  /** The next line without its newline; undefined at end of file. */
  next(): string | undefined {
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      const chunk = this.#read(this.#fd);
      if (chunk.length === 0) {
        const rest = this.#buffer;
        this.#buffer = "";
        return rest.length ? rest : undefined;
      }
      this.#buffer += this.#decoder.decode(chunk, { stream: true });
    }
  }
}

const encoder = new TextEncoder();

/** Writes one message to the CLI over the sync pipe. */
export function send(fd: number, message: SyncMessage): void {
  writeAll(fd, encoder.encode(JSON.stringify(message) + "\n"));
}

/** The CLI's answer to {type:"hooks"}: go on with the rootfs, or stop (a hook failed). */
export type HookAnswer = "continue" | "abort";

/** Writes the CLI's answer to a {type:"hooks"} request on the bootstrap pipe. */
export function answerHooks(toInit: number, answer: HookAnswer): void {
  writeAll(toInit, encoder.encode(answer + "\n"));
}

/** In the init: waits for the CLI's answer to {type:"hooks"}; throws unless it is "continue". */
export function waitHooksAnswer(fromCli: LineReader): void {
  const answer = fromCli.next();
  if (answer !== "continue") throw new Error("create was aborted by a failed hook");
}

/** In the init: reads the Bootstrap (or ExecBootstrap), the first line on the bootstrap pipe. */
export function readBootstrap(fromCli: LineReader): Bootstrap | ExecBootstrap {
  return JSON.parse(fromCli.next() ?? "");
}

/** Sends the init its bootstrap, as the first line on the bootstrap pipe. */
export function sendBootstrap(toInit: number, bootstrap: Bootstrap | ExecBootstrap): void {
  writeAll(toInit, encoder.encode(JSON.stringify(bootstrap) + "\n"));
}

/** How long the init may take to report "ready" (a Deno start-up plus the rootfs). */
const INIT_READY_TIMEOUT_MS = 120_000;

/** Reads the init's sync messages until "ready"; throws its error or a timeout. */
export async function waitReady(fd: number, onHooks?: () => Promise<void>): Promise<void> {
  let buffered = "";
  const decoder = new TextDecoder();
  const deadline = Date.now() + INIT_READY_TIMEOUT_MS;
  for (;;) {
    const newline = buffered.indexOf("\n");
    if (newline >= 0) {
      const message = JSON.parse(buffered.slice(0, newline)) as SyncMessage;
      buffered = buffered.slice(newline + 1);
      if (message.type === "ready") return;
      if (message.type === "error") throw new Error(message.message);
      if (message.type === "debug") {
        log.debug(message.message);
        continue;
      }
      if (message.type === "hooks") {
        if (!onHooks) throw new Error("the init asked for hooks that this operation does not run");
        await onHooks();
        continue;
      }
      log.warn(message.message);
      continue;
    }
    if (Date.now() > deadline) throw new Error("timed out waiting for the container init");
    // Poll in short slices so the deadline above is checked while the init works.
    if (!pollReadable(fd, 100)) continue;
    const chunk = read(fd);
    if (chunk.length === 0) {
      throw new Error("container init exited before it was ready");
    }
    buffered += decoder.decode(chunk, { stream: true });
  }
}
