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
): Promise<number> {
  try {
    return await main(argv, onCommand);
  } catch (err) {
    if (!(err instanceof ExitError && err.message === "")) fatal(errorChain(err));
    return err instanceof ExitError ? err.code : 1;
  }
}

/**
 * Runs the CLI with `argv` and exits with its code. dist/skiff calls this from its launcher
 * (scripts/build.ts), where this module is not the main module.
 */
export function start(argv: readonly string[]): void {
  // Deno writes a module's V8 code cache once the module's evaluation has finished and control is
  // back in its event loop. A Deno.exit() inside a top-level await, or in the microtasks that follow
  // evaluation, comes first, and the bundle was compiled from source on every call (~10 ms;
  // docs/benchmarks.md, "Per-call floor"). Hence no top-level await; a command that leaves nothing
  // running ends with the event loop, and the others exit after one real I/O operation (a
  // zero-byte write), which costs ~2 MiB of peak RSS.
  // A process that has opened libc (kill, create, run...) ends with _exit(2) instead, once its
  // output is written (Deno's writes to stdout and stderr are unbuffered): Deno's teardown after
  // FFI took ~4.5 ms. Each command is loaded by a dynamic import, and Deno writes the code cache of
  // such modules as it loads them, so every chunk's cache is written by then (checked in
  // ~/.cache/deno/v8_code_cache_v2: a `kill --all` that imports the cgroup chunks just before it
  // ends wrote theirs).
  let command: Command | undefined;
  run(argv, (c) => command = c).then(async (code) => {
    trace("exit");
    if (immediateExit(code)) return;
    if (command === undefined || command.endsByItself) {
      Deno.exitCode = code;
      return;
    }
    await Deno.stdout.write(new Uint8Array(0)).catch(() => 0);
    Deno.exit(code);
  });
}

if (import.meta.main) start(Deno.args);

export { main };
