/**
 * Starting an init in a user namespace, through the trampoline (runtime/trampoline/): Deno is
 * multi-threaded and can neither unshare(CLONE_NEWUSER) nor setns(2) into a user namespace, so a
 * generated single-threaded static program does the namespace work and then execve()s `skiff init`.
 *
 * ```
 *   CLI (Deno, host)                               trampoline (static ELF, single-threaded)
 *   ----------------                               ----------------------------------------
 *   socketpair R; spawn /proc/self/fd/<memfd> -->  setns(path) for each joined namespace (user first)
 *                                                  unshare(CLONE_NEWUSER)          [new user ns]
 *   read R  <------------------------------------  SYNC 1
 *   write gid_map, uid_map (maps.ts); answer --->  setresgid(0), setresuid(0): the mapped root
 *                                                  unshare(the other new namespaces)
 *   read R  <------------------------------------  SYNC 2                          [time offsets]
 *   write /proc/T/timens_offsets; answer ------->  clone(CLONE_PARENT)             [PID namespace]
 *   read R  <------------------------------------  PID p (then the trampoline exits 0)
 *                                                  child: R close-on-exec; execve(skiff init)
 *   read R: EOF = execve done; an ERROR record = step i failed with errno e
 * ```
 * With CLONE_PARENT the init is this CLI's child (as without a user namespace), so that `run`
 * can wait for it and an engine's subreaper inherits it when `create` exits.
 */
import { CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER } from "../../ffi/constants.ts";
import type { IdMapping } from "../../spec/config.ts";
import type { NamespacePlan } from "../namespaces.ts";
import { writeIdMaps } from "../userns/maps.ts";
import { type TimeOffsets, writeTimeOffsets } from "./spawn_in_namespaces.ts";
import {
  clonedInit,
  type InitProcess,
  killTrampoline,
  pipesOf,
  spawnedInit,
} from "./init_process.ts";
import { answer, nextEvent, spawnTrampoline, trampolineSocket } from "../trampoline/spawn.ts";
import type { TrampolineOp, TrampolineProgram } from "../trampoline/program.ts";
import { close } from "../../ffi/fs.ts";
import { trace } from "../log.ts";
import { initEnv } from "./self_command.ts";

/** The user namespace of an init: created with these maps, or joined through plan.join. */
export interface UserNamespaceSetup {
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

const SYNC_MAPS = 1;
const SYNC_TIME = 2;

/** True when the plan creates or joins a user namespace. */
export function hasUserNamespace(plan: NamespacePlan): boolean {
  return (plan.create & CLONE_NEWUSER) !== 0 || plan.join.some((j) => j.flag === CLONE_NEWUSER);
}

/**
 * True when the init must be started by the trampoline: the plan has a user namespace (Deno can't
 * make or join one), or this process itself runs in a user namespace that is not the initial one
 * (rootless Podman calls the runtime as root of its own): there its main thread could unshare a
 * PID namespace but never setns(2) back to the saved one, which the host's user namespace owns.
 */
export function needsTrampoline(plan: NamespacePlan): boolean {
  return hasUserNamespace(plan) || (plan.touched.length > 0 && inNestedUserNamespace());
}

let nested: boolean | undefined;

/** True unless this process's uid_map is the initial namespace's identity map. */
export function inNestedUserNamespace(): boolean {
  nested ??= Deno.readTextFileSync("/proc/self/uid_map").trim().split(/\s+/).join(" ") !==
    "0 0 4294967295";
  return nested;
}

/** The trampoline's program for `plan`, ending in execve(command, args). */
export function trampolineOps(
  plan: NamespacePlan,
  reportFd: number,
  exec: { path: string; argv: string[]; envp: string[] },
  timeOffsets?: TimeOffsets,
): TrampolineOp[] {
  const ops: TrampolineOp[] = [];
  for (const j of plan.join) ops.push({ op: "setns", path: j.path, nstype: j.flag });
  if (plan.create & CLONE_NEWUSER) {
    ops.push({ op: "unshare", flags: CLONE_NEWUSER });
    ops.push({ op: "sync", fd: reportFd, point: SYNC_MAPS });
  }
  // The mapped root: full capabilities in the new namespace, owner of what it creates next.
  if (hasUserNamespace(plan)) ops.push({ op: "setresgid", id: 0 }, { op: "setresuid", id: 0 });
  const rest = plan.create & ~CLONE_NEWUSER;
  if (rest) ops.push({ op: "unshare", flags: rest });
  if ((rest & CLONE_NEWTIME) && timeOffsets) {
    ops.push({ op: "sync", fd: reportFd, point: SYNC_TIME });
  }
  // PID namespaces apply to children only: the init must be a new process.
  if ((rest & CLONE_NEWPID) || plan.join.some((j) => j.flag === CLONE_NEWPID)) {
    ops.push({ op: "cloneParent", fd: reportFd });
  }
  // execve marks reportFd close-on-exec first: EOF on the socket is the sign of success.
  ops.push({ op: "execve", path: exec.path, argv: exec.argv, envp: exec.envp });
  return ops;
}

/** Runs the trampoline for `plan` and returns the init it started (after its execve). */
export async function spawnViaTrampoline(
  plan: NamespacePlan,
  command: { command: string; args: string[] },
  stdio: "inherit" | "null" | "piped",
  userns: UserNamespaceSetup | undefined,
  timeOffsets?: TimeOffsets,
): Promise<InitProcess> {
  const socket = trampolineSocket();
  const env = { ...Deno.env.toObject(), ...initEnv() };
  const ops = trampolineOps(plan, socket.theirs, {
    path: command.command,
    argv: [command.command, ...command.args],
    envp: Object.entries(env).map(([k, v]) => `${k}=${v}`),
  }, timeOffsets);
  const program: TrampolineProgram = { ops, reportFd: socket.theirs };
  let trampoline: Deno.ChildProcess;
  try {
    trampoline = spawnTrampoline(program, { stdin: stdio, stdout: stdio, stderr: stdio });
  } catch (err) {
    close(socket.ours);
    throw err;
  } finally {
    close(socket.theirs);
  }
  trace("trampoline: spawned");
  let clonedPid: number | undefined;
  try {
    for (;;) {
      const event = await nextEvent(socket.ours, program);
      if (event.kind === "end") break;
      if (event.kind === "sync" && event.point === SYNC_MAPS) {
        if (!userns) throw new Error("the trampoline asked for id maps that were not given");
        writeIdMaps(trampoline.pid, userns.uidMappings, userns.gidMappings);
        trace("trampoline: maps written");
        answer(socket.ours);
      } else if (event.kind === "sync" && event.point === SYNC_TIME) {
        writeTimeOffsets(timeOffsets ?? {}, trampoline.pid);
        answer(socket.ours);
      } else if (event.kind === "pid") {
        clonedPid = event.pid;
      }
    }
  } catch (err) {
    await killTrampoline(trampoline, clonedPid);
    throw err;
  } finally {
    close(socket.ours);
  }
  // With pipes, the init holds the far ends of the trampoline's: they outlive the trampoline.
  const pipes = stdio === "piped" ? pipesOf(trampoline) : undefined;
  if (clonedPid === undefined) return spawnedInit(trampoline, pipes);
  // The trampoline exits as soon as it has cloned; reap it.
  await trampoline.status;
  return clonedInit(clonedPid, pipes);
}
