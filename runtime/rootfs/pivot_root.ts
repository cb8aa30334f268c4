import {
  chdir,
  chroot,
  close,
  fchdir,
  mount,
  MS_MOVE,
  MS_REC,
  MS_SLAVE,
  O_CLOEXEC,
  O_DIRECTORY,
  O_RDONLY,
  open,
  pivotRoot as pivotRootCall,
  umount,
} from "../../ffi/mod.ts";

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

/** `--no-pivot`: moves `rootfs` over "/" and chroots into it, for ramdisk roots where pivot_root fails. */
export function moveRoot(rootfs: string): void {
  chdir(rootfs);
  mount(rootfs, "/", "", MS_MOVE);
  chroot(".");
  chdir("/");
}
