import {
  AT_EMPTY_PATH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  S_IFCHR,
  S_IFMT,
} from "../../ffi/constants.ts";
import { mount } from "../../ffi/mount.ts";
import { isErrno } from "../../ffi/errno.ts";
import { close, fstatfsFlags, open } from "../../ffi/fs.ts";
import { statx } from "../../ffi/file_attrs.ts";
import { fdPathOr } from "../procfs.ts";
import {
  isDirectoryFd,
  isSymlinkFd,
  openInRoot,
  type RootHandle,
  withRoot,
} from "./open_in_root.ts";

/**
 * Opens `path` in the current root (after pivot_root) without following a symlink anywhere it
 * could leave the root (RESOLVE_IN_ROOT) and never in its last component; undefined when it is
 * missing or is a symlink itself (skipped, as runc does).
 */
function openTarget(root: RootHandle, path: string): number | undefined {
  let fd: number;
  try {
    fd = openInRoot(root, path, O_PATH | O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw err;
  }
  if (isSymlinkFd(fd)) {
    close(fd);
    return undefined;
  }
  return fd;
}

/**
 * Opens /dev/null (in the current root) and checks, on the open fd, that it is the null device,
 * char 1:3: a container image cannot turn it into a symlink, a file or another device, and the
 * mask then goes from this fd, not from the path (CVE-2025-31133).
 */
export function openNullDevice(root: RootHandle): number {
  let fd: number;
  try {
    fd = openInRoot(root, "/dev/null", O_PATH | O_NOFOLLOW);
  } catch (err) {
    throw new Error("cannot open /dev/null to mask paths with it", { cause: err });
  }
  const st = statx(fd, "", AT_EMPTY_PATH);
  if ((st.mode & S_IFMT) !== S_IFCHR || st.rdevMajor !== 1 || st.rdevMinor !== 3) {
    close(fd);
    throw new Error("/dev/null is not the null device (char 1:3): refusing to mask paths with it");
  }
  return fd;
}

/**
 * Hides each of `paths` (after pivot_root): directories get an empty read-only tmpfs, files get
 * /dev/null bound over them. Each path is opened once and the mount goes onto that fd; /dev/null
 * is checked to be the real char 1:3 on its own fd first, so a container image cannot redirect
 * the mask (CVE-2025-31133). Missing paths and symlinks are skipped.
 */
export function maskPaths(paths: readonly string[], rootPath = "/"): void {
  if (paths.length === 0) return;
  withRoot(rootPath, (root) => {
    let nullFd: number | undefined;
    try {
      for (const path of paths) {
        const fd = openTarget(root, path);
        if (fd === undefined) continue;
        try {
          const target = fdPathOr(fd, path);
          if (isDirectoryFd(fd)) {
            mount("tmpfs", target, "tmpfs", MS_RDONLY);
            continue;
          }
          nullFd ??= openNullDevice(root);
          mount(fdPathOr(nullFd, "/dev/null"), target, "", MS_BIND);
        } catch (err) {
          throw new Error(`linux.maskedPaths: cannot mask ${path}`, { cause: err });
        } finally {
          close(fd);
        }
      }
    } finally {
      if (nullFd !== undefined) close(nullFd);
    }
  });
}

/**
 * The nosuid/nodev/noexec flags of the mount the file open at `fd` is on, from statfs(2)'s f_flags
 * (ST_NOSUID, ST_NODEV and ST_NOEXEC have the values of MS_NOSUID, MS_NODEV and MS_NOEXEC). One
 * fstatfs instead of reading and parsing /proc/self/mountinfo for each path, which grows with the
 * host's mounts (issue 11).
 */
export function lockedFlagsOf(fd: number): number {
  return fstatfsFlags(fd) & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

/**
 * Makes each of `paths` read-only with a recursive bind remount (after pivot_root); skips missing
 * ones. The remount keeps the nosuid/nodev/noexec the path already had and adds none (runc's
 * readonlyPath): a read-only /usr must still run its programs.
 */
export function readonlyPaths(paths: readonly string[], rootPath = "/"): void {
  if (paths.length === 0) return;
  withRoot(rootPath, (root) => {
    for (const path of paths) {
      const fd = openTarget(root, path);
      if (fd === undefined) continue;
      try {
        const target = fdPathOr(fd, path);
        mount(target, target, "", MS_BIND | MS_REC);
      } catch (err) {
        throw new Error(`linux.readonlyPaths: cannot bind ${path}`, { cause: err });
      } finally {
        close(fd);
      }
      // The bind is a new mount on top: the remount goes onto it, opened afresh.
      const top = openTarget(root, path);
      if (top === undefined) {
        throw new Error(`linux.readonlyPaths: ${path} changed under the runtime`);
      }
      try {
        // `top` is on the bind just made: its flags are those the remount must keep.
        const kept = lockedFlagsOf(top);
        mount("", fdPathOr(top, path), "", MS_BIND | MS_REMOUNT | MS_RDONLY | kept);
      } catch (err) {
        throw new Error(`linux.readonlyPaths: cannot make ${path} read-only`, { cause: err });
      } finally {
        close(top);
      }
    }
  });
}

/**
 * Remounts the root read-only (root.readonly), keeping nosuid/nodev/noexec as they are: "/", or
 * the rootfs bind at `rootPath` before the root switch.
 */
export function readonlyRoot(rootPath = "/"): void {
  // In a user namespace those flags are locked: a remount without them is EPERM (a rootless
  // bundle on a nosuid,nodev tmpfs such as /tmp).
  const fd = open(rootPath, O_PATH | O_DIRECTORY | O_CLOEXEC);
  let kept: number;
  try {
    kept = lockedFlagsOf(fd);
  } finally {
    close(fd);
  }
  mount(rootPath, rootPath, "", MS_BIND | MS_REMOUNT | MS_RDONLY | kept);
}
