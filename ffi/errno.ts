/**
 * errno names, descriptions and SyscallError: no libc here, so that code which only asks which
 * errno an error carries (isErrno, errnoOf) does not load ffi/_libc.ts (issue 11: `state` and
 * `list` make no FFI call). Reading errno itself (errno(), check()) is in ffi/_libc.ts.
 * @module
 */

/** errno values by name (Linux generic numbering, x86_64 and aarch64 agree). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOPNOTSUPP: 95,
  ECONNREFUSED: 111,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ERRNO).map(([name, value]) => [value, name]),
);

const DESCRIPTIONS: Record<number, string> = {
  1: "Operation not permitted",
  2: "No such file or directory",
  3: "No such process",
  4: "Interrupted system call",
  5: "Input/output error",
  6: "No such device or address",
  7: "Argument list too long",
  8: "Exec format error",
  9: "Bad file descriptor",
  10: "No child processes",
  11: "Resource temporarily unavailable",
  12: "Cannot allocate memory",
  13: "Permission denied",
  14: "Bad address",
  16: "Device or resource busy",
  17: "File exists",
  18: "Invalid cross-device link",
  19: "No such device",
  20: "Not a directory",
  21: "Is a directory",
  22: "Invalid argument",
  23: "Too many open files in system",
  24: "Too many open files",
  25: "Inappropriate ioctl for device",
  26: "Text file busy",
  27: "File too large",
  28: "No space left on device",
  29: "Illegal seek",
  30: "Read-only file system",
  31: "Too many links",
  32: "Broken pipe",
  34: "Numerical result out of range",
  36: "File name too long",
  38: "Function not implemented",
  39: "Directory not empty",
  40: "Too many levels of symbolic links",
  61: "No data available",
  95: "Operation not supported",
  111: "Connection refused",
};

/** Returns "ENOENT (No such file or directory)" for an errno value. */
export function describeErrno(value: number): string {
  const name = NAMES[value] ?? `errno ${value}`;
  const text = DESCRIPTIONS[value];
  return text ? `${name} (${text})` : name;
}

/** A failed system call: names the call, its arguments and errno. */
export class SyscallError extends Error {
  /** The libc function or system call that failed. */
  readonly syscall: string;
  /** The errno value it failed with. */
  readonly errno: number;
  /** The errno name, e.g. "ENOENT". */
  readonly code: string;

  /**
   * Makes the error for `syscall` failing with `errnoValue`.
   * @param syscall the libc function or system call
   * @param errnoValue the errno it set
   * @param detail its arguments, for the message, e.g. "fd=7, nstype=CLONE_NEWNET"
   */
  constructor(syscall: string, errnoValue: number, detail = "") {
    super(`${syscall}${detail ? ` ${detail}` : ""}: ${describeErrno(errnoValue)}`);
    this.name = "SyscallError";
    this.syscall = syscall;
    this.errno = errnoValue;
    this.code = NAMES[errnoValue] ?? `E${errnoValue}`;
  }
}

/**
 * The errno name ("ENOENT") an error carries: a SyscallError's code, or the one Deno puts on its
 * I/O errors (Deno.errors.NotFound has code "ENOENT"). Undefined for any other error. This is the
 * one way to ask which errno an error is; isErrno() is its yes/no form.
 */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  // Node-style codes such as ERR_INVALID_ARG_TYPE are not errno names.
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** True when `err` carries one of the errno names `codes` (see errnoOf()). */
export function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = errnoOf(err);
  return code !== undefined && codes.includes(code);
}
