/**
 * Writes into /proc that cannot be sent elsewhere. After pivot_root (or setns into the container's
 * mount namespace) /proc is whatever the container's config and image put there: a bind mount or a
 * plain file over /proc/sys/..., or a symlink, would turn the runtime's write into a write to
 * another file (runc CVE-2025-52881). So the file is opened without following a final symlink and
 * checked to be on procfs before anything is written.
 */
import {
  AT_EMPTY_PATH,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  O_WRONLY,
  PROC_SUPER_MAGIC,
  RESOLVE_BENEATH,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_XDEV,
} from "../ffi/constants.ts";
import { close, fstatfsType, open, openat2, writeAll } from "../ffi/fs.ts";
import { statx } from "../ffi/file_attrs.ts";
import { isErrno } from "../ffi/errno.ts";
import { haveOpenat2, noOpenat2 } from "./rootfs/open_in_root.ts";

/**
 * Writes `value` to the existing procfs file `path` (never created, never truncated first).
 * A path under /proc is opened from the fd of /proc, which must be the root of a procfs mount,
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS): the walk stays in that
 * one procfs mount, so a bind mount over any part of the path (even of another procfs file, runc
 * CVE-2025-52881) is refused, and the last component is never followed. Where openat2 is missing
 * (Linux < 5.6) the file is opened with O_NOFOLLOW. Either way the open file is checked to be on
 * procfs before anything is written.
 * @param procDir where that procfs is mounted: "/proc", or `<rootfs>/proc` for the container's own
 *   before its root switch (the trampoline init's CLI); `path` still says /proc/...
 * @throws when `path` is a symlink, missing, covered by a mount, or not on procfs; the message
 *   names the path.
 */
export function writeProcFile(path: string, value: string, procDir = "/proc"): void {
  const fd = openProcFile(path, procDir);
  try {
    const type = fstatfsType(fd);
    if (type !== PROC_SUPER_MAGIC) {
      throw new Error(
        `${path} is not on procfs (filesystem type 0x${type.toString(16)}): refusing to write it`,
      );
    }
    writeAll(fd, new TextEncoder().encode(value));
  } finally {
    close(fd);
  }
}

/** PROC_ROOT_INO (fs/proc/internal.h): the inode number of a procfs mount's root. */
const PROC_ROOT_INO = 1n;

function openProcFile(path: string, procDir: string): number {
  const flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
  const inProc = path.startsWith("/proc/");
  const full = inProc ? `${procDir}/${path.slice("/proc/".length)}` : path;
  if (!inProc || !haveOpenat2()) return open(full, flags);
  const proc = open(procDir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    const st = statx(proc, "", AT_EMPTY_PATH);
    if (fstatfsType(proc) !== PROC_SUPER_MAGIC || st.ino !== PROC_ROOT_INO) {
      throw new Error(`/proc is not the root of a procfs mount: refusing to write ${path}`);
    }
    try {
      return openat2(
        proc,
        path.slice("/proc/".length),
        flags,
        RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
      );
    } catch (err) {
      if (isErrno(err, "ENOSYS", "EPERM")) {
        noOpenat2();
        return open(full, flags);
      }
      if (isErrno(err, "EXDEV")) {
        throw new Error(
          `${path} is covered by a mount (not procfs's own file): refusing to write it`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  } finally {
    close(proc);
  }
}

/** True when /proc in the caller's root is a procfs mount (not a directory of the image). */
export function procIsMounted(): boolean {
  let fd: number;
  try {
    fd = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } catch {
    return false;
  }
  try {
    return fstatfsType(fd) === PROC_SUPER_MAGIC;
  } finally {
    close(fd);
  }
}

/**
 * The path through which mount(2), chmod and kin reach the file open at `fd`: /proc/self/fd/N,
 * when /proc is a real procfs. Without one (a container with no /proc mount), `fallback`, the
 * path the fd was opened from: then nothing else runs in the container yet to swap it.
 */
export function fdPathOr(fd: number, fallback: string): string {
  return procIsMounted() ? `/proc/self/fd/${fd}` : fallback;
}
