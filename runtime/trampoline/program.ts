/**
 * The trampoline: a tiny static executable, generated per use, that does the steps a Deno process
 * cannot do itself and then exec()s the next stage.
 *
 * Why: a Deno process always has several threads, and unshare(CLONE_NEWUSER) or setns() into a
 * user namespace is EINVAL for a multi-threaded process (unshare(2), setns(2);
 * shared/docs/platform-notes.md). A single-threaded program has to create or join the user
 * namespace, wait while the parent writes uid_map/gid_map, become the mapped root, unshare the rest
 * and execve. No C compiler is needed at run time: Skiff writes the machine code itself, as it
 * writes seccomp BPF (runtime/security/seccomp/).
 *
 * Why straight-line: the parameters (paths, flags, argv, envp) are baked into the executable's data
 * at generation time, so the code is one fixed sequence of system calls with no loops and no parsing;
 * it is short enough to check by reading, and each architecture's encoder (x86_64.ts, aarch64.ts)
 * needs only a handful of instructions (assembler.ts). The one exception is a failed hook's line
 * (runHook with failMessage): its wait status is known only then, and three counting loops turn it
 * into a signal's name or decimal digits, with the same instructions.
 *
 * The ops, in the order given (op i is "step i" in errors):
 *   setns       fd = openat(AT_FDCWD, path, O_RDONLY|O_CLOEXEC); setns(fd, nstype); close(fd)
 *   unshare     unshare(flags)
 *   sync        write record {SYNC, i, point} to fd, then read one byte from fd (EOF is a failure)
 *   setresgid   setresgid(id, id, id)      setresuid   setresuid(id, id, id)
 *   setgroups   setgroups(n, list)
 *   cloexec     fcntl(fd, F_SETFD, FD_CLOEXEC)
 *   cloneParent clone(CLONE_PARENT|SIGCHLD): the parent writes {PID, i, pid} to fd and exits 0;
 *               the child (a sibling of the trampoline: a child of its parent) goes on
 *   waitByte    read(fd, 1 byte): blocks until a byte comes (exec.fifo); EOF is a failure
 *   prlimit     prlimit64(0, resource, {soft, hard}, NULL)
 *   capset      capset(v3, this thread, the three sets): lowering only; a refusal (a seccomp profile
 *               without capset) is ignored, the sets then stay what they are
 *   chdir       chdir(path)                chroot      chroot(path)
 *   umask       umask(mask) (never fails)
 *   prctl       prctl(option, arg2, arg3, 0, 0)
 *   seccomp     seccomp(SECCOMP_SET_MODE_FILTER, flags, &{len, filter}): the filter bytes are baked in;
 *               with `listenerFd` (flags has SECCOMP_FILTER_FLAG_NEW_LISTENER) it then writes
 *               {SYNC, i, the listener's fd number} to that fd, waits for one byte (the parent took
 *               a copy with pidfd_getfd) and closes the listener
 *   setsid      setsid()                   setctty     ioctl(fd, TIOCSCTTY, 0)
 *   dup2        dup3(from, to, 0) (from != to)
 *   openDup     fd = openat(AT_FDCWD, path, flags); dup3(fd, to, 0) for each of `to`; close(fd):
 *               `to` must be open already (0-2 always are), so that fd is none of them
 *   cloexecFrom close_range(first, ~0, CLOSE_RANGE_CLOEXEC): every fd from `first` up
 *   sigdefault  rt_sigaction(signal, {SIG_DFL}, NULL, 8): an ignored signal stays ignored at execve
 *   fchown      fchown(fd, uid, -1): a refusal (EPERM, EINVAL, EROFS) is ignored, as runc ignores it
 *               for stdio
 *   mount       mount(source, target, fstype, flags, data): "" passes NULL (source, fstype, data)
 *   umount2     umount2(target, flags)     pivotRoot   pivot_root(newRoot, putOld)
 *   sessionKeyring  keyctl(JOIN_SESSION_KEYRING, name), then keyctl(SETPERM, it, perm); a kernel
 *               without keyrings or one that refuses them (ENOSYS, EACCES) skips both, as runc does
 *   personality personality(persona)
 *   runHook     fd = memfd_create(), `stdin` written to it and rewound; fork (clone SIGCHLD): the
 *               child dup3(fd, 0), marks reportFd close-on-exec and execve(path, argv, envp); the
 *               parent closes fd, wait4(pid)s and fails with the wait status as the value unless
 *               it is 0 (an OCI hook that runs in the container: its state on stdin). With
 *               `timeout` (seconds) the parent first waits on pidfd_open(pid) with ppoll(POLLIN,
 *               timeout); when that times out it kills the hook (pidfd_send_signal SIGKILL: no pid
 *               reuse can be hit), reaps it, writes `timeoutMessage` to fd 2, sends {ERROR, i,
 *               HOOK_TIMED_OUT} to reportFd with MSG_NOSIGNAL (after `start` nobody reads it) and
 *               exits 1: what the Deno init does with a hook past its timeout. With `failMessage`
 *               a hook that fails is told as the Deno init tells it: one writev to fd 2 of
 *               failMessage, the reason HookError gives ("exit status N", "killed by SIGNAME" for
 *               signals 1-31, "killed by signal N" above) and "\n"; then {ERROR, i, wait status}
 *               goes to reportFd with MSG_NOSIGNAL and the program exits 1. The child's own
 *               failures (execve of the hook) then send their record with MSG_NOSIGNAL too and
 *               exit 127, which the parent reports as "exit status 127"
 *   mempolicy   set_mempolicy(mode, nodemask, maxnode): `nodemask` as 64-bit words (none: NULL, 0);
 *               maxnode is the words' bits + 1 (the kernel reads one bit fewer)
 *   execve      fcntl(reportFd, F_SETFD, FD_CLOEXEC); execve(path, argv, envp)
 *   execveat    execveat(fd, "", argv, envp, AT_EMPTY_PATH): the next stage, a program the parent
 *               wrote into the inherited memfd `fd` meanwhile; reportFd stays open for it
 *   exit        exit_group(code)
 * The last op is execve, execveat or exit, and only the last: the program never falls off its end.
 *
 * Records (all little-endian, 12 bytes): u32 kind (1 SYNC, 2 PID, 3 ERROR), u32 op index, i32 value.
 * When a system call of op i fails (returns -4095..-1), the program writes {ERROR, i, errno} to
 * reportFd and exits 127. A short sync write/read is a failure too; its value is then -result
 * (0 for EOF). Because execve marks reportFd close-on-exec first, the reader sees EOF after the
 * last record exactly when execve succeeded (or after exit).
 */
