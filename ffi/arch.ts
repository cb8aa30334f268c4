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
  mount_setattr: number;
  keyctl: number;
  rt_sigaction: number;
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
  mount_setattr: 442,
  keyctl: 250,
  rt_sigaction: 13,
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
  mount_setattr: 442,
  keyctl: 219,
  rt_sigaction: 134,
};

/** The system call numbers of the machine Skiff runs on. */
export const SYS: SyscallNumbers = Deno.build.arch === "aarch64" ? AARCH64 : X86_64;
