#!/usr/bin/env -S deno run -A
/**
 * Skiff's command line: argv -> runtime/cli, and the only place that turns an error into a log line
 * and an exit code. dist/skiff is built from this module; mod.ts is the library.
 * @module
 */
import { main } from "./runtime/cli/mod.ts";
import type { Command } from "./runtime/cli/command.ts";
import { errorChain, ExitError } from "./runtime/errors.ts";
import { fatal, trace } from "./runtime/log.ts";
import { immediateExit } from "./ffi/exit.ts";

/** Runs the CLI and returns its exit code; errors become one log line here. */
async function run(
  argv: readonly string[],
  onCommand: (command: Command) => void,
  preloaded: Command | undefined,
): Promise<number> {
  try {
    return await main(argv, onCommand, preloaded);
  } catch (err) {
    if (!(err instanceof ExitError && err.message === "")) fatal(errorChain(err));
    return err instanceof ExitError ? err.code : 1;
  }
}

/**
 * Runs the CLI with `argv` and exits with its code. dist/skiff calls this from its launcher
 * (scripts/build.ts), where this module is not the main module; a per-command entry passes the
 * command it imported (`preloaded`, see main()).
 */
export function start(argv: readonly string[], preloaded?: Command): void {
  // How the process ends, once its output is written (Deno's writes to stdout and stderr are
  // unbuffered) and its exit code known. Letting the event loop run dry costs the most: Deno then
  // tears its runtime down (~2.5-3.5 ms of wall more than Deno.exit() for `state`; ~4.5 ms more
  // after FFI, which Deno.exit() does not skip). So:
  // - a process that has opened libc (kill, create, run...) ends with _exit(2) through FFI;
  // - one that has loaded a command exits at once with Deno.exit();
  // - --version and help let the event loop end.
  // The last is for Deno's V8 code cache, which it writes for the entry after the entry's
  // evaluation, from its event loop: an exit in the microtasks that follow that evaluation comes
  // first, and the entry was compiled from source on every call (~10 ms; docs/benchmarks.md,
  // "Per-call floor"; hence no top-level await either); an exit after one more I/O operation (a
  // zero-byte write) still lost the cache in 5 of 15 calls. A command is loaded by a dynamic
  // import, which takes several turns of the event loop, and the code cache of its modules is
  // written as they load: with a fresh DENO_DIR, 15 of 15 calls of `state`, `list` and `kill` (the
  // latter through _exit) cached every chunk they loaded (tests/integration/exit_test.ts).
  // A per-command entry (dist/skiff.d/state.js...) imports its command statically, so its call may
  // never turn the event loop and exits before Deno writes the entry's cache. Waiting for it costs
  // more than the cache saves: any first turn of the loop costs >= 1.1 ms, the cache ~0.6 ms
  // (docs/benchmarks.md, "Per-command entries"). The build writes the builder's cache for them
  // (`COMMAND --help` ends with the event loop).
  let command: Command | undefined;
  run(argv, (c) => command = c, preloaded).then((code) => {
    trace("exit");
    if (immediateExit(code)) return;
    if (command === undefined) {
      Deno.exitCode = code;
      return;
    }
    Deno.exit(code);
  });
}

if (import.meta.main) start(Deno.args);

export { main };
