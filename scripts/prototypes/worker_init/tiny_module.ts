/**
 * PROTOTYPE (issue 11): the smallest module, started as a Worker or as a process by
 * startup_bench.ts. In a worker it says "ready"; as a process it just ends.
 */
declare const WorkerGlobalScope: unknown;
if (typeof WorkerGlobalScope !== "undefined") {
  (self as unknown as { postMessage(m: unknown): void }).postMessage("ready");
}
