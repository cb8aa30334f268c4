/**
 * How the CLI ends a process that has opened libc. Deno's own exit (the event loop running dry, or
 * Deno.exit()) then takes ~4.5 ms more than in a process that never called Deno.dlopen: its
 * teardown unloads what FFI set up. `_exit(2)` through FFI skips that teardown: nothing of it is
 * needed once stdout and stderr are written (docs/benchmarks.md, "Per-call floor").
 *
 * This module loads no libc, so that the CLI's entry can ask it: ffi/_libc.ts registers the call
 * when it opens libc.
 * @module
 */
import { processWide } from "../spec/brand.ts";

/**
 * The registered exit, one per process: on globalThis, as libc may be opened by a second copy of
 * this module (a one-file command entry of dist/skiff and a split chunk it imports on use,
 * scripts/build.ts).
 */
const state = processWide<{ exitNow?: (code: number) => void }>("immediateExit", {});

/** Called by ffi/_libc.ts when it has opened libc: `exit` ends the process at once. */
export function registerImmediateExit(exit: (code: number) => void): void {
  state.exitNow = exit;
}

/**
 * Ends the process with `code` through _exit(2) when libc is open; returns false, doing nothing,
 * when it is not (Deno's own exit costs no more then). The caller has written everything it
 * writes: buffered data and Deno's pending asynchronous operations are lost.
 */
export function immediateExit(code: number): boolean {
  const exitNow = state.exitNow;
  if (exitNow === undefined) return false;
  exitNow(code);
  return true;
}
