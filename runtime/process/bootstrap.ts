/**
 * The create <-> init handshake.
 *
 * ```
 *   skiff create (CLI, host)                      skiff init (PID 1 in the new namespaces)
 *   ------------------------                      ----------------------------------------
 *   mkdir <root>/<id>, mkfifo exec.fifo
 *   pipe B (bootstrap), pipe S (sync)
 *   unshare/setns main thread, spawn init ------>  born in the namespaces
 *   setns back to the host namespaces
 *   write Bootstrap JSON to B, close B  -------->  read B to EOF
 *                                                  open exec.fifo O_RDWR (before pivot_root)
 *                                                  rootfs, /dev, pivot_root, hostname, sysctl,
 *                                                  rlimits, user, capabilities, no_new_privs
 *   read S  <------------------------------------  {"type":"ready"} | {"type":"error","message"}
 *   write state.json, --pid-file; exit             close S
 *                                                  read(exec.fifo) blocks ...
 *   skiff start: write one byte to exec.fifo --->  ... returns; seccomp; execve(process.args)
 *               remove exec.fifo (status running)
 * ```
 * The init opens the fifo O_RDWR so its open never blocks and works without /proc in the
 * container; `start` opens it O_WRONLY|O_NONBLOCK, which fails with ENXIO when the init is gone.
 *
 * With prestart or createRuntime hooks, the init stops before pivot_root and asks for them:
 *
 * ```
 *   read S  <------------------------------------  {"type":"hooks"}
 *   run prestart, createRuntime (runtime namespace)
 *   write "continue\n" (or "abort\n") to B  ---->  createContainer hooks, then pivot_root ...
 * ```
 * Messages on both pipes are single lines of JSON (or a word), so B stays open until ready.
 */
import type { Linux, Process, Spec } from "../../spec/config.ts";
import { writeAll } from "../../ffi/fs.ts";

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

/**
 * The argv that starts `skiff init`: the Deno binary running this same program, whether it is the
 * bundle (dist/skiff), the sources (mod.ts) or a `deno compile` binary.
 */
export function selfCommand(subcommand: string[]): { command: string; args: string[] } {
  const exec = Deno.execPath();
  const main = Deno.mainModule;
  if (!main.startsWith("file:") || main.includes("/deno-compile-")) {
    return { command: exec, args: subcommand };
  }
  const path = decodeURIComponent(new URL(main).pathname);
  const flags = path.endsWith(".ts")
    ? ["run", "-A", "--quiet"]
    : ["run", "-A", "--quiet", "--no-config", "--no-lock", "--no-remote", "--no-npm"];
  return { command: exec, args: [...flags, path, ...subcommand] };
}

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
