/**
 * Running a trampoline (program.ts) and talking to it over its report socket.
 *
 *   parent (Deno)                                 trampoline (one thread)
 *   trampolineSocket(): ours (cloexec), theirs
 *   spawnTrampoline() ─── execve memfd ─────────▶ ops in order ...
 *   close(theirs)
 *   nextEvent(ours) ◀──────── {SYNC, i, point} ── sync: write record, block in read(fd, 1)
 *   (work: e.g. write /proc/PID/uid_map)
 *   answer(ours) ──────────── 1 byte ───────────▶ ... goes on
 *   nextEvent(ours) ◀──────── {PID, i, pid} ───── cloneParent: the parent half exits 0
 *   nextEvent(ours) ◀──────── {ERROR, i, errno} ─ any failure, then exit 127 (a runHook past its
 *                                                 timeout: HOOK_TIMED_OUT, then exit 1; with
 *                                                 failMessage a failed hook: its wait status,
 *                                                 then exit 1)
 *   nextEvent(ours) ◀──────── EOF ─────────────── execve: reportFd is close-on-exec (or exit)
 *
 * The executable lives in a sealed memfd and is started through /proc/self/fd/N: Deno.Command
 * takes a path, and execve(2) resolves that path (the child's copy of the memfd) before it closes
 * close-on-exec fds, so the memfd can be MFD_CLOEXEC and no file is ever written to disk. (That
 * only fails for scripts, whose interpreter would reopen the path after exec; this is an ELF.)
 */
import {
  buildTrampoline,
  decodeRecords,
  describeOp,
  HOOK_TIMED_OUT,
  RECORD_ERROR,
  RECORD_PID,
  RECORD_SIZE,
  RECORD_SYNC,
  type TrampolineProgram,
} from "./program.ts";
import {
  addSeals,
  close,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  memfdCreate,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  read,
  setCloexec,
  waitReadable,
  writeAll,
} from "../../ffi/fs.ts";
import { unixSocketPair } from "../../ffi/socket.ts";
import { SyscallError } from "../../ffi/errno.ts";

/** How the trampoline's stdio is set up (as in Deno.CommandOptions). */
export interface SpawnTrampolineOptions {
  stdin?: "piped" | "inherit" | "null";
  stdout?: "piped" | "inherit" | "null";
  stderr?: "piped" | "inherit" | "null";
}

/**
 * Starts `program` as a new process from a sealed, close-on-exec memfd. Fds the program uses
 * (reportFd, sync fds) must be inheritable: see trampolineSocket().
 * @returns the running trampoline; its status is the exit code of the last op (or 127).
 */
export function spawnTrampoline(
  program: TrampolineProgram,
  options: SpawnTrampolineOptions = {},
): Deno.ChildProcess {
  const fd = trampolineMemfd(program);
  try {
    return new Deno.Command(`/proc/self/fd/${fd}`, {
      clearEnv: true,
      stdin: options.stdin ?? "null",
      stdout: options.stdout ?? "inherit",
      stderr: options.stderr ?? "inherit",
    }).spawn();
  } finally {
    // spawn() returns once the child has exec'd: the memfd is no longer needed here.
    close(fd);
  }
}

/**
 * Writes `program`'s executable to a new sealed, close-on-exec memfd and returns the fd (for
 * spawnTrampoline(), or an execveat(2) of one's own).
 */
