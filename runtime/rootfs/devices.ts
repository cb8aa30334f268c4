import { isErrno } from "../../ffi/errno.ts";
import { join } from "../path.ts";
import type { Device } from "../../spec/config.ts";
import { MS_BIND, S_IFBLK, S_IFCHR, S_IFIFO } from "../../ffi/constants.ts";
import { lchown, makedev, mknod } from "../../ffi/fs.ts";
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
 */
export function createDevice(rootfs: string, device: Device): void {
  const parent = device.path.slice(0, device.path.lastIndexOf("/")) || "/";
  mkdirAllInRoot(rootfs, parent);
  const target = secureJoin(rootfs, device.path);
  try {
    Deno.removeSync(target);
  } catch {
    // Nothing there yet.
  }
  const mode = device.fileMode ?? 0o666;
  try {
    mknod(target, fileType(device.type) | (mode & 0o7777), device.major ?? 0, device.minor ?? 0);
  } catch (err) {
    // Something that cannot be removed is there already, e.g. /dev/ptmx (a symlink into devpts
    // by now) in a --privileged device list: runc keeps what is there too.
    if (isErrno(err, "EEXIST")) return;
    if (!isErrno(err, "EPERM")) throw err;
    Deno.writeFileSync(target, new Uint8Array(), { mode: 0o644 });
    mount(device.path, target, "", MS_BIND);
    return;
  }
  // mknod(2) is subject to the umask: set the mode explicitly.
  Deno.chmodSync(target, mode & 0o7777);
  lchown(target, device.uid ?? 0, device.gid ?? 0);
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
