import { check, errno, lazyLibc, libc } from "./_libc.ts";
import { isErrno, SyscallError } from "./errno.ts";
import { addressOf, cString } from "./c_string.ts";
import {
  AT_EACCESS,
  AT_FDCWD,
  F_GETFD,
  F_SETFD,
  FD_CLOEXEC,
  LOCK_EX,
  LOCK_NB,
  POLLHUP,
  POLLIN,
  W_OK,
} from "./constants.ts";
import { SYS } from "./arch.ts";

/** open(2). Unlike Deno's own files, the fd is inheritable unless `flags` has O_CLOEXEC. */
export function open(path: string, flags: number, mode = 0): number {
  return check(
    "open",
    () => `path=${path}, flags=0o${flags.toString(8)}`,
    () => libc().open(cString(path), flags, mode),
  );
}

/** openat(2) relative to `dirfd`. */
export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(
    "openat",
    () => `dirfd=${dirfd}, path=${path}, flags=0o${flags.toString(8)}`,
    () => libc().openat(dirfd, cString(path), flags, mode),
  );
}

/**
 * openat2(2) (Linux 5.6): openat with `resolve`, a set of RESOLVE_* flags that bound the whole
 * path walk, not just its last component. Kernels without it fail with ENOSYS (and seccomp
 * profiles older than it with EPERM or ENOSYS); callers fall back on their own walk.
 */
export function openat2(
  dirfd: number,
  path: string,
  flags: number,
  resolve: number,
  mode = 0,
): number {
  // struct open_how { u64 flags; u64 mode; u64 resolve; } (OPEN_HOW_SIZE_VER0 = 24)
  const how = new BigUint64Array([BigInt(flags), BigInt(mode), BigInt(resolve)]);
  const p = cString(path);
  // With RESOLVE_IN_ROOT or RESOLVE_BENEATH, the kernel gives EAGAIN when a rename or a mount
  // anywhere on the host raced with a ".." of the walk (openat2(2): "the caller may choose to
  // retry"); busy hosts see it. Retried a bounded number of times, then reported.
  for (let attempt = 1;; attempt++) {
    try {
      return Number(check(
        "openat2",
        () =>
          `dirfd=${dirfd}, path=${path}, flags=0o${flags.toString(8)}, resolve=0x${
            resolve.toString(16)
          }`,
        () =>
          libc().syscall(
            BigInt(SYS.openat2),
            BigInt(dirfd),
            addressOf(p),
            addressOf(how),
            24n,
            0n,
            0n,
          ),
      ));
    } catch (err) {
      if (attempt >= OPENAT2_TRIES || !isErrno(err, "EAGAIN")) throw err;
    }
  }
}

/** How often openat2() tries a walk that keeps racing with renames or mounts (EAGAIN). */
const OPENAT2_TRIES = 64;

/**
 * close(2), ignoring its errors. On Linux the fd is released even when close fails (EINTR, EIO),
 * so there is nothing to retry, and the callers are cleanup paths (finally blocks) where a throw
 * would hide the error that got them there. EBADF would reveal a double close, but only sometimes:
 * Deno's other threads reuse a freed fd number at once, so a second close usually closes their fd
 * without error. Double closes are prevented by ownership (one owner closes), not detected here.
 */
export function close(fd: number): void {
  libc().close(fd);
}

/** pipe2(2): returns [readEnd, writeEnd]. Without O_CLOEXEC in `flags` both ends are inherited by children. */
export function pipe(flags = 0): [number, number] {
  const fds = new Int32Array(2);
  check(
    "pipe2",
    () => `flags=0o${flags.toString(8)}`,
    () => libc().pipe2(new Uint8Array(fds.buffer), flags),
  );
  return [fds[0], fds[1]];
}

/** Sets or clears FD_CLOEXEC on `fd`. */
export function setCloexec(fd: number, on: boolean): void {
  const current = check(
    "fcntl",
    () => `fd=${fd}, cmd=F_GETFD`,
    () => libc().fcntl(fd, F_GETFD, 0n),
  );
  const next = on ? current | FD_CLOEXEC : current & ~FD_CLOEXEC;
  check("fcntl", () => `fd=${fd}, cmd=F_SETFD`, () => libc().fcntl(fd, F_SETFD, BigInt(next)));
}

