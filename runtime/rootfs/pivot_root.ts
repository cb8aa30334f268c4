import { isErrno } from "../../ffi/errno.ts";
import { readMountinfo } from "../mountinfo.ts";
import {
  MNT_DETACH,
  MS_MOVE,
  MS_REC,
  MS_SLAVE,
  O_CLOEXEC,
  O_DIRECTORY,
  O_RDONLY,
} from "../../ffi/constants.ts";
import { chdir, chroot, close, fchdir, open } from "../../ffi/fs.ts";
import { mount, pivotRoot as pivotRootCall, umount } from "../../ffi/mount.ts";

/**
 * Makes `rootfs` the root of the calling process's mount namespace with pivot_root(".", "."), then
 * detaches the old root so no host path stays reachable (runc's pivotRoot).
 */
export function pivotRoot(rootfs: string): void {
  const oldRoot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  const newRoot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  try {
    fchdir(newRoot);
    pivotRootCall(".", ".");
    // The old root is now stacked under "."; go there and unmount it without letting the unmount
    // propagate back to the host.
    fchdir(oldRoot);
    mount("", ".", "", MS_SLAVE | MS_REC);
    umount(".");
    chdir("/");
  } finally {
    close(oldRoot);
    close(newRoot);
  }
}

/**
 * Before `--no-pivot`'s MS_MOVE: removes (or covers with a tmpfs) every full procfs and sysfs
 * mount of the host that lies outside the rootfs. They stay in the mount namespace under the
 * chroot, and the kernel lets a process that unshares a user and mount namespace mount a fresh
 * procfs as long as one fully visible procfs exists in its namespace (mount_too_revealing);
 * runc's msMoveRoot hides them the same way.
 */
export function hideHostPseudoFilesystems(rootfs: string): void {
  const points: string[] = [];
  for (const { root, mountPoint: point, fstype } of readMountinfo()) {
    if (root !== "/" || (fstype !== "proc" && fstype !== "sysfs")) continue;
    if (point === rootfs || point.startsWith(`${rootfs}/`)) continue;
    points.push(point);
  }
  for (const point of points) {
    try {
      // Nothing done here may reach the host.
      mount("", point, "", MS_SLAVE | MS_REC);
    } catch (err) {
      // An earlier unmount took a parent of this mount point with it.
      if (isErrno(err, "ENOENT")) continue;
      throw err;
    }
    try {
      umount(point, MNT_DETACH);
    } catch (err) {
      if (!isErrno(err, "EINVAL", "EPERM")) throw err;
      mount("tmpfs", point, "tmpfs", 0);
    }
  }
}

/** `--no-pivot`: moves `rootfs` over "/" and chroots into it, for ramdisk roots where pivot_root fails. */
export function moveRoot(rootfs: string): void {
  hideHostPseudoFilesystems(rootfs);
  chdir(rootfs);
  mount(rootfs, "/", "", MS_MOVE);
  chroot(".");
  chdir("/");
}
