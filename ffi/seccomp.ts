/**
 * Loading a seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog) through
 * syscall(2), since glibc has no seccomp() wrapper. Its own small dlopen, as _libc.ts suggests.
 */
import { check, errno, lazyLibc, libc } from "./_libc.ts";
import { ERRNO, SyscallError } from "./errno.ts";
import { addressOf } from "./c_string.ts";

const SYMBOLS = {
  /** long syscall(long number, ...); the three seccomp(2) arguments, the last a pointer. */
  syscall: { parameters: ["i64", "i64", "i64", "pointer"], result: "i64" },
} as const satisfies Deno.ForeignLibraryInterface;

let library: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

function lib(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  library ??= lazyLibc(SYMBOLS);
  return library;
}

/** __NR_seccomp of the machine Skiff runs on (x86_64: 317, aarch64: 277). */
export const SYS_SECCOMP: number = Deno.build.arch === "aarch64" ? 277 : 317;

/** seccomp(2) operation: install a filter. */
export const SECCOMP_SET_MODE_FILTER = 1;
/** seccomp(2) operation: ask whether an action is available. */
export const SECCOMP_GET_ACTION_AVAIL = 2;
/** SECCOMP_FILTER_FLAG_NEW_LISTENER: return a user-notification fd. */
const SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3;

// The table lives in flag_tables.ts, which loads no libc (`skiff features` lists the names).
import { SECCOMP_FILTER_FLAGS } from "./flag_tables.ts";
export { SECCOMP_FILTER_FLAGS };

function flagNames(flags: number): string {
  const names = Object.entries(SECCOMP_FILTER_FLAGS).filter(([, bit]) => flags & bit).map(([n]) =>
    n
  );
  return names.length ? names.join("|") : "0";
}

/**
 * Installs a classic BPF seccomp filter on the calling thread (every thread with TSYNC).
 * The caller must have set no_new_privs or hold CAP_SYS_ADMIN; seccomp(2) says EACCES otherwise.
 * @param program struct sock_filter[] bytes, 8 per instruction (CompiledFilter.bytes()).
 * @param flags SECCOMP_FILTER_FLAG_* bits.
 * @returns the user-notification listener fd with SECCOMP_FILTER_FLAG_NEW_LISTENER, else undefined.
 */
export function loadSeccompFilter(program: Uint8Array, flags: number): number | undefined {
  if (program.byteLength === 0 || program.byteLength % 8 !== 0) {
    throw new TypeError(
      `seccomp filter must be whole sock_filter entries: ${program.byteLength} bytes`,
    );
  }
  const count = program.byteLength / 8;
  if (count > 0xffff) throw new TypeError(`seccomp filter has ${count} instructions`);
  // The filter must stay in memory that JS does not move while the call runs: copy it into a
  // fresh buffer kept alive by this frame.
  const filter = new Uint8Array(program);
  // struct sock_fprog { unsigned short len; /* 6 bytes padding */ struct sock_filter *filter; }
  const fprog = new Uint8Array(16);
  const view = new DataView(fprog.buffer);
  view.setUint16(0, count, true);
  view.setBigUint64(8, addressOf(filter), true);
  const result = check(
    "seccomp",
    () => {
      const hint = errno() === ERRNO.EACCES
        ? " (no_new_privs is not set and CAP_SYS_ADMIN is missing)"
        : "";
      return `op=SECCOMP_SET_MODE_FILTER, flags=${flagNames(flags)}, len=${count}${hint}`;
    },
    () =>
      lib().syscall(
        BigInt(SYS_SECCOMP),
        BigInt(SECCOMP_SET_MODE_FILTER),
        BigInt(flags),
        Deno.UnsafePointer.of(fprog),
      ),
  );
  if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) return Number(result);
  if (result > 0n) {
    // seccomp(2): with TSYNC (and no TSYNC_ESRCH) a failed sync returns the offending thread's id.
    throw new SyscallError(
      "seccomp",
      ERRNO.ESRCH,
      `op=SECCOMP_SET_MODE_FILTER, flags=${
        flagNames(flags)
      }: thread ${result} could not be synchronized`,
    );
  }
  return undefined;
}

/**
 * Returns the SECCOMP_FILTER_FLAG_* names this kernel accepts, probing each flag with a NULL
 * program: EFAULT means the flag passed validation, EINVAL that it is unknown (as libseccomp does).
 * `skiff features` derives them from the kernel version instead (seccomp/features.ts), without the
 * first FFI call; ffi/seccomp_test.ts compares the two.
 */
export function supportedSeccompFlags(): string[] {
  const supported: string[] = [];
  for (const [name, bit] of Object.entries(SECCOMP_FILTER_FLAGS)) {
    // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
    const flags = name === "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
      ? bit | SECCOMP_FILTER_FLAG_NEW_LISTENER
      : name === "SECCOMP_FILTER_FLAG_TSYNC_ESRCH"
      ? bit | SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_TSYNC
      : bit;
    const result = lib().syscall(
      BigInt(SYS_SECCOMP),
      BigInt(SECCOMP_SET_MODE_FILTER),
      BigInt(flags),
      null,
    );
    if (result === -1n && errno() === ERRNO.EFAULT) supported.push(name);
  }
  return supported;
}

// linux/seccomp.h: _IOWR('!', 0, struct seccomp_notif) (80 bytes: u64 id, u32 pid, u32 flags, then
// struct seccomp_data with nr first) and _IOWR('!', 1, struct seccomp_notif_resp) (24 bytes: u64 id,
// s64 val, s32 error, u32 flags).
const SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100n;
const SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101n;

/** A system call a filtered process is stopped in, waiting for the supervisor's answer. */
export interface SeccompNotification {
  /** The cookie the answer must carry. */
  id: bigint;
  /** The calling thread, in the supervisor's PID namespace. */
  pid: number;
  /** The system call number. */
  nr: number;
}

/**
 * SECCOMP_IOCTL_NOTIF_RECV: waits for the next notification on a listener fd (the supervisor's side
 * of SCMP_ACT_NOTIFY). Throws a SyscallError when the ioctl fails, e.g. ENOENT when the caller was
 * killed while the notification was being read (seccomp_unotify(2)).
 */
export function receiveSeccompNotification(listener: number): SeccompNotification {
  const notif = new Uint8Array(80);
  check(
    "ioctl",
    () => `fd=${listener}, SECCOMP_IOCTL_NOTIF_RECV`,
    () => libc().ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif),
  );
  const view = new DataView(notif.buffer);
  return {
    id: view.getBigUint64(0, true),
    pid: view.getUint32(8, true),
    nr: view.getInt32(16, true),
  };
}

/** SECCOMP_IOCTL_NOTIF_SEND: makes the notified system call `id` fail with `errnoValue`. */
export function failSeccompNotification(listener: number, id: bigint, errnoValue: number): void {
  const resp = new Uint8Array(24);
  const view = new DataView(resp.buffer);
  view.setBigUint64(0, id, true);
  view.setInt32(16, -errnoValue, true);
  check(
    "ioctl",
    () => `fd=${listener}, SECCOMP_IOCTL_NOTIF_SEND, id=${id}, error=-${errnoValue}`,
    () => libc().ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp),
  );
}
