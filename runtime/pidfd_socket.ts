/**
 * `--pidfd-socket` (runc 1.2's flag): the caller gets a pidfd of the container's process over a
 * unix socket, one SCM_RIGHTS message whose payload names the kind of process, "standard" for a
 * container's init and "setns" for an exec'd process, as runc's init sends it.
 *
 * runc's init opens the pidfd of itself; Skiff's CLI opens it from the host with pidfd_open(2) on
 * the child it just spawned, which is the same process (a pidfd survives the later execve).
 */
import { close } from "../ffi/fs.ts";
import { pidfdOpen } from "../ffi/process.ts";
import { connectUnix, sendFds } from "../ffi/socket.ts";

/** Connects to the --pidfd-socket `path` (before anything is created, as runc dials first). */
export function connectPidfdSocket(path: string): number {
  try {
    return connectUnix(path);
  } catch (err) {
    throw new Error(`--pidfd-socket: cannot connect to ${path}`, { cause: err });
  }
}

/** Sends a pidfd of `pid` over the connected `socket`, with `kind` as the message. */
export function sendPidfd(socket: number, pid: number, kind: "standard" | "setns"): void {
  let pidfd: number;
  try {
    pidfd = pidfdOpen(pid);
  } catch (err) {
    throw new Error(`--pidfd-socket: cannot open a pidfd of process ${pid}`, { cause: err });
  }
  try {
    sendFds(socket, new TextEncoder().encode(kind), [pidfd]);
  } catch (err) {
    throw new Error("--pidfd-socket: cannot send the pidfd", { cause: err });
  } finally {
    close(pidfd);
  }
}
