/**
 * Unix sockets with fd passing (SCM_RIGHTS), which Deno has no API for: the console socket, the
 * seccomp listener and the tests that play their other ends.
 */
import { check, libc } from "./_libc.ts";
import { SOCK_CLOEXEC } from "./constants.ts";
import { addressOf } from "./c_string.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SUN_PATH_MAX = 108;

function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length >= SUN_PATH_MAX) {
    throw new Error(`unix socket path is longer than ${SUN_PATH_MAX - 1} bytes: ${path}`);
  }
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(bytes, 2);
  return addr;
}

/** A new AF_UNIX SOCK_STREAM socket, close-on-exec. */
export function unixSocket(): number {
  return check(
    "socket",
    () => "domain=AF_UNIX, type=SOCK_STREAM|SOCK_CLOEXEC",
    () => libc().socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
  );
}

/** socketpair(2): two connected AF_UNIX SOCK_STREAM sockets, both close-on-exec. */
export function unixSocketPair(): [number, number] {
  const fds = new Int32Array(2);
  check(
    "socketpair",
    () => "domain=AF_UNIX, type=SOCK_STREAM|SOCK_CLOEXEC",
    () => libc().socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)),
  );
  return [fds[0], fds[1]];
}

/** Connects a new unix stream socket to `path` and returns its fd. */
export function connectUnix(path: string): number {
  const fd = unixSocket();
  const addr = sockaddrUn(path);
  try {
    check("connect", () => `fd=${fd}, path=${path}`, () => libc().connect(fd, addr, addr.length));
  } catch (err) {
    libc().close(fd);
    throw err;
  }
  return fd;
}

/** Binds a new unix stream socket to `path`, listens, and returns its fd. */
export function listenUnix(path: string, backlog = 8): number {
  const fd = unixSocket();
  const addr = sockaddrUn(path);
  check("bind", () => `fd=${fd}, path=${path}`, () => libc().bind(fd, addr, addr.length));
  check("listen", () => `fd=${fd}`, () => libc().listen(fd, backlog));
  return fd;
}

/** Accepts one connection (blocking) and returns its fd, close-on-exec. */
export function acceptUnix(fd: number): number {
  return check("accept4", () => `fd=${fd}`, () => libc().accept4(fd, null, null, SOCK_CLOEXEC));
}

/**
 * Sends `data` with `fds` attached as one SCM_RIGHTS message in a single sendmsg(2), the wire format
 * runc, conmon and containerd use for --console-socket (payload: a name, no reply).
 */
export function sendFds(fd: number, data: Uint8Array, fds: readonly number[]): void {
  const payload = new Uint8Array(Math.max(data.length, 1));
  payload.set(data);
  const iov = new BigUint64Array([addressOf(payload), BigInt(payload.length)]);
  // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; int fds[]; }, 8-aligned.
  const cmsgLen = 16 + 4 * fds.length;
  const control = new Uint8Array((cmsgLen + 7) & ~7);
  const cv = new DataView(control.buffer);
  cv.setBigUint64(0, BigInt(cmsgLen), true);
  cv.setInt32(8, SOL_SOCKET, true);
  cv.setInt32(12, SCM_RIGHTS, true);
  fds.forEach((f, i) => cv.setInt32(16 + 4 * i, f, true));
  // struct msghdr (x86_64, aarch64): name, namelen(+pad), iov, iovlen, control, controllen, flags.
  const msg = new BigUint64Array(7);
  msg[2] = addressOf(iov);
  msg[3] = 1n;
  msg[4] = fds.length ? addressOf(control) : 0n;
  msg[5] = fds.length ? BigInt(control.length) : 0n;
  check(
    "sendmsg",
    () => `fd=${fd}, bytes=${payload.length}, SCM_RIGHTS=[${fds.join(",")}]`,
    () => libc().sendmsg(fd, new Uint8Array(msg.buffer), 0),
  );
}

/** Receives one message and the fds passed with it (blocking). */
export function recvFds(fd: number, maxBytes = 65536): { data: Uint8Array; fds: number[] } {
  const payload = new Uint8Array(maxBytes);
  const iov = new BigUint64Array([addressOf(payload), BigInt(payload.length)]);
  const control = new Uint8Array(16 + 4 * 16);
  const msg = new BigUint64Array(7);
  msg[2] = addressOf(iov);
  msg[3] = 1n;
  msg[4] = addressOf(control);
  msg[5] = BigInt(control.length);
  const MSG_CMSG_CLOEXEC = 0x40000000;
  const n = check(
    "recvmsg",
    () => `fd=${fd}`,
    () => libc().recvmsg(fd, new Uint8Array(msg.buffer), MSG_CMSG_CLOEXEC),
  );
  const fds: number[] = [];
  const controlLen = Number(msg[5]);
  const cv = new DataView(control.buffer);
  let offset = 0;
  while (offset + 16 <= controlLen) {
    const len = Number(cv.getBigUint64(offset, true));
    if (len < 16) break;
    if (
      cv.getInt32(offset + 8, true) === SOL_SOCKET && cv.getInt32(offset + 12, true) === SCM_RIGHTS
    ) {
      for (let i = 16; i + 4 <= len; i += 4) fds.push(cv.getInt32(offset + i, true));
    }
    offset += (len + 7) & ~7;
  }
  return { data: payload.slice(0, Number(n)), fds };
}

/** Binds a new unix datagram socket (close-on-exec) to `path`, replacing a stale socket file. */
export function bindUnixDatagram(path: string): number {
  try {
    Deno.removeSync(path);
  } catch {
    // Nothing there.
  }
  const fd = check(
    "socket",
    () => "domain=AF_UNIX, type=SOCK_DGRAM|SOCK_CLOEXEC",
    () => libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0),
  );
  const addr = sockaddrUn(path);
  try {
    check("bind", () => `fd=${fd}, path=${path}`, () => libc().bind(fd, addr, addr.length));
  } catch (err) {
    libc().close(fd);
    throw err;
  }
  return fd;
}

/** Sends one datagram to the unix datagram socket at `path` (sd_notify's transport). */
export function sendUnixDatagram(path: string, data: Uint8Array): void {
  const fd = check(
    "socket",
    () => "domain=AF_UNIX, type=SOCK_DGRAM|SOCK_CLOEXEC",
    () => libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0),
  );
  try {
    const addr = sockaddrUn(path);
    const payload = new Uint8Array(Math.max(data.length, 1));
    payload.set(data);
    const iov = new BigUint64Array([addressOf(payload), BigInt(data.length)]);
    const msg = new BigUint64Array(7);
    msg[0] = addressOf(addr);
    msg[1] = BigInt(addr.length);
    msg[2] = addressOf(iov);
    msg[3] = 1n;
    check(
      "sendmsg",
      () => `path=${path}, bytes=${data.length}`,
      () => libc().sendmsg(fd, new Uint8Array(msg.buffer), 0),
    );
  } finally {
    libc().close(fd);
  }
}