import { type Assembler, CodeBuffer, Label } from "./assembler.ts";
import { Aarch64Assembler } from "./aarch64.ts";
import { X86_64Assembler } from "./x86_64.ts";
import { buildElf, dataAddress } from "./elf.ts";
import { TRAMPOLINE_SYSCALLS, type TrampolineArch, type TrampolineSyscall } from "./syscalls.ts";
import { CLONE_FLAG_NAMES, flagNames } from "../../ffi/constants.ts";
import { SIGNALS } from "../signals.ts";

/** One step of a trampoline. */
export type TrampolineOp =
  | { op: "setns"; path: string; nstype: number }
  | { op: "unshare"; flags: number }
  | { op: "sync"; fd: number; point: number }
  | { op: "setresgid"; id: number }
  | { op: "setresuid"; id: number }
  | { op: "setgroups"; groups: number[] }
  | { op: "cloexec"; fd: number }
  | { op: "cloneParent"; fd: number }
  | { op: "waitByte"; fd: number }
  | { op: "prlimit"; resource: number; soft: bigint; hard: bigint }
  | { op: "capset"; effective: bigint; permitted: bigint; inheritable: bigint }
  | { op: "chdir"; path: string }
  | { op: "chroot"; path: string }
  | { op: "umask"; mask: number }
  | { op: "prctl"; option: number; arg2: number; arg3?: number }
  | { op: "seccomp"; flags: number; filter: Uint8Array; listenerFd?: number }
  | { op: "setsid" }
  | { op: "setctty"; fd: number }
  | { op: "dup2"; from: number; to: number }
  | { op: "openDup"; path: string; flags: number; to: number[] }
  | { op: "cloexecFrom"; first: number }
  | { op: "sigdefault"; signal: number }
  | { op: "fchown"; fd: number; uid: number }
  | { op: "mount"; source: string; target: string; fstype: string; flags: number; data?: string }
  | { op: "umount2"; target: string; flags: number }
  | { op: "pivotRoot"; newRoot: string; putOld: string }
  | { op: "sessionKeyring"; name: string; perm: number }
  | { op: "personality"; persona: number }
  | { op: "mempolicy"; mode: number; nodemask: bigint[] }
  | {
    op: "runHook";
    path: string;
    argv: string[];
    envp: string[];
    stdin: string;
    timeout?: number;
    timeoutMessage?: string;
    failMessage?: string;
  }
  | { op: "execve"; path: string; argv: string[]; envp: string[] }
  | { op: "execveat"; fd: number; argv: string[]; envp: string[] }
  | { op: "exit"; code: number };

/** A whole trampoline: its steps and the fd that receives error records. */
export interface TrampolineProgram {
  ops: TrampolineOp[];
  reportFd: number;
  /** What op i does for the caller, e.g. "process.cwd: cannot change to /x": leads its error. */
  why?: (string | undefined)[];
}

/** Record kind: op `op` reached sync point `value` and waits for one byte. */
export const RECORD_SYNC = 1;
/** Record kind: cloneParent op `op` made the process with (host) pid `value`. */
export const RECORD_PID = 2;
/** Record kind: op `op` failed with errno `value` (0: the sync socket's other end was closed). */
export const RECORD_ERROR = 3;
/**
 * The value of the error record of a runHook op whose hook outlived its timeout: ETIMEDOUT, which
 * none of the op's system calls returns and no wait status is (a signal number above 64).
 */
export const HOOK_TIMED_OUT = 110;
/** Bytes per record. */
export const RECORD_SIZE = 12;

/** A decoded record. */
export interface TrampolineRecord {
  kind: number;
  op: number;
  value: number;
}

