/**
 * Writes into /proc that cannot be sent elsewhere. After pivot_root (or setns into the container's
 * mount namespace) /proc is whatever the container's config and image put there: a bind mount or a
 * plain file over /proc/sys/..., or a symlink, would turn the runtime's write into a write to
 * another file (runc CVE-2025-52881). So the file is opened without following a final symlink and
 * checked to be on procfs before anything is written.
 */
import {
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  O_WRONLY,
  PROC_SUPER_MAGIC,
} from "../ffi/constants.ts";
import { close, fstatfsType, open, writeAll } from "../ffi/fs.ts";

/**
 * Writes `value` to the existing procfs file `path` (never created, never truncated first).
 * @throws when `path` is a symlink, missing, or not on procfs; the message names the path.
 */
export function writeProcFile(path: string, value: string): void {
  const fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
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
