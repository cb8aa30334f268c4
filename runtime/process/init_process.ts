/**
 * A container's (or an exec's) first process as the CLI sees it. It is either a child that Deno
 * spawned itself (the usual case) or one that the trampoline clone()d with CLONE_PARENT, so that it
 * is PID 1 of a PID namespace owned by a new user namespace and still this process's child: Deno
 * does not know it, so it is reaped with waitpid(2) here.
 */
import { kill, waitPid } from "../../ffi/process.ts";
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
