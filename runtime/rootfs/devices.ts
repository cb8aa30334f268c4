import { isErrno } from "../../ffi/errno.ts";
import type { Device } from "../../spec/config.ts";
import {
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  MS_BIND,
  O_CLOEXEC,
  O_CREAT,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
} from "../../ffi/constants.ts";
import { close, openat } from "../../ffi/fs.ts";
import { fchownat, mknodat, symlinkat, unlinkat } from "../../ffi/file_attrs.ts";
import { mount } from "../../ffi/mount.ts";
import { fdPath, fileTypeOf, mkdirAllAt, type RootHandle } from "./open_in_root.ts";

/** The devices every container gets (runtime-linux.md "Default Devices"). */
export const DEFAULT_DEVICES: readonly Device[] = [
  { type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/zero", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/full", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/random", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/urandom", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { type: "c", path: "/dev/tty", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

function fileType(type: Device["type"]): number {
  switch (type) {
    case "b":
      return S_IFBLK;
    case "p":
      return S_IFIFO;
    default:
      return S_IFCHR;
  }
}

/**
 * Creates `device` inside the rootfs with mknod(2), or, where mknod is refused (EPERM, as inside a
 * user namespace) or with `bindOnly` (the rootfs of a user namespace built from outside it),
 * bind-mounts the host's node instead, as runc does.
 *
 * The parent directory is opened inside the rootfs (openInRoot) and everything after happens in
 * that directory's fd: the last component is never resolved. The rootfs belongs to the image,
 * and a /dev/null there that is a symlink must not send the removal, the node or the bind-mount's
 * file to its target (runc CVE-2025-31133 and kin). Whatever is at the path itself (a symlink
 * included) is replaced by the node.
 */
export function createDevice(root: RootHandle, device: Device, bindOnly = false): void {
  const slash = device.path.lastIndexOf("/");
  const parent = device.path.slice(0, slash) || "/";
  const name = device.path.slice(slash + 1);
  if (name === "" || name === "." || name === "..") {
    throw new Error(`device path ${device.path}: expected a path that names a file`);
  }
  const dirfd = mkdirAllAt(root, parent);
  try {
    makeNodeAt(dirfd, device, name, bindOnly);
  } finally {
    close(dirfd);
  }
}

function makeNodeAt(dirfd: number, device: Device, name: string, bindOnly: boolean): void {
  removeAt(dirfd, name);
  const mode = device.fileMode ?? 0o666;
  if (bindOnly) {
    // A user namespace's root can't mknod (the capability is checked in the initial namespace):
    // whoever builds the rootfs for it binds, as that root would.
    bindHostDevice(device.path, dirfd, name);
    return;
  }
  try {
    // mknodat(2) never follows a symlink in its last component (EEXIST instead).
    mknodat(
      dirfd,
      name,
      fileType(device.type) | (mode & 0o7777),
      device.major ?? 0,
      device.minor ?? 0,
    );
  } catch (err) {
    // Something that cannot be removed is there already, e.g. /dev/ptmx (a symlink into devpts
    // by now) in a --privileged device list: runc keeps what is there too.
    if (isErrno(err, "EEXIST")) return;
    if (!isErrno(err, "EPERM")) throw err;
    bindHostDevice(device.path, dirfd, name);
    return;
  }
  // The node just made, opened without following: mknod(2) is subject to the umask, so the mode
  // is set explicitly, through this fd only.
  const fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  try {
    if (fileTypeOf(fd) !== fileType(device.type)) {
      throw new Error(`device ${device.path} changed under the runtime after mknod`);
    }
    Deno.chmodSync(fdPath(fd), mode & 0o7777);
  } finally {
    close(fd);
  }
  fchownat(dirfd, name, device.uid ?? 0, device.gid ?? 0, AT_SYMLINK_NOFOLLOW);
}

/** Removes `name` in `dirfd` (a symlink itself, never its target; an empty directory too). */
function removeAt(dirfd: number, name: string): void {
  try {
    unlinkat(dirfd, name);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    if (!isErrno(err, "EISDIR")) return; // Left for mknod to report (EEXIST) or keep.
    try {
      unlinkat(dirfd, name, AT_REMOVEDIR);
    } catch {
      // A directory with files in it stays: mknod then finds it (EEXIST).
    }
  }
}

/**
 * Bind-mounts the host's `hostPath` onto `name` in `dirfd`, a file created for it if missing. The
 * file is opened with O_NOFOLLOW and never truncated, and the mount goes onto that open file
 * (through /proc/self/fd), so a symlink put there is refused, not followed (runc's
 * bindMountDeviceNode).
 */
function bindHostDevice(hostPath: string, dirfd: number, name: string): void {
  let fd: number;
  try {
    fd = openat(dirfd, name, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644);
  } catch (err) {
    const why = isErrno(err, "ELOOP") ? "it is a symlink" : "it cannot be opened as a file";
    throw new Error(`cannot bind-mount device ${hostPath} onto ${name} in the rootfs: ${why}`, {
      cause: err,
    });
  }
  try {
    mount(hostPath, fdPath(fd), "", MS_BIND);
  } finally {
    close(fd);
  }
}

/**
 * Creates the /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks and /dev/ptmx -> pts/ptmx,
 * replacing what is there (a symlink itself, never its target) through the fd of /dev.
 */
export function createDevSymlinks(root: RootHandle): void {
  const links: [string, string][] = [
    ["/proc/self/fd", "fd"],
    ["/proc/self/fd/0", "stdin"],
    ["/proc/self/fd/1", "stdout"],
    ["/proc/self/fd/2", "stderr"],
    ["pts/ptmx", "ptmx"],
  ];
  const dev = mkdirAllAt(root, "/dev");
  try {
    for (const [target, name] of links) {
      removeAt(dev, name);
      symlinkat(target, dev, name);
    }
  } finally {
    close(dev);
  }
}
