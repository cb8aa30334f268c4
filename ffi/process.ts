import { check, errno, libc } from "./_libc.ts";
import { SyscallError } from "./errno.ts";
import { addressOf, cString, cStringArray } from "./c_string.ts";
import { rawSyscall } from "./syscall.ts";

/** prctl(2); returns the call's result. */
export function prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
  return check(
    "prctl",
    () => `option=${option}, arg2=${arg2}, arg3=${arg3}`,
    () => libc().prctl(option, BigInt(arg2), BigInt(arg3), BigInt(arg4), BigInt(arg5)),
  );
}

/**
 * setfsuid(2) and setfsgid(2) of the calling thread only (raw system calls: no setxid broadcast to
 * the other threads). From uid 0 to another fsuid the kernel drops the file capabilities
 * (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_MKNOD, ...) from the effective set; back to 0 it
 * raises them again. Returns nothing: both calls return the previous id and never fail.
 */
export function setFsIds(uid: number, gid: number): void {
  rawSyscall("setfsgid", () => `fsgid=${gid}`, BigInt(gid));
  rawSyscall("setfsuid", () => `fsuid=${uid}`, BigInt(uid));
}

/**
 * setresuid(2) as a raw system call: it changes only the calling thread, which is what a process
 * about to execve wants (glibc's wrapper would signal every Deno worker thread).
 */
export function setresuid(uid: number): void {
  rawSyscall("setresuid", () => `ruid=euid=suid=${uid}`, BigInt(uid), BigInt(uid), BigInt(uid));
}

/** setresgid(2), raw and per-thread like setresuid. */
export function setresgid(gid: number): void {
  rawSyscall("setresgid", () => `rgid=egid=sgid=${gid}`, BigInt(gid), BigInt(gid), BigInt(gid));
}

/** setgroups(2), raw and per-thread. */
export function setgroups(gids: readonly number[]): void {
  const list = new Uint32Array(Math.max(gids.length, 1));
  list.set(gids);
  rawSyscall(
    "setgroups",
    () => `size=${gids.length}, list=[${gids.join(",")}]`,
    BigInt(gids.length),
    addressOf(list),
  );
}

/** The three 64-bit capability sets of capget(2)/capset(2). */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** capset(2) on the calling thread. */
export function capset(sets: CapabilitySets): void {
  const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6);
  const lo = (v: bigint) => Number(v & 0xffffffffn);
  const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
  data.set([lo(sets.effective), lo(sets.permitted), lo(sets.inheritable)], 0);
  data.set([hi(sets.effective), hi(sets.permitted), hi(sets.inheritable)], 3);
  rawSyscall(
    "capset",
    () =>
      `effective=0x${sets.effective.toString(16)}, permitted=0x${
        sets.permitted.toString(16)
      }, inheritable=0x${sets.inheritable.toString(16)}`,
    addressOf(header),
    addressOf(data),
  );
}

/** capget(2) of the calling thread. */
export function capget(): CapabilitySets {
  const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6);
  rawSyscall(
    "capget",
    () => "pid=0",
    addressOf(header),
    addressOf(data),
  );
  const join = (l: number, h: number) => (BigInt(h) << 32n) | BigInt(l);
  return {
    effective: join(data[0], data[3]),
    permitted: join(data[1], data[4]),
    inheritable: join(data[2], data[5]),
  };
}

/** prlimit(2) on the calling process. */
export function setrlimit(resource: number, name: string, soft: bigint, hard: bigint): void {
  const limits = new BigUint64Array([soft, hard]);
  check(
    "prlimit",
    () => `resource=${name}, soft=${soft}, hard=${hard}`,
    () => libc().prlimit(0, resource, new Uint8Array(limits.buffer), null),
  );
}

/** sethostname(2). */
export function sethostname(name: string): void {
  const buf = new TextEncoder().encode(name);
  check("sethostname", () => `name=${name}`, () => libc().sethostname(buf, BigInt(buf.length)));
}

/** setdomainname(2). */
export function setdomainname(name: string): void {
  const buf = new TextEncoder().encode(name);
  check("setdomainname", () => `name=${name}`, () => libc().setdomainname(buf, BigInt(buf.length)));
}