/** Reads up to `size` bytes from `fd`; an empty result means end of file. */
export function read(fd: number, size = 65536): Uint8Array {
  const buf = new Uint8Array(size);
  const n = check("read", () => `fd=${fd}`, () => libc().read(fd, buf, BigInt(size)));
  return buf.subarray(0, Number(n));
}

/** Writes all of `data` to `fd`. */
export function writeAll(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) {
    const chunk = data.subarray(offset);
    const n = check("write", () => `fd=${fd}`, () => libc().write(fd, chunk, BigInt(chunk.length)));
    offset += Number(n);
  }
}

/**
 * Waits up to `timeoutMs` for `fd` to be readable (or hung up).
 * @returns true when readable, false on timeout.
 */
export function pollReadable(fd: number, timeoutMs: number): boolean {
  const pfd = new Uint8Array(8);
  const view = new DataView(pfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN | POLLHUP, true);
  const n = check("poll", () => `fd=${fd}`, () => libc().poll(pfd, 1n, timeoutMs));
  return n > 0;
}

// A separate binding: with nonblocking, Deno runs poll(2) on a thread of its own pool, so awaiting
// it leaves the event loop free. errno belongs to that thread and cannot be read here, so a failure
// is repeated synchronously (timeout 0) to learn its errno (waitReadable()).
const blockingLibc = lazyLibc(
  {
    /** int poll(struct pollfd *fds, nfds_t nfds, int timeout); */
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  } as const,
);

/**
 * Waits up to `timeoutMs` (-1: no limit) for `fd` to be readable (or hung up), off the main thread.
 * @returns true when readable, false on timeout.
 */
export async function waitReadable(fd: number, timeoutMs: number): Promise<boolean> {
  const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
  for (;;) {
    const pfd = new Uint8Array(8);
    const view = new DataView(pfd.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN | POLLHUP, true);
    const left = deadline === Infinity ? -1 : Math.max(0, deadline - Date.now());
    const n = await blockingLibc.poll(pfd, 1n, left);
    if (n > 0) return true;
    if (n === 0) return false;
    // Failed on the other thread: EINTR is retried, anything else throws with its errno here.
    if (pollReadable(fd, 0)) return true;
    if (Date.now() >= deadline) return false;
  }
}

/** Takes an exclusive flock(2) on `fd`, waiting for it unless `wait` is false (then throws EWOULDBLOCK). */
export function lockExclusive(fd: number, wait = true): void {
  check(
    "flock",
    () => `fd=${fd}, op=LOCK_EX`,
    () => libc().flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB),
  );
}

/** mkfifo(3). */
export function mkfifo(path: string, mode: number): void {
  check(
    "mkfifo",
    () => `path=${path}, mode=0o${mode.toString(8)}`,
    () => libc().mkfifo(cString(path), mode),
  );
}

/** mknod(2) with a device number from `major`/`minor`. */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  const dev = makedev(major, minor);
  check(
    "mknod",
    () => `path=${path}, mode=0o${mode.toString(8)}, dev=${major}:${minor}`,
    () => libc().mknod(cString(path), mode, dev),
  );
}

/** glibc's makedev(3) encoding. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) |
    (mi & 0xffn);
}

/** lchown(2). */
export function lchown(path: string, uid: number, gid: number): void {
  check(
    "lchown",
    () => `path=${path}, uid=${uid}, gid=${gid}`,
    () => libc().lchown(cString(path), uid, gid),
  );
}

/**
 * True when the caller may write `path`, judged with its effective ids as open(2) would
 * (faccessat(2) with AT_EACCESS); false on any error, a missing path included.
 */
export function canWrite(path: string): boolean {
  return libc().faccessat(AT_FDCWD, cString(path), W_OK, AT_EACCESS) === 0;
}

/**
 * fstatfs(2): the filesystem type (f_type, linux/magic.h) of the file open at `fd`. `f_type` is the
 * first field of struct statfs, a long on x86_64 and aarch64.
 */
