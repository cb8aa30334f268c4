/**
 * Skiff as a library: a typed API over the same functions the CLI calls (runtime/container/), for
 * Deno programs that start many containers without paying a process start-up per call.
 * docs/library.md explains the model.
 *
 * @example
 * ```ts
 * import { Runtime } from "./mod.ts";
 * const rt = new Runtime({ root: "/run/skiff-lib" });
 * await using c = await rt.create("job1", { bundle: "/path/to/bundle" });
 * await c.start();
 * const { code } = await c.wait();
 * ```
 */
// The command line is built on this API and loads per call only the code its command runs: this
// module imports only what state() needs, and every other operation its module (or ./ops.ts) on
// use. `skiff state` loads neither create's code nor the cgroup managers (issue 11,
// docs/benchmarks.md "Per-call floor").
import { resolve } from "../path.ts";
import type { Process, Resources, Spec } from "../../spec/config.ts";
import type { State } from "../../spec/state.ts";
import { StateStore } from "../state/store.ts";
import type { ExecOptions as ExecRequest } from "../container/exec.ts";
import { loadContainer, stateOf, stateOfId } from "../container/container.ts";
import type { ContainerEvent } from "../container/events.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import type { InitProcess } from "../process/init_process.ts";
import type { OwnedTerminal } from "./ops.ts";
import { ContainerNotExistError } from "../errors.ts";

/** Options of a Runtime. */
export interface RuntimeOptions {
  /** The state directory (runc's --root); default /run/skiff. Use one of your own. */
  root?: string;
  /** Containers' cgroups are optional (rootless; docs/rootless.md). */
  rootless?: boolean;
  /** The layer store for `{ image }` sources; default /var/lib/skiff. */
  store?: string;
  /** linux.cgroupsPath is systemd's `slice:prefix:name` (runc's --systemd-cgroup). */
  systemdCgroup?: boolean;
}

/** Where a container's root and config come from. */
export type ContainerSource =
  | { bundle: string; config?: string }
  | { spec: Spec; rootfs: string }
  | {
    image: string;
    args?: string[];
    /** For a registry reference: "missing" (default), "always" or "never". */
    pull?: "missing" | "always" | "never";
  };

/** Options of Runtime.create(). */
export interface CreateContainerOptions {
  /**
   * The container's stdio: "inherit" (this program's stdin, stdout and stderr, as `skiff run`),
   * "piped" (Container.stdin, .stdout and .stderr are streams; read them, or the process blocks
   * once a pipe is full) or "null" (as `skiff create`, detached). Default "null".
   * With process.terminal set, the process's stdio is a pty instead: Container.terminal, unless
   * `consoleSocket` receives it.
   */
  stdio?: "inherit" | "piped" | "null";
  /** A file to write the init's host pid to (runc's --pid-file). */
  pidFile?: string;
  /** A unix socket that receives the pty master of a process.terminal container (--console-socket). */
  consoleSocket?: string;
  /** A unix socket that receives a pidfd of the init once it is ready (--pidfd-socket). */
  pidfdSocket?: string;
  /** MS_MOVE and chroot instead of pivot_root (--no-pivot). */
  noPivot?: boolean;
  /** Keep the session keyring instead of making a new one (--no-new-keyring). */
  noNewKeyring?: boolean;
  /** Pass this program's fds 3..3+N-1 to the process (--preserve-fds). */
  preserveFds?: number;
}

/** How a container's process ended. */
export interface ExitStatus {
  /** The exit code; 128 + N when killed by signal N. */
  code: number;
  /** The signal that killed it, or null. */
  signal: Deno.Signal | null;
}

/** Options of Container.exec() and Container.spawn(). */
export interface ExecOptions {
  /**
   * "inherit" (this program's stdio, default) or "null". A process with `terminal: true` gets a
   * pty instead (ExecProcess.terminal; spawn() only).
   */
  stdio?: "inherit" | "null";
  /** Also in a paused container (--ignore-paused). */
  ignorePaused?: boolean;
}