/** Decodes whole records from `bytes` (a multiple of RECORD_SIZE). */
export function decodeRecords(bytes: Uint8Array): TrampolineRecord[] {
  if (bytes.length % RECORD_SIZE !== 0) {
    throw new Error(
      `trampoline records: ${bytes.length} bytes is not a multiple of ${RECORD_SIZE}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: TrampolineRecord[] = [];
  for (let at = 0; at < bytes.length; at += RECORD_SIZE) {
    records.push({
      kind: view.getUint32(at, true),
      op: view.getUint32(at + 4, true),
      value: view.getInt32(at + 8, true),
    });
  }
  return records;
}

/** A short description of `op` for error messages, e.g. "setns /proc/123/ns/net". */
export function describeOp(op: TrampolineOp): string {
  switch (op.op) {
    case "setns":
      return `setns ${op.path}`;
    case "unshare":
      return `unshare ${flagNames(op.flags, CLONE_FLAG_NAMES)}`;
    case "sync":
      return `sync point ${op.point} on fd ${op.fd}`;
    case "setresgid":
    case "setresuid":
      return `${op.op} ${op.id}`;
    case "setgroups":
      return `setgroups [${op.groups.join(",")}]`;
    case "cloexec":
      return `cloexec fd ${op.fd}`;
    case "cloneParent":
      return `clone CLONE_PARENT, report on fd ${op.fd}`;
    case "waitByte":
      return `wait for a byte on fd ${op.fd}`;
    case "capset":
      return `capset effective 0x${op.effective.toString(16)}`;
    case "prlimit":
      return `prlimit resource ${op.resource} soft ${op.soft} hard ${op.hard}`;
    case "chdir":
    case "chroot":
      return `${op.op} ${op.path}`;
    case "umask":
      return `umask 0${op.mask.toString(8)}`;
    case "prctl":
      return `prctl ${op.option} ${op.arg2} ${op.arg3 ?? 0}`;
    case "seccomp":
      return `seccomp filter of ${op.filter.length / 8} instructions, flags 0x${
        op.flags.toString(16)
      }`;
    case "setsid":
      return "setsid";
    case "setctty":
      return `ioctl TIOCSCTTY fd ${op.fd}`;
    case "dup2":
      return `dup2 ${op.from} to ${op.to}`;
    case "openDup":
      return `open ${op.path} as fd ${op.to.join(",")}`;
    case "cloexecFrom":
      return `close-on-exec fds from ${op.first}`;
    case "sigdefault":
      return `default action for signal ${op.signal}`;
    case "fchown":
      return `fchown fd ${op.fd} to uid ${op.uid}`;
    case "mount":
      return `mount ${op.fstype || "(none)"} ${op.source || "(none)"} on ${op.target} flags 0x${
        op.flags.toString(16)
      }`;
    case "umount2":
      return `umount2 ${op.target} flags ${op.flags}`;
    case "pivotRoot":
      return `pivot_root ${op.newRoot} ${op.putOld}`;
    case "sessionKeyring":
      return `join session keyring ${op.name}`;
    case "personality":
      return `personality 0x${op.persona.toString(16)}`;
    case "runHook":
      return `run hook ${op.path}${op.timeout === undefined ? "" : ` (timeout ${op.timeout}s)`}`;
    case "mempolicy":
      return `set_mempolicy mode 0x${op.mode.toString(16)} nodes ${
        op.nodemask.map((w) => `0x${w.toString(16)}`).join(",") || "(none)"
      }`;
    case "execve":
      return `execve ${op.path}`;
    case "execveat":
      return `execveat fd ${op.fd}`;
    case "exit":
      return `exit ${op.code}`;
  }
}

/** The architecture Skiff runs on, as a trampoline target. */
export function hostArch(): TrampolineArch {
  return Deno.build.arch;
}

/**
 * Returns the trampoline for `program` as a static ELF executable for `arch`.
 * @throws TypeError naming the op field when the program is not valid.
 */
export function buildTrampoline(
  program: TrampolineProgram,
  arch: TrampolineArch = hostArch(),
): Uint8Array<ArrayBuffer> {
  validateProgram(program);
  const asm: Assembler = arch === "aarch64" ? new Aarch64Assembler() : new X86_64Assembler();
  const numbers = TRAMPOLINE_SYSCALLS[arch];
  const data = new DataBuilder();
  const fail = new Label("fail");
  const errorRecord = data.record(RECORD_ERROR, 0, 0);
  const byte = data.zeros(1);

  /** Loads `name`'s number and the arguments ("saved": the fd kept by setns), then traps. */
  const call = (name: TrampolineSyscall, ...args: (bigint | number | "saved")[]): void => {
    asm.loadImmediate("nr", numbers[name]);
    args.forEach((arg, i) => {
      if (arg === "saved") asm.move(ARGUMENTS[i], "saved");
      else asm.loadImmediate(ARGUMENTS[i], arg);
    });
    asm.systemCall();
  };
  // -4095..-1 as unsigned 64-bit values are the ones at or above 2^64 - 4095.
  const failOnError = (): void => asm.branchIf("aboveOrEqual", -4095n, fail);
  const failUnless = (expected: number): void => asm.branchIf("notEqual", BigInt(expected), fail);

  /** Where a runHook op with `failMessage` goes once its hook failed (code and data: once). */
  let hookFailed: { label: Label; iov: bigint } | undefined;
  /**
   * Jumps to the failed hook's code with the wait status in `result` and the line's start,
   * `failMessage`, in its iovec.
   */
  const toHookFailed = (failMessage: string): void => {
    hookFailed ??= { label: new Label("hookFailed"), iov: data.zeros(6 * 16, 8) };
    const message = UTF8.encode(failMessage);
    asm.loadImmediate("arg2", hookFailed.iov);
    asm.loadImmediate("arg3", data.bytes(message));
    asm.store64("arg2", 0, "arg3");
    asm.loadImmediate("arg3", message.length);
    asm.store64("arg2", 8, "arg3");
    asm.jump(hookFailed.label);
  };
  /**
   * `quotient` = `result` / `divisor` and `result` = the remainder, by repeated subtraction (the
   * encoders have no division); `name` names its labels.
   */
  const divideResult = (divisor: number, quotient: "arg1" | "arg5", name: string): void => {
    const [loop, subtract, done] = ["", "Subtract", "Done"].map((s) => new Label(`${name}${s}`));
    asm.loadImmediate(quotient, 0);
    asm.bind(loop);
    asm.branchIf("aboveOrEqual", BigInt(divisor), subtract);
    asm.jump(done);
    asm.bind(subtract);
    asm.addImmediate("result", -divisor);
    asm.addImmediate(quotient, 1);
    asm.jump(loop);
    asm.bind(done);
  };
  /** `pointer` += `step` × `result`, counting `result` down to 0 (the encoders have no multiply). */
  const advanceByResult = (pointer: "arg3" | "arg4", step: number, name: string): void => {
    const [loop, done] = ["", "Done"].map((s) => new Label(`${name}${s}`));
    asm.bind(loop);
    asm.branchIf("equal", 0n, done);
    asm.addImmediate(pointer, step);
    asm.addImmediate("result", -1);
    asm.jump(loop);
    asm.bind(done);
  };
  /**
   * The failed hook's code, the wait status in `result`, `op` the op's index, `arg2` the iovecs:
   * the Deno init's line on fd 2 (HookError's words, the number in decimal worked out here by
   * repeated subtraction: the encoders have no division), {ERROR, op, status} with MSG_NOSIGNAL,
   * exit 1. Uses arg1..arg5 only besides `result` (arg0 is `result` on aarch64, nr on x86_64).
   */
  const hookFailedCode = ({ label, iov }: { label: Label; iov: bigint }): void => {
    const words = hookFailureData(data);
    const record = data.record(RECORD_ERROR, 0, 0);
    asm.bind(label);
    asm.store32(record.value, "result");
    asm.store32(record.op, "op");
    // struct iovec[6]: failMessage (set by the op), the reason's words, three slots for the digits
    // (right-aligned) or the signal's name, "\n". Empty slots stay {NULL, 0}.
    const [core, signal, unnamed, exited, decimal, digit] = [
      "core",
      "signal",
      "unnamed",
      "exited",
      "decimal",
      "digit",
    ].map((name) => new Label(name));
    const write = new Label("write");
    /** iov[slot] = {address, length}. */
    const setIov = (slot: number, address: bigint, length: number): void => {
      asm.loadImmediate("arg3", address);
      asm.store64("arg2", slot * 16, "arg3");
      asm.loadImmediate("arg3", length);
      asm.store64("arg2", slot * 16 + 8, "arg3");
    };
    setIov(5, words.newline, 1);
    // status = 256 * exit code (arg5) + the signal with 0x80 for a core dump (`result`).
    divideResult(256, "arg5", "divide");
    asm.branchIf("equal", 0n, exited);
    asm.branchIf("aboveOrEqual", 128n, core);
    asm.jump(signal);
    asm.bind(core);
    asm.addImmediate("result", -128);
    asm.bind(signal);
    asm.branchIf("aboveOrEqual", BigInt(words.names), unnamed);
    // A named signal: iov[2] = names[signal], an iovec itself, found 16 bytes per step.
    setIov(1, ...words.killedBy);
    asm.loadImmediate("arg4", words.table);
    advanceByResult("arg4", 16, "find");
    asm.load64("arg3", "arg4", 0);
    asm.store64("arg2", 32, "arg3");
    asm.load64("arg3", "arg4", 8);
    asm.store64("arg2", 40, "arg3");
    asm.jump(write);
    asm.bind(unnamed);
    setIov(1, ...words.killedBySignal);
    asm.jump(decimal);
    asm.bind(exited);
    setIov(1, ...words.exitStatus);
    asm.move("result", "arg5");
    // Decimal, the last digit first, into iov[4], iov[3], iov[2] (the value is below 256).
    asm.bind(decimal);
    asm.loadImmediate("arg4", iov + 64n);
    asm.bind(digit);
    divideResult(10, "arg1", "modulo"); // arg1: value / 10; result: its last digit
    // The slot points into "0123456789" at the digit: one byte.
    asm.loadImmediate("arg3", words.digits);
    advanceByResult("arg3", 1, "pointer");
    asm.store64("arg4", 0, "arg3");
    asm.loadImmediate("arg3", 1);
    asm.store64("arg4", 8, "arg3");
    asm.addImmediate("arg4", -16);
    asm.move("result", "arg1");
    asm.branchIf("notEqual", 0n, digit);
    asm.bind(write);
    call("writev", 2, iov, 6);
    call("sendto", program.reportFd, record.address, RECORD_SIZE, MSG_NOSIGNAL, 0, 0);
    call("exit_group", 1);
  };

  program.ops.forEach((op, i) => {
    asm.loadImmediate("op", i);
    switch (op.op) {
      case "setns": {
        call("openat", AT_FDCWD, data.string(op.path), O_RDONLY | O_CLOEXEC, 0);
        failOnError();
        asm.move("saved", "result");
        call("setns", "saved", op.nstype);
        failOnError();
        call("close", "saved");
        failOnError();
        break;
      }
      case "unshare":
        call("unshare", op.flags);
        failOnError();
        break;
      case "sync": {
        const record = data.record(RECORD_SYNC, i, op.point);
        call("write", op.fd, record.address, RECORD_SIZE);
        failUnless(RECORD_SIZE);
        call("read", op.fd, byte, 1);
        failUnless(1);
        break;
      }
      case "setresgid":
      case "setresuid":
        call(op.op, op.id, op.id, op.id);
        failOnError();
        break;
      case "setgroups":
        call(
          "setgroups",
          op.groups.length,
          op.groups.length ? data.u32s(op.groups) : 0n,
        );
        failOnError();
        break;
      case "cloexec":
        call("fcntl", op.fd, F_SETFD, FD_CLOEXEC);
        failOnError();
        break;
      case "cloneParent": {
        const record = data.record(RECORD_PID, i, 0);
        const child = new Label(`child${i}`);
        // clone's argument order differs between x86_64 and aarch64 after the flags; all zero.
        call("clone", CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
        failOnError();
        asm.branchIf("equal", 0n, child);
        asm.store32(record.value, "result");
        call("write", op.fd, record.address, RECORD_SIZE);
        failUnless(RECORD_SIZE);
        call("exit_group", 0);
        asm.bind(child);
        break;
      }
      case "waitByte":
        call("read", op.fd, byte, 1);
        failUnless(1);
        break;
      case "prlimit":
        call("prlimit64", 0, op.resource, data.u64s([op.soft, op.hard]), 0);
        failOnError();
        break;
      case "capset": {
        const lo = (v: bigint) => Number(v & 0xffffffffn);
        const hi = (v: bigint) => Number(v >> 32n);
        const header = data.u32s([LINUX_CAPABILITY_VERSION_3, 0]);
        const sets = data.u32s([
          lo(op.effective),
          lo(op.permitted),
          lo(op.inheritable),
          hi(op.effective),
          hi(op.permitted),
          hi(op.inheritable),
        ]);
        call("capset", header, sets);
        break;
      }
      case "chdir":
      case "chroot":
        call(op.op, data.string(op.path));
        failOnError();
        break;
      case "umask":
        call("umask", op.mask);
        break;
      case "prctl":
        call("prctl", op.option, op.arg2, op.arg3 ?? 0, 0, 0);
        failOnError();
        break;
      case "seccomp": {
        const filter = data.bytes(op.filter);
        // struct sock_fprog: unsigned short len, padding, struct sock_filter *filter.
        const fprog = data.u64s([BigInt(op.filter.length / 8), filter]);
        call("seccomp", SECCOMP_SET_MODE_FILTER, op.flags, fprog);
        failOnError();
        if (op.listenerFd !== undefined) {
          const record = data.record(RECORD_SYNC, i, 0);
          asm.move("saved", "result");
          asm.store32(record.value, "saved");
          call("write", op.listenerFd, record.address, RECORD_SIZE);
          failUnless(RECORD_SIZE);
          call("read", op.listenerFd, byte, 1);
          failUnless(1);
          call("close", "saved");
          failOnError();
        }
        break;
      }
      case "setsid":
        call("setsid");
        failOnError();
        break;
      case "setctty":
        call("ioctl", op.fd, TIOCSCTTY, 0);
        failOnError();
        break;
      case "dup2":
        call("dup3", op.from, op.to, 0);
        failOnError();
        break;
      case "openDup":
        call("openat", AT_FDCWD, data.string(op.path), op.flags, 0);
        failOnError();
        asm.move("saved", "result");
        for (const to of op.to) {
          call("dup3", "saved", to, 0);
          failOnError();
        }
        call("close", "saved");
        failOnError();
        break;
      case "cloexecFrom":
        call("close_range", op.first, 0xffffffff, CLOSE_RANGE_CLOEXEC);
        failOnError();
        break;
      case "sigdefault":
        // struct sigaction as the kernel takes it: handler SIG_DFL (0), flags, [restorer], mask.
        call("rt_sigaction", op.signal, data.zeros(32, 8), 0, 8);
        failOnError();
        break;
      case "fchown":
        call("fchown", op.fd, op.uid, 0xffffffff);
        break;
      case "mount": {
        const text = (v: string | undefined) => v ? data.string(v) : 0n;
        call(
          "mount",
          text(op.source),
          data.string(op.target),
          text(op.fstype),
          op.flags,
          text(op.data),
        );
        failOnError();
        break;
      }
      case "umount2":
        call("umount2", data.string(op.target), op.flags);
        failOnError();
        break;
      case "pivotRoot":
        call("pivot_root", data.string(op.newRoot), data.string(op.putOld));
        failOnError();
        break;
      case "sessionKeyring": {
        const skip = new Label(`keyring${i}`);
        call("keyctl", KEYCTL_JOIN_SESSION_KEYRING, data.string(op.name));
        asm.branchIf("equal", -ENOSYS, skip);
        asm.branchIf("equal", -EACCES, skip);
        failOnError();
        asm.move("saved", "result");
        call("keyctl", KEYCTL_SETPERM, "saved", op.perm);
        failOnError();
        asm.bind(skip);
        break;
      }
      case "personality":
        call("personality", op.persona);
        failOnError();
        break;
      case "runHook": {
        const child = new Label(`hook${i}`);
        const done = new Label(`hookDone${i}`);
        const stdin = UTF8.encode(op.stdin);
        const status = data.zeros(4, 4);
        call("memfd_create", data.string("skiff-hook-state"), MFD_CLOEXEC);
        failOnError();
        asm.move("saved", "result");
        call("write", "saved", data.bytes(stdin), stdin.length);
        failUnless(stdin.length);
        call("lseek", "saved", 0, 0);
        failOnError();
        call("clone", SIGCHLD, 0, 0, 0, 0);
        failOnError();
        asm.branchIf("equal", 0n, child);
        // The child has its own copy of the memfd (its stdin to be): the parent's goes at once,
        // which frees `saved` for the pidfd. The pid waits in the data segment.
        const pid = data.zeros(4, 4);
        asm.store32(pid, "result");
        call("close", "saved");
        failOnError();
        /** A system call whose first argument is the hook's pid (`result` is clobbered by `nr`). */
        const callWithPid = (name: TrampolineSyscall, ...args: (bigint | number)[]): void => {
          asm.load32(pid);
          asm.move("arg0", "result");
          asm.loadImmediate("nr", numbers[name]);
          args.forEach((arg, j) => asm.loadImmediate(ARGUMENTS[j + 1], arg));
          asm.systemCall();
        };
        if (op.timeout !== undefined) {
          const ended = new Label(`hookEnded${i}`);
          callWithPid("pidfd_open", 0);
          failOnError();
          asm.move("saved", "result");
          // struct pollfd {int fd; short events = POLLIN; short revents}, the fd stored now;
          // struct timespec {tv_sec, tv_nsec} (ppoll writes the time left back: used once).
          const pollfd = data.u32s([0, POLLIN]);
          asm.store32(pollfd, "saved");
          call("ppoll", pollfd, 1, data.u64s([BigInt(op.timeout), 0n]), 0, 8);
          failOnError();
          asm.branchIf("notEqual", 0n, ended);
          // Timed out: the hook is not reaped yet, so the pidfd still names it.
          call("pidfd_send_signal", "saved", SIGKILL, 0, 0);
          failOnError();
          callWithPid("wait4", status, 0, 0);
          failOnError();
          call("close", "saved");
          if (op.timeoutMessage) {
            const message = UTF8.encode(op.timeoutMessage);
            call("write", 2, data.bytes(message), message.length);
          }
          const record = data.record(RECORD_ERROR, i, HOOK_TIMED_OUT);
          call("sendto", program.reportFd, record.address, RECORD_SIZE, MSG_NOSIGNAL, 0, 0);
          call("exit_group", 1);
          asm.bind(ended);
          call("close", "saved");
          failOnError();
        }
        callWithPid("wait4", status, 0, 0);
        failOnError();
        asm.load32(status);
        asm.branchIf("equal", 0n, done);
        if (op.failMessage !== undefined) toHookFailed(op.failMessage);
        else {
          // The fail path negates: the record's value is the wait status itself.
          asm.negateResult();
          asm.jump(fail);
        }
        asm.bind(child);
        // With failMessage the hook runs after `start`: nobody reads reportFd, and a record
        // written to it would kill the child with SIGPIPE (without a PID namespace of its own, PID
        // 1 too), which the parent would report instead of the child's exit status 127.
        const childFail = op.failMessage === undefined ? fail : new Label(`hookChildFail${i}`);
        const childFailOnError = (): void => asm.branchIf("aboveOrEqual", -4095n, childFail);
        call("dup3", "saved", 0, 0);
        childFailOnError();
        call("fcntl", program.reportFd, F_SETFD, FD_CLOEXEC);
        childFailOnError();
        const argv = data.pointers(op.argv.map((s) => data.string(s)));
        const envp = data.pointers(op.envp.map((s) => data.string(s)));
        call("execve", data.string(op.path), argv, envp);
        asm.jump(childFail); // execve returns only on failure; the child exits 127
        if (childFail !== fail) {
          const record = data.record(RECORD_ERROR, i, 0);
          asm.bind(childFail);
          asm.negateResult();
          asm.store32(record.value, "result");
          call("sendto", program.reportFd, record.address, RECORD_SIZE, MSG_NOSIGNAL, 0, 0);
          call("exit_group", 127);
        }
        asm.bind(done);
        break;
      }
      case "mempolicy":
        if (op.nodemask.length === 0) call("set_mempolicy", op.mode, 0, 0);
        else call("set_mempolicy", op.mode, data.u64s(op.nodemask), op.nodemask.length * 64 + 1);
        failOnError();
        break;
      case "execveat": {
        const argv = data.pointers(op.argv.map((s) => data.string(s)));
        const envp = data.pointers(op.envp.map((s) => data.string(s)));
        call("execveat", op.fd, data.string(""), argv, envp, AT_EMPTY_PATH);
        asm.jump(fail); // execveat returns only on failure
        break;
      }
      case "execve": {
        call("fcntl", program.reportFd, F_SETFD, FD_CLOEXEC);
        failOnError();
        const argv = data.pointers(op.argv.map((s) => data.string(s)));
        const envp = data.pointers(op.envp.map((s) => data.string(s)));
        call("execve", data.string(op.path), argv, envp);
        asm.jump(fail); // execve returns only on failure
        break;
      }
      case "exit":
        call("exit_group", op.code);
        break;
    }
  });

  asm.bind(fail);
  asm.negateResult();
  asm.store32(errorRecord.value, "result");
  asm.store32(errorRecord.op, "op");
  call("write", program.reportFd, errorRecord.address, RECORD_SIZE);
  call("exit_group", 127);
  if (hookFailed) hookFailedCode(hookFailed);

  return buildElf(asm.machine, asm.finish(), data.result());
}

const ARGUMENTS = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"] as const;

// Kernel constants the generated code passes (the same on x86_64 and aarch64).
const AT_FDCWD = -100;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const CLONE_PARENT = 0x8000;
const SIGCHLD = 17;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const SECCOMP_SET_MODE_FILTER = 1;
const TIOCSCTTY = 0x540e;
const CLOSE_RANGE_CLOEXEC = 1 << 2;
const AT_EMPTY_PATH = 0x1000;
const MFD_CLOEXEC = 1;
const KEYCTL_JOIN_SESSION_KEYRING = 1;
const KEYCTL_SETPERM = 5;
const POLLIN = 1;
const SIGKILL = 9;
const MSG_NOSIGNAL = 0x4000;
const ENOSYS = 38n;
const EACCES = 13n;

/**
 * Checks `program` before any code is generated.
 * @throws TypeError naming the field, e.g. `trampoline ops[2].fd: must be ...`.
 */
export function validateProgram(program: TrampolineProgram): void {
  const bad = (path: string, what: string, value: unknown): never => {
    throw new TypeError(`trampoline ${path}: ${what}: current value is ${JSON.stringify(value)}`);
  };
  const int = (path: string, value: unknown, min: number, max: number): void => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      bad(path, `must be an integer from ${min} to ${max}`, value);
    }
  };
  const text = (path: string, value: unknown, allowEmpty = false): void => {
    if (typeof value !== "string" || (!allowEmpty && value === "") || value.includes("\0")) {
      bad(path, `must be a ${allowEmpty ? "" : "non-empty "}string without NUL bytes`, value);
    }
  };
  const FD_MAX = 0x7fffffff;
  const U32_MAX = 0xffffffff;
  int("reportFd", program.reportFd, 0, FD_MAX);
  if (!Array.isArray(program.ops) || program.ops.length === 0) {
    bad("ops", "must list at least one op", program.ops);
  }
  program.ops.forEach((op, i) => {
    const at = `ops[${i}]`;
    const last = i === program.ops.length - 1;
    switch (op.op) {
      case "setns":
        text(`${at}.path`, op.path);
        int(`${at}.nstype`, op.nstype, 0, FD_MAX);
        break;
      case "unshare":
        int(`${at}.flags`, op.flags, 0, FD_MAX);
        break;
      case "sync":
        int(`${at}.fd`, op.fd, 0, FD_MAX);
        int(`${at}.point`, op.point, -0x80000000, FD_MAX);
        break;
      case "setresgid":
      case "setresuid":
        int(`${at}.id`, op.id, 0, U32_MAX - 1);
        break;
      case "setgroups":
        if (!Array.isArray(op.groups)) bad(`${at}.groups`, "must be an array", op.groups);
        if (op.groups.length > 65536) {
          bad(`${at}.groups`, "must list at most 65536 groups", op.groups.length);
        }
        op.groups.forEach((g, j) => int(`${at}.groups[${j}]`, g, 0, U32_MAX - 1));
        break;
      case "cloexec":
      case "cloneParent":
      case "waitByte":
      case "setctty":
        int(`${at}.fd`, op.fd, 0, FD_MAX);
        break;
      case "chdir":
      case "chroot":
        text(`${at}.path`, op.path);
        break;
      case "umask":
        int(`${at}.mask`, op.mask, 0, 0o777);
        break;
      case "prctl":
        int(`${at}.option`, op.option, 0, FD_MAX);
        int(`${at}.arg2`, op.arg2, 0, FD_MAX);
        int(`${at}.arg3`, op.arg3 ?? 0, 0, FD_MAX);
        break;
      case "seccomp":
        int(`${at}.flags`, op.flags, 0, FD_MAX);
        if (!(op.filter instanceof Uint8Array) || op.filter.length === 0) {
          bad(`${at}.filter`, "must be sock_filter bytes", String(op.filter));
        }
        int(`${at}.filter.length`, op.filter.length / 8, 1, 4096);
        if (op.listenerFd !== undefined) int(`${at}.listenerFd`, op.listenerFd, 0, FD_MAX);
        break;
      case "setsid":
        break;
      case "dup2":
        int(`${at}.from`, op.from, 0, FD_MAX);
        int(`${at}.to`, op.to, 0, FD_MAX);
        if (op.from === op.to) bad(`${at}.to`, "must differ from from", op.to);
        break;
      case "cloexecFrom":
        int(`${at}.first`, op.first, 0, FD_MAX);
        break;
      case "openDup":
        text(`${at}.path`, op.path);
        int(`${at}.flags`, op.flags, 0, FD_MAX);
        if (!Array.isArray(op.to) || op.to.length === 0) {
          bad(`${at}.to`, "must list at least one fd", op.to);
        }
        op.to.forEach((fd, j) => int(`${at}.to[${j}]`, fd, 0, FD_MAX));
        break;
      case "sigdefault":
        int(`${at}.signal`, op.signal, 1, 64);
        break;
      case "fchown":
        int(`${at}.fd`, op.fd, 0, FD_MAX);
        int(`${at}.uid`, op.uid, 0, U32_MAX - 1);
        break;
      case "capset":
        for (const field of ["effective", "permitted", "inheritable"] as const) {
          const v = op[field];
          if (typeof v !== "bigint" || v < 0n || v > 0xffffffffffffffffn) {
            bad(`${at}.${field}`, "must be a bigint from 0 to 2^64-1", String(v));
          }
        }
        break;
      case "prlimit":
        int(`${at}.resource`, op.resource, 0, 63);
        for (const field of ["soft", "hard"] as const) {
          const v = op[field];
          if (typeof v !== "bigint" || v < 0n || v > 0xffffffffffffffffn) {
            bad(`${at}.${field}`, "must be a bigint from 0 to 2^64-1", String(v));
          }
        }
        break;
      case "mount":
        text(`${at}.source`, op.source, true);
        text(`${at}.target`, op.target);
        text(`${at}.fstype`, op.fstype, true);
        int(`${at}.flags`, op.flags, 0, U32_MAX);
        text(`${at}.data`, op.data ?? "", true);
        break;
      case "umount2":
        text(`${at}.target`, op.target);
        int(`${at}.flags`, op.flags, 0, 0xff);
        break;
      case "pivotRoot":
        text(`${at}.newRoot`, op.newRoot);
        text(`${at}.putOld`, op.putOld);
        break;
      case "sessionKeyring":
        text(`${at}.name`, op.name);
        int(`${at}.perm`, op.perm, 0, U32_MAX);
        break;
      case "personality":
        int(`${at}.persona`, op.persona, 0, FD_MAX);
        break;
      case "runHook":
        text(`${at}.path`, op.path);
        if (!Array.isArray(op.argv) || op.argv.length === 0) {
          bad(`${at}.argv`, "must list at least argv[0]", op.argv);
        }
        op.argv.forEach((s, j) => text(`${at}.argv[${j}]`, s, true));
        if (!Array.isArray(op.envp)) bad(`${at}.envp`, "must be an array", op.envp);
        op.envp.forEach((s, j) => text(`${at}.envp[${j}]`, s, true));
        text(`${at}.stdin`, op.stdin);
        if (op.timeout !== undefined) int(`${at}.timeout`, op.timeout, 1, FD_MAX);
        if (op.timeoutMessage !== undefined) {
          text(`${at}.timeoutMessage`, op.timeoutMessage);
          if (op.timeout === undefined) {
            bad(`${at}.timeout`, "must be set with timeoutMessage", op.timeout);
          }
        }
        if (op.failMessage !== undefined) text(`${at}.failMessage`, op.failMessage);
        break;
      case "mempolicy":
        int(`${at}.mode`, op.mode, 0, FD_MAX);
        if (!Array.isArray(op.nodemask) || op.nodemask.length > 16) {
          bad(`${at}.nodemask`, "must be an array of at most 16 words", String(op.nodemask));
        }
        op.nodemask.forEach((w, j) => {
          if (typeof w !== "bigint" || w < 0n || w > 0xffffffffffffffffn) {
            bad(`${at}.nodemask[${j}]`, "must be a bigint from 0 to 2^64-1", String(w));
          }
        });
        break;
      case "execve":
      case "execveat":
        if (op.op === "execve") text(`${at}.path`, op.path);
        else int(`${at}.fd`, op.fd, 0, FD_MAX);
        if (!Array.isArray(op.argv) || op.argv.length === 0) {
          bad(`${at}.argv`, "must list at least argv[0]", op.argv);
        }
        op.argv.forEach((s, j) => text(`${at}.argv[${j}]`, s, true));
        if (!Array.isArray(op.envp)) bad(`${at}.envp`, "must be an array", op.envp);
        op.envp.forEach((s, j) => text(`${at}.envp[${j}]`, s, true));
        break;
      case "exit":
        int(`${at}.code`, op.code, 0, 255);
        break;
      default:
        bad(
          `${at}.op`,
          "must be one of setns, unshare, sync, setresgid, setresuid, setgroups, cloexec, " +
            "cloneParent, waitByte, prlimit, capset, chdir, chroot, umask, prctl, seccomp, " +
            "setsid, setctty, dup2, openDup, cloexecFrom, sigdefault, fchown, mount, umount2, pivotRoot, " +
            "sessionKeyring, personality, mempolicy, runHook, execve, execveat, exit",
          (op as { op: unknown }).op,
        );
    }
    const ends = op.op === "execve" || op.op === "execveat" || op.op === "exit";
    if (last && !ends) bad(`${at}.op`, "the last op must be execve, execveat or exit", op.op);
    if (!last && ends) bad(`${at}.op`, "execve, execveat or exit must be the last op", op.op);
  });
}

/** Where a runHook op's failure line finds its words: addresses in the data segment. */
interface HookFailureData {
  /** HookError's words before the number or name, [address, length]. */
  exitStatus: [bigint, number];
  killedBy: [bigint, number];
  killedBySignal: [bigint, number];
  /** "0123456789". */
  digits: bigint;
  /** "\n". */
  newline: bigint;
  /** struct iovec per signal number below `names` (0: empty): its name as Deno gives it. */
  table: bigint;
  names: number;
}

/**
 * The words a failed hook's line is made of, once per program. The names are runtime/signals.ts's
 * first for each number (SIGABRT, not SIGIOT; SIGIO, not SIGPOLL), which are Deno's for 1-31;
 * Deno has none for the real-time signals (it throws "Invalid signal: 34"), which get their number.
 */
function hookFailureData(data: DataBuilder): HookFailureData {
  const words = (s: string): [bigint, number] => {
    const bytes = UTF8.encode(s);
    return [data.bytes(bytes), bytes.length];
  };
  const byNumber = new Map<number, string>();
  for (const [name, n] of Object.entries(SIGNALS)) if (!byNumber.has(n)) byNumber.set(n, name);
  const names = Math.max(...byNumber.keys()) + 1;
  const entries: bigint[] = [];
  for (let n = 0; n < names; n++) {
    const name = byNumber.get(n);
    entries.push(...(name ? [data.string(name), BigInt(name.length)] : [0n, 0n]));
  }
  return {
    exitStatus: words("exit status "),
    killedBy: words("killed by "),
    killedBySignal: words("killed by signal "),
    digits: data.string("0123456789"),
    newline: data.string("\n"),
    table: data.u64s(entries),
    names,
  };
}

/** UTF-8 for the data segment's strings: one encoder for the whole build. */
const UTF8 = new TextEncoder();

/** The data segment under construction: strings, pointer arrays and records, with addresses. */
export class DataBuilder {
  // One growable buffer (an array of numbers, a TextEncoder per string and eight BigInt shifts per
  // pointer made most of a build's garbage; issue 11).
  #buf = new CodeBuffer(1024);

  /** A NUL-terminated UTF-8 string; returns its address. */
  string(s: string): bigint {
    const at = this.#buf.length;
    this.#buf.utf8z(s, UTF8);
    return dataAddress(at);
  }

  /** A NULL-terminated array of 64-bit pointers; returns its address. */
  pointers(addresses: bigint[]): bigint {
    this.#buf.align(8);
    const at = this.#buf.length;
    for (const a of addresses) this.#buf.u64(a);
    this.#buf.u64(0n);
    return dataAddress(at);
  }

  /** An array of u32 (gid_t); returns its address. */
  u32s(values: number[]): bigint {
    this.#buf.align(4);
    const at = this.#buf.length;
    for (const v of values) this.#buf.u32(v);
    return dataAddress(at);
  }

  /** 64-bit little-endian values, 8-aligned (a struct rlimit64); returns their address. */
  u64s(values: bigint[]): bigint {
    this.#buf.align(8);
    const at = this.#buf.length;
    for (const v of values) this.#buf.u64(v);
    return dataAddress(at);
  }

  /** Raw bytes, 8-aligned (a seccomp filter); returns their address. */
  bytes(values: Uint8Array): bigint {
    this.#buf.align(8);
    const at = this.#buf.length;
    this.#buf.append(values);
    return dataAddress(at);
  }

  /** `n` zero bytes, aligned to `align`; returns their address. */
  zeros(n: number, align = 1): bigint {
    this.#buf.align(align);
    const at = this.#buf.length;
    this.#buf.zeros(n);
    return dataAddress(at);
  }

  /** A record; returns the addresses of the record, its op field and its value field. */
  record(kind: number, op: number, value: number): { address: bigint; op: bigint; value: bigint } {
    this.#buf.align(4);
    const at = this.#buf.length;
    this.#buf.u32(kind);
    this.#buf.u32(op);
    this.#buf.u32(value);
    return { address: dataAddress(at), op: dataAddress(at + 4), value: dataAddress(at + 8) };
  }

  /** The bytes. */
  result(): Uint8Array<ArrayBuffer> {
    return this.#buf.result();
  }
}
