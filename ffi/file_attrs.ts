/**
 * The *at(2) family and file-attribute calls the image assembler needs, with their own small
 * dlopen of libc (ffi/_libc.ts is the core runtime's table; see its header comment).
 *
 * Every path argument is relative to a directory fd, so callers can walk a tree without
 * following symlinks (runtime/assembler/unpack.ts). All calls are synchronous: errno is per-thread.
 */
import { check, lazyLibc } from "./_libc.ts";
import { isErrno } from "./errno.ts";
import { cString } from "./c_string.ts";
import { AT_SYMLINK_NOFOLLOW } from "./constants.ts";

/** stat.h: utimensat(2) leaves this time unchanged. */
export const UTIME_OMIT = (1 << 30) - 2;
/** linux/fs.h: FICLONE ioctl, _IOW(0x94, 9, int). */
export const FICLONE = 0x40049409;

/** statx(2) mask: every basic field. */
export const STATX_BASIC_STATS = 0x7ff;

const SYMBOLS = {
  /** int mkdirat(int dirfd, const char *path, mode_t mode); */
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int symlinkat(const char *target, int newdirfd, const char *linkpath); */
  symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  /** int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags); */
  linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
  /** int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev); */
  mknodat: { parameters: ["i32", "buffer", "u32", "u64"], result: "i32" },
  /** int unlinkat(int dirfd, const char *path, int flags); */
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  /** int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath); */
  renameat: { parameters: ["i32", "buffer", "i32", "buffer"], result: "i32" },
  /** int fchownat(int dirfd, const char *path, uid_t owner, gid_t group, int flags); */
  fchownat: { parameters: ["i32", "buffer", "u32", "u32", "i32"], result: "i32" },
  /** int fchmodat(int dirfd, const char *path, mode_t mode, int flags); */
  fchmodat: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  /** int fchown(int fd, uid_t owner, gid_t group); */
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  /** int fchmod(int fd, mode_t mode); */
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  /** int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags); */
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  /** int futimens(int fd, const struct timespec times[2]); */
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  /** int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf); */
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  /** ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size); */
  readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
  /** int openat(int dirfd, const char *path, int flags, mode_t mode); */
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t count); */
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** ssize_t write(int fd, const void *buf, size_t count); */
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** ssize_t copy_file_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned flags); */
  copy_file_range: {
    parameters: ["i32", "buffer", "i32", "buffer", "usize", "u32"],
    result: "isize",
  },
  /** int ioctl(int fd, unsigned long request, long arg); */
  ioctl: { parameters: ["i32", "u64", "i64"], result: "i32" },
  /** int syncfs(int fd); */
  syncfs: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

let library: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

function lib(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  library ??= lazyLibc(SYMBOLS);
  return library;
}

function octal(mode: number): string {
  return `0o${mode.toString(8)}`;
}

/** openat(2); the fd is O_CLOEXEC only if `flags` says so. */
export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(
    "openat",
    () => `dirfd=${dirfd}, path=${path}, flags=${octal(flags)}`,
    () => lib().openat(dirfd, cString(path), flags, mode),
  );
}

/** close(2), ignoring errors (the fd is gone either way). */
export function close(fd: number): void {
  lib().close(fd);
}

/** mkdirat(2). */
export function mkdirat(dirfd: number, path: string, mode: number): void {
  check(
    "mkdirat",
    () => `dirfd=${dirfd}, path=${path}, mode=${octal(mode)}`,
    () => lib().mkdirat(dirfd, cString(path), mode),
  );
}

/** symlinkat(2): creates `path` (in `dirfd`) pointing at `target`. */
export function symlinkat(target: string, dirfd: number, path: string): void {
  check(
    "symlinkat",
    () => `target=${target}, dirfd=${dirfd}, path=${path}`,
    () => lib().symlinkat(cString(target), dirfd, cString(path)),
  );
}

/** linkat(2); with `flags` 0 a symlink in `oldPath` is linked itself, not followed. */
export function linkat(
  oldDirfd: number,
  oldPath: string,
  newDirfd: number,
  newPath: string,
  flags = 0,
): void {
  check(
    "linkat",
    () => `olddirfd=${oldDirfd}, oldpath=${oldPath}, newdirfd=${newDirfd}, newpath=${newPath}`,
    () => lib().linkat(oldDirfd, cString(oldPath), newDirfd, cString(newPath), flags),
  );
}

