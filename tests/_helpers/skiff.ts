import { join } from "node:path";
import { SKIFF } from "./paths.ts";

/** The result of one skiff invocation. */
export interface SkiffResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when `timeoutMs` ran out and the process was killed (SIGKILL). */
  timedOut?: boolean;
}

/** Options for runSkiff(). */
export interface SkiffOptions {
  /** --root; every test uses its own. */
  root?: string;
  /** Global flags placed before the sub-command. */
  global?: string[];
  /** Text for the container's stdin. */
  stdin?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** A command that runs skiff, e.g. `["prlimit", "--nofile=20:20"]`. */
  prefix?: string[];
  /** Kill skiff with SIGKILL after this long (then `timedOut` is set). */
  timeoutMs?: number;
}

/**
 * Runs dist/skiff with `args` and collects its exit code and output. stdout and stderr go through
 * files rather than pipes: a created container inherits them and would hold a pipe open.
 */
export async function runSkiff(args: string[], options: SkiffOptions = {}): Promise<SkiffResult> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-out-" });
  try {
    const out = join(dir, "out");
    const err = join(dir, "err");
    const input = join(dir, "in");
    await Deno.writeTextFile(input, options.stdin ?? "");
    const global = [...(options.root ? ["--root", options.root] : []), ...(options.global ?? [])];
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'exec "$@" <"$IN" >"$OUT" 2>"$ERR"',
        "sh",
        ...(options.prefix ?? []),
        SKIFF,
        ...global,
        ...args,
      ],
      env: { IN: input, OUT: out, ERR: err, ...(options.env ?? {}) },
      cwd: options.cwd,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, options.timeoutMs);
    const status = await child.status;
    clearTimeout(timer);
    return {
      ...(timedOut ? { timedOut } : {}),
      code: status.signal ? 128 : status.code,
      stdout: await Deno.readTextFile(out),
      stderr: await Deno.readTextFile(err),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
