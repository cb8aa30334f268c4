import type { RdtRecord } from "../intel_rdt.ts";
import type { SystemdUnit } from "../cgroups/systemd.ts";
import { join } from "../path.ts";
import type { Spec } from "../../spec/config.ts";
import { effectiveUid, honorXdgRuntimeDir, inUserNamespace } from "../rootless.ts";
import { ConflictError, ContainerNotExistError } from "../errors.ts";

/** What Skiff keeps about a container in `<root>/<id>/state.json`. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  /** Host pid of the container's init process. */
  pid: number;
  /** Start time of `pid` (clock ticks, /proc/<pid>/stat field 22), to detect pid reuse. */
  initStartTime: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** The config.json as it was at create (later edits of the bundle have no effect). */
  config: Spec;
  /**
   * The container's cgroup: linux.cgroupsPath (or the default), the --systemd-cgroup choice, and
   * the directories create made (later commands may run under another parent cgroup).
   */
  cgroup: {
    cgroupsPath: string;
    systemd: boolean;
    paths?: Record<string, string>;
    /** Set when a rootless create made no cgroup: why (runtime/cgroups/none.ts). */
    none?: string;
  };
  /** Set when `run --image` assembled the bundle: delete releases its root and read/write layer. */
  image?: { store: string; dir: string };
  /** The resctrl group create put the container in (linux.intelRdt). */
  intelRdt?: RdtRecord;
}

/**
 * The write-ahead record of a create in progress, `<root>/<id>/creating.json`: written right after
 * the state directory is made and before anything else exists on the host, and updated before each
 * further thing is made. A creator killed half-way leaves it behind; `delete` (runtime/container/
 * creating.ts) then undoes all it names, and `list`/`state` show the container as creating while
 * the creator lives and as stopped once it is dead (docs/reliability.md, "After a crash").
 */
export interface CreatingRecord {
  id: string;
  /** The process that is creating the container (pid + start time: a reused pid is not it). */
  creator: { pid: number; startTime: number };
  bundle: string;
  rootfs: string;
  created: string;
  annotations?: Record<string, string>;
  /** The cgroup directories about to be made, in every hierarchy (dirs() of the manager). */
  cgroupPaths?: Record<string, string>;
  /**
   * `--systemd-cgroup`: the transient unit StartTransientUnit will make (and on which bus), named
   * before it is asked for; an undo stops it and waits until systemd has forgotten it.
   */
  systemdUnit?: SystemdUnit;
  /** The init, once spawned: killed when the creator is gone (it may not be in the cgroup yet). */
  init?: { pid: number; startTime: number };
  /** No mount namespace: the init bind-mounts the rootfs in the host's; mounts beyond `before` go. */
  hostRootfs?: { rootfs: string; before: number };
  /** `run --image`: the read/write layer and bundle in the layer store. */
  image?: { store: string; dir: string };
  /** The resctrl group, once made (linux.intelRdt). */
  intelRdt?: RdtRecord;
}

const CREATING_FILE = "creating.json";
const STATE_FILE = "state.json";

const ID_PATTERN = /^[A-Za-z0-9_+.-]+$/;

/** Checks a container ID against runc's rule `[A-Za-z0-9_+.-]+` (and rejects "." and ".."). */
export function validateId(id: string): void {
  if (!ID_PATTERN.test(id) || id === "." || id === "..") {
    throw new Error(
      `invalid container ID format: ${JSON.stringify(id)} (allowed: letters, digits, _ + . -)`,
    );
  }
}

/** The state root of root on the host. */
export const SYSTEM_ROOT = "/run/skiff";

/**
 * The default state root: /run/skiff for root, $XDG_RUNTIME_DIR/skiff for a user (or root in a
 * user namespace, as under rootless Podman), as runc picks /run/runc or $XDG_RUNTIME_DIR/runc.
 * Returns a function that finds it (StateStore's root on first use), so that commands that keep
 * no state (spec, features) work where there is none. Root on the host, and anyone with
 * XDG_RUNTIME_DIR, need no FFI for this (issue 11: `state` and `list` make no FFI call); any other
 * caller gets default_root.ts, which asks access(2) where it may write.
 */
