/**
 * A seccomp notify agent for the tests: `deno run -A seccomp_agent.ts SOCKET OUT ERRNO`.
 * Listens on SOCKET, receives the container process state with the listener fd (SCM_RIGHTS),
 * writes the state to OUT, then answers every notification with -ERRNO until the filter is gone.
 */
import { acceptUnix, listenUnix, recvFds } from "../../ffi/socket.ts";
import { failSeccompNotification, receiveSeccompNotification } from "../../ffi/seccomp.ts";

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
let answered = 0;
for (;;) {
  let notification;
  try {
    notification = receiveSeccompNotification(listener);
  } catch {
    break; // the filtered processes are gone
  }
  try {
    failSeccompNotification(listener, notification.id, Number(errnoText));
  } catch {
    // The caller died while waiting for the answer.
  }
  Deno.writeTextFileSync(`${out}.answered`, String(++answered));
}
