/** Starting a `skiff init` (the container's, or an exec's) and talking to it. */
import { O_CLOEXEC } from "../../ffi/constants.ts";
import { close, pipe, setCloexec } from "../../ffi/fs.ts";
import { acceptUnix, recvFds } from "../../ffi/socket.ts";
import type { NamespacePlan } from "../namespaces.ts";
import { spawnInNamespaces, type TimeOffsets } from "./spawn_in_namespaces.ts";
import { type InitProcess, pipesOf, spawnedInit } from "./init_process.ts";
import { needsTrampoline, spawnViaTrampoline, type UserNamespaceSetup } from "./spawn_userns.ts";
import { initEnv, selfCommand } from "./self_command.ts";

/** A spawned init: the child, the pipe to it (bootstrap, then answers) and the pipe from it. */
export interface SpawnedInit {
  child: InitProcess;
  /** Write end of the bootstrap pipe (the CLI keeps it for "continue"/"abort"). */
  toInit: number;
  /** Read end of the sync pipe (ready, hooks, warnings, errors). */
  fromInit: number;
}

/**
 * Spawns `skiff init` inside the namespaces of `plan`; send it its bootstrap with sendBootstrap()
 * (the caller may do more work first: the init takes tens of milliseconds to start anyway).
 * The init inherits only its two pipe ends and, without a terminal, the caller's stdio. With a
 * terminal its stdio is /dev/null until it switches to the pty: a caller that reads our output to
 * EOF (go-runc does for `create --console-socket`) must not wait for the container.
 */
export async function spawnInit(
  plan: NamespacePlan,
  terminal: boolean,
  options: { timeOffsets?: TimeOffsets; userns?: UserNamespaceSetup; piped?: boolean } = {},
): Promise<SpawnedInit> {
  const stdio = terminal ? "null" : options.piped ? "piped" : "inherit";
  const [bootRead, bootWrite] = pipe(O_CLOEXEC);
  const [syncRead, syncWrite] = pipe(O_CLOEXEC);
  let child: InitProcess;
  try {
    // The init's ends must survive exec; ours stay close-on-exec.
    setCloexec(bootRead, false);
    setCloexec(syncWrite, false);
    const self = selfCommand(["init", String(bootRead), String(syncWrite)]);
    if (needsTrampoline(plan)) {
      child = await spawnViaTrampoline(plan, self, stdio, options.userns, options.timeOffsets);
    } else {
      const spawned = spawnInNamespaces(
        plan,
        () =>
          new Deno.Command(self.command, {
            args: self.args,
            stdin: stdio,
            stdout: stdio,
            stderr: stdio,
            env: initEnv(),
          }).spawn(),
        options.timeOffsets,
      );
      child = spawnedInit(spawned, stdio === "piped" ? pipesOf(spawned) : undefined);
    }
  } catch (err) {
    close(bootWrite);
    close(syncRead);
    throw err;
  } finally {
    close(bootRead);
    close(syncWrite);
  }
  return { child, toInit: bootWrite, fromInit: syncRead };
}

/** Accepts the init's connection on a console listener and returns the pty master it sent. */
export function receiveConsole(listener: number): number {
  const conn = acceptUnix(listener);
  try {
    const master = recvFds(conn).fds[0];
    if (master === undefined) throw new Error("the container sent no terminal");
    return master;
  } finally {
    close(conn);
  }
}
