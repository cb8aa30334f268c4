/**
 * How dist/skiff starts Deno, for the programs that need to know without running it: the
 * rootless tests (which files the user must be able to read), the benches (a bare `deno run` with
 * the same flags) and the leftover checks (an init's command line). scripts/build.ts writes it as
 * dist/skiff.d/launch.json beside the launcher module; dist/skiff itself is a native executable
 * (runtime/trampoline/launcher.ts) or, on other architectures, a script with a shebang.
 */
import { dirname, join } from "node:path";
import { BUNDLE_RUN_FLAGS } from "../runtime/process/self_command.ts";

/** Deno's flags for the bundle (defined with `skiff init`'s command line, which uses them too). */
export const DENO_RUN_FLAGS = BUNDLE_RUN_FLAGS;

/**
 * What the launcher adds to the caller's environment. Without DENO_NO_UPDATE_CHECK, a Deno process
 * that lives more than about half a second (`run`, `exec`, an init) looks up dl.deno.land in the
 * background and tries to fetch the latest version (seen with strace); start-up does not change
 * measurably (docs/benchmarks.md, "Launcher").
 */
export const LAUNCH_ENV = { DENO_NO_UPDATE_CHECK: "1" } as const;

/** The directory beside dist/skiff that holds the split bundle. */
export const CHUNK_DIR = "skiff.d";
/** The module dist/skiff runs, in CHUNK_DIR: imports the entry chunk and starts it. */
export const LAUNCH_MODULE = "launch.js";
/** LaunchInfo as JSON, in CHUNK_DIR. */
export const LAUNCH_JSON = "launch.json";

/** How a build of dist/skiff runs Deno: `deno` with `args` (flags, then the module), env added. */
export interface LaunchInfo {
  /** Deno's absolute path. */
  deno: string;
  /** Deno's arguments before the caller's: DENO_RUN_FLAGS, then `module`. */
  args: string[];
  /** The launcher module's absolute path (dist/skiff.d/launch.js). */
  module: string;
  /** Variables the launcher puts before the caller's environment. */
  env: Record<string, string>;
  /**
   * The per-command entries the native launcher runs in place of `module`, by command name
   * (dist/skiff.d/state.js...; scripts/build.ts ENTRY_COMMANDS). The shebang script runs `module`.
   */
  commandModules?: Record<string, string>;
}

/**
 * Reads the LaunchInfo of the dist/skiff at `skiff` (a symlink is followed), or returns undefined
 * when there is none beside it (a copy elsewhere, or a build older than the native launcher).
 */
export function readLaunchInfo(skiff: string): LaunchInfo | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(join(dirname(Deno.realPathSync(skiff)), CHUNK_DIR, LAUNCH_JSON));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  return JSON.parse(text) as LaunchInfo;
}
