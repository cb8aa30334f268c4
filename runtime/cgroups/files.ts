/**
 * Reading and writing cgroup files, running a resources plan, collecting pids, and removing
 * cgroups: what v1.ts and v2.ts share.
 */
import { join } from "../path.ts";
import { kill } from "../../ffi/process.ts";
import type { Write } from "./resources.ts";

const encoder = new TextEncoder();

/** The errno name of a Deno error ("EINVAL"), if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Writes `value` to a cgroup file in ONE write(2), without O_CREAT or O_TRUNC (cgroup files take
 * one value per write; creating a missing knob would fail with a misleading EPERM).
 */
export function writeCgroupFile(dir: string, file: string, value: string): void {
  const f = Deno.openSync(join(dir, file), { write: true });
  try {
    f.writeSync(encoder.encode(value));
  } finally {
    f.close();
  }
}

/** Reads a cgroup file; undefined when it does not exist (or the cgroup is gone). */
export function readCgroupFile(dir: string, file: string): string | undefined {
  try {
    return Deno.readTextFileSync(join(dir, file));
  } catch (err) {
    const code = errorCode(err);
    if (err instanceof Deno.errors.NotFound || code === "ENODEV" || code === "ENOENT") {
      return undefined;
    }
    throw new Error(`cannot read ${join(dir, file)}`, { cause: err });
  }
}

/** True when `path` exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A number from a single-value cgroup file: "max" is Infinity; undefined when the file is missing
 * or empty.
 */
export function readNumber(dir: string, file: string): number | undefined {
  const text = readCgroupFile(dir, file)?.trim();
  if (!text) return undefined;
  if (text === "max") return Infinity;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^-?\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

/**
 * Runs the writes of a plan in order. A write marked retryOnEinval that fails with EINVAL is tried
 * again after the others (runc: a new period/burst can be refused until the quota changes);
 * optional writes to missing files are skipped. A refused write throws naming the field and file.
 * @param dirOf the directory a write goes to.
 */
export function runWrites(writes: readonly Write[], dirOf: (write: Write) => string): void {
  const retries: Write[] = [];
  const one = (w: Write, isRetry: boolean): void => {
    const dir = dirOf(w);
    try {
      writeCgroupFile(dir, w.file, w.value);
    } catch (err) {
      const code = errorCode(err);
      if (w.optional && (err instanceof Deno.errors.NotFound || code === "ENOENT")) return;
      if (w.retryOnEinval && !isRetry && code === "EINVAL") {
        retries.push(w);
        return;
      }
      throw new Error(
        `${w.field}: cannot write ${JSON.stringify(w.value)} to ${join(dir, w.file)}`,
        { cause: err },
      );
    }
    if (w.readBack) {
      const got = readCgroupFile(dir, w.file)?.trim();
      if (got !== undefined && got !== w.value) {
        const direction = Number(w.value) > Number(got) ? "maximum" : "minimum";
        throw new Error(
          `${w.field}: ${
            join(dir, w.file)
          } became ${got} after writing ${w.value}: the ${direction} this kernel allows is ${got}`,
        );
      }
    }
  };
  for (const w of writes) one(w, false);
  for (const w of retries) one(w, true);
}

/** The cgroup's sub-cgroups, deepest first. */
function subCgroups(dir: string): string[] {
  const out: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isDirectory) continue;
      const child = join(dir, entry.name);
      out.push(...subCgroups(child), child);
    }
  } catch {
    // Gone meanwhile.
  }
  return out;
}

/** Pids in a cgroup and all its sub-cgroups (cgroup.procs of each). */
export function allPids(dir: string): number[] {
  const out: number[] = [];
  for (const d of [dir, ...subCgroups(dir)]) {
    const text = readCgroupFile(d, "cgroup.procs");
    if (!text) continue;
    for (const line of text.split("\n")) {
      const pid = Number(line);
      if (line && Number.isInteger(pid) && !out.includes(pid)) out.push(pid);
    }
  }
  return out;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends SIGKILL to every process in `dir` until it is empty (new ones may be forked meanwhile).
 * @param beforeWait called after the first round of signals (to thaw a frozen v1 cgroup: frozen
 * tasks only die once thawed).
 */
export async function killAll(
  dir: string,
  beforeWait: () => void = () => {},
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let first = true;
  for (;;) {
    const pids = allPids(dir);
    if (pids.length === 0) return;
    for (const pid of pids) kill(pid, 9);
    if (first) {
      beforeWait();
      first = false;
    }
    if (Date.now() > deadline) {
      throw new Error(`processes ${pids.join(", ")} in ${dir} did not exit after SIGKILL`);
    }
    await sleep(5);
  }
}

/**
 * Removes a cgroup and its sub-cgroups, retrying EBUSY for a while (a killed process leaves its
 * cgroup only once it is reaped). A missing directory is fine.
 */
export async function removeCgroup(dir: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const d of [...subCgroups(dir), dir]) {
    let delay = 1;
    for (;;) {
      try {
        Deno.removeSync(d);
        break;
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) break;
        if (errorCode(err) !== "EBUSY" || Date.now() > deadline) {
          throw new Error(`cannot remove cgroup ${d}`, { cause: err });
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 100);
      }
    }
  }
}

/** mkdir -p for a cgroup; returns the directories it created, outermost first. */
export function makeCgroupDirs(mountPoint: string, dir: string): string[] {
  const created: string[] = [];
  const parts = dir.slice(mountPoint.length).split("/").filter(Boolean);
  let current = mountPoint;
  for (const part of parts) {
    current = join(current, part);
    try {
      Deno.mkdirSync(current, { mode: 0o755 });
      created.push(current);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) {
        throw new Error(`cannot create cgroup ${current}`, { cause: err });
      }
    }
  }
  return created;
}

/** The directories from `mountPoint` down to `dir`'s parent (the ancestors below the mount). */
export function ancestors(mountPoint: string, dir: string): string[] {
  const out = [mountPoint];
  const parts = dir.slice(mountPoint.length).split("/").filter(Boolean);
  let current = mountPoint;
  for (const part of parts.slice(0, -1)) {
    current = join(current, part);
    out.push(current);
  }
  return out;
}

/**
 * Enables `controllers` in cgroup.subtree_control of every ancestor of `dir` on a cgroup2 mount;
 * controllers an ancestor does not offer, or refuses (it has processes), are left for set() to
 * report by name.
 */
export function enableControllers(
  mountPoint: string,
  dir: string,
  controllers: readonly string[],
): void {
  for (const parent of ancestors(mountPoint, dir)) {
    const offered = (readCgroupFile(parent, "cgroup.controllers") ?? "").trim().split(/\s+/);
    const enabled = (readCgroupFile(parent, "cgroup.subtree_control") ?? "").trim().split(/\s+/);
    for (const c of controllers) {
      if (!offered.includes(c) || enabled.includes(c)) continue;
      try {
        writeCgroupFile(parent, "cgroup.subtree_control", `+${c}`);
      } catch {
        // Reported by set() when a limit needs this controller.
      }
    }
  }
}
