/**
 * PROTOTYPE (issue 11, question 6): one Deno start-up per container. The main thread starts a
 * Worker that builds a busybox container (e2e_worker.ts) and leaves PID 1 waiting on a pipe; the
 * main thread writes the start byte, waitpid()s PID 1 through FFI, and exits with its code.
 *
 *   deno run -A scripts/prototypes/worker_init/e2e.ts ROOTFS [ARGV...]
 *
 * Needs root and a kernel whose procfs takes the "pidns" fsconfig option (6.18 here). The rootfs is
 * bind-mounted in a private mount namespace and not written to. Timings go to stderr.
 */
import { waitPid } from "../../../ffi/spawn.ts";
import { close, writeAll } from "../../../ffi/fs.ts";
import { expectEvent } from "../../../runtime/trampoline/spawn.ts";
import type { TrampolineProgram } from "../../../runtime/trampoline/program.ts";

const t0 = performance.now();
const [rootfs, ...rest] = Deno.args;
if (!rootfs) throw new Error("usage: e2e.ts ROOTFS [ARGV...]");
const argv = rest.length ? rest : ["/bin/sh", "-c", "echo $$; hostname; ls /"];
// PROTO_WORKER_URL: a bundled e2e_worker.ts (e2e_bench.ts makes one).
const workerUrl = Deno.env.get("PROTO_WORKER_URL") ??
  new URL("./e2e_worker.ts", import.meta.url).href;
const worker = new Worker(workerUrl, { type: "module" });
const r = await new Promise<
  {
    ok: boolean;
    error?: string;
    pid: number;
    startWrite: number;
    report: number;
    program: TrampolineProgram;
    marks: Record<string, number>;
  }
>((resolve, reject) => {
  worker.onmessage = (e) => resolve(e.data);
  worker.onerror = (e) => reject(new Error(e.message));
  worker.postMessage({ rootfs, argv });
});
const ready = performance.now() - t0;
worker.terminate();
if (!r.ok) throw new Error(`worker: ${r.error}`);
writeAll(r.startWrite, new Uint8Array([0]));
close(r.startWrite);
// EOF on the report socket: PID 1 exec'd the command (an error record would be thrown here).
await expectEvent(r.report, r.program, "end");
close(r.report);
const started = performance.now() - t0;
const status = await waitPid(r.pid);
const end = performance.now() - t0;
if (Deno.env.get("PROTO_TIMINGS")) {
  console.error(
    `timings (ms since main started): worker ready ${ready.toFixed(1)} (in the worker: ${
      JSON.stringify(r.marks)
    }), exec'd ${started.toFixed(1)}, exited ${end.toFixed(1)}`,
  );
}
Deno.exit(status.code);
