/**
 * The Worker of namespace_work.ts (its header has the diagram): that module's in-namespace work on
 * a thread of its own, which enters PID 1's uts, ipc, net and mount namespaces and never comes
 * back, for Skiff in a nested user namespace. init_trampoline.ts imports it dynamically, only
 * then: a dynamic import's target is a chunk of its own in the split bundle (scripts/build.ts), so
 * the worker, which loads this module by its own URL, loads only what the work needs (~110 KB of
 * chunks, where create's graph has ~360 KB).
 */
import { CLONE_FS } from "../../ffi/constants.ts";
import { unshare } from "../../ffi/namespace.ts";
import { type ErrorData, errorData, errorFromData } from "../errors.ts";
import {
  type FinishedWork,
  finishIn,
  joinedOf,
  joinNamespaces,
  mountsIn,
  type NamespaceWork,
} from "./namespace_work.ts";

/** The worker's name: how this module, loaded as a worker, knows it is one. */
const WORKER_NAME = "skiff-namespaces";

type WorkerRequest =
  | { step: "mounts"; work: NamespaceWork }
  | { step: "finish"; work: NamespaceWork; env: string[] };

type WorkerReply =
  | { ok: true; result?: FinishedWork }
  | { ok: false; error: ErrorData };

/**
 * The in-namespace work on a Worker thread of its own, which enters PID 1's namespaces on the
 * first request and ends after the last (namespace_work.ts has the diagram). Made before PID 1
 * exists: `new Worker` blocks while it makes the isolate (~20-45 ms here), but the worker loads
 * this module on its own thread while the trampoline starts and the cgroup is made.
 */
export class NamespaceWorker {
  #worker: Worker;
  #pending?: { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void };
  #failure?: Error;

  constructor() {
    // This module itself, from source or as its own chunk of the bundle (a dynamic import's
    // target): no file to ship beside it. Its top level serves requests under WORKER_NAME.
    this.#worker = new Worker(import.meta.url, { type: "module", name: WORKER_NAME });
    this.#worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.resolve(e.data);
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      // Not reported again by Deno as an uncaught error in this isolate.
      e.preventDefault();
      this.#failure = new Error(`the namespace worker failed: ${e.message}`);
      const pending = this.#pending;
      this.#pending = undefined;
      pending?.reject(this.#failure);
    };
  }

  /** mountsIn(work) on the worker, in PID 1's namespaces. */
  async mounts(work: NamespaceWork): Promise<void> {
    await this.#call({ step: "mounts", work });
  }

  /** finishIn(work, env) on the worker, which then ends. */
  async finish(work: NamespaceWork, env: string[]): Promise<FinishedWork> {
    const result = await this.#call({ step: "finish", work, env });
    this.close();
    return result!;
  }

  /** Ends the worker (its thread exits); safe to call more than once. */
  close(): void {
    this.#worker.terminate();
  }

  #call(request: WorkerRequest): Promise<FinishedWork | undefined> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<WorkerReply>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(request);
    }).then((reply) => {
      if (!reply.ok) throw errorFromData(reply.error);
      return reply.result;
    });
  }
}

/** The worker's side: requests in order, on its own thread, which never comes back. */
function serveNamespaceWork(scope: {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(reply: WorkerReply): void;
}): void {
  // Now, on the host's mount namespace: libc opened (dlopen finds it on the host's paths) and the
  // thread's own root and cwd, which setns into a mount namespace moves.
  unshare(CLONE_FS);
  let entered = false;
  scope.onmessage = (e) => {
    const request = e.data;
    let reply: WorkerReply;
    try {
      if (!entered) {
        // Set first: after a partial join this thread is good for nothing else.
        entered = true;
        joinNamespaces(request.work.pid, joinedOf(false));
      }
      reply = request.step === "mounts"
        ? (mountsIn(request.work), { ok: true })
        : { ok: true, result: finishIn(request.work, request.env) };
    } catch (err) {
      reply = { ok: false, error: errorData(err) };
    }
    scope.postMessage(reply);
  };
}

if (
  typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined" &&
  (globalThis as { name?: string }).name === WORKER_NAME
) {
  serveNamespaceWork(globalThis as unknown as Parameters<typeof serveNamespaceWork>[0]);
}
