/**
 * Process liveness by pid + start time: a pid that was reused by another process, or a zombie
 * waiting to be reaped, does not count as the container's running init.
 */

/** Reads field 22 (starttime, clock ticks since boot) and the state letter of /proc/<pid>/stat. */
export function readProcStat(pid: number): { startTime: number; state: string } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields resume after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], startTime: Number(fields[19]) };
}

/** Returns the start time of `pid`, or undefined when it does not exist. */
export function processStartTime(pid: number): number | undefined {
  return readProcStat(pid)?.startTime;
}

/** True when `pid` exists, is not a zombie, and started at `startTime`. */
export function isAlive(pid: number, startTime: number): boolean {
  if (pid <= 0) return false;
  const stat = readProcStat(pid);
  if (!stat) return false;
  if (stat.state === "Z" || stat.state === "X") return false;
  return stat.startTime === startTime;
}
