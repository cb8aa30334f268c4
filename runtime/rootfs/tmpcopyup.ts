/**
 * The `tmpcopyup` mount option (runc and crun extension, sent by Podman for tmpfs mounts such as
 * /tmp with --read-only): the new tmpfs starts with a copy of what the image had at that path.
 */
import { join } from "../path.ts";
import {
  MS_BIND,
  MS_MOVE,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REMOUNT,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
} from "../../ffi/constants.ts";
import { close, lchown, open } from "../../ffi/fs.ts";
import { fdPath } from "./open_in_root.ts";
import { mount, umount } from "../../ffi/mount.ts";

/** Copies the tree under `src` into `dst` (an existing directory): modes, owners, symlinks. */
export function copyTree(src: string, dst: string): void {
  for (const entry of Deno.readDirSync(src)) {
    const from = join(src, entry.name);
    const to = join(dst, entry.name);
    const info = Deno.lstatSync(from);
    if (info.isSymlink) {
      Deno.symlinkSync(Deno.readLinkSync(from), to);
    } else if (info.isDirectory) {
      Deno.mkdirSync(to);
      copyTree(from, to);
    } else if (info.isFile) {
      Deno.copyFileSync(from, to);
    } else {
      continue; // Devices, fifos and sockets are not copied up (runc copies regular trees only).
    }
    lchown(to, info.uid ?? 0, info.gid ?? 0);
    if (!info.isSymlink) Deno.chmodSync(to, (info.mode ?? 0o755) & 0o7777);
  }
}

/**
 * Mounts a tmpfs at the mount point open at `targetFd` (an O_PATH fd from the rootfs) holding a
 * copy of what it contains now: the tmpfs is mounted on a scratch directory, filled, and moved
 * over the target (runc's order). Everything goes through fds (/proc/self/fd/N): the target that
 * was checked is the one copied from and mounted onto. The tmpfs takes the mode and owner of the
 * target only when the image had it (`existed`); a mount point the runtime just made keeps the
 * tmpfs's own root mode (1777, or mode=), as under runc: Podman's --read-only /run and /var/tmp
 * must stay writable for every user.
 */
export function mountTmpfsCopyUp(
  source: string,
  targetFd: number,
  flags: number,
  data: string,
  existed = true,
): void {
  const target = fdPath(targetFd);
  const scratch = Deno.makeTempDirSync({ prefix: "skiff-tmpcopyup-" });
  try {
    // Read-write while it is filled; `ro` goes on the mount once it is in place (runc's order).
    mount(source || "tmpfs", scratch, "tmpfs", flags & ~MS_RDONLY, data);
    // The new tmpfs, held by fd: it stays reachable after it moves.
    const tmpfsFd = open(scratch, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    try {
      try {
        copyTree(target, scratch);
        if (existed) {
          const info = Deno.statSync(target);
          lchown(scratch, info.uid ?? 0, info.gid ?? 0);
          Deno.chmodSync(scratch, (info.mode ?? 0o755) & 0o7777);
        }
        mount(fdPath(tmpfsFd), target, "", MS_MOVE);
      } catch (err) {
        try {
          umount(scratch);
        } catch {
          // The error below is the one to report.
        }
        throw err;
      }
      if (flags & MS_RDONLY) {
        const kept = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount("", fdPath(tmpfsFd), "", MS_REMOUNT | MS_BIND | MS_RDONLY | kept);
      }
    } finally {
      close(tmpfsFd);
    }
  } finally {
    try {
      Deno.removeSync(scratch);
    } catch {
      // Still a mount point after a failure: it dies with the mount namespace.
    }
  }
}
