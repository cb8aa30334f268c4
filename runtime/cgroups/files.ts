/**
 * Reading and writing the files of a cgroup, and running a resources plan's writes: what v1.ts
 * and v2.ts share. The directories themselves (create, pids, kill, remove) are in tree.ts.
 */
import { join } from "../path.ts";
import { errnoOf } from "../../ffi/errno.ts";
import type { Write } from "./controllers/plan.ts";

const encoder = new TextEncoder();

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
    const code = errnoOf(err);
    if (err instanceof Deno.errors.NotFound || code === "ENODEV" || code === "ENOENT") {
      return undefined;
    }
    throw new Error(`cannot read ${join(dir, file)}`, { cause: err });
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
      const code = errnoOf(err);
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

/**
 * Moves process `pid` into the cgroups of `procsFiles` (cgroup.procs paths, one per hierarchy):
 * what the CLI does for an init whose root, in a user namespace, cannot write them itself.
 */
export function joinCgroupProcs(procsFiles: readonly string[], pid: number): void {
  for (const file of procsFiles) {
    try {
      const f = Deno.openSync(file, { write: true });
      try {
        f.writeSync(encoder.encode(String(pid)));
      } finally {
        f.close();
      }
    } catch (err) {
      throw new Error(`cannot move process ${pid} into the container's cgroup (${file})`, {
        cause: err,
      });
    }
  }
}
