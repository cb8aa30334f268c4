/** Pseudo-terminals: the container's console (runtime/console.ts). */
import { check, lazyLibc, libc } from "./_libc.ts";
import { O_CLOEXEC, O_NOCTTY, O_RDWR } from "./constants.ts";
import { open } from "./fs.ts";

const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const TIOCSCTTY = 0x540e;
const TIOCGPTN = 0x80045430;
const TIOCSPTLCK = 0x40045431;
const TIOCGPTPEER = 0x5441;

/** A new pseudo-terminal pair from `ptmx`: the master (close-on-exec) and the slave. */
export interface Pty {
  master: number;
  slave: number;
  /** The slave's path in the devpts instance behind `ptmx`, e.g. /dev/pts/0. */
  slavePath: string;
}

/**
 * Opens a pty pair from `ptmx` (the container's /dev/ptmx after pivot_root, so the slave lives in
 * the container's devpts). The slave is opened from the master with TIOCGPTPEER, never by path, so
 * nothing in the container can swap the node in between (CVE-2025-52565).
 */
export function openPty(ptmx: string | number = "/dev/ptmx"): Pty {
  // A number is /dev/ptmx already opened (O_RDWR | O_NOCTTY | O_CLOEXEC) by the caller; it is
  // the master from then on.
  const master = typeof ptmx === "number" ? ptmx : open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  const zero = new Int32Array([0]);
  check(
    "ioctl",
    () => `fd=${master}, TIOCSPTLCK`,
    () => libc().ioctl(master, BigInt(TIOCSPTLCK), new Uint8Array(zero.buffer)),
  );
  const number = new Int32Array(1);
  check(
    "ioctl",
    () => `fd=${master}, TIOCGPTN`,
    () => libc().ioctl(master, BigInt(TIOCGPTN), new Uint8Array(number.buffer)),
  );
  const slave = check(
    "ioctl",
    () => `fd=${master}, TIOCGPTPEER`,
    () => libc().ioctl_int(master, BigInt(TIOCGPTPEER), BigInt(O_RDWR | O_NOCTTY)),
  );
  return { master, slave, slavePath: `/dev/pts/${number[0]}` };
}

/** Sets a terminal's window size (TIOCSWINSZ). */
export function setWindowSize(fd: number, rows: number, columns: number): void {
  const size = new Uint16Array([rows, columns, 0, 0]);
  check(
    "ioctl",
    () => `fd=${fd}, TIOCSWINSZ ${rows}x${columns}`,
    () => libc().ioctl(fd, BigInt(TIOCSWINSZ), new Uint8Array(size.buffer)),
  );
}

/** Reads a terminal's window size (TIOCGWINSZ), or undefined when `fd` is not a terminal. */
export function getWindowSize(fd: number): { rows: number; columns: number } | undefined {
  const size = new Uint16Array(4);
  if (libc().ioctl(fd, BigInt(TIOCGWINSZ), new Uint8Array(size.buffer)) < 0) return undefined;
  return { rows: size[0], columns: size[1] };
}

/** Makes `fd` the controlling terminal of the calling process's session (TIOCSCTTY). */
export function setControllingTerminal(fd: number): void {
  check("ioctl", () => `fd=${fd}, TIOCSCTTY`, () => libc().ioctl_int(fd, BigInt(TIOCSCTTY), 0n));
}

/** dup3(2): makes `newfd` a copy of `oldfd`. */
export function dup2(oldfd: number, newfd: number): void {
  if (oldfd === newfd) return;
  check("dup3", () => `oldfd=${oldfd}, newfd=${newfd}`, () => libc().dup3(oldfd, newfd, 0));
}

/**
 * Puts terminal `fd` in raw mode as cfmakeraw(3) does (input and output: no echo, no line
 * editing, no \n -> \r\n translation) and returns a function that restores the previous mode.
 * Returns undefined when `fd` is not a terminal.
 */
export function makeRaw(fd: number): (() => void) | undefined {
  // struct termios is 60 bytes on glibc (x86_64, aarch64); 64 leaves room.
  const saved = new Uint8Array(64);
  if (libc().tcgetattr(fd, saved) < 0) return undefined;
  const raw = saved.slice();
  libc().cfmakeraw(raw);
  const TCSANOW = 0;
  check("tcsetattr", () => `fd=${fd}, raw`, () => libc().tcsetattr(fd, TCSANOW, raw));
  return () => {
    libc().tcsetattr(fd, TCSANOW, saved);
  };
}

// A separate binding: with nonblocking, Deno runs the call on a thread of its own pool, so
// awaiting it leaves the event loop free (the relay also reads stdin and handles SIGWINCH).
const blockingLibc = lazyLibc(
  {
    /** ssize_t read(int fd, void *buf, size_t count); */
    read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  } as const,
);

/**
 * Waits for and reads the next bytes from pty master `fd` into `buf`, off the main thread.
 * @returns the byte count; 0 or less once the terminal is gone (read(2) gives EIO when the last
 *   holder of the slave has closed it). errno is not read: it belongs to the thread that ran the
 *   call, so the caller only learns that the terminal ended.
 */
export async function readPty(fd: number, buf: Uint8Array<ArrayBuffer>): Promise<number> {
  return Number(await blockingLibc.read(fd, buf, BigInt(buf.length)));
}