export async function defaultRootFinder(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<() => string> {
  if (honorXdgRuntimeDir(env)) {
    const root = join(env("XDG_RUNTIME_DIR")!, "skiff");
    return () => root;
  }
  if (effectiveUid() === 0 && !inUserNamespace()) return () => SYSTEM_ROOT;
  const { defaultRoot } = await import("./default_root.ts");
  return () => defaultRoot(env);
}

/** The state store under one `--root`. */
export class StateStore {
  #root: string | (() => string);

  /** @param root the directory, or a function that finds it when it is first needed. */
  constructor(root: string | (() => string)) {
    this.#root = root;
  }

  /**
   * The state root. A default root is found on first use, so that commands that keep no state
   * (spec, features) work where there is no state directory.
   */
  get root(): string {
    if (typeof this.#root === "function") this.#root = this.#root();
    return this.#root;
  }

  /** The directory of container `id`. */
  dir(id: string): string {
    return join(this.root, id);
  }

  /** Path of the exec fifo that holds a created container until `start`. */
  fifoPath(id: string): string {
    return join(this.root, id, "exec.fifo");
  }

  /**
   * Creates the directory of a new container, failing when the ID is taken.
   * @returns the directory path.
   */
  createDir(id: string): string {
    validateId(id);
    Deno.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    const dir = this.dir(id);
    try {
      Deno.mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) {
        throw new ConflictError(id);
      }
      throw new Error(`cannot create state directory ${dir}`, { cause: err });
    }
    return dir;
  }

  /**
   * Takes the per-container lock (flock on its directory) so that concurrent commands on one ID
   * are serialised. Throws ContainerNotExistError when the container is gone (ENOENT); any other
   * failure is an error whose cause is the syscall's.
   */
  lock(id: string): Disposable {
    validateId(id);
    // Deno's own open and flock(2) (FsFile.lockSync), not ffi/: the first FFI call of a process
    // costs ~4 ms and ~4.4 MiB, which start, kill and delete paid for this lock alone (issue 11).
    // The lock is the same flock on the same directory as any other holder's.
    let dir: Deno.FsFile;
    try {
      // The trailing slash is O_DIRECTORY's check, which Deno's open has no flag for: open(2) of
      // "file/" fails with ENOTDIR. FsFile.statSync() did it before at ~1 ms, most of it the
      // process's first Date (the FileInfo's times).
      dir = Deno.openSync(`${this.dir(id)}/`, { read: true });
    } catch (err) {
      // Only a missing directory means there is no such container; any other failure keeps its cause.
      if (err instanceof Deno.errors.NotFound) throw new ContainerNotExistError(id);
      if (err instanceof Deno.errors.NotADirectory) {
        throw new Error(`cannot lock container ${JSON.stringify(id)} (flock ${this.dir(id)})`, {
          cause: new Deno.errors.NotADirectory(`ENOTDIR: ${this.dir(id)} is not a directory`),
        });
      }
      throw new Error(`cannot lock container ${JSON.stringify(id)}`, { cause: err });
    }
    try {
      for (;;) {
        try {
          dir.lockSync(true);
          break;
        } catch (err) {
          if (!(err instanceof Deno.errors.Interrupted)) throw err;
        }
      }
    } catch (err) {
      dir.close();
      throw new Error(`cannot lock container ${JSON.stringify(id)} (flock ${this.dir(id)})`, {
        cause: err,
      });
    }
    return { [Symbol.dispose]: () => dir.close() };
  }

  /** Reads a container's record; ContainerNotExistError when there is none (other failures keep their cause). */
  read(id: string): ContainerRecord {
    validateId(id);
    const file = join(this.dir(id), STATE_FILE);
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new ContainerNotExistError(id);
      throw new Error(`cannot read the state of container ${JSON.stringify(id)} (${file})`, {
        cause: err,
      });
    }
    return JSON.parse(text) as ContainerRecord;
  }

  /** Writes a container's record atomically (temp file + rename). */
  write(record: ContainerRecord): void {
    const dir = this.dir(record.id);
    const tmp = join(dir, `.state.json.${Deno.pid}.tmp`);
    Deno.writeTextFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
    Deno.renameSync(tmp, join(dir, STATE_FILE));
  }

  /** Writes the write-ahead record of a create in progress (temp file + rename). */
  writeCreating(record: CreatingRecord): void {
    const dir = this.dir(record.id);
    const tmp = join(dir, `.${CREATING_FILE}.${Deno.pid}.tmp`);
    Deno.writeTextFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
    Deno.renameSync(tmp, join(dir, CREATING_FILE));
  }

  /** The write-ahead record of container `id`, or undefined when there is none (or it is torn). */
  readCreating(id: string): CreatingRecord | undefined {
    validateId(id);
    try {
      return JSON.parse(Deno.readTextFileSync(join(this.dir(id), CREATING_FILE)));
    } catch {
      return undefined;
    }
  }

  /** Drops the write-ahead record once state.json holds everything (the create is complete). */
  finishCreating(id: string): void {
    try {
      Deno.removeSync(join(this.dir(id), CREATING_FILE));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  /**
   * Removes a container's directory and everything in it. The records (state.json, creating.json)
   * go last: a remove killed half-way leaves a directory that still says what it was, or an empty
   * one, never records whose files are gone.
   */
  remove(id: string): void {
    const dir = this.dir(id);
    const records = new Set([STATE_FILE, CREATING_FILE]);
    try {
      for (const entry of Deno.readDirSync(dir)) {
        if (records.has(entry.name)) continue;
        Deno.removeSync(join(dir, entry.name), { recursive: true });
      }
      for (const name of records) {
        try {
          Deno.removeSync(join(dir, name));
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
      }
      Deno.removeSync(dir);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  /** IDs of every container with a state file or a create's write-ahead record, sorted. */
  ids(): string[] {
    const out: string[] = [];
    try {
      for (const entry of Deno.readDirSync(this.root)) {
        if (!entry.isDirectory) continue;
        for (const name of [STATE_FILE, CREATING_FILE]) {
          try {
            Deno.statSync(join(this.root, entry.name, name));
            out.push(entry.name);
            break;
          } catch {
            // Not this record.
          }
        }
        // A directory with neither is a create killed before its first record: not a container.
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return out.sort();
  }
}

/** Writes `pid` to `file` atomically, as runc does for --pid-file. */
export function writePidFile(file: string, pid: number): void {
  const tmp = join(file, "..", `.${file.split("/").pop()}.${Deno.pid}.tmp`);
  Deno.writeTextFileSync(tmp, String(pid), { mode: 0o644 });
  Deno.renameSync(tmp, file);
}
