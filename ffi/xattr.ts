/**
 * Extended attributes (xattr(7)) through a small dlopen of libc of its own (see ffi/_libc.ts).
 * The l* calls act on a symlink itself, never on what it points to.
 */
import { check, lazyLibc } from "./_libc.ts";
import { isErrno } from "./errno.ts";
import { cString } from "./c_string.ts";

/** xattr.h: fail if the attribute exists. */
export const XATTR_CREATE = 1;
/** xattr.h: fail if the attribute does not exist. */
export const XATTR_REPLACE = 2;

const SYMBOLS = {
  /** int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags); */
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  /** ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size); */
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  /** ssize_t llistxattr(const char *path, char *list, size_t size); */
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  /** int lremovexattr(const char *path, const char *name); */
  lremovexattr: { parameters: ["buffer", "buffer"], result: "i32" },
  /** int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags); */
  fsetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

let library: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

function lib(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  library ??= lazyLibc(SYMBOLS);
  return library;
}

const decoder = new TextDecoder();

/** lsetxattr(2): sets `name` on `path` (a symlink itself, not its target). */
export function lsetxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  const data = new Uint8Array(value);
  check(
    "lsetxattr",
    () => `path=${path}, name=${name}, size=${data.length}`,
    () => lib().lsetxattr(cString(path), cString(name), data, BigInt(data.length), flags),
  );
}

/** fsetxattr(2): sets `name` on the open file `fd`. */
export function fsetxattr(fd: number, name: string, value: Uint8Array, flags = 0): void {
  const data = new Uint8Array(value);
  check(
    "fsetxattr",
    () => `fd=${fd}, name=${name}, size=${data.length}`,
    () => lib().fsetxattr(fd, cString(name), data, BigInt(data.length), flags),
  );
}

/** lgetxattr(2): the value of `name` on `path`, or undefined when it is not set (ENODATA). */
export function lgetxattr(path: string, name: string): Uint8Array | undefined {
  const p = cString(path);
  const n = cString(name);
  for (;;) {
    let size: number;
    try {
      size = Number(check(
        "lgetxattr",
        () => `path=${path}, name=${name}`,
        () => lib().lgetxattr(p, n, null, 0n),
      ));
    } catch (err) {
      if (isErrno(err, "ENODATA")) return undefined;
      throw err;
    }
    const buf = new Uint8Array(size);
    try {
      const got = Number(check(
        "lgetxattr",
        () => `path=${path}, name=${name}, size=${size}`,
        () => lib().lgetxattr(p, n, buf, BigInt(size)),
      ));
      return buf.subarray(0, got);
    } catch (err) {
      // ERANGE: the value grew between the two calls; ask again.
      if (isErrno(err, "ERANGE")) continue;
      if (isErrno(err, "ENODATA")) return undefined;
      throw err;
    }
  }
}

/** llistxattr(2): the names of the attributes set on `path`. */
export function llistxattr(path: string): string[] {
  const p = cString(path);
  for (;;) {
    const size = Number(check(
      "llistxattr",
      () => `path=${path}`,
      () => lib().llistxattr(p, null, 0n),
    ));
    if (size === 0) return [];
    const buf = new Uint8Array(size);
    let got: number;
    try {
      got = Number(check(
        "llistxattr",
        () => `path=${path}, size=${size}`,
        () => lib().llistxattr(p, buf, BigInt(size)),
      ));
    } catch (err) {
      if (isErrno(err, "ERANGE")) continue;
      throw err;
    }
    return decoder.decode(buf.subarray(0, got)).split("\0").filter((s) => s.length > 0);
  }
}

/** lremovexattr(2). */
export function lremovexattr(path: string, name: string): void {
  check(
    "lremovexattr",
    () => `path=${path}, name=${name}`,
    () => lib().lremovexattr(cString(path), cString(name)),
  );
}
