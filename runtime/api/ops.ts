/**
 * The bodies of the library's operations (runtime/api/runtime.ts), imported on first use: the
 * command line is built on the API, and `skiff state` must not load what create, exec or events
 * need (issue 11; docs/benchmarks.md, "Per-call floor"). create's and exec's own modules are imported
 * on use here too: `skiff exec` loads no create code, and `skiff create` no exec code.
 */
import { join, resolve } from "../path.ts";
import type { Process, Spec } from "../../spec/config.ts";
import type { StateStore } from "../state/store.ts";
import { validateId } from "../state/store.ts";
import type { CreateOptions } from "../container/create.ts";
import type { ExecOptions as ExecRequest } from "../container/exec.ts";
import { loadContainer } from "../container/container.ts";
import type { ContainerEvent } from "../container/events.ts";
import type { InitProcess } from "../process/init_process.ts";
import { useEntry } from "../process/self_command.ts";
import { isAlive } from "../state/liveness.ts";
import { parseSignal } from "../signals.ts";
import { sleep } from "../sleep.ts";
import { ContainerNotExistError } from "../errors.ts";
import { trace } from "../log.ts";
import { close, writeAll } from "../../ffi/fs.ts";
import { readPty, setWindowSize } from "../../ffi/tty.ts";
import type {
  ContainerSource,
  CreateContainerOptions,
  ExecOptions,
  ExecProcess,
  ExitStatus,
  RuntimeOptions,
  Terminal,
} from "./runtime.ts";

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

let entrySet = false;

/**
 * Inits start from Skiff's own command line, not from the program that imported the library: its
 * bundle when this checkout was built (an init from the sources loads ~250 modules and takes about
 * 2.5 times the CPU time), else cli.ts. The command line itself (`cli`) starts its own entry.
 */
function useSkiffEntry(cli: boolean): void {
  if (cli || entrySet) return;
  useEntry(skiffEntry());
  entrySet = true;
}

/** The exit status of a reaped child, as a shell reports it. */
export function exitOf(status: Deno.CommandStatus): ExitStatus {
  const code = status.signal === null ? status.code : 128 + parseSignal(status.signal);
  return { code, signal: status.signal };
}

/** Waits for container `id`'s init: its status when `child` is ours, else only its end. */
export async function waitFor(
  store: StateStore,
  id: string,
  child: InitProcess | undefined,
): Promise<ExitStatus> {
  if (child) return exitOf(await child.status);
  const { record } = loadContainer(store, id);
  while (isAlive(record.pid, record.initStartTime)) await sleep(20);
  return { code: -1, signal: null };
}

/** A Terminal and how its owner lets go of it. */
export interface OwnedTerminal {
  terminal: Terminal;
  /** Closes the master now, or after the read in flight (the container is gone). */
  release(): void;
}

/**
 * Wraps pty master `master` (owned from here on): closed once its output has ended (read(2) fails
 * with EIO when no process holds the slave any more) or on release().
 */
export function terminalOf(master: number): OwnedTerminal {
  let closed = false;
  let reading = false;
  let released = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    close(master);
  };
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (closed) return controller.close();
      const buf = new Uint8Array(16384);
      // Off the main thread: the event loop stays free meanwhile.
      reading = true;
      const n = await readPty(master, buf);
      reading = false;
      if (n > 0 && !released) {
        controller.enqueue(buf.subarray(0, n));
        return;
      }
      finish();
      controller.close();
    },
  }, { highWaterMark: 0 });
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (closed) throw new Error("the terminal has ended");
      writeAll(master, chunk);
    },
  });
  return {
    terminal: {
      readable,
      writable,
      resize(columns, rows) {
        if (!closed) setWindowSize(master, rows, columns);
      },
    },
    release() {
      released = true;
      // A read in flight holds the fd: it ends (EIO) as the container's processes die, and
      // closes it then; closing it under the read could close a reused fd number.
      if (!reading) finish();
    },
  };
}

/** A container Runtime.create() made. */
export interface Made {
  child: InitProcess;
  pid: number;
  ownBundle?: string;
  consoleMaster?: number;
  /** The library's pty of the process, when it has one (the command line relays consoleMaster). */
  terminal?: OwnedTerminal;
}

