/**
 * Writes into /proc that cannot be sent elsewhere. After pivot_root (or setns into the container's
 * mount namespace) /proc is whatever the container's config and image put there: a bind mount or a
 * plain file over /proc/sys/..., or a symlink, would turn the runtime's write into a write to
 * another file (runc CVE-2025-52881). So the file is opened without following a final symlink and
 * checked to be on procfs before anything is written.
 */
import { O_CLOEXEC, O_NOFOLLOW, O_WRONLY, PROC_SUPER_MAGIC } from "../ffi/constants.ts";
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
