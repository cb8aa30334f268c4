import { processWide } from "../../spec/brand.ts";

/**
 * How Skiff starts itself again (`skiff init`, the waiter's command line), one per process: on
 * globalThis, as dist/skiff's one-file command entries may hold a second copy of this module
 * (scripts/build.ts).
 */
const self = processWide<{ entry?: string }>("selfEntry", {});

/**
 * Deno's flags for the bundle (dist/skiff's, scripts/launch_info.ts): it is self-contained, so no
 * config, lock file, remote or npm. --min-semi-space-size=4 (MB): with V8's 1 MB default, every
 * `run` paid two young-generation GCs of 3-9 ms each (nearly all of its ~4 MB heap survives them)
 * and `exec` one; with 4 MB none happen, at the same peak RSS: run -8 ms, exec -5 ms on their own
 * clock (issue 11; docs/benchmarks.md, "Trimming run, create and exec").
 */
export const BUNDLE_RUN_FLAGS: readonly string[] = [
  "run",
  "-A",
  "--quiet",
  "--no-config",
  "--no-lock",
  "--no-remote",
  "--no-npm",
  "--v8-flags=--min-semi-space-size=4",
];

/**
 * Makes `skiff init` start from `url` (Skiff's cli.ts) instead of the main module: the library
 * (mod.ts) runs inside another program, whose main module is not Skiff.
 */
export function useEntry(url: string): void {
  self.entry = url;
}

/**
 * The argv that starts `skiff init`: the Deno binary running this same program, whether it is the
 * bundle (dist/skiff.d/launch.js, which the native dist/skiff runs, or dist/skiff as a script), the
 * sources (cli.ts) or a `deno compile` binary.
 */
export function selfCommand(subcommand: string[]): { command: string; args: string[] } {
  const exec = Deno.execPath();
  const main = self.entry ?? Deno.mainModule;
  if (!main.startsWith("file:") || main.includes("/deno-compile-")) {
    return { command: exec, args: subcommand };
  }
  const path = decodeURIComponent(new URL(main).pathname);
  const flags = path.endsWith(".ts") ? ["run", "-A", "--quiet"] : BUNDLE_RUN_FLAGS;
  return { command: exec, args: [...flags, path, ...subcommand] };
}

/**
 * Deno's cache for the inits a root CLI starts: one directory that only root writes and everyone
 * reads. An init in a user namespace runs as a host uid that can't read root's own cache
 * (~/.cache/deno under a 0700 /root): without a cache it parses the whole program again, about
 * 0.4 s more per container (docs/benchmarks.md). The inits that run as root fill it.
 */
export const INIT_DENO_DIR = "/var/cache/skiff/deno";

/** The environment variables every `skiff init` gets on top of the CLI's own. */
export function initEnv(): Record<string, string> {
  const env: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1" };
  if (Deno.uid() !== 0) return env;
  try {
    Deno.mkdirSync(INIT_DENO_DIR, { recursive: true, mode: 0o755 });
    env.DENO_DIR = INIT_DENO_DIR;
  } catch {
    // A read-only /var: the inits use the default cache as before.
  }
  return env;
}