/** glibc's makedev(3) encoding of a device number. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) |
    (mi & 0xffn);
}

/** mknodat(2): `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO). */
export function mknodat(
  dirfd: number,
  path: string,
  mode: number,
  major = 0,
  minor = 0,
): void {
  check(
    "mknodat",
    () => `dirfd=${dirfd}, path=${path}, mode=${octal(mode)}, dev=${major}:${minor}`,
    () => lib().mknodat(dirfd, cString(path), mode, makedev(major, minor)),
  );
}

/** unlinkat(2); `flags` AT_REMOVEDIR removes an empty directory. */
export function unlinkat(dirfd: number, path: string, flags = 0): void {
  check(
    "unlinkat",
    () => `dirfd=${dirfd}, path=${path}, flags=${flags}`,
    () => lib().unlinkat(dirfd, cString(path), flags),
  );
}

/** renameat(2). */
export function renameat(
  oldDirfd: number,
  oldPath: string,
  newDirfd: number,
  newPath: string,
): void {
  check(
    "renameat",
    () => `olddirfd=${oldDirfd}, oldpath=${oldPath}, newdirfd=${newDirfd}, newpath=${newPath}`,
    () => lib().renameat(oldDirfd, cString(oldPath), newDirfd, cString(newPath)),
  );
}

/** fchownat(2); pass AT_SYMLINK_NOFOLLOW to change a symlink itself (lchown). */
export function fchownat(
  dirfd: number,
  path: string,
  uid: number,
  gid: number,
  flags = AT_SYMLINK_NOFOLLOW,
): void {
  check(
    "fchownat",
    () => `dirfd=${dirfd}, path=${path}, uid=${uid}, gid=${gid}, flags=${flags}`,
    () => lib().fchownat(dirfd, cString(path), uid, gid, flags),
  );
}

/** fchmodat(2) (follows symlinks: Linux cannot chmod a symlink). */
export function fchmodat(dirfd: number, path: string, mode: number): void {
  check(
    "fchmodat",
    () => `dirfd=${dirfd}, path=${path}, mode=${octal(mode)}`,
    () => lib().fchmodat(dirfd, cString(path), mode, 0),
  );
}

/** fchown(2). */
export function fchown(fd: number, uid: number, gid: number): void {
  check("fchown", () => `fd=${fd}, uid=${uid}, gid=${gid}`, () => lib().fchown(fd, uid, gid));
}

/** fchmod(2). */
export function fchmod(fd: number, mode: number): void {
  check("fchmod", () => `fd=${fd}, mode=${octal(mode)}`, () => lib().fchmod(fd, mode));
}

/** A point in time with nanoseconds, as struct timespec carries it. */
export interface Timespec {
  sec: number;
  nsec: number;
}

function timespecs(atime: Timespec, mtime: Timespec): Uint8Array<ArrayBuffer> {
  const buf = new BigInt64Array(4);
  buf[0] = BigInt(Math.trunc(atime.sec));
  buf[1] = BigInt(atime.nsec);
  buf[2] = BigInt(Math.trunc(mtime.sec));
  buf[3] = BigInt(mtime.nsec);
  return new Uint8Array(buf.buffer);
}

/** utimensat(2); AT_SYMLINK_NOFOLLOW (the default) sets a symlink's own times. */
export function utimensat(
  dirfd: number,
  path: string,
  atime: Timespec,
  mtime: Timespec,
  flags = AT_SYMLINK_NOFOLLOW,
): void {
  check(
    "utimensat",
    () => `dirfd=${dirfd}, path=${path}, mtime=${mtime.sec}.${mtime.nsec}, flags=${flags}`,
    () => lib().utimensat(dirfd, cString(path), timespecs(atime, mtime), flags),
  );
}

/** futimens(3). */
export function futimens(fd: number, atime: Timespec, mtime: Timespec): void {
  check(
    "futimens",
    () => `fd=${fd}, mtime=${mtime.sec}.${mtime.nsec}`,
    () => lib().futimens(fd, timespecs(atime, mtime)),
  );
}