export function fstatfsType(fd: number): number {
  const buf = new BigInt64Array(16); // struct statfs is 120 bytes on both.
  check("fstatfs", () => `fd=${fd}`, () => libc().fstatfs(fd, new Uint8Array(buf.buffer)));
  return Number(buf[0]);
}

/**
 * fstatfs(2): the mount flags (f_flags: ST_RDONLY, ST_NOSUID, ST_NODEV, ST_NOEXEC ..., statfs(2))
 * of the mount the file open at `fd` (O_PATH will do) is on. f_flags is the 11th long of struct
 * statfs on x86_64 and aarch64.
 */
export function fstatfsFlags(fd: number): number {
  const buf = new BigInt64Array(16);
  check("fstatfs", () => `fd=${fd}`, () => libc().fstatfs(fd, new Uint8Array(buf.buffer)));
  return Number(buf[10]);
}

/** chdir(2). */
export function chdir(path: string): void {
  check("chdir", () => `path=${path}`, () => libc().chdir(cString(path)));
}

/** fchdir(2). */
export function fchdir(fd: number): void {
  check("fchdir", () => `fd=${fd}`, () => libc().fchdir(fd));
}

/** chroot(2). */
export function chroot(path: string): void {
  check("chroot", () => `path=${path}`, () => libc().chroot(cString(path)));
}

/**
 * getcwd(3) of the calling thread. A cwd outside the root (or deleted) comes back as a path that
 * does not start with "/" ("(unreachable)/..."), or as ENOENT; other failures throw their errno.
 */
export function getcwd(): string {
  const buf = new Uint8Array(4096);
  const ptr = libc().getcwd(buf, 4096n);
  if (ptr === null) throw new SyscallError("getcwd", errno(), "size=4096");
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

/** memfd_create(2) flags. */
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
/** fcntl(2) F_ADD_SEALS and its seals (linux/fcntl.h). */
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;

/** memfd_create(2): an anonymous file; `name` shows in /proc/PID/fd links as "/memfd:NAME". */
export function memfdCreate(name: string, flags: number): number {
  return check(
    "memfd_create",
    () => `name=${name}, flags=0x${flags.toString(16)}`,
    () => libc().memfd_create(cString(name), flags),
  );
}

/** fcntl(fd, F_ADD_SEALS, seals) on a memfd made with MFD_ALLOW_SEALING. */
export function addSeals(fd: number, seals: number): void {
  check(
    "fcntl",
    () => `fd=${fd}, cmd=F_ADD_SEALS, seals=0x${seals.toString(16)}`,
    () => libc().fcntl(fd, F_ADD_SEALS, BigInt(seals)),
  );
}

/** fcntl(fd, F_GET_SEALS): the seals of a memfd. */
export function getSeals(fd: number): number {
  return check(
    "fcntl",
    () => `fd=${fd}, cmd=F_GET_SEALS`,
    () => libc().fcntl(fd, F_GET_SEALS, 0n),
  );
}

/** umask(2): returns the previous mask. */
export function umask(mask: number): number {
  return libc().umask(mask);
}

/**
 * Marks every fd from `first` upwards close-on-exec. close_range(2) with CLOSE_RANGE_CLOEXEC does it
 * in one call; where it is missing (kernels before 5.11: ENOSYS/EINVAL) or refused (a seccomp
 * profile older than the syscall: EPERM), each fd listed in /proc/self/fd is marked with fcntl(2),
 * as runc 1.1 does.
 */
export function cloexecFrom(first: number): void {
  try {
    check(
      "close_range",
      () => `first=${first}, last=~0, flags=CLOSE_RANGE_CLOEXEC`,
      () => libc().syscall(BigInt(SYS.close_range), BigInt(first), 0xffffffffn, 4n, 0n, 0n, 0n),
    );
    return;
  } catch (err) {
    if (!isErrno(err, "ENOSYS", "EINVAL", "EPERM")) {
      throw err;
    }
  }
  const fds: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (fd >= first) fds.push(fd);
  }
  for (const fd of fds) {
    try {
      setCloexec(fd, true);
    } catch (err) {
      // The directory's own fd is listed too, and is closed by now.
      if (!isErrno(err, "EBADF")) throw err;
    }
  }
}
