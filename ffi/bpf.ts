/**
 * bpf(2) for cgroup device programs: load, attach to a cgroup, query and detach. glibc has no
 * bpf() wrapper, so this goes through syscall(2); its own small dlopen, as ffi/seccomp.ts does.
 * union bpf_attr layouts are from include/uapi/linux/bpf.h.
 */
import { addressOf } from "./c_string.ts";
import { check, lazyLibc } from "./_libc.ts";
import { isErrno, SyscallError } from "./errno.ts";
import { O_CLOEXEC, O_DIRECTORY, O_RDONLY } from "./constants.ts";

const SYMBOLS = {
  /** long syscall(long number, ...); bpf(int cmd, union bpf_attr *attr, unsigned int size). */
  syscall: { parameters: ["i64", "i64", "pointer", "i64"], result: "i64" },
  /** int open(const char *path, int flags, mode_t mode); */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

let library: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

function lib(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] {
  library ??= lazyLibc(SYMBOLS);
  return library;
}

/** __NR_bpf of the machine Skiff runs on (x86_64: 321, aarch64: 280). */
export const SYS_BPF: number = Deno.build.arch === "aarch64" ? 280 : 321;

/** bpf(2) command: load a program. */
export const BPF_PROG_LOAD = 5;
/** bpf(2) command: attach a program to a cgroup. */
export const BPF_PROG_ATTACH = 8;
/** bpf(2) command: detach a program from a cgroup. */
export const BPF_PROG_DETACH = 9;
/** bpf(2) command: get an fd for a program id. */
export const BPF_PROG_GET_FD_BY_ID = 13;
/** bpf(2) command: list the programs attached to a cgroup. */
export const BPF_PROG_QUERY = 16;
/** Program type of a device filter. */
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
/** Attach type of a device filter. */
export const BPF_CGROUP_DEVICE = 6;
/** Attach flag: several programs may be attached; all must allow. */
export const BPF_F_ALLOW_MULTI = 2;

const COMMAND_NAMES: Record<number, string> = {
  [BPF_PROG_LOAD]: "BPF_PROG_LOAD",
  [BPF_PROG_ATTACH]: "BPF_PROG_ATTACH",
  [BPF_PROG_DETACH]: "BPF_PROG_DETACH",
  [BPF_PROG_GET_FD_BY_ID]: "BPF_PROG_GET_FD_BY_ID",
  [BPF_PROG_QUERY]: "BPF_PROG_QUERY",
};

/** sizeof(union bpf_attr) as far as these commands go; the kernel accepts a zero tail. */
const ATTR_SIZE = 128;

function bpf(cmd: number, attr: Uint8Array, detail: () => string): number {
  return Number(check(
    "bpf",
    () => `cmd=${COMMAND_NAMES[cmd] ?? cmd}, ${detail()}`,
    () =>
      lib().syscall(BigInt(SYS_BPF), BigInt(cmd), Deno.UnsafePointer.of(attr), BigInt(ATTR_SIZE)),
  ));
}

/**
 * Loads an eBPF program; on a verifier rejection the error carries the verifier's log.
 * @param insns struct bpf_insn[] bytes (8 per instruction).
 * @returns the program fd (close-on-exec).
 */
export function bpfProgLoad(type: number, insns: Uint8Array, license = "Apache"): number {
  if (insns.byteLength === 0 || insns.byteLength % 8 !== 0) {
    throw new TypeError(`eBPF program must be whole instructions: ${insns.byteLength} bytes`);
  }
  const program = new Uint8Array(insns);
  const licenseText = new TextEncoder().encode(`${license}\0`);
  const load = (log?: Uint8Array): number => {
    const attr = new Uint8Array(ATTR_SIZE);
    const view = new DataView(attr.buffer);
    view.setUint32(0, type, true); // prog_type
    view.setUint32(4, program.byteLength / 8, true); // insn_cnt
    view.setBigUint64(8, addressOf(program), true); // insns
    view.setBigUint64(16, addressOf(licenseText), true); // license
    if (log) {
      view.setUint32(24, 1, true); // log_level
      view.setUint32(28, log.byteLength, true); // log_size
      view.setBigUint64(32, addressOf(log), true); // log_buf
    }
    attr.set(new TextEncoder().encode("skiff_devices"), 48); // prog_name[16]
    return bpf(BPF_PROG_LOAD, attr, () => `prog_type=${type}, insn_cnt=${program.byteLength / 8}`);
  };
  try {
    return load();
  } catch (err) {
    if (!isErrno(err, "EACCES", "EINVAL")) throw err;
    // Load again with the verifier log to say why.
    const log = new Uint8Array(64 * 1024);
    try {
      return load(log);
    } catch (again) {
      const end = log.indexOf(0);
      const text = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end)).trim();
      if (text && again instanceof SyscallError) {
        throw new SyscallError(
          "bpf",
          again.errno,
          `cmd=BPF_PROG_LOAD, prog_type=${type}: verifier: ${
            text.split("\n").slice(-3).join(" | ")
          }`,
        );
      }
      throw again;
    }
  }
}

