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
import { join, resolve } from "../path.ts";
import type { Process, Resources, Spec } from "../../spec/config.ts";
import type { State } from "../../spec/state.ts";
import { StateStore } from "../state/store.ts";
import { createContainer, type CreateOptions } from "../container/create.ts";
import { startContainer } from "../container/start.ts";
import { killContainer } from "../container/kill.ts";
import { deleteContainer } from "../container/delete.ts";
import { loadContainer, stateOf } from "../container/container.ts";
import { pauseContainer, resumeContainer } from "../container/pause.ts";
import { updateContainer } from "../container/update.ts";
import { type ContainerEvent, watchEvents } from "../container/events.ts";
import { containerCgroup } from "../container/cgroup.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import type { InitProcess } from "../process/init_process.ts";
import { isAlive } from "../state/liveness.ts";
import { parseSignal } from "../signals.ts";
import { sleep } from "../sleep.ts";
import { ContainerNotExistError } from "../errors.ts";
import { useEntry } from "../process/self_command.ts";

/** dist/skiff beside these sources when it was built, else cli.ts. */
function skiffEntry(): string {
  const bundle = new URL("../../dist/skiff", import.meta.url);
  try {
    if (bundle.protocol === "file:" && Deno.statSync(bundle).isFile) return bundle.href;
  } catch {
    // Not built: the sources.
  }
  return new URL("../../cli.ts", import.meta.url).href;
}

/** Options of a Runtime. */
export interface RuntimeOptions {
  /** The state directory (runc's --root); default /run/skiff. Use one of your own. */
  root?: string;
  /** Containers' cgroups are optional (rootless; docs/rootless.md). */
  rootless?: boolean;
  /** The layer store for `{ image }` sources; default /var/lib/skiff. */
  store?: string;
}

/** Where a container's root and config come from. */
export type ContainerSource =
  | { bundle: string; config?: string }
  | { spec: Spec; rootfs: string }
  | { image: string; args?: string[] };

/** Options of Runtime.create(). */
export interface CreateContainerOptions {
  /**
   * The container's stdio: "inherit" (this program's stdin, stdout and stderr, as `skiff run`),
   * "piped" (Container.stdin, .stdout and .stderr are streams; read them, or the process blocks
   * once a pipe is full) or "null" (as `skiff create`, detached). Default "null".
   */
  stdio?: "inherit" | "piped" | "null";
}

/** How a container's process ended. */
export interface ExitStatus {
  /** The exit code; 128 + N when killed by signal N. */
  code: number;
  /** The signal that killed it, or null. */
  signal: Deno.Signal | null;
}

/** Options of Container.exec(). */
export interface ExecOptions {
  /** "inherit" (this program's stdio, default) or "null". */
  stdio?: "inherit" | "null";
}

/** A Skiff runtime: containers under one state directory. */
export class Runtime {
  readonly #store: StateStore;
  readonly #options: RuntimeOptions;
  /** Inits this Runtime created: their exit status can be waited for. */
  readonly #children = new Map<string, InitProcess>();

  /**
   * Makes a runtime over the state directory `options.root` (default /run/skiff).
   * @param options the state directory and defaults; see RuntimeOptions.
   */
  constructor(options: RuntimeOptions = {}) {
    this.#options = options;
    // Inits start from Skiff's own command line, not from the program that imported the library:
    // its bundle when this checkout was built (an init from the sources loads ~250 modules and
    // takes about 2.5 times the CPU time), else cli.ts.
    useEntry(skiffEntry());
    this.#store = new StateStore(resolve(options.root ?? "/run/skiff"));
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
    let bundle: string;
    let configFile: string | undefined;
    let ownBundle: string | undefined;
    let image: CreateOptions["image"];
    let release: (() => Promise<void>) | undefined;
    if ("bundle" in source) {
      bundle = resolve(source.bundle);
      configFile = source.config ? resolve(source.config) : undefined;
    } else if ("spec" in source) {
      ownBundle = await Deno.makeTempDir({ prefix: `skiff-api-${id}-` });
      const spec: Spec = {
        ...source.spec,
        root: { ...source.spec.root, path: resolve(source.rootfs) },
      };
      await Deno.writeTextFile(join(ownBundle, "config.json"), JSON.stringify(spec));
      bundle = ownBundle;
    } else {
      const { assembleBundle, defaultStoreRoot, releaseBundle, resolveImage } = await import(
        "../assembler/assemble.ts"
      );
      const { LayerStore } = await import("../assembler/layer_store.ts");
      const storeRoot = this.#options.store ?? defaultStoreRoot();
      const layers = new LayerStore(storeRoot);
      const stored = await resolveImage(layers, source.image);
      bundle = join(storeRoot, "bundles", id);
      await assembleBundle(layers, stored, bundle, { owner: id, args: source.args });
      image = { store: storeRoot, dir: bundle };
      release = () => releaseBundle(storeRoot, bundle, id);
    }
    let created;
    try {
      created = await createContainer(this.#store, id, {
        bundle,
        configFile,
        foreground: options.stdio === "inherit" || options.stdio === "piped",
        piped: options.stdio === "piped",
        keepChild: true,
        image,
        rootlessCgroups: this.#options.rootless ?? false,
      });
    } catch (err) {
      await release?.().catch(() => {});
      if (ownBundle) await Deno.remove(ownBundle, { recursive: true }).catch(() => {});
      throw err;
    }
    this.#children.set(id, created.child);
    return new Container(this, this.#store, id, created.child, ownBundle);
  }

