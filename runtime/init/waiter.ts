/**
 * The waiter: what a created container's init becomes once it is ready. The init (a Deno process)
 * has built the container and turned itself into the container process's identity; instead of
 * waiting for `skiff start` as a whole Deno (tens of MiB), it execs a trampoline
 * (runtime/trampoline/) of a few hundred bytes that blocks on exec.fifo, sets the late rlimits and
 * execve()s process.args. Between create and start the container costs the host that small process.
 *
 * Capabilities pass through the two execve()s unchanged: the kernel recomputes them from the same
 * bounding, inheritable and ambient sets each time. The memfd is sealed, so a container process
 * that opens /proc/1/exe can't change what runs (CVE-2019-5736).
 */
import { setCloexec } from "../../ffi/fs.ts";
import { execveatFd } from "../../ffi/process.ts";
import { RLIMITS } from "../../spec/rlimits.ts";
import type { TrampolineOp } from "../trampoline/program.ts";
import { trampolineMemfd } from "../trampoline/spawn.ts";
import type { ExecTarget } from "./finalize.ts";
import { selfCommand } from "../process/self_command.ts";

/**
 * Execs the waiter for `target`, blocking on `fifoFd`. Returns (having changed nothing) only when
 * the waiter could not be made or exec'd (an RLIMIT_FSIZE below its size, a seccomp profile that
 * refuses execveat): the caller then waits as before.
 */
export function execWaiter(target: ExecTarget, fifoFd: number): void {
  const ops: TrampolineOp[] = [{ op: "waitByte", fd: fifoFd }];
  for (const r of target.lateRlimits) {
    ops.push({ op: "prlimit", resource: RLIMITS[r.type], soft: rlim(r.soft), hard: rlim(r.hard) });
  }
  // Its own execve gave the waiter the capabilities a root process gets at exec: back to the
  // process's sets, so that the last execve changes them as runc's does (dumpable follows).
  ops.push({ op: "capset", ...target.capabilities });
  // execve marks fifoFd (the report fd) close-on-exec first: the container never sees it.
  ops.push({ op: "execve", path: target.path, argv: target.argv, envp: target.env });
  let memfd: number;
  try {
    memfd = trampolineMemfd({ ops, reportFd: fifoFd });
  } catch {
    // E.g. EFBIG: an RLIMIT_FSIZE of the process below the program's size. Wait as before.
    return;
  }
  setCloexec(fifoFd, false);
  try {
    // The same command line as the Deno init's, with "waiter": ps(1) and the tests know it.
    const self = selfCommand(["init", "waiter"]);
    execveatFd(memfd, [self.command, ...self.args], []);
  } catch {
    setCloexec(fifoFd, true);
  }
}

/** A JSON rlimit value as rlim_t: 2^64-1 (RLIM_INFINITY) arrives as a double just above it. */
function rlim(value: number): bigint {
  const v = BigInt(value);
  return v > 0xffffffffffffffffn ? 0xffffffffffffffffn : v;
}
