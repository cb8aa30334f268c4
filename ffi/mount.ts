import { libc } from "./_libc.ts";
import { check } from "./errno.ts";
import { addressOf, cString } from "./c_string.ts";
import { AT_FDCWD, AT_RECURSIVE, flagNames, MNT_DETACH, MOUNT_FLAG_NAMES } from "./constants.ts";
import { SYS } from "./arch.ts";

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
    () =>
      `src=${source || "none"}, dst=${target}, type=${fstype || "none"}, flags=${
        flagNames(flags, MOUNT_FLAG_NAMES)
      }${data ? `, data=${data}` : ""}`,
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
