import { isErrno } from "../../ffi/errno.ts";
import { join } from "../path.ts";
import type { Device } from "../../spec/config.ts";
import {
  MS_BIND,
  O_CLOEXEC,
  O_CREAT,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_RDONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
} from "../../ffi/constants.ts";
import { close, lchown, makedev, mknod, open } from "../../ffi/fs.ts";
import { mount } from "../../ffi/mount.ts";
import { mkdirAllInRoot, secureJoin } from "./secure_join.ts";

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
 * Creates `device` inside `rootfs` with mknod(2), or, where mknod is refused (EPERM, as inside a
 * user namespace), bind-mounts the host's node instead, as runc does.
 *
 * The parent directory is resolved inside the rootfs, but the last component never is: the rootfs
 * belongs to the image, and a /dev/null there that is a symlink must not send the removal, the
 * node or the bind-mount's file to its target (runc CVE-2025-31133 and kin). Whatever is at the
 * path itself (a symlink included) is replaced by the node.
 */
export function createDevice(rootfs: string, device: Device): void {
  const slash = device.path.lastIndexOf("/");
  const parent = device.path.slice(0, slash) || "/";
  const name = device.path.slice(slash + 1);
  if (name === "" || name === "." || name === "..") {
    throw new Error(`device path ${device.path}: expected a path that names a file`);
  }
  const target = join(mkdirAllInRoot(rootfs, parent), name);
  try {
    // unlink(2) and rmdir(2) act on a symlink itself, never on what it points at.
    Deno.removeSync(target);
  } catch {
    // Nothing there yet.
  }
  const mode = device.fileMode ?? 0o666;
  try {
    // mknod(2) never follows a symlink in its last component (EEXIST instead).
    mknod(target, fileType(device.type) | (mode & 0o7777), device.major ?? 0, device.minor ?? 0);
  } catch (err) {
    // Something that cannot be removed is there already, e.g. /dev/ptmx (a symlink into devpts
    // by now) in a --privileged device list: runc keeps what is there too.
    if (isErrno(err, "EEXIST")) return;
    if (!isErrno(err, "EPERM")) throw err;
    bindHostDevice(device.path, target);
    return;
  }
  // mknod(2) is subject to the umask: set the mode explicitly.
  Deno.chmodSync(target, mode & 0o7777);
  lchown(target, device.uid ?? 0, device.gid ?? 0);
}

/**
 * Bind-mounts the host's `hostPath` onto `target`, a file created for it if missing. The file is
 * opened with O_NOFOLLOW and never truncated, and the mount goes onto that open file (through
 * /proc/self/fd), so a symlink put at `target` is refused, not followed (runc's
 * bindMountDeviceNode).
 */
function bindHostDevice(hostPath: string, target: string): void {
  let fd: number;
  try {
    fd = open(target, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644);
  } catch (err) {
    const why = isErrno(err, "ELOOP") ? "it is a symlink" : "it cannot be opened as a file";
    throw new Error(`cannot bind-mount device ${hostPath} onto ${target}: ${why}`, { cause: err });
  }
  try {
    mount(hostPath, `/proc/self/fd/${fd}`, "", MS_BIND);
  } finally {
    close(fd);
  }
}

/** Creates the /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks and /dev/ptmx -> pts/ptmx. */
export function createDevSymlinks(rootfs: string): void {
  const dev = secureJoin(rootfs, "/dev");
  const links: [string, string][] = [
    ["/proc/self/fd", "fd"],
    ["/proc/self/fd/0", "stdin"],
    ["/proc/self/fd/1", "stdout"],
    ["/proc/self/fd/2", "stderr"],
    ["pts/ptmx", "ptmx"],
  ];
  for (const [target, name] of links) {
    const path = join(dev, name);
    try {
      Deno.removeSync(path);
    } catch {
      // Nothing to replace.
    }
    Deno.symlinkSync(target, path);
  }
}

/** Returns true when `path` (in the current root) is the real null device, char 1:3. */
export function isNullDevice(path: string): boolean {
  try {
    const info = Deno.lstatSync(path);
    return info.isCharDevice === true && BigInt(info.rdev ?? -1) === makedev(1, 3);
  } catch {
    return false;
  }
}
