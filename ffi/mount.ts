import { check, libc } from "./_libc.ts";
import { addressOf, cString } from "./c_string.ts";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_RECURSIVE,
  flagNames,
  MNT_DETACH,
  MOUNT_ATTR_IDMAP,
  MOUNT_FLAG_NAMES,
  MOVE_MOUNT_F_EMPTY_PATH,
  MOVE_MOUNT_T_EMPTY_PATH,
  OPEN_TREE_CLONE,
} from "./constants.ts";
import { SYS } from "./arch.ts";

/**
 * A path for an error message: /proc/self/fd/N (how the runtime names a file it holds open, see
 * runtime/rootfs/open_in_root.ts) is shown as the file's path, so the message names the mount
 * point, not the fd.
 */
function shown(path: string): string {
  if (!/^\/proc\/self\/fd\/\d+$/.test(path)) return path;
  try {
    return Deno.readLinkSync(path);
  } catch {
    return path;
  }
}

/** mount(2). `source`, `fstype` and `data` may be empty (passed as NULL). */
export function mount(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data = "",
): void {
  check(
    "mount",
    () => {
      return `src=${shown(source || "none")}, dst=${shown(target)}, type=${
        fstype || "none"
      }, flags=${flagNames(flags, MOUNT_FLAG_NAMES)}${data ? `, data=${data}` : ""}`;
    },
    () =>
      libc().mount(
        source ? cString(source) : null,
        cString(target),
        fstype ? cString(fstype) : null,
        BigInt(flags),
        data ? cString(data) : null,
      ),
  );
}

/** umount2(2). */
export function umount(target: string, flags = MNT_DETACH): void {
  check(
    "umount2",
    () => `target=${target}, flags=${flags}`,
    () => libc().umount2(cString(target), flags),
  );
}

/** pivot_root(2). */
export function pivotRoot(newRoot: string, putOld: string): void {
  check(
    "pivot_root",
    () => `new_root=${newRoot}, put_old=${putOld}`,
    () =>
      libc().syscall(
        BigInt(SYS.pivot_root),
        addressOf(cString(newRoot)),
        addressOf(cString(putOld)),
        0n,
        0n,
        0n,
        0n,
      ),
  );
}

/** mount_setattr(2) with AT_RECURSIVE on `path`: sets and clears MOUNT_ATTR_* bits on the whole tree. */
export function mountSetattrRecursive(path: string, set: number, clear: number): void {
  const attr = new BigUint64Array([BigInt(set), BigInt(clear), 0n, 0n]);
  const p = cString(path);
  check(
    "mount_setattr",
    () =>
      `path=${path}, flags=AT_RECURSIVE, attr_set=0x${set.toString(16)}, attr_clr=0x${
        clear.toString(16)
      }`,
    () =>
      libc().syscall(
        BigInt(SYS.mount_setattr),
        BigInt(AT_FDCWD),
        addressOf(p),
        BigInt(AT_RECURSIVE),
        addressOf(attr),
        32n,
        0n,
      ),
  );
}

/**
 * open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` (the whole tree below
 * it with `recursive`), as an fd. The fd is inheritable (no OPEN_TREE_CLOEXEC): it is meant for a
 * child. Closing the last fd of a detached mount that was never attached unmounts it.
 */
export function openTreeClone(path: string, recursive: boolean): number {
  const flags = OPEN_TREE_CLONE | (recursive ? AT_RECURSIVE : 0);
  const p = cString(path);
  return Number(check(
    "open_tree",
    () => `path=${path}, flags=OPEN_TREE_CLONE${recursive ? "|AT_RECURSIVE" : ""}`,
    () =>
      libc().syscall(
        BigInt(SYS.open_tree),
        BigInt(AT_FDCWD),
        addressOf(p),
        BigInt(flags),
        0n,
        0n,
        0n,
      ),
  ));
}

/**
 * mount_setattr(2) on the mount fd `fd` (AT_EMPTY_PATH): MOUNT_ATTR_IDMAP with the id mapping of
 * the user namespace `usernsFd`; `recursive` applies it to every mount of the tree.
 * `what` names the mount in the error.
 */
export function mountSetIdmap(
  fd: number,
  usernsFd: number,
  recursive: boolean,
  what: string,
): void {
  // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; } (MOUNT_ATTR_SIZE_VER0)
  const attr = new BigUint64Array([BigInt(MOUNT_ATTR_IDMAP), 0n, 0n, BigInt(usernsFd)]);
  const empty = cString("");
  check(
    "mount_setattr",
    () =>
      `fd=${fd} (${what}), flags=AT_EMPTY_PATH${
        recursive ? "|AT_RECURSIVE" : ""
      }, attr_set=MOUNT_ATTR_IDMAP, userns_fd=${usernsFd}`,
    () =>
      libc().syscall(
        BigInt(SYS.mount_setattr),
        BigInt(fd),
        addressOf(empty),
        BigInt(AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0)),
        addressOf(attr),
        32n,
        0n,
      ),
  );
}

/**
 * move_mount(2) of the detached mount `fd` onto `target`: a path, or an fd of the mount point
 * (MOVE_MOUNT_T_EMPTY_PATH: move_mount does not follow a /proc/self/fd/N magic link in its
 * target without MOVE_MOUNT_T_SYMLINKS, so an fd is passed as such).
 */
export function moveMountFd(fd: number, target: string | number): void {
  const empty = cString("");
  const to = cString(typeof target === "number" ? "" : target);
  const flags = MOVE_MOUNT_F_EMPTY_PATH |
    (typeof target === "number" ? MOVE_MOUNT_T_EMPTY_PATH : 0);
  check(
    "move_mount",
    () =>
      `from_fd=${fd}, to=${
        typeof target === "number" ? shown(`/proc/self/fd/${target}`) : target
      }, flags=MOVE_MOUNT_F_EMPTY_PATH${
        typeof target === "number" ? "|MOVE_MOUNT_T_EMPTY_PATH" : ""
      }`,
    () =>
      libc().syscall(
        BigInt(SYS.move_mount),
        BigInt(fd),
        addressOf(empty),
        BigInt(typeof target === "number" ? target : AT_FDCWD),
        addressOf(to),
        BigInt(flags),
        0n,
      ),
  );
}