/** The pty of a container or exec process with `terminal: true`: its master side as streams. */
export interface Terminal {
  /** What the process writes to its terminal. Ends when the last process holding it exits. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Input for the process, as typed on its terminal. */
  readonly writable: WritableStream<Uint8Array>;
  /** Sets the terminal's window size (the process gets SIGWINCH). */
  resize(columns: number, rows: number): void;
}

/** A process started in a running container by Container.spawn(). */
export interface ExecProcess {
  /** Its host pid. */
  readonly pid: number;
  /** Its pty, when it was started with `terminal: true`. */
  readonly terminal: Terminal | undefined;
  /** Waits until it has ended; its exit status. */
  wait(): Promise<ExitStatus>;
}

/**
 * Carries the CLI's own state store into a Runtime (the command line's lazy --root lookup and
 * --rootless, which it resolves on use only): see cliRuntime().
 */
const ADOPT: unique symbol = Symbol("skiff.adoptStore");

/** A Skiff runtime: containers under one state directory. */
export class Runtime {
  readonly #store: StateStore;
  readonly #options: RuntimeOptions;
  /** The command line's own Runtime (cliRuntime()). */
  readonly #cli: boolean;
  /** Inits this Runtime created: their exit status can be waited for. */
  readonly #children = new Map<string, InitProcess>();

  /**
   * Makes a runtime over the state directory `options.root` (default /run/skiff).
   * @param options the state directory and defaults; see RuntimeOptions.
   */
  constructor(options: RuntimeOptions = {}) {
    this.#options = options;
    const adopted = (options as { [ADOPT]?: StateStore })[ADOPT];
    this.#cli = adopted !== undefined;
    this.#store = adopted ?? new StateStore(resolve(options.root ?? "/run/skiff"));
  }

  /** The state directory. */
  get root(): string {
    return this.#store.root;
  }