  /**
   * The container `id` (made by this Runtime or by any other user of the same state directory).
   * @throws ContainerNotExistError when there is none.
   */
  get(id: string): Container {
    loadContainer(this.#store, id);
    return new Container(this, this.#store, id, this.#children.get(id));
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

/** A container: the handle Runtime.create() and Runtime.get() return. */
export class Container implements AsyncDisposable {
  readonly #runtime: Runtime;
  readonly #store: StateStore;
  readonly #child: InitProcess | undefined;
  readonly #ownBundle: string | undefined;
  /** The container's ID. */
  readonly id: string;

  /** @internal Use Runtime.create() or Runtime.get(). */
  constructor(
    runtime: Runtime,
    store: StateStore,
    id: string,
    child: InitProcess | undefined,
    ownBundle?: string,
  ) {
    this.#runtime = runtime;
    this.#store = store;
    this.id = id;
    this.#child = child;
    this.#ownBundle = ownBundle;
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

  /** Starts the created container's process (runtime.md `start`). */
  async start(): Promise<void> {
    await startContainer(this.#store, this.id);
  }

  /** The container's state, as `skiff state` prints it (runtime.md "State"). */
  state(): State {
    return stateOf(loadContainer(this.#store, this.id));
  }

  /**
   * Sends a signal to the container's process (name like "SIGTERM" or "TERM", or a number).
   * @param all every process of the container, not only its init.
   */
  async kill(signal: string | number = "SIGTERM", all = false): Promise<void> {
    const n = typeof signal === "number" ? signal : parseSignal(signal);
    await killContainer(this.#store, this.id, n, all);
  }

  /**
   * Waits until the container's process has ended. For a container this Runtime created, the exit
   * status; for one it did not (Runtime.get of another program's container) only that it ended:
   * its status belongs to its parent, and `code` is then -1.
   */
  async wait(): Promise<ExitStatus> {
    if (this.#child) {
      const status = await this.#child.status;
      const code = status.signal === null ? status.code : 128 + parseSignal(status.signal);
      return { code, signal: status.signal };
    }
    const { record } = loadContainer(this.#store, this.id);
    while (isAlive(record.pid, record.initStartTime)) await sleep(20);
    return { code: -1, signal: null };
  }

  /**
   * Runs `process` in the running container and waits for it; returns its exit status.
   * `process` is a runtime-spec process (args, env, cwd, user...); unset fields come from the
   * container's own process, as `skiff exec --process` does.
   */
  async exec(process: Partial<Process> & { args: string[] }, options: ExecOptions = {}): Promise<
    ExitStatus
  > {
    const { execContainer } = await import("../container/exec.ts");
    const dir = await Deno.makeTempDir({ prefix: "skiff-api-exec-" });
    try {
      const base = loadContainer(this.#store, this.id).record.config.process;
      const file = join(dir, "process.json");
      await Deno.writeTextFile(file, JSON.stringify({ ...base, ...process }));
      const executed = await execContainer(this.#store, this.id, {
        processFile: file,
        args: [],
        env: [],
        additionalGids: [],
        caps: [],
        tty: process.terminal === true,
        noNewPrivs: false,
        detach: options.stdio === "null",
        preserveFds: 0,
        ignorePaused: false,
        keepChild: true,
      });
      const status = await executed.child.status;
      const code = status.signal === null ? status.code : 128 + parseSignal(status.signal);
      return { code, signal: status.signal };
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  /** Changes the container's cgroup limits (runc `update`); returns the warnings. */
  async update(resources: Resources): Promise<string[]> {
    return (await updateContainer(this.#store, this.id, resources)).warnings;
  }

  /** Freezes every process of the container. */
  async pause(): Promise<void> {
    await pauseContainer(this.#store, this.id);
  }

  /** Thaws a paused container. */
  resume(): void {
    resumeContainer(this.#store, this.id);
  }

  /** The container's cgroup statistics (runc `events --stats`). */
  stats(): CgroupStats {
    return containerCgroup(loadContainer(this.#store, this.id).record).stats();
  }

  /**
   * The container's events until it stops: "oom" when the kernel killed a process for memory, and
   * "stats" every `intervalMs`. Leaving the loop (break, return) stops the watch.
   */
  async *events(intervalMs = 5000): AsyncGenerator<ContainerEvent> {
    const queue: ContainerEvent[] = [];
    let wake: (() => void) | undefined;
    const abort = new AbortController();
    let done = false;
    let failure: unknown;
    const watching = watchEvents(this.#store, this.id, {
      stats: false,
      intervalMs,
      signal: abort.signal,
      onEvent: (event) => {
        queue.push(event);
        wake?.();
      },
    }).catch((err) => failure = err).finally(() => {
      done = true;
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (done) break;
        await new Promise<void>((r) => wake = r);
        wake = undefined;
      }
      if (failure !== undefined) throw failure;
    } finally {
      abort.abort();
      await watching;
    }
  }

  /**
   * Deletes the container (runtime.md `delete`); a running one only with `force` (after SIGKILL).
   * A bundle this Runtime wrote for a `{ spec, rootfs }` source is removed too.
   */
  async delete(options: { force?: boolean } = {}): Promise<void> {
    await deleteContainer(this.#store, this.id, options.force ?? false);
    // Reap the init, if it was ours: a library must not leave zombies.
    await this.#child?.status;
    this.#runtime.forget(this.id);
    if (this.#ownBundle) await Deno.remove(this.#ownBundle, { recursive: true }).catch(() => {});
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
