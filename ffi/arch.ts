/** System call numbers for the calls libc does not wrap, by machine architecture. */
export interface SyscallNumbers {
  pivot_root: number;
  capget: number;
  capset: number;
  setresuid: number;
  setresgid: number;
  setgroups: number;
  close_range: number;
  seccomp: number;
  pidfd_open: number;
  pidfd_getfd: number;
  mount_setattr: number;
  open_tree: number;
  move_mount: number;
  keyctl: number;
  sched_setattr: number;
  sched_setaffinity: number;
  sched_getaffinity: number;
  ioprio_set: number;
  personality: number;
  set_mempolicy: number;
  setfsuid: number;
  setfsgid: number;
  rt_sigaction: number;
  execveat: number;
  openat2: number;
}

const X86_64: SyscallNumbers = {
  pivot_root: 155,
  capget: 125,
  capset: 126,
  setresuid: 117,
  setresgid: 119,
  setgroups: 116,
  close_range: 436,
  seccomp: 317,
  pidfd_open: 434,
  pidfd_getfd: 438,
  mount_setattr: 442,
  open_tree: 428,
  move_mount: 429,
  keyctl: 250,
  sched_setattr: 314,
  sched_setaffinity: 203,
  sched_getaffinity: 204,
  ioprio_set: 251,
  personality: 135,
  set_mempolicy: 238,
  setfsuid: 122,
  setfsgid: 123,
  rt_sigaction: 13,
  execveat: 322,
  openat2: 437,
};

// asm-generic/unistd.h numbering.
const AARCH64: SyscallNumbers = {
  pivot_root: 41,
  capget: 90,
  capset: 91,
  setresuid: 147,
  setresgid: 149,
  setgroups: 159,
  close_range: 436,
  seccomp: 277,
  pidfd_open: 434,
  pidfd_getfd: 438,
  mount_setattr: 442,
  open_tree: 428,
  move_mount: 429,
  keyctl: 219,
  sched_setattr: 274,
  sched_setaffinity: 122,
  sched_getaffinity: 123,
  ioprio_set: 30,
  personality: 92,
  set_mempolicy: 237,
  setfsuid: 151,
  setfsgid: 152,
  rt_sigaction: 134,
  execveat: 281,
  openat2: 437,
};

/** The system call numbers of the machine Skiff runs on. */
export const SYS: SyscallNumbers = Deno.build.arch === "aarch64" ? AARCH64 : X86_64;