  /**
   * Creates container `id` from a bundle, a spec and a rootfs, or an image, and returns it in the
   * "created" state: its process waits for start().
   * @throws SpecError naming the JSON path of a bad config field, ConflictError for an ID in use.
   */
  async create(
    id: string,
    source: ContainerSource,
    options: CreateContainerOptions = {},
  ): Promise<Container> {
    const ops = await import("./ops.ts");
    const made = await ops.create(this.#store, this.#options, this.#cli, id, source, options);
    this.#children.set(id, made.child);
    return new Container(this, this.#store, this.#cli, id, made);
  }

  /**
   * The container `id` (made by this Runtime or by any other user of the same state directory).
   * @throws ContainerNotExistError when there is none.
   */
  get(id: string): Container {
    loadContainer(this.#store, id);
    return this.handle(id);
  }

  /**
   * @internal A handle to container `id` without looking it up first (the command line: each of
   * its operations reads the container once, and throws when there is none).
   */
  handle(id: string): Container {
    return new Container(this, this.#store, this.#cli, id, { child: this.#children.get(id) });
  }

  /** The state of every container in the state directory. */
  list(): State[] {
    const states: State[] = [];
    for (const id of this.#store.ids()) {
      try {
        states.push(stateOf(loadContainer(this.#store, id)));
      } catch {
        // Deleted meanwhile.
      }
    }
    return states;
  }

  /** @internal Container.delete() forgets its init here. */
  forget(id: string): void {
    this.#children.delete(id);
  }
}

/**
 * @internal The command line's Runtime: over its state store (whose root it finds on first use)
 * and with its --systemd-cgroup and --rootless flags, read when a create needs them. Its inits
 * start from the command line's own entry.
 */
export function cliRuntime(
  store: StateStore,
  flags: { readonly systemdCgroup: boolean; readonly rootlessCgroups?: boolean },
  layerStore?: string,
): Runtime {
  return new Runtime({
    [ADOPT]: store,
    store: layerStore,
    get systemdCgroup() {
      return flags.systemdCgroup;
    },
    get rootless() {
      return flags.rootlessCgroups ?? false;
    },
  } as RuntimeOptions);
}

/** What a Container handle knows beyond its ID when this Runtime made it. */
interface Made {
  child?: InitProcess;
  pid?: number;
  ownBundle?: string;
  /** The pty master of a process.terminal container that no console socket took (CLI). */
  consoleMaster?: number;
  /** The same as a Terminal (the library). */
  terminal?: OwnedTerminal;
}

/** A container: the handle Runtime.create() and Runtime.get() return. */
export class Container implements AsyncDisposable {
  readonly #runtime: Runtime;
  readonly #store: StateStore;
  readonly #cli: boolean;
  readonly #child: InitProcess | undefined;
  readonly #ownBundle: string | undefined;
  readonly #pid: number | undefined;
  #consoleMaster: number | undefined;
  readonly #terminal: OwnedTerminal | undefined;
  /** The container's ID. */
  readonly id: string;

  /** @internal Use Runtime.create() or Runtime.get(). */
  constructor(runtime: Runtime, store: StateStore, cli: boolean, id: string, made: Made = {}) {
    this.#runtime = runtime;
    this.#store = store;
    this.#cli = cli;
    this.id = id;
    this.#child = made.child;
    this.#pid = made.pid;
    this.#ownBundle = made.ownBundle;
    this.#consoleMaster = made.consoleMaster;
    this.#terminal = made.terminal;
  }

  /** The host pid of the container's init. */
  get pid(): number {
    return this.#pid ?? loadContainer(this.#store, this.id).record.pid;
  }

  /** The process's stdin, when created with stdio "piped". */
  get stdin(): WritableStream<Uint8Array> | undefined {
    return this.#child?.stdio?.stdin;
  }

  /** The process's stdout, when created with stdio "piped". */
  get stdout(): ReadableStream<Uint8Array> | undefined {
    return this.#child?.stdio?.stdout;
  }

  /** The process's stderr, when created with stdio "piped". */
  get stderr(): ReadableStream<Uint8Array> | undefined {
    return this.#child?.stdio?.stderr;
  }

  /**
   * The process's pty, when its config sets process.terminal and no consoleSocket took it. Read it:
   * a process whose terminal output nobody reads blocks once the pty's buffer is full. Its size
   * can be set before start(), for a process that reads it at once. delete() closes it.
   */
  get terminal(): Terminal | undefined {
    return this.#terminal?.terminal;
  }

  /** @internal The pty master, for a caller that relays it itself (`skiff run`); once. */
  takeConsoleMaster(): number | undefined {
    const master = this.#consoleMaster;
    this.#consoleMaster = undefined;
    return master;
  }

  /** Starts the created container's process (runtime.md `start`). */
  async start(): Promise<void> {
    const { startContainer } = await import("../container/start.ts");
    await startContainer(this.#store, this.id);
  }

  /**
   * The container's state, as `skiff state` prints it (runtime.md "State"); "creating" or
   * "stopped" for a create that was killed half-way.
   */
  state(): State {
    return stateOfId(this.#store, this.id);
  }

  /**
   * Sends a signal to the container's process (name like "SIGTERM" or "TERM", or a number; 0 only
   * checks that the process exists).
   * @param all every process of the container, not only its init.
   */
  async kill(signal: string | number = "SIGTERM", all = false): Promise<void> {
    const { killContainer } = await import("../container/kill.ts");
    const n = typeof signal === "number"
      ? signal
      : (await import("../signals.ts")).parseSignal(signal);
    await killContainer(this.#store, this.id, n, all);
  }

  /**
   * Waits until the container's process has ended. For a container this Runtime created, the exit
   * status; for one it did not (Runtime.get of another program's container) only that it ended:
   * its status belongs to its parent, and `code` is then -1.
   */
  async wait(): Promise<ExitStatus> {
    return await (await import("./ops.ts")).waitFor(this.#store, this.id, this.#child);
  }

  /**
   * Runs `process` in the running container and waits for it; returns its exit status.
   * `process` is a runtime-spec process (args, env, cwd, user...); unset fields come from the
   * container's own process, as `skiff exec --process` does. For a pty, use spawn().
   */
  async exec(
    process: Partial<Process> & { args: string[] },
    options: ExecOptions = {},
  ): Promise<ExitStatus> {
    if (process.terminal === true) {
      throw new TypeError("exec() of a process with terminal: true: use spawn() for its pty");
    }
    return await (await this.spawn(process, options)).wait();
  }

  /**
   * Starts `process` in the running container, as exec() does, without waiting for it. With
   * `terminal: true` its stdio is a new pty: ExecProcess.terminal.
   */
  async spawn(
    process: Partial<Process> & { args: string[] },
    options: ExecOptions = {},
  ): Promise<ExecProcess> {
    return await (await import("./ops.ts")).spawn(
      this.#store,
      this.#cli,
      this.id,
      process,
      options,
    );
  }

  /**
   * @internal Starts a process as `skiff exec` describes it (its flags, runtime/container/exec.ts);
   * the command line comes here. A pty master that no console socket took goes to `rawTerminal`
   * when given (the caller relays it), else to ExecProcess.terminal.
   */
  async execWith(
    request: ExecRequest,
    rawTerminal?: (master: number) => void,
  ): Promise<ExecProcess> {
    const ops = await import("./ops.ts");
    return await ops.exec(this.#store, this.#cli, this.id, request, rawTerminal);
  }

  /** Changes the container's cgroup limits (runc `update`); returns the warnings. */
  async update(resources: Resources): Promise<string[]> {
    const { updateContainer } = await import("../container/update.ts");
    return (await updateContainer(this.#store, this.id, resources)).warnings;
  }

  /** Freezes every process of the container. */
  async pause(): Promise<void> {
    const { pauseContainer } = await import("../container/pause.ts");
    await pauseContainer(this.#store, this.id);
  }

  /** Thaws a paused container. */
  async resume(): Promise<void> {
    const { resumeContainer } = await import("../container/pause.ts");
    resumeContainer(this.#store, this.id);
  }

  /** The host pids of every process in the container's cgroup, ascending (runc `ps`). */
  async pids(): Promise<number[]> {
    const { containerPids } = await import("../container/ps.ts");
    return containerPids(this.#store, this.id);
  }

  /** The container's cgroup statistics (runc `events --stats`). */
  async stats(): Promise<CgroupStats> {
    const { containerCgroup } = await import("../container/cgroup.ts");
    return containerCgroup(loadContainer(this.#store, this.id).record).stats();
  }

  /**
   * The container's events until it stops: "oom" when the kernel killed a process for memory, and
   * "stats" every `intervalMs`. Leaving the loop (break, return) stops the watch.
   * @param stats one "stats" event, then the end (runc `events --stats`).
   */
  async *events(intervalMs = 5000, stats = false): AsyncGenerator<ContainerEvent> {
    yield* (await import("./ops.ts")).events(this.#store, this.id, intervalMs, stats);
  }

  /**
   * Deletes the container (runtime.md `delete`); a running one only with `force` (after SIGKILL).
   * A bundle this Runtime wrote for a `{ spec, rootfs }` source is removed too.
   */
  async delete(options: { force?: boolean } = {}): Promise<void> {
    const { deleteContainer } = await import("../container/delete.ts");
    await deleteContainer(this.#store, this.id, options.force ?? false);
    // Reap the init, if it was ours: a library must not leave zombies.
    await this.#child?.status;
    this.#runtime.forget(this.id);
    if (this.#ownBundle) await Deno.remove(this.#ownBundle, { recursive: true }).catch(() => {});
    this.#terminal?.release();
  }

  /** `await using`: deletes the container (force) when the handle goes out of scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.delete({ force: true });
    } catch (err) {
      if (!(err instanceof ContainerNotExistError)) throw err;
    }
  }
}
