/** waitpid(2) for children that Deno did not spawn itself (the trampoline's CLONE_PARENT init). */
import { lazyLibc } from "./_libc.ts";

// nonblocking: Deno runs the call on a thread of its pool, so the event loop stays free while a
// container runs. Any thread of this process may wait for any of its children.
const waitLibc = lazyLibc(
  {
    /** pid_t waitpid(pid_t pid, int *wstatus, int options); */
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
  } as const,
);

/** How a child ended, decoded from a wait status. */
export interface WaitStatus {
  /** Exit code, or undefined when killed by a signal. */
  code?: number;
  /** The signal that killed it. */
  signal?: number;
}

/**
 * Waits until child `pid` ends and reaps it. Retries on EINTR; resolves to undefined when `pid`
 * is not (or no longer) a child of this process (ECHILD: someone else reaped it).
 */
export async function waitChild(pid: number): Promise<WaitStatus | undefined> {
  const status = new Int32Array(1);
  for (;;) {
    const got = await waitLibc.waitpid(pid, status, 0);
    if (got === pid) return decodeWaitStatus(status[0]);
    // errno belongs to the pool thread that ran the call: EINTR (retry) and ECHILD (not ours)
    // are told apart by asking /proc whether the process is still this one's child.
    if (!isChildOfThisProcess(pid)) return undefined;
  }
}

function isChildOfThisProcess(pid: number): boolean {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return /^PPid:\s*(\d+)$/m.exec(status)?.[1] === String(Deno.pid);
  } catch {
    return false;
  }
}

/** Decodes a wait(2) status word (exited: code; killed: signal). */
export function decodeWaitStatus(status: number): WaitStatus {
  const signal = status & 0x7f;
  if (signal === 0) return { code: (status >> 8) & 0xff };
  return { signal };
}