/** Runtime.create(): see there. */
export async function create(
  store: StateStore,
  runtime: RuntimeOptions,
  cli: boolean,
  id: string,
  source: ContainerSource,
  options: CreateContainerOptions,
): Promise<Made> {
  useSkiffEntry(cli);
  const { createContainer } = await import("../container/create.ts");
  let bundle: string;
  let configFile: string | undefined;
  let ownBundle: string | undefined;
  let image: CreateOptions["image"];
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
    image = await assemble(store, runtime, id, source);
    bundle = image.dir;
  }
  try {
    const created = await createContainer(store, id, {
      bundle,
      configFile,
      pidFile: options.pidFile,
      consoleSocket: options.consoleSocket,
      pidfdSocket: options.pidfdSocket,
      noPivot: options.noPivot,
      noNewKeyring: options.noNewKeyring,
      preserveFds: options.preserveFds,
      foreground: options.stdio === "inherit" || options.stdio === "piped",
      piped: options.stdio === "piped",
      // The library waits for its containers; the command line leaves a detached one behind.
      keepChild: !cli,
      keepTerminal: !cli,
      image,
      stateDirMade: image !== undefined,
      systemdCgroup: runtime.systemdCgroup ?? false,
      rootlessCgroups: runtime.rootless ?? false,
    });
    return {
      child: created.child,
      pid: created.record.pid,
      ownBundle,
      consoleMaster: cli ? created.consoleMaster : undefined,
      terminal: !cli && created.consoleMaster !== undefined
        ? terminalOf(created.consoleMaster)
        : undefined,
    };
  } catch (err) {
    // create undoes what it made; a failure before its first step leaves the image's record.
    if (image) await undoLocked(store, id);
    if (ownBundle) await Deno.remove(ownBundle, { recursive: true }).catch(() => {});
    throw err;
  }
}

/**
 * Assembles image `source` into its bundle. Write-ahead (container/creating.ts): the state
 * directory names the read/write layer before it exists, so that a program killed while it
 * assembles leaves nothing that `delete` misses.
 */
async function assemble(
  store: StateStore,
  runtime: RuntimeOptions,
  id: string,
  source: { image: string; args?: string[]; pull?: "missing" | "always" | "never" },
): Promise<{ store: string; dir: string }> {
  // The assembler is imported for images only: its modules cost every other create ~12 ms to
  // evaluate (TransformStream loads Deno's streams; issue 11).
  const [{ assembleBundle, defaultStoreRoot, resolveImage }, { LayerStore }] = await Promise.all([
    import("../assembler/assemble.ts"),
    import("../assembler/layer_store.ts"),
  ]);
  const { creatingRecord } = await import("../container/half_made.ts");
  validateId(id);
  const storeRoot = runtime.store ?? defaultStoreRoot();
  const layers = new LayerStore(storeRoot);
  const stored = await resolveImage(layers, source.image, source.pull ?? "missing");
  const dir = join(storeRoot, "bundles", id);
  const image = { store: storeRoot, dir };
  store.createDir(id);
  store.writeCreating(creatingRecord({ id, bundle: dir, rootfs: join(dir, "rootfs"), image }));
  try {
    await assembleBundle(layers, stored, dir, { owner: id, args: source.args ?? [] });
  } catch (err) {
    await undoLocked(store, id);
    throw err;
  }
  trace("run: bundle assembled");
  return image;
}

/** Undoes a half-made container under its lock; one that is gone already is fine. */
async function undoLocked(store: StateStore, id: string): Promise<void> {
  const { undoCreating } = await import("../container/creating.ts");
  let lock: Disposable;
  try {
    lock = store.lock(id);
  } catch (err) {
    if (err instanceof ContainerNotExistError) return;
    throw err;
  }
  using _lock = lock;
  await undoCreating(store, id);
}

/** Container.spawn(): see there. */
export async function spawn(
  store: StateStore,
  cli: boolean,
  id: string,
  process: Partial<Process> & { args: string[] },
  options: ExecOptions,
): Promise<ExecProcess> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-api-exec-" });
  try {
    const base = loadContainer(store, id).record.config.process;
    const file = join(dir, "process.json");
    await Deno.writeTextFile(file, JSON.stringify({ ...base, ...process }));
    const tty = process.terminal === true;
    return await exec(store, cli, id, {
      processFile: file,
      args: [],
      env: [],
      additionalGids: [],
      caps: [],
      tty,
      noNewPrivs: false,
      detach: !tty && options.stdio === "null",
      preserveFds: 0,
      ignorePaused: options.ignorePaused ?? false,
      keepChild: true,
    });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Container.execWith(): see there. */
export async function exec(
  store: StateStore,
  cli: boolean,
  id: string,
  request: ExecRequest,
  rawTerminal?: (master: number) => void,
): Promise<ExecProcess> {
  useSkiffEntry(cli);
  const { execContainer } = await import("../container/exec.ts");
  const executed = await execContainer(store, id, request);
  let terminal: Terminal | undefined;
  if (executed.consoleMaster !== undefined) {
    if (rawTerminal) rawTerminal(executed.consoleMaster);
    else terminal = terminalOf(executed.consoleMaster).terminal;
  }
  return {
    pid: executed.pid,
    terminal,
    wait: async () => exitOf(await executed.child.status),
  };
}

/** Container.events(): see there. */
export async function* events(
  store: StateStore,
  id: string,
  intervalMs: number,
  stats: boolean,
): AsyncGenerator<ContainerEvent> {
  const { watchEvents } = await import("../container/events.ts");
  const queue: ContainerEvent[] = [];
  let wake: (() => void) | undefined;
  const abort = new AbortController();
  let done = false;
  let failure: unknown;
  const watching = watchEvents(store, id, {
    stats,
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
