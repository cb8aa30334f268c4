import { trace } from "../log.ts";
import type { StateStore } from "../state/store.ts";
import { loadContainer, stateOf } from "./container.ts";
import { isAlive } from "../state/liveness.ts";

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
  // The notify socket (ffi/socket.ts) and the hooks (with the config validator) are imported only
  // when used: most starts have neither, and their modules cost every start ~3 ms (issue 11).
  const notifyModule = Deno.env.get("NOTIFY_SOCKET")
    ? await import("../notify_socket.ts")
    : undefined;
  const notify = notifyModule?.listenNotifySocket(store.dir(id));
  // Opened read-write, which never blocks on a fifo (fifo(7)), with Deno's own open: no FFI call
  // (the first one costs ~4 ms and ~4.4 MiB). The init holds exec.fifo open read-write until it
  // reads the byte, so the byte is its alone; whether the init still lives to read it is asked
  // once the fifo is open (a write-only open that fails with ENXIO told the same before).
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(fifo, { read: true, write: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error("cannot start an already running container");
    }
    throw err;
  }
  try {
    if (!isAlive(container.record.pid, container.record.initStartTime)) {
      throw new Error("cannot start a container that has stopped (its init is gone)");
    }
    file.writeSync(new Uint8Array([0x30]));
  } finally {
    file.close();
  }
  trace("start: fifo written");
  Deno.removeSync(fifo);
  if (notify !== undefined) await notifyModule!.forwardReady(notify, container.record);
  // poststart: runtime namespace, after process.args started, before start returns. A failure
  // stops the container and fails start (runtime.md lifecycle step 9).
  const hooks = container.record.config.hooks;
  if (hooks?.poststart?.length) {
    try {
      const { runHooks } = await import("../hooks.ts");
      await runHooks(hooks, "poststart", stateOf({ record: container.record, status: "running" }));
    } catch (err) {
      // Imported here: a start whose hooks pass needs neither (issue 11).
      const [{ kill }, { SIGKILL }] = await Promise.all([
        import("../../ffi/signal.ts"),
        import("../signals.ts"),
      ]);
      kill(container.record.pid, SIGKILL);
      throw err;
    }
  }
}