export function trampolineMemfd(program: TrampolineProgram): number {
  const elf = buildTrampoline(program);
  const fd = memfdCreate("skiff-trampoline", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  try {
    writeAll(fd, elf);
    // Nobody (a container process reading /proc/PID/exe, say) can change the code it runs.
    addSeals(fd, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  } catch (err) {
    close(fd);
    throw err;
  }
  return fd;
}

/**
 * A connected socket pair for a trampoline's records and sync answers: `ours` is close-on-exec,
 * `theirs` is inherited by the next spawned child. Close `theirs` right after spawnTrampoline(), so
 * that EOF on `ours` means the trampoline (and whatever it cloned) has exec'd or exited, and so no
 * other child spawned later inherits it.
 */
export function trampolineSocket(): { ours: number; theirs: number } {
  const [ours, theirs] = unixSocketPair();
  try {
    setCloexec(theirs, false);
  } catch (err) {
    close(ours);
    close(theirs);
    throw err;
  }
  return { ours, theirs };
}

/** A decoded record, or the end of the socket. */
export type TrampolineEvent =
  | { kind: "sync"; op: number; point: number }
  | { kind: "pid"; op: number; pid: number }
  | { kind: "end" };

/**
 * Reads the next whole record from `fd`, waiting up to `timeoutMs` for it.
 * @returns the record's kind, op and value; null at EOF.
 */
export async function readRecord(
  fd: number,
  timeoutMs = 30_000,
): Promise<{ kind: number; op: number; value: number } | null> {
  const buf = new Uint8Array(RECORD_SIZE);
  let have = 0;
  while (have < RECORD_SIZE) {
    if (!await waitReadable(fd, timeoutMs)) {
      throw new Error(`trampoline: no record on fd ${fd} within ${timeoutMs} ms`);
    }
    // Readable: this read does not block, and its errno is read on this thread.
    const chunk = read(fd, RECORD_SIZE - have);
    if (chunk.length === 0) {
      if (have === 0) return null;
      throw new Error(`trampoline: fd ${fd} ended within a record (${have} of ${RECORD_SIZE})`);
    }
    buf.set(chunk, have);
    have += chunk.length;
  }
  return decodeRecords(buf)[0];
}

/**
 * Waits for what `program` reports next on `fd`: a sync point, a pid, or the end (EOF: the last op
 * exec'd or exited). An error record is thrown as the trampoline's readable error.
 */
export async function nextEvent(
  fd: number,
  program: TrampolineProgram,
  timeoutMs?: number,
): Promise<TrampolineEvent> {
  const record = await readRecord(fd, timeoutMs);
  if (record === null) return { kind: "end" };
  switch (record.kind) {
    case RECORD_SYNC:
      return { kind: "sync", op: record.op, point: record.value };
    case RECORD_PID:
      return { kind: "pid", op: record.op, pid: record.value };
    case RECORD_ERROR:
      throw trampolineError(program, record.op, record.value);
  }
  throw new Error(`trampoline: unknown record kind ${record.kind} (op ${record.op})`);
}

/** Like nextEvent(), but throws unless the event is of `kind`. */
export async function expectEvent<K extends TrampolineEvent["kind"]>(
  fd: number,
  program: TrampolineProgram,
  kind: K,
  timeoutMs?: number,
): Promise<Extract<TrampolineEvent, { kind: K }>> {
  const event = await nextEvent(fd, program, timeoutMs);
  if (event.kind !== kind) {
    const got = event.kind === "end"
      ? "the end of the socket"
      : `${event.kind} from op ${event.op}`;
    throw new Error(`trampoline: expected ${kind}, got ${got}`);
  }
  return event as Extract<TrampolineEvent, { kind: K }>;
}

/** Lets a trampoline waiting at a sync point go on (writes the one continue byte). */
export function answer(fd: number): void {
  writeAll(fd, new Uint8Array([1]));
}

/**
 * The error for an error record, e.g. "trampoline step 3 (setns /proc/123/ns/net): ENOENT (No
 * such file or directory)": a SyscallError, so isErrno()/errnoOf() see its errno.
 */
export function trampolineError(program: TrampolineProgram, op: number, value: number): Error {
  const step = program.ops[op];
  const what = `step ${op} (${step ? describeOp(step) : "unknown op"})`;
  let err: Error;
  if (step?.op === "runHook" && step.timeout !== undefined && value === HOOK_TIMED_OUT) {
    err = new Error(`trampoline ${what}: timed out after ${step.timeout}s`);
  } else if (value > 0) err = new SyscallError("trampoline", value, what);
  else if (value === 0) {
    err = new Error(`trampoline ${what}: the other end of the socket was closed`);
  } else err = new Error(`trampoline ${what}: short transfer of ${-value} bytes`);
  const why = program.why?.[op];
  return why === undefined ? err : new Error(why, { cause: err });
}
