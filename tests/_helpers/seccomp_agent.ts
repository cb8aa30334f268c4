/**
 * A seccomp notify agent for the tests: `deno run -A seccomp_agent.ts SOCKET OUT ERRNO`.
 * Listens on SOCKET, receives the container process state with the listener fd (SCM_RIGHTS),
 * writes the state to OUT, then answers every notification with -ERRNO until the filter is gone.
 */
import { acceptUnix, listenUnix, recvFds } from "../../ffi/socket.ts";
import { libc } from "../../ffi/_libc.ts";

const [socketPath, out, errnoText] = Deno.args;
const server = listenUnix(socketPath);
Deno.writeTextFileSync(`${out}.listening`, "");
const conn = acceptUnix(server);
const { data, fds } = recvFds(conn);
Deno.writeTextFileSync(
  out,
  JSON.stringify({ state: JSON.parse(new TextDecoder().decode(data)), fds: fds.length }),
);
const listener = fds[0];
// struct seccomp_notif: u64 id; u32 pid; u32 flags; struct seccomp_data data (64 bytes) = 80 bytes.
const SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100n;
// struct seccomp_notif_resp: u64 id; s64 val; s32 error; u32 flags = 24 bytes.
const SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101n;
let answered = 0;
for (;;) {
  const notif = new Uint8Array(80);
  if (libc().ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif) < 0) break;
  const id = new DataView(notif.buffer).getBigUint64(0, true);
  const resp = new Uint8Array(24);
  const view = new DataView(resp.buffer);
  view.setBigUint64(0, id, true);
  view.setInt32(16, -Number(errnoText), true);
  libc().ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
  Deno.writeTextFileSync(`${out}.answered`, String(++answered));
}