/** kill(2); returns false when the process does not exist (ESRCH). In signal.ts, for `kill`. */
export { kill } from "./signal.ts";

/** pidfd_open(2) with no flags: a close-on-exec fd that refers to process `pid`. */
export function pidfdOpen(pid: number): number {
  return Number(rawSyscall("pidfd_open", () => `pid=${pid}, flags=0`, BigInt(pid), 0n));
}

/** pidfd_getfd(2): a close-on-exec copy of fd `target` of the process behind `pidfd`. */
export function pidfdGetfd(pidfd: number, target: number): number {
  return Number(
    rawSyscall(
      "pidfd_getfd",
      () => `pidfd=${pidfd}, targetfd=${target}, flags=0`,
      BigInt(pidfd),
      BigInt(target),
      0n,
    ),
  );
}

/** setsid(2). */
export function setsid(): void {
  check("setsid", () => "", () => libc().setsid());
}

/** getpid(2). */
export function getpid(): number {
  return libc().getpid();
}

/** geteuid(2): the effective uid, which decides what the caller may do (Deno.uid() is the real one). */
export function geteuid(): number {
  return libc().geteuid();
}

/**
 * Sets the disposition of `signal` back to SIG_DFL with a raw rt_sigaction(2) (a zeroed struct
 * sigaction is SIG_DFL with no flags and an empty mask on every architecture).
 */
export function defaultSignalAction(signal: number): void {
  const action = new BigUint64Array(4);
  rawSyscall(
    "rt_sigaction",
    () => `sig=${signal}, handler=SIG_DFL`,
    BigInt(signal),
    addressOf(action),
    0n,
    8n,
  );
}

/**
 * Sets the disposition of `signal` to SIG_IGN with a raw rt_sigaction(2) (the handler is the
 * struct's first word on every architecture; no flags, an empty mask).
 */
export function ignoreSignalAction(signal: number): void {
  const action = new BigUint64Array(4);
  action[0] = 1n; // SIG_IGN
  rawSyscall(
    "rt_sigaction",
    () => `sig=${signal}, handler=SIG_IGN`,
    BigInt(signal),
    addressOf(action),
    0n,
    8n,
  );
}

/** execve(2). Only returns by throwing. */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  const a = cStringArray(argv);
  const e = cStringArray(env);
  libc().execve(cString(path), a.array, e.array);
  const value = errno();
  void a.keep;
  void e.keep;
  throw new SyscallError("execve", value, `path=${path}`);
}

const AT_EMPTY_PATH = 0x1000;

/**
 * execveat(fd, "", argv, envp, AT_EMPTY_PATH): runs the executable open at `fd` (a memfd) without
 * a path, so it works without /proc. Only returns by throwing.
 */
export function execveatFd(fd: number, argv: readonly string[], env: readonly string[]): never {
  const a = cStringArray(argv);
  const e = cStringArray(env);
  const empty = cString("");
  rawSyscall(
    "execveat",
    () => `fd=${fd}, AT_EMPTY_PATH`,
    BigInt(fd),
    addressOf(empty),
    addressOf(a.array),
    addressOf(e.array),
    BigInt(AT_EMPTY_PATH),
  );
  void a.keep;
  void e.keep;
  throw new Error("execveat returned without an error");
}

const KEYCTL_JOIN_SESSION_KEYRING = 1;
const KEYCTL_SETPERM = 5;

/** keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): joins a new session keyring; returns its serial. */
export function joinSessionKeyring(name: string): number {
  const buf = cString(name);
  return Number(
    rawSyscall(
      "keyctl",
      () => `op=KEYCTL_JOIN_SESSION_KEYRING, name=${name}`,
      BigInt(KEYCTL_JOIN_SESSION_KEYRING),
      addressOf(buf),
    ),
  );
}

/** keyctl(KEYCTL_SETPERM, serial, perm). */
export function setKeyPermissions(serial: number, perm: number): void {
  rawSyscall(
    "keyctl",
    () => `op=KEYCTL_SETPERM, key=${serial}, perm=0x${perm.toString(16)}`,
    BigInt(KEYCTL_SETPERM),
    BigInt(serial),
    BigInt(perm),
  );
}
