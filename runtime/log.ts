/**
 * runc-compatible logging: `--log FILE` and `--log-format text|json`.
 *
 * JSON lines are logrus's shape, `{"level":"error","msg":"...","time":"<RFC3339>"}`: containerd keeps
 * the last line whose level is "error", and Podman parses the whole file as one object, so a failure
 * writes exactly one error line (shared/docs/anchors.md s.1.6).
 */
import { processWide } from "../spec/brand.ts";

export type LogFormat = "text" | "json";

/** Where and how log lines are written. */
export interface LogOptions {
  file?: string;
  format: LogFormat;
  debug: boolean;
}

/**
 * The log state, one per process: on globalThis, so that a second copy of this module sees the
 * flags the first was given. dist/skiff's one-file command entries hold a copy of their own and
 * import rare paths (hooks, the cgroup managers) from the split chunks (scripts/build.ts).
 */
interface LogState {
  options: LogOptions;
  /** See forwardDebug(). */
  forward?: (msg: string) => void;
}
const state = processWide<LogState>("log", { options: { format: "text", debug: false } });

/** Sets the process-wide log options (from the global CLI flags). */
export function configureLog(next: LogOptions): void {
  state.options = next;
}

/** Returns the process-wide log options. */
export function logOptions(): LogOptions {
  return state.options;
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Formats one log line (without newline) in the configured format. */
export function formatLine(level: string, msg: string, date = new Date()): string {
  if (state.options.format === "json") {
    return JSON.stringify({ level, msg, time: rfc3339(date) });
  }
  return `time="${rfc3339(date)}" level=${level} msg=${JSON.stringify(msg)}`;
}

/** Writes one line to the --log file, or to stderr; returns where it went. */
function write(level: string, msg: string): "file" | "stderr" {
  const line = formatLine(level, msg) + "\n";
  const data = new TextEncoder().encode(line);
  if (state.options.file) {
    try {
      const f = Deno.openSync(state.options.file, { append: true, create: true, mode: 0o644 });
      try {
        f.writeSync(data);
      } finally {
        f.close();
      }
      return "file";
    } catch {
      // Fall through to stderr: a log that cannot be written must not hide the error.
    }
  }
  Deno.stderr.writeSync(data);
  return "stderr";
}

/**
 * In the init, whose stderr is the container's: sends debug lines to the CLI (over the sync pipe)
 * instead of writing them. `undefined` stops debug output, e.g. before that pipe is closed.
 */
export function forwardDebug(to: ((msg: string) => void) | undefined): void {
  state.forward = to;
  state.options = { ...state.options, debug: to !== undefined };
}

/** Logs a debug line (only with --debug). */
export function debug(msg: string): void {
  if (!state.options.debug) return;
  const forward = state.forward;
  if (forward) {
    try {
      forward(msg);
    } catch {
      // The CLI is gone: nobody to tell.
    }
    return;
  }
  write("debug", msg);
}

/** Logs a warning line. */
export function warn(msg: string): void {
  write("warning", msg);
}

/**
 * Reports a fatal error: one `error` line to the log (when --log is set or the format is json), and a
 * one-line human message on stderr unless that line already went there.
 */
export function fatal(msg: string): void {
  if (state.options.file || state.options.format === "json") {
    // A --log that cannot be written (a directory, a name too long) sends the line to stderr,
    // which then needs no second, human one: still exactly one error line (the CLI fuzz test).
    if (write("error", msg) === "stderr") return;
  }
  Deno.stderr.writeSync(new TextEncoder().encode(`skiff: ${msg}\n`));
}

const tracing = (() => {
  try {
    return Deno.env.get("SKIFF_TRACE") === "1";
  } catch {
    return false;
  }
})();

/**
 * Test hook: with SKIFF_CRASH_AT=<label>, the process SIGKILLs itself right after the trace point
 * `label` (the crash tests, tests/integration/crash_test.ts, kill each command inside each step
 * this way; docs/reliability.md). Nothing sets it outside tests.
 */
const crashAt = (() => {
  try {
    return Deno.env.get("SKIFF_CRASH_AT") || undefined;
  } catch {
    return undefined;
  }
})();

/**
 * `HH:MM:SS.mmm` (UTC) of `ms` since the epoch, by arithmetic: the first `Date` of a process costs
 * ~2 ms (V8's date cache), which every traced call paid in its own `+ms`.
 */
function utcTimeOfDay(ms: number): string {
  const t = Math.floor(ms) % 86_400_000;
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(Math.floor(t / 3_600_000))}:${pad(Math.floor(t / 60_000) % 60)}:${
    pad(Math.floor(t / 1000) % 60)
  }.${pad(t % 1000, 3)}`;
}

/**
 * With SKIFF_TRACE=1, prints `skiff[pid] +12.3ms @10:41:07.512 label` to stderr: milliseconds since
 * this Deno process's clock started, then the wall-clock time (UTC), to see where a container start
 * spends its time (docs/benchmarks.md). The CLI's and the init's own clocks start at different times,
 * and each starts only once Deno is up (~50 ms after the exec), so lines of two processes are
 * compared by the wall-clock time. With --debug, `label` is also a debug line.
 */
export function trace(label: string): void {
  // The trace points are the main steps: --debug logs them too.
  debug(label);
  if (label === crashAt) Deno.kill(Deno.pid, "SIGKILL");
  if (!tracing) return;
  const now = performance.now();
  Deno.stderr.writeSync(
    new TextEncoder().encode(
      `skiff[${Deno.pid}] +${now.toFixed(1)}ms @${
        utcTimeOfDay(performance.timeOrigin + now)
      } ${label}\n`,
    ),
  );
}
