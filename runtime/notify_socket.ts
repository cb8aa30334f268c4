/**
 * sd_notify pass-through (NOTIFY_SOCKET), as runc does it: when Skiff runs under systemd or Podman's
 * --sdnotify=container, the container gets its own notify socket, bind-mounted at
 * /run/notify/notify.sock, and `start` forwards the container's READY=1 to the caller's socket
 * (with MAINPID=<container pid>) before it returns.
 *
 *   create: mkdir <root>/<id>/notify; mounts += bind it at /run/notify; env NOTIFY_SOCKET=...
 *   start:  bind the datagram socket, release the init, wait for READY=1, forward it, return.
 */
import type { Spec } from "../spec/config.ts";
import { close, pollReadable } from "../ffi/fs.ts";
import { bindUnixDatagram, recvFds, sendUnixDatagram } from "../ffi/socket.ts";
import { isAlive } from "./state/liveness.ts";

/** Where the container sees its notify socket. */
export const CONTAINER_NOTIFY_DIR = "/run/notify";

/** The host side: `<state dir>/notify/notify.sock`. */
export function notifySocketPath(stateDir: string): string {
  return `${stateDir}/notify/notify.sock`;
}

/** At create: gives the container a notify socket of its own when Skiff has NOTIFY_SOCKET. */
export function setupNotifySocket(spec: Spec, stateDir: string): boolean {
  if (!Deno.env.get("NOTIFY_SOCKET")) return false;
  const dir = `${stateDir}/notify`;
  Deno.mkdirSync(dir, { mode: 0o755 });
  spec.mounts = [
    ...(spec.mounts ?? []),
    {
      destination: CONTAINER_NOTIFY_DIR,
      type: "bind",
      source: dir,
      options: ["bind", "nosuid", "noexec", "nodev", "ro"],
    },
  ];
  const process = spec.process!;
  process.env = [
    ...(process.env ?? []).filter((e) => !e.startsWith("NOTIFY_SOCKET=")),
    `NOTIFY_SOCKET=${CONTAINER_NOTIFY_DIR}/notify.sock`,
  ];
  return true;
}

/** At start: binds the container's notify socket (before the container can send to it). */
export function listenNotifySocket(stateDir: string): number | undefined {
  const host = Deno.env.get("NOTIFY_SOCKET");
  try {
    Deno.statSync(`${stateDir}/notify`);
  } catch {
    return undefined;
  }
  if (!host) return undefined;
  return bindUnixDatagram(notifySocketPath(stateDir));
}

/**
 * Waits until the container sends READY=1 (or its init exits), then tells the caller's
 * NOTIFY_SOCKET "READY=1" and "MAINPID=<pid>".
 */
export async function forwardReady(
  fd: number,
  container: { pid: number; initStartTime: number },
): Promise<void> {
  const host = Deno.env.get("NOTIFY_SOCKET")!;
  try {
    for (;;) {
      if (!isAlive(container.pid, container.initStartTime)) return;
      if (!pollReadable(fd, 100)) {
        await new Promise((r) => setTimeout(r, 0));
        continue;
      }
      const text = new TextDecoder().decode(recvFds(fd).data);
      if (text.split("\n").includes("READY=1")) {
        sendUnixDatagram(host, new TextEncoder().encode(`READY=1\nMAINPID=${container.pid}\n`));
        return;
      }
    }
  } finally {
    close(fd);
  }
}
