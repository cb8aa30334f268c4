import { trace } from "../log.ts";
import { O_CLOEXEC, O_NONBLOCK, O_WRONLY } from "../../ffi/constants.ts";
import { close, open, writeAll } from "../../ffi/fs.ts";
import { isErrno } from "../../ffi/errno.ts";
import type { StateStore } from "../state/store.ts";
import { loadContainer, stateOf } from "./container.ts";
import { runHooks } from "../hooks.ts";
import { forwardReady, listenNotifySocket } from "../notify_socket.ts";
import { kill } from "../../ffi/process.ts";
import { SIGKILL } from "../signals.ts";

/**
 * Starts a created container: one byte on its exec fifo releases the init, which execs
 * process.args. Removing the fifo marks the container running. Any other status is an error that
 * changes nothing (runtime.md `start`), with runc's messages.
 */
export async function startContainer(store: StateStore, id: string): Promise<void> {
  using _lock = store.lock(id);
  const container = loadContainer(store, id);
  switch (container.status) {
    case "created":
      break;
    case "stopped":
      throw new Error("cannot start a container that has stopped");
    case "running":
      throw new Error("cannot start an already running container");
    default:
      throw new Error(`cannot start a container in the ${container.status} state`);
  }
  const fifo = store.fifoPath(id);
  const notify = listenNotifySocket(store.dir(id));
  let fd: number;
  try {
    // Non-blocking: fails with ENXIO instead of hanging when the init is gone.
    fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  } catch (err) {
    if (isErrno(err, "ENXIO")) {
      throw new Error("cannot start a container that has stopped (its init is gone)");
    }
    throw err;
  }
  try {
    writeAll(fd, new Uint8Array([0x30]));
  } finally {
    close(fd);
  }
  trace("start: fifo written");
  Deno.removeSync(fifo);
  if (notify !== undefined) await forwardReady(notify, container.record);
  // poststart: runtime namespace, after process.args started, before start returns. A failure
  // stops the container and fails start (runtime.md lifecycle step 9).
  const hooks = container.record.config.hooks;
  if (hooks?.poststart?.length) {
    try {
      await runHooks(hooks, "poststart", stateOf({ record: container.record, status: "running" }));
    } catch (err) {
      kill(container.record.pid, SIGKILL);
      throw err;
    }
  }
}
