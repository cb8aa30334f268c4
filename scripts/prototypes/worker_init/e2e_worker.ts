/**
 * PROTOTYPE (issue 11, question 6): the worker half of e2e.ts. On its own thread: namespaces,
 * rootfs, pivot_root, hostname (_container_steps.ts); then a trampoline (runtime/trampoline) that
 * unshares the pid namespace and clones the container's PID 1 as a child of THIS PROCESS
 * (cloneParent: tokio never knows it); PID 1 stops at a sync point while this worker mounts its
 * /proc (fsconfig pidns), then blocks on the start pipe (waitByte) and execs the command.
 */
import { post, scope } from "./_worker_scope.ts";
import { build, procForPidOf, release, since } from "./_container_steps.ts";
import {
  answer,
  nextEvent,
  spawnTrampoline,
  trampolineSocket,
} from "../../../runtime/trampoline/spawn.ts";
import type { TrampolineProgram } from "../../../runtime/trampoline/program.ts";
import { close, pipe, setCloexec } from "../../../ffi/fs.ts";
import { CLONE_NEWPID, O_CLOEXEC } from "../../../ffi/constants.ts";

scope.onmessage = async (e: MessageEvent) => {
  const { rootfs, argv } = e.data as { rootfs: string; argv: string[] };
  try {
    const t0 = performance.now();
    const b = build(rootfs, "proto-e2e", false);
    const [startRead, startWrite] = pipe(O_CLOEXEC);
    setCloexec(startRead, false);
    const socket = trampolineSocket();
    const program: TrampolineProgram = {
      reportFd: socket.theirs,
      ops: [
        { op: "cloexec", fd: startRead },
        { op: "unshare", flags: CLONE_NEWPID },
        { op: "cloneParent", fd: socket.theirs },
        { op: "sync", fd: socket.theirs, point: 1 },
        { op: "waitByte", fd: startRead },
        { op: "execve", path: argv[0], argv, envp: ["PATH=/bin:/sbin:/usr/bin", "HOME=/"] },
      ],
    };
    let trampoline: Deno.ChildProcess;
    try {
      // /proc/self/fd/N resolves through the placeholder /proc (host pids) in the new root.
      trampoline = spawnTrampoline(program);
    } finally {
      close(socket.theirs);
      close(startRead);
    }
    // The parent half's PID record and PID 1's SYNC record race each other: take both.
    let pid = 0;
    let synced = false;
    while (!pid || !synced) {
      const event = await nextEvent(socket.ours, program);
      if (event.kind === "pid") pid = event.pid;
      else if (event.kind === "sync") synced = true;
      else throw new Error("trampoline: ended before PID 1 reached its sync point");
    }
    const spawned = since(t0);
    procForPidOf(pid);
    const proc = since(t0);
    answer(socket.ours);
    // PID 1 now blocks on the start pipe; EOF on `ours` (its execve) is for the main thread to see.
    await trampoline.status; // the parent half exited right after the clone
    release(b);
    post({
      ok: true,
      pid,
      startWrite,
      report: socket.ours,
      program,
      marks: { ...b.marks, spawned, proc, ready: since(t0) },
    });
  } catch (err) {
    post({ ok: false, error: String(err) });
  }
};
