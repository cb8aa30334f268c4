/**
 * fd-based resolution of paths inside a container's rootfs (issue 15, runc CVE-2025-31133, 52565,
 * 52881). The rootfs belongs to the image, and a rootfs shared with a running container can change
 * under the runtime: a path checked and then used by name could be redirected in between. So a
 * path is opened once, as a handle, with openat2(2):
 * - RESOLVE_IN_ROOT: absolute symlinks and ".." stay inside the rootfs, as the container sees them;
 * - RESOLVE_NO_MAGICLINKS: /proc/PID/root, /proc/PID/fd/N and kin (which could lead anywhere on
 *   the host) are refused;
 * and everything after that (mknod, unlink, mount) acts on the handle: *at(2) calls on a directory
 * fd, or mount(2) onto /proc/self/fd/N, so a swap between check and use cannot redirect it.
 *
 * Kernels before 5.6 have no openat2 (ENOSYS; a seccomp profile may also answer EPERM): then the
 * path is resolved with secureJoin() (a path walk, safe while nothing else changes the rootfs,
 * which holds during create) and opened with O_NOFOLLOW where the caller asked for it.
 */
import {
  AT_EMPTY_PATH,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_WRONLY,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
} from "../../ffi/constants.ts";
import { isErrno } from "../../ffi/errno.ts";
import { close, open, openat, openat2 } from "../../ffi/fs.ts";
import { mkdirat, readlinkat, statx } from "../../ffi/file_attrs.ts";
import { join } from "../path.ts";
import { secureJoin } from "./secure_join.ts";

/** An open rootfs: its host path (for messages and the fallback) and an O_PATH fd of it. */
export interface RootHandle {
  path: string;
  fd: number;
}

let openat2Works: boolean | undefined;

/** False once openat2 was found missing (ENOSYS) or refused (EPERM): the fallback is in use. */
export function haveOpenat2(): boolean {
  return openat2Works !== false;
}

/** Records that openat2 is missing or refused (a caller saw ENOSYS or EPERM). */
export function noOpenat2(): void {
  openat2Works = false;
}

/** For tests: forces the path-walk fallback (false), or back to probing (undefined). */
export function setOpenat2ForTesting(value: boolean | undefined): void {
  openat2Works = value;
}

/** Opens `rootfs` as a RootHandle; close it with closeRoot(). */
export function openRoot(rootfs: string): RootHandle {
  return { path: rootfs, fd: open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC) };
}

/** Closes what openRoot() opened. */
export function closeRoot(root: RootHandle): void {
  close(root.fd);
}

/** Runs `fn` with `rootfs` open as a RootHandle, and closes it after. */
export function withRoot<T>(rootfs: string, fn: (root: RootHandle) => T): T {
  const root = openRoot(rootfs);
  try {
    return fn(root);
  } finally {
    closeRoot(root);
  }
}

function relative(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return parts.length === 0 ? "." : parts.join("/");
}

/**
 * Opens `path` (as the container sees it) inside `root`. Symlinks on the way are resolved inside
 * the rootfs; with O_NOFOLLOW in `flags` the last component is never followed (with O_PATH the
 * symlink itself is opened: check it with fileTypeOf()). The fd is close-on-exec. `resolve` adds
 * RESOLVE_* flags (openat2 only; the path-walk fallback ignores them).
 */
export function openInRoot(
  root: RootHandle,
  path: string,
  flags: number,
  mode = 0,
  resolve = 0,
): number {
  const rel = relative(path);
  if (openat2Works !== false) {
    try {
      const fd = openat2(
        root.fd,
        rel,
        flags | O_CLOEXEC,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve,
        mode,
      );
      openat2Works = true;
      return fd;
    } catch (err) {
      if (openat2Works === true || !isErrno(err, "ENOSYS", "EPERM")) throw err;
      openat2Works = false;
    }
  }
  // Fallback: a path walk; the last component is followed only when the caller allows it.
  const slash = rel.lastIndexOf("/");
  const name = rel.slice(slash + 1);
  if (rel === "." || name === ".." || !(flags & O_NOFOLLOW)) {
    return open(secureJoin(root.path, rel), flags | O_CLOEXEC, mode);
  }
  const parent = slash < 0 ? root.path : secureJoin(root.path, rel.slice(0, slash));
  return open(join(parent, name), flags | O_CLOEXEC, mode);
}

/** The S_IFMT bits of the file open at `fd` (an O_PATH fd of a symlink gives S_IFLNK). */
export function fileTypeOf(fd: number): number {
  return statx(fd, "", AT_EMPTY_PATH).mode & S_IFMT;
}

/** True when `fd` (from openInRoot with O_PATH|O_NOFOLLOW) is a symlink itself. */
export function isSymlinkFd(fd: number): boolean {
  return fileTypeOf(fd) === S_IFLNK;
}

/** True when `fd` is a directory. */
export function isDirectoryFd(fd: number): boolean {
  return fileTypeOf(fd) === S_IFDIR;
}

/** The path through which mount(2) and chmod reach the file open at `fd` (the caller's /proc). */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

const MAX_SYMLINKS = 255;

/**
 * Creates every missing directory of `path` inside `root`, one component at a time, each made
 * with mkdirat(2) in its parent's fd, and returns an O_PATH fd of the last one. Each component is
 * opened with O_NOFOLLOW; a symlink is read and its target walked instead, inside the rootfs (as
 * secureJoin does), so a symlink to a missing path makes the directories where the container
 * would see them, never outside.
 */
export function mkdirAllAt(root: RootHandle, path: string, mode = 0o755): number {
  const pending = path.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let links = 0;
  let fd = openInRoot(root, ".", O_PATH | O_DIRECTORY);
  const reopen = () => {
    const next = openInRoot(root, resolved.join("/") || ".", O_PATH | O_DIRECTORY);
    close(fd);
    fd = next;
  };
  try {
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === "..") {
        resolved.pop();
        reopen();
        continue;
      }
      let child: number | undefined;
      try {
        child = openat(fd, part, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
      }
      if (child === undefined) {
        try {
          mkdirat(fd, part, mode);
        } catch (err) {
          if (!isErrno(err, "EEXIST")) throw err;
        }
        child = openat(fd, part, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      }
      const type = fileTypeOf(child);
      if (type === S_IFLNK) {
        close(child);
        if (++links > MAX_SYMLINKS) {
          throw new Error(`mkdir ${path} in ${root.path}: too many levels of symbolic links`);
        }
        const target = readlinkat(fd, part);
        if (target.startsWith("/")) {
          resolved.length = 0;
          reopen();
        }
        pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
        continue;
      }
      if (type !== S_IFDIR) {
        close(child);
        throw new Error(
          `mkdir ${path} in ${root.path}: /${[...resolved, part].join("/")} is not a directory`,
        );
      }
      resolved.push(part);
      close(fd);
      fd = child;
    }
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/**
 * Creates the empty file `name` in the directory open at `dirfd` unless something is there, and
 * returns an O_PATH fd of what is there now, never following a symlink (O_EXCL|O_NOFOLLOW: a
 * file that is there is never opened for writing, let alone truncated).
 */
export function ensureFileAt(dirfd: number, name: string, mode = 0o644): number {
  try {
    close(openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  } catch (err) {
    if (!isErrno(err, "EEXIST")) throw err;
  }
  return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}
