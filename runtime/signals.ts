/** Linux signal numbers (x86_64 and aarch64 share them). */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** SIGKILL's number, for kill(2). */
export const SIGKILL: number = SIGNALS.SIGKILL;

/**
 * The signals `skiff run` and `skiff exec` pass on to the process they wait on. SIGWINCH is not
 * one of them: with a terminal, relayTerminal() resizes the pty and the kernel signals the
 * container's foreground group itself (runc also resizes rather than forwards); without one, a
 * change of the caller's window is no business of the container.
 */
export const FORWARDED_SIGNALS: readonly Deno.Signal[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGTERM",
  "SIGUSR1",
  "SIGUSR2",
];

/** Highest real-time signal number on Linux (glibc's SIGRTMAX). */
const SIGRTMAX = 64;

/**
 * Parses a signal as runc does: a number ("9"), a name ("KILL") or a SIG-name ("SIGKILL"),
 * case-insensitively; also RTMIN+n / RTMAX-n.
 */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw new Error(`invalid signal ${JSON.stringify(text)}: out of range 1-${SIGRTMAX}`);
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const base = rt[1] === "MIN" ? 34 : SIGRTMAX;
    const n = base + Number(rt[2] ?? 0);
    if (n >= 34 && n <= SIGRTMAX) return n;
  }
  throw new Error(`unknown signal ${JSON.stringify(text)}`);
}

/** Returns the name of signal `n` ("SIGTERM"), or its number as text. */
export function signalName(n: number): string {
  return Object.entries(SIGNALS).find(([, v]) => v === n)?.[0] ?? String(n);
}

/**
 * Passes `signals` received by this process on to `pid` (what `runc run` and `runc exec` do for
 * the process they wait on). Returns a function that stops forwarding.
 */
export function forwardSignals(
  pid: number,
  signals: readonly Deno.Signal[] = FORWARDED_SIGNALS,
): () => void {
  const removers = signals.map((signal) => {
    const handler = () => {
      try {
        Deno.kill(pid, signal);
      } catch {
        // Already gone.
      }
    };
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  return () => removers.forEach((remove) => remove());
}

/** The exit code that reports `status` as a shell does: the code, or 128 + the signal number. */
export function exitStatus(status: Deno.CommandStatus): number {
  return status.signal ? 128 + (SIGNALS[status.signal] ?? 15) : status.code;
}
