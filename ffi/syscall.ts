import { check, libc } from "./_libc.ts";
import { SYS } from "./arch.ts";

/**
 * Calls system call `name` directly through syscall(2), for calls glibc has no wrapper for (or
 * whose wrapper acts on every thread); retries EINTR and throws a SyscallError as check() does.
 */
export function rawSyscall(
  name: keyof typeof SYS,
  detail: () => string,
  ...args: bigint[]
): bigint {
  const a = [...args, 0n, 0n, 0n, 0n, 0n, 0n];
  return check(
    name,
    detail,
    () => libc().syscall(BigInt(SYS[name]), a[0], a[1], a[2], a[3], a[4], a[5]),
  );
}
