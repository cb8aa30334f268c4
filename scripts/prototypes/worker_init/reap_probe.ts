/**
 * PROTOTYPE (issue 11, question 5): who reaps a child that a Worker spawned, and can the main
 * thread waitpid() it through FFI (ffi/process.ts waitPid) without racing Deno's own reaper?
 *
 *   deno run -A scripts/prototypes/worker_init/reap_probe.ts
 *
 * Cases: (a) Deno.Command on the worker, worker terminated at once, main waitPid()s;
 * (b) Deno.Command on the worker, the worker awaits child.status while main waitPid()s too;
 * (c) the trampoline's cloneParent: tokio never knew the pid; worker terminated; main waitPid()s.
 */
import { waitPid } from "../../../ffi/spawn.ts";

function state(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1][0];
  } catch {
    return "gone";
  }
}

async function runCase(
  name: string,
  mode: "command" | "clone",
  awaitStatus: boolean,
): Promise<void> {
  const worker = new Worker(new URL("./reap_worker.ts", import.meta.url).href, { type: "module" });
  const messages: Record<string, number | string>[] = [];
  let wake: () => void = () => {};
  worker.onmessage = (e) => {
    messages.push(e.data);
    wake();
  };
  worker.postMessage({ mode, seconds: "0.3", awaitStatus });
  while (messages.length === 0) await new Promise<void>((r) => (wake = r));
  const pid = Number(messages[0].pid);
  if (!awaitStatus) worker.terminate();
  const t0 = performance.now();
  const waited = await Promise.race([
    waitPid(pid).then(
      (s) => `main waitPid: exit ${s.code}`,
      (err) => `main waitPid: ${err.message}`,
    ),
    new Promise<string>((r) => setTimeout(() => r("main waitPid: still waiting after 3 s"), 3000)),
  ]);
  const ms = (performance.now() - t0).toFixed(0);
  await new Promise((r) => setTimeout(r, 200));
  const workerSaw = messages.find((m) => "workerStatus" in m);
  console.log(
    `(${name}) pid ${pid}: ${waited} after ${ms} ms; /proc state now: ${state(pid)}${
      workerSaw ? `; worker's child.status: ${workerSaw.workerStatus}` : ""
    }`,
  );
  if (awaitStatus) worker.terminate();
}

for (let i = 0; i < 3; i++) {
  await runCase("a: Command, worker terminated", "command", false);
  await runCase("b: Command, worker awaits status too", "command", true);
  await runCase("c: cloneParent, worker terminated", "clone", false);
}
