/**
 * A container's (or an exec's) first process as the CLI sees it. It is either a child that Deno
 * spawned itself (the usual case) or one that the trampoline clone()d with CLONE_PARENT, so that it
 * is PID 1 of a PID namespace owned by a new user namespace and still this process's child: Deno
 * does not know it, so it is reaped with waitpid(2) here.
 */
import { kill } from "../../ffi/process.ts";
import { waitPid } from "../../ffi/spawn.ts";
import { close, pipe } from "../../ffi/fs.ts";
import { O_CLOEXEC } from "../../ffi/constants.ts";
import { parseSignal, signalName } from "../signals.ts";

export interface InitProcess {
  readonly pid: number;
  /** Resolves once the process has ended (and is reaped). */
  readonly status: Promise<Deno.CommandStatus>;
  kill(signal: Deno.Signal): void;
  /** Lets this CLI exit while the process runs (create, detached exec). */
  unref(): void;
  /** The process's stdio, when it was started with pipes (the library's stdio: "piped"). */
  readonly stdio?: PipedStdio;
}

/** Pipes to a process's stdin, stdout and stderr. */
export interface PipedStdio {
  stdin: WritableStream<Uint8Array>;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
}

/** The pipes of `child`, which was spawned with stdin, stdout and stderr "piped". */
export function pipesOf(child: Deno.ChildProcess): PipedStdio {
  return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr };
}

/** Pipes for a child that Deno does not spawn (the trampoline init's PID 1). */
export interface StdioPipes {
  /** The child's ends, for its fds 0, 1 and 2 (close-on-exec here: dup2 them). */
  readonly childFds: readonly [number, number, number];
  /** This process's ends, as streams. */
  readonly stdio: PipedStdio;
  /** Closes the child's ends here, once the child has them. */
  closeChildFds(): void;
  /** Closes everything (the child never started). */
  close(): void;
}

/**
 * Three pipes, as Deno.Command's "piped" stdio makes them, for a child started by posix_spawn(3).
 * This process's ends become Deno streams by opening them again through /proc/self/fd: Deno has
 * no API that adopts a raw fd. Opened while both ends are ours, so no open(2) waits for a peer.
 */
export function stdioPipes(): StdioPipes {
  const made: number[] = [];
  const files: Deno.FsFile[] = [];
  try {
    const [stdinRead, stdinWrite] = pipe(O_CLOEXEC);
    made.push(stdinRead, stdinWrite);
    const [stdoutRead, stdoutWrite] = pipe(O_CLOEXEC);
    made.push(stdoutRead, stdoutWrite);
    const [stderrRead, stderrWrite] = pipe(O_CLOEXEC);
    made.push(stderrRead, stderrWrite);
    files.push(Deno.openSync(`/proc/self/fd/${stdinWrite}`, { write: true }));
    files.push(Deno.openSync(`/proc/self/fd/${stdoutRead}`, { read: true }));
    files.push(Deno.openSync(`/proc/self/fd/${stderrRead}`, { read: true }));
    // The reopened files are ours now; the raw fds of our ends are not needed.
    for (const fd of [stdinWrite, stdoutRead, stderrRead]) close(fd);
    let childOpen = true;
    const closeChildFds = () => {
      if (!childOpen) return;
      childOpen = false;
      for (const fd of [stdinRead, stdoutWrite, stderrWrite]) close(fd);
    };
    return {
      childFds: [stdinRead, stdoutWrite, stderrWrite],
      stdio: { stdin: files[0].writable, stdout: files[1].readable, stderr: files[2].readable },
      closeChildFds,
      close() {
        closeChildFds();
        for (const file of files) {
          try {
            file.close();
          } catch {
            // A stream closed it already.
          }
        }
      },
    };
  } catch (err) {
    // Only pipe(2) and open(2) can fail, before any raw fd is closed above.
    for (const file of files) file.close();
    for (const fd of made) close(fd);
    throw err;
  }
}

/** Wraps a child that Deno spawned. */
export function spawnedInit(child: Deno.ChildProcess, stdio?: PipedStdio): InitProcess {
  return {
    pid: child.pid,
    stdio,
    get status() {
      return child.status;
    },
    kill: (signal) => child.kill(signal),
    unref: () => child.unref(),
  };
}

/** Wraps child `pid` that Deno did not spawn (the trampoline's clone); reaped on first `status`. */
export function clonedInit(pid: number, stdio?: PipedStdio): InitProcess {
  let status: Promise<Deno.CommandStatus> | undefined;
  return {
    pid,
    stdio,
    get status() {
      status ??= waitPid(pid).then(
        (ended): Deno.CommandStatus =>
          ended.signal === null
            ? { success: ended.success, code: ended.code, signal: null }
            : { success: false, code: ended.code, signal: signalName(ended.signal) as Deno.Signal },
        // ECHILD: someone else reaped it; its status is lost.
        (): Deno.CommandStatus => ({ success: false, code: 1, signal: null }),
      );
      return status;
    },
    kill: (signal) => kill(pid, parseSignal(signal)),
    // Nothing to unref: no wait is pending unless `status` was asked for.
    unref: () => {},
  };
}

/** Kills an init that did not get ready and reaps it. */
export async function killInit(child: Pick<InitProcess, "kill" | "status">): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await child.status;
}

/**
 * Kills a trampoline that failed half-way and the process it cloned (`clonedPid`, when its PID
 * record came), and reaps both.
 */
export async function killTrampoline(
  trampoline: Pick<InitProcess, "kill" | "status"> | undefined,
  clonedPid: number | undefined,
): Promise<void> {
  if (trampoline) await killInit(trampoline);
  if (clonedPid !== undefined) await killInit(clonedInit(clonedPid));
}
