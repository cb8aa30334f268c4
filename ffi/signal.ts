/**
 * kill(2) with a dlopen of its own, as ffi/_libc.ts allows for small tables: `skiff kill` makes
 * this one libc call, and _libc.ts's table and binder with ffi/process.ts are ~16 KB of code to
 * load for it (~1.5 ms a call; issue 11). The three symbols are bound by the dlopen itself, so
 * nothing calls dlsym(3) between a failure and its errno read.
 * @module
 */
import { ERRNO, SyscallError } from "./errno.ts";
import { registerImmediateExit } from "./exit.ts";

/**
 * Results typed as one-field structs: returned in the same register as an int or a pointer on
 * x86_64 and aarch64, but Deno binds such a symbol without a fast-call trampoline. The first
 * dlopen of a process then costs ~2.5 ms instead of ~3.2 and 1.6 MiB of RSS instead of 3.3 (an
 * empty file with this table, medians of 5): `kill`'s peak RSS within bare Deno + 8 MiB (issue
 * 11; docs/benchmarks.md, "Peak RSS"). A call costs ~0.1 ms more, and kill makes two or three.
 */
const INT = { struct: ["i32"] } as const;
const POINTER = { struct: ["usize"] } as const;

const SYMBOLS = {
  /** int kill(pid_t pid, int sig); */
  kill: { parameters: ["i32", "i32"], result: INT },
  /** int *__errno_location(void); */
  __errno_location: { parameters: [], result: POINTER },
  /** void _exit(int status); for the CLI's end (ffi/exit.ts). It never returns: no result is read. */
  _exit: { parameters: ["i32"], result: INT },
} as const satisfies Deno.ForeignLibraryInterface;

let symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

function libc(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  if (symbols === undefined) {
    symbols = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    const exit = symbols._exit;
    registerImmediateExit((code) => exit(code));
  }
  return symbols;
}

/** kill(2); returns false when the process does not exist (ESRCH). */
export function kill(pid: number, signal: number): boolean {
  const lib = libc();
  if (int32(lib.kill(pid, signal)) === 0) return true;
  const location = Deno.UnsafePointer.create(
    pointerOf(lib.__errno_location()),
  );
  const value = location === null ? 0 : new Deno.UnsafePointerView(location).getInt32();
  if (value === ERRNO.ESRCH) return false;
  throw new SyscallError("kill", value, `pid=${pid}, sig=${signal}`);
}

function pointerOf(result: Uint8Array): bigint {
  return new BigUint64Array(result.buffer, result.byteOffset, 1)[0];
}

function int32(result: Uint8Array): number {
  return new Int32Array(result.buffer, result.byteOffset, 1)[0];
}
