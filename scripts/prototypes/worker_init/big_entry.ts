/**
 * PROTOTYPE (issue 11): an entry that pulls in all of Skiff (the CLI and the init code) without
 * running it, so that `deno bundle` makes a module the size of dist/skiff; startup_bench.ts starts
 * the bundle as a Worker and as a process. In a worker it says "ready"; as a process it just ends.
 */
import { main } from "../../../cli.ts";
import { initMain } from "../../../runtime/init/standard.ts";

declare const WorkerGlobalScope: unknown;
(globalThis as Record<string, unknown>).__skiffKeep = [main, initMain];
if (typeof WorkerGlobalScope !== "undefined") {
  (self as unknown as { postMessage(m: unknown): void }).postMessage("ready");
}
