/**
 * The system calls a trampoline makes, numbered per architecture (x86_64: arch/x86/entry/syscalls/
 * syscall_64.tbl; aarch64: include/uapi/asm-generic/unistd.h, which has no open(2), hence openat).
 * A unit test checks them against the seccomp compiler's generated tables.
 */

/** The architectures a trampoline can be generated for (Deno.build.arch spelling). */
export type TrampolineArch = "x86_64" | "aarch64";

/** The system calls the generated code uses. */
export type TrampolineSyscall =
  | "read"
  | "write"
  | "openat"
  | "close"
  | "fcntl"
  | "setns"
  | "unshare"
  | "setresuid"
  | "setresgid"
  | "setgroups"
  | "clone"
  | "execve"
  | "prlimit64"
  | "capset"
  | "chdir"
  | "chroot"
  | "umask"
  | "prctl"
  | "seccomp"
  | "setsid"
  | "ioctl"
  | "dup3"
  | "close_range"
  | "rt_sigaction"
  | "fchown"
  | "mount"
  | "umount2"
  | "pivot_root"
  | "execveat"
  | "keyctl"
  | "personality"
  | "set_mempolicy"
  | "memfd_create"
  | "lseek"
  | "wait4"
  | "pidfd_open"
  | "ppoll"
  | "pidfd_send_signal"
  | "sendto"
  | "writev"
  | "exit_group";

/** System call numbers by architecture. */
export const TRAMPOLINE_SYSCALLS: Record<TrampolineArch, Record<TrampolineSyscall, number>> = {
  x86_64: {
    read: 0,
    write: 1,
    close: 3,
    clone: 56,
    execve: 59,
    fcntl: 72,
    setgroups: 116,
    setresuid: 117,
    setresgid: 119,
    exit_group: 231,
    prlimit64: 302,
    capset: 126,
    openat: 257,
    unshare: 272,
    setns: 308,
    chdir: 80,
    chroot: 161,
    umask: 95,
    prctl: 157,
    seccomp: 317,
    setsid: 112,
    ioctl: 16,
    dup3: 292,
    close_range: 436,
    rt_sigaction: 13,
    fchown: 93,
    mount: 165,
    umount2: 166,
    pivot_root: 155,
    execveat: 322,
    keyctl: 250,
    personality: 135,
    set_mempolicy: 238,
    memfd_create: 319,
    lseek: 8,
    wait4: 61,
    pidfd_open: 434,
    ppoll: 271,
    pidfd_send_signal: 424,
    sendto: 44,
    writev: 20,
  },
  aarch64: {
    fcntl: 25,
    openat: 56,
    close: 57,
    read: 63,
    write: 64,
    exit_group: 94,
    unshare: 97,
    setresuid: 147,
    setresgid: 149,
    setgroups: 159,
    clone: 220,
    execve: 221,
    prlimit64: 261,
    capset: 91,
    setns: 268,
    chdir: 49,
    chroot: 51,
    umask: 166,
    prctl: 167,
    seccomp: 277,
    setsid: 157,
    ioctl: 29,
    dup3: 24,
    close_range: 436,
    rt_sigaction: 134,
    fchown: 55,
    mount: 40,
    umount2: 39,
    pivot_root: 41,
    execveat: 281,
    keyctl: 219,
    personality: 92,
    set_mempolicy: 237,
    memfd_create: 279,
    lseek: 62,
    wait4: 260,
    pidfd_open: 434,
    ppoll: 73,
    pidfd_send_signal: 424,
    sendto: 206,
    writev: 66,
  },
};
