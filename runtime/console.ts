/**
 * Terminals (process.terminal): the container side makes a pty and hands its master to the
 * caller over --console-socket; `skiff run` without a socket plays the caller itself and relays
 * the pty to its own terminal, like `runc run`.
 *
 * Wire format (runc, conmon, go-runc): one sendmsg(2) on a SOCK_STREAM unix socket carrying the
 * master as SCM_RIGHTS and a file name as payload; no reply.
 */
import {
  MS_BIND,
  O_CREAT,
  O_NOCTTY,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
} from "../ffi/constants.ts";
import { fdPathOr } from "./procfs.ts";
import { openInRoot, withRoot } from "./rootfs/open_in_root.ts";
import { isErrno } from "../ffi/errno.ts";
import { close, writeAll } from "../ffi/fs.ts";
import { mount } from "../ffi/mount.ts";
import { setsid } from "../ffi/process.ts";
import { connectUnix, sendFds } from "../ffi/socket.ts";
import {
  dup2,
  getWindowSize,
  makeRaw,
  openPty,
  readPty,
  setControllingTerminal,
  setWindowSize,
} from "../ffi/tty.ts";

/**
 * Bind-mounts the pty slave over /dev/console, an empty file made for it when missing. /dev may
 * be the image's own directory: a /dev/console there that is a symlink is refused (O_NOFOLLOW), not
 * followed, and an existing file is never truncated (runc's mountConsole, CVE-2025-52565).
 */
function bindConsoleOnto(slave: number, slavePath: string, rootPath = "/"): void {
  let fd: number;
  try {
    // In the root only (an image's /dev that is a magic link to a host directory is refused).
    fd = withRoot(
      rootPath,
      (root) =>
        openInRoot(root, "/dev/console", O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o600),
    );
  } catch (err) {
    const why = isErrno(err, "ELOOP") ? "it is a symlink" : "it cannot be opened as a file";
    throw new Error(`cannot bind the console onto /dev/console: ${why}`, { cause: err });
  }
  try {
    // Both ends by fd: the pty slave this process holds onto the file just opened (through the
    // container's /proc, when it has one: nothing else runs in the container yet to swap paths).
    mount(fdPathOr(slave, slavePath), fdPathOr(fd, "/dev/console"), "", MS_BIND);
  } finally {
    close(fd);
  }
}

/**
 * Opens the container's /dev/ptmx (after pivot_root or chroot) for reading and writing. The
 * image's symlinks are followed inside the root only, never through a magic link (which could
 * reach a host fd this process holds); openPty() then checks by ioctl that it is a pty master.
 */
function openPtmx(rootPath = "/"): number {
  try {
    return withRoot(rootPath, (root) => openInRoot(root, "/dev/ptmx", O_RDWR | O_NOCTTY));
  } catch (err) {
    throw new Error("cannot open the container's /dev/ptmx", { cause: err });
  }
}

/**
 * Before the root switch, as the trampoline init's CLI: opens a pty from the container's
 * `<rootPath>/dev/ptmx`, sets its window size and binds the slave over `<rootPath>/dev/console`.
 * The caller sends or keeps the master, and PID 1 opens the slave by its path (`slavePath`, as the
 * container sees it) after pivot_root.
 */
export function openConsoleIn(
  rootPath: string,
  size: { height: number; width: number } | undefined,
): { master: number; slave: number; slavePath: string } {
  const pty = openPty(openPtmx(rootPath));
  try {
    if (size && size.height > 0 && size.width > 0) {
      setWindowSize(pty.master, size.height, size.width);
    }
    bindConsoleOnto(pty.slave, pty.slavePath, rootPath);
  } catch (err) {
    close(pty.master);
    close(pty.slave);
    throw err;
  }
  return pty;
}

/**
 * In the container (after pivot_root): opens a pty from the container's /dev/ptmx, sends the
 * master to `socket`, and makes the slave the process's controlling terminal and stdio.
 * @param bindConsole bind the slave over /dev/console (the init; not `exec`).
 */
export function attachConsole(
  socket: number,
  size: { height: number; width: number } | undefined,
  bindConsole: boolean,
): void {
  const pty = openPty(openPtmx());
  try {
    if (size && size.height > 0 && size.width > 0) {
      setWindowSize(pty.master, size.height, size.width);
    }
    if (bindConsole) {
      bindConsoleOnto(pty.slave, pty.slavePath);
    }
    sendFds(socket, new TextEncoder().encode("/dev/ptmx"), [pty.master]);
  } finally {
    close(pty.master);
    close(socket);
  }
  setsid();
  setControllingTerminal(pty.slave);
  for (const fd of [0, 1, 2]) dup2(pty.slave, fd);
  if (pty.slave > 2) close(pty.slave);
}

/**
 * `skiff run` with a terminal and no --console-socket: relays between this process's stdio and
 * the container's pty master until the container side hangs up. stdin goes raw while it lasts,
 * and window-size changes follow SIGWINCH.
 */
export async function relayTerminal(master: number): Promise<void> {
  const restore = makeRaw(0);
  const resize = () => {
    const size = getWindowSize(1) ?? getWindowSize(0);
    if (size) setWindowSize(master, size.rows, size.columns);
  };
  resize();
  Deno.addSignalListener("SIGWINCH", resize);
  const reader = Deno.stdin.readable.getReader();
  const input = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        writeAll(master, value);
      }
    } catch {
      // The pty is gone, or stdin was cancelled.
    }
  })();
  try {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await readPty(master, buf);
      // EIO once the last slave holder exits: the container is done with its terminal.
      if (n <= 0) break;
      await Deno.stdout.write(buf.subarray(0, n));
    }
  } finally {
    Deno.removeSignalListener("SIGWINCH", resize);
    restore?.();
    await reader.cancel().catch(() => {});
    await input;
    close(master);
  }
}

/** Connects to --console-socket (a host path: before pivot_root or setns into the mount namespace). */
export function connectConsole(path: string): number {
  try {
    return connectUnix(path);
  } catch (err) {
    throw new Error(`--console-socket: cannot connect to ${path}`, { cause: err });
  }
}

/**
 * runc's two checks of a terminal against --console-socket, for create, run and exec: a detached
 * terminal needs a socket to send its pty to, and a socket needs a terminal and a detached
 * process (otherwise nothing is sent, the caller waits, and the container holds its stdio).
 */
export function checkConsoleFlags(
  terminal: boolean,
  consoleSocket: string | undefined,
  detached: boolean,
): void {
  if (terminal && !consoleSocket && detached) {
    throw new Error("cannot allocate tty if skiff will detach without setting console socket");
  }
  if (consoleSocket && (!terminal || !detached)) {
    throw new Error(
      "--console-socket: cannot use console socket if skiff will not detach or allocate tty " +
        `(terminal is ${terminal}${detached ? "" : ", and not detached"})`,
    );
  }
}
