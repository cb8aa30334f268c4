/**
 * kill(2) with a dlopen of its own, as ffi/_libc.ts allows for small tables: `skiff kill` makes
 * this one libc call, and _libc.ts's table and binder with ffi/process.ts are ~16 KB of code to
 * load for it (~1.5 ms a call; issue 11). The three symbols are bound by the dlopen itself, so
 * nothing calls dlsym(3) between a failure and its errno read.
 * @module
 */
import { ERRNO, SyscallError } from "./errno.ts";
import { registerImmediateExit } from "./exit.ts";

const SYMBOLS = {
  /** int kill(pid_t pid, int sig); */
  kill: { parameters: ["i32", "i32"], result: "i32" },
  /** int *__errno_location(void); */
  __errno_location: { parameters: [], result: "pointer" },
  /** void _exit(int status); for the CLI's end (ffi/exit.ts). */
  _exit: { parameters: ["i32"], result: "void" },
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
  if (lib.kill(pid, signal) === 0) return true;
  const location = lib.__errno_location();
  const value = location === null ? 0 : new Deno.UnsafePointerView(location).getInt32();
  if (value === ERRNO.ESRCH) return false;
  throw new SyscallError("kill", value, `pid=${pid}, sig=${signal}`);
}
