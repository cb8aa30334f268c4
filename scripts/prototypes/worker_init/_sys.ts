/**
 * PROTOTYPE ONLY (issue 11 measurements, docs/prototypes/worker-init.md): the few system calls
 * these scripts need that ffi/ does not bind yet (fsopen/fsconfig/fsmount, gettid, waitpid with
 * WNOHANG). Not used by Skiff; the real bindings belong in ffi/mount.ts and ffi/process.ts.
 */
import { cString } from "../../../ffi/c_string.ts";

const lib = Deno.dlopen(
  "libc.so.6",
  {
    syscall: { parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"], result: "i64" },
    __errno_location: { parameters: [], result: "pointer" },
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  } as const,
);

function errno(): number {
  const p = lib.symbols.__errno_location()!;
  return new Deno.UnsafePointerView(p).getInt32();
}

function addr(buf: Uint8Array | null): bigint {
  return buf === null ? 0n : BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}

/** syscall(nr, ...) that throws "name: errno N" on failure. */
export function sys(name: string, nr: number, ...args: bigint[]): bigint {
  const a = [...args, 0n, 0n, 0n, 0n, 0n, 0n];
  const r = lib.symbols.syscall(BigInt(nr), a[0], a[1], a[2], a[3], a[4], a[5]);
  if (r < 0n) {
    const e = errno();
    throw Object.assign(new Error(`${name}: errno ${e} (${errnoName(e)})`), {
      errno: e,
    });
  }
  return r;
}

const NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  9: "EBADF",
  10: "ECHILD",
  13: "EACCES",
  16: "EBUSY",
  22: "EINVAL",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
};
/** A short errno name. */
export function errnoName(e: number): string {
  return NAMES[e] ?? `errno ${e}`;
}

// x86_64 numbers (this prototype runs on this host only).
const SYS_gettid = 186;
const SYS_fsopen = 430;
const SYS_fsconfig = 431;
const SYS_fsmount = 432;
const SYS_move_mount = 429;
const FSOPEN_CLOEXEC = 1n;
const MOUNT_ATTR_NOSUID_NODEV_NOEXEC = 0x2n | 0x4n | 0x8n;
const FSCONFIG_SET_FD = 5n;
const FSCONFIG_CMD_CREATE = 6n;
const FSMOUNT_CLOEXEC = 1n;
const MOVE_MOUNT_F_EMPTY_PATH = 4n;
const AT_FDCWD = -100n;

/** The calling thread's id. */
export function gettid(): number {
  return Number(sys("gettid", SYS_gettid));
}

/**
 * A new procfs for the PID namespace `pidnsFd` (fsconfig "pidns", Linux 6.x+ with the option),
 * nosuid,nodev,noexec, attached at `target` (resolved in the calling thread's root).
 */
export function mountProcForPidns(pidnsFd: number | undefined, target: string): void {
  const fs = sys("fsopen", SYS_fsopen, addr(cString("proc")), FSOPEN_CLOEXEC);
  try {
    if (pidnsFd !== undefined) {
      sys(
        "fsconfig pidns",
        SYS_fsconfig,
        fs,
        FSCONFIG_SET_FD,
        addr(cString("pidns")),
        0n,
        BigInt(pidnsFd),
      );
    }
    sys("fsconfig create", SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0n, 0n, 0n);
    // Mount flags are fsmount(2) attributes, not fsconfig parameters (procfs refuses "nosuid").
    const mnt = sys("fsmount", SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID_NODEV_NOEXEC);
    try {
      sys(
        "move_mount",
        SYS_move_mount,
        mnt,
        addr(cString("")),
        AT_FDCWD,
        addr(cString(target)),
        MOVE_MOUNT_F_EMPTY_PATH,
      );
    } finally {
      sys("close", 3, mnt);
    }
  } finally {
    sys("close", 3, fs);
  }
}

/** waitpid(pid, &status, options) on this thread: [result, status] or throws (e.g. ECHILD). */
export function waitpid(pid: number, options = 0): [number, number] {
  const status = new Int32Array(1);
  const r = lib.symbols.waitpid(pid, new Uint8Array(status.buffer), options);
  if (r < 0) {
    const e = errno();
    throw Object.assign(new Error(`waitpid ${pid}: ${errnoName(e)}`), { errno: e });
  }
  return [r, status[0]];
}