function attachAttr(
  cgroupFd: number,
  progFd: number,
  attachType: number,
  flags: number,
): Uint8Array {
  const attr = new Uint8Array(ATTR_SIZE);
  const view = new DataView(attr.buffer);
  view.setUint32(0, cgroupFd, true); // target_fd
  view.setUint32(4, progFd, true); // attach_bpf_fd
  view.setUint32(8, attachType, true); // attach_type
  view.setUint32(12, flags, true); // attach_flags
  return attr;
}

/** Attaches program `progFd` to the cgroup open at `cgroupFd`. */
export function bpfProgAttach(
  cgroupFd: number,
  progFd: number,
  attachType: number = BPF_CGROUP_DEVICE,
  flags: number = BPF_F_ALLOW_MULTI,
): void {
  bpf(
    BPF_PROG_ATTACH,
    attachAttr(cgroupFd, progFd, attachType, flags),
    () =>
      `target_fd=${cgroupFd}, attach_bpf_fd=${progFd}, attach_type=${attachType}, flags=${flags}`,
  );
}

/** Detaches program `progFd` from the cgroup open at `cgroupFd`. */
export function bpfProgDetach(
  cgroupFd: number,
  progFd: number,
  attachType: number = BPF_CGROUP_DEVICE,
): void {
  bpf(
    BPF_PROG_DETACH,
    attachAttr(cgroupFd, progFd, attachType, 0),
    () => `target_fd=${cgroupFd}, attach_bpf_fd=${progFd}, attach_type=${attachType}`,
  );
}

/** The ids of the programs attached to the cgroup open at `cgroupFd` (not inherited ones). */
export function bpfProgQuery(cgroupFd: number, attachType: number = BPF_CGROUP_DEVICE): number[] {
  const ids = new Uint32Array(64);
  const attr = new Uint8Array(ATTR_SIZE);
  const view = new DataView(attr.buffer);
  view.setUint32(0, cgroupFd, true); // target_fd
  view.setUint32(4, attachType, true); // attach_type
  view.setBigUint64(16, addressOf(new Uint8Array(ids.buffer)), true); // prog_ids
  view.setUint32(24, ids.length, true); // prog_cnt
  bpf(BPF_PROG_QUERY, attr, () => `target_fd=${cgroupFd}, attach_type=${attachType}`);
  const count = view.getUint32(24, true);
  return Array.from(ids.subarray(0, Math.min(count, ids.length)));
}

/** Returns an fd for the loaded program with id `id`. */
export function bpfProgGetFdById(id: number): number {
  const attr = new Uint8Array(ATTR_SIZE);
  new DataView(attr.buffer).setUint32(0, id, true); // prog_id
  return bpf(BPF_PROG_GET_FD_BY_ID, attr, () => `prog_id=${id}`);
}

/** Opens a cgroup directory for attaching (O_RDONLY|O_DIRECTORY|O_CLOEXEC). */
export function openCgroupDir(path: string): number {
  const name = new TextEncoder().encode(`${path}\0`);
  return check(
    "open",
    () => `path=${path}, flags=O_RDONLY|O_DIRECTORY|O_CLOEXEC`,
    () => lib().open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0),
  );
}

/** Closes an fd returned by this module. */
export function closeFd(fd: number): void {
  lib().close(fd);
}
