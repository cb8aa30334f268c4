/**
 * PROTOTYPE (issue 11, question 5): the worker half of reap_probe.ts. Spawns `sleep` with
 * Deno.Command (`mode` "command") or through a trampoline's cloneParent (`mode` "clone": the
 * process is a child of this process that Deno/tokio never heard of) and posts its pid.
 */
import { post, scope } from "./_worker_scope.ts";
import {
  expectEvent,
  spawnTrampoline,
  trampolineSocket,
} from "../../../runtime/trampoline/spawn.ts";
import { close } from "../../../ffi/fs.ts";
import type { TrampolineProgram } from "../../../runtime/trampoline/program.ts";

scope.onmessage = async (e: MessageEvent) => {
  const { mode, seconds, awaitStatus } = e.data as {
    mode: "command" | "clone";
    seconds: string;
    awaitStatus: boolean;
  };
  if (mode === "command") {
    const child = new Deno.Command("/bin/sleep", { args: [seconds] }).spawn();
    post({ pid: child.pid });
    if (awaitStatus) {
      try {
        post({ workerStatus: `exit ${(await child.status).code}` });
      } catch (err) {
        post({ workerStatus: (err as Error).message });
      }
    }
    return;
  }
  const socket = trampolineSocket();
  const program: TrampolineProgram = {
    reportFd: socket.theirs,
    ops: [
      { op: "cloneParent", fd: socket.theirs },
      { op: "execve", path: "/bin/sleep", argv: ["sleep", seconds], envp: [] },
    ],
  };
  const trampoline = spawnTrampoline(program);
  close(socket.theirs);
  const { pid } = await expectEvent(socket.ours, program, "pid");
  await expectEvent(socket.ours, program, "end");
  close(socket.ours);
  await trampoline.status; // the parent half exits 0 at once
  post({ pid });
};