/** The fields of struct statx that the assembler uses. */
export interface StatxResult {
  /** File type and permission bits (S_IFMT | 07777). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: bigint;
  size: number;
  /** Device of the inode, for hardlink identity. */
  devMajor: number;
  devMinor: number;
  /** Device number of a char or block device node. */
  rdevMajor: number;
  rdevMinor: number;
  atime: Timespec;
  mtime: Timespec;
}

/**
 * statx(2) of `path` relative to `dirfd` (AT_SYMLINK_NOFOLLOW unless `flags` says otherwise).
 * statx has the same struct layout on every architecture, unlike struct stat.
 */
export function statx(dirfd: number, path: string, flags = AT_SYMLINK_NOFOLLOW): StatxResult {
  const buf = new Uint8Array(256);
  check(
    "statx",
    () => `dirfd=${dirfd}, path=${path}, flags=${flags}`,
    () => lib().statx(dirfd, cString(path), flags, STATX_BASIC_STATS, buf),
  );
  const v = new DataView(buf.buffer);
  const ts = (offset: number): Timespec => ({
    sec: Number(v.getBigInt64(offset, true)),
    nsec: v.getUint32(offset + 8, true),
  });
  return {
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    mode: v.getUint16(28, true),
    ino: v.getBigUint64(32, true),
    size: Number(v.getBigUint64(40, true)),
    atime: ts(64),
    mtime: ts(112),
    rdevMajor: v.getUint32(128, true),
    rdevMinor: v.getUint32(132, true),
    devMajor: v.getUint32(136, true),
    devMinor: v.getUint32(140, true),
  };
}

/** Like statx() but returns undefined when `path` does not exist (ENOENT). */
export function statxIfExists(
  dirfd: number,
  path: string,
  flags = AT_SYMLINK_NOFOLLOW,
): StatxResult | undefined {
  try {
    return statx(dirfd, path, flags);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
}

const decoder = new TextDecoder();

/** readlinkat(2): the target of the symlink `path`. */
export function readlinkat(dirfd: number, path: string): string {
  for (let size = 256;; size *= 4) {
    const buf = new Uint8Array(size);
    const n = Number(check(
      "readlinkat",
      () => `dirfd=${dirfd}, path=${path}`,
      () => lib().readlinkat(dirfd, cString(path), buf, BigInt(size)),
    ));
    if (n < size) return decoder.decode(buf.subarray(0, n));
  }
}

/** read(2) into `buf`; returns the byte count (0 at end of file). */
export function readInto(fd: number, buf: Uint8Array<ArrayBuffer>): number {
  return Number(
    check("read", () => `fd=${fd}`, () => lib().read(fd, buf, BigInt(buf.length))),
  );
}

/** Writes all of `data` to `fd`, retrying short writes. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  // A stream chunk is typed over ArrayBufferLike; FFI reads it in place either way.
  const data = bytes as Uint8Array<ArrayBuffer>;
  let offset = 0;
  while (offset < data.length) {
    const chunk = offset === 0 ? data : data.subarray(offset);
    const n = check(
      "write",
      () => `fd=${fd}, count=${chunk.length}`,
      () => lib().write(fd, chunk, BigInt(chunk.length)),
    );
    offset += Number(n);
  }
}

/** copy_file_range(2) from the current offsets; returns bytes copied (0 at end of input). */
export function copyFileRange(fdIn: number, fdOut: number, length: number): number {
  return Number(check(
    "copy_file_range",
    () => `fd_in=${fdIn}, fd_out=${fdOut}, len=${length}`,
    () => lib().copy_file_range(fdIn, null, fdOut, null, BigInt(length), 0),
  ));
}

/** ioctl(FICLONE): makes `destFd` share `srcFd`'s extents (a reflink) on btrfs/XFS. */
export function ficlone(destFd: number, srcFd: number): void {
  check(
    "ioctl",
    () => `fd=${destFd}, request=FICLONE, src_fd=${srcFd}`,
    () => lib().ioctl(destFd, BigInt(FICLONE), BigInt(srcFd)),
  );
}

/** syncfs(2): writes back the filesystem that holds `fd`. */
export function syncfs(fd: number): void {
  check("syncfs", () => `fd=${fd}`, () => lib().syncfs(fd));
}
