import { check, libc } from "./_libc.ts";
import { CLONE_FLAG_NAMES, flagNames } from "./constants.ts";

/** unshare(2) on the calling thread. */
export function unshare(flags: number): void {
  check(
    "unshare",
    () => `flags=${flagNames(flags, CLONE_FLAG_NAMES)}`,
    () => libc().unshare(flags),
  );
}

/** setns(2) on the calling thread; `what` names the fd in the error (e.g. its path). */
export function setns(fd: number, nstype: number, what = ""): void {
  check(
    "setns",
    () => `fd=${fd}${what ? ` (${what})` : ""}, nstype=${flagNames(nstype, CLONE_FLAG_NAMES)}`,
    () => libc().setns(fd, nstype),
  );
}

const NS_GET_NSTYPE = 0xb703;

/** ioctl(NS_GET_NSTYPE): the CLONE_NEW* type of a namespace fd, or undefined if unsupported. */
export function ioctlNsGetType(fd: number): number | undefined {
  const result = libc().ioctl(fd, BigInt(NS_GET_NSTYPE), null);
  return result < 0 ? undefined : result;
}
