/**
 * A user namespace with given id maps, held open by an fd: what an idmapped mount
 * (mount_setattr(MOUNT_ATTR_IDMAP)) needs. Deno cannot unshare(CLONE_NEWUSER) itself (it is
 * multi-threaded, unshare(2): EINVAL), so a trampoline makes the namespace and waits while the maps
 * are written, and the namespace outlives it through the fd opened meanwhile.
 */
import type { IdMapping } from "../../spec/config.ts";
import { CLONE_NEWUSER, O_CLOEXEC, O_RDONLY } from "../../ffi/constants.ts";
import { close, open } from "../../ffi/fs.ts";
import { writeIdMaps } from "../userns/maps.ts";
import type { TrampolineProgram } from "./program.ts";
import { answer, expectEvent, spawnTrampoline, trampolineSocket } from "./spawn.ts";

/** An open user namespace. */
export interface HeldUserNamespace {
  /** An O_RDONLY|O_CLOEXEC fd of the namespace (as /proc/PID/ns/user). */
  fd: number;
  /** Closes the fd; the namespace goes away with its last reference. Safe to call twice. */
  release(): Promise<void>;
}

/** Options of holdUserNamespace(). */
export interface HoldUserNamespaceOptions {
  /** Write "deny" to /proc/PID/setgroups before the gid map. */
  setgroupsDeny?: boolean;
}

/**
 * Makes a user namespace with `uidMappings` and `gidMappings` and returns an fd that keeps it.
 * Nothing is left running: the trampoline that made it has exited and been reaped.
 */
export async function holdUserNamespace(
  uidMappings: readonly IdMapping[],
  gidMappings: readonly IdMapping[],
  options: HoldUserNamespaceOptions = {},
): Promise<HeldUserNamespace> {
  const { ours, theirs } = trampolineSocket();
  const program: TrampolineProgram = {
    reportFd: theirs,
    ops: [
      { op: "unshare", flags: CLONE_NEWUSER },
      { op: "sync", fd: theirs, point: 0 },
      { op: "exit", code: 0 },
    ],
  };
  let child: Deno.ChildProcess | undefined;
  let fd = -1;
  try {
    try {
      child = spawnTrampoline(program, { stdout: "null" });
    } finally {
      close(theirs);
    }
    await expectEvent(ours, program, "sync");
    writeIdMaps(child.pid, uidMappings, gidMappings, { setgroupsDeny: options.setgroupsDeny });
    fd = open(`/proc/${child.pid}/ns/user`, O_RDONLY | O_CLOEXEC);
    answer(ours);
    await expectEvent(ours, program, "end");
    const status = await child.status;
    if (!status.success) throw new Error(`the trampoline exited with status ${status.code}`);
  } catch (err) {
    if (fd >= 0) close(fd);
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    }
    throw new Error("Cannot create a user namespace for the id mappings", { cause: err });
  } finally {
    close(ours);
  }
  let held = true;
  return {
    fd,
    release(): Promise<void> {
      if (held) close(fd);
      held = false;
      return Promise.resolve();
    },
  };
}
