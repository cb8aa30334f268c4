import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { close, pollReadable, read, writeAll } from "../../ffi/fs.ts";
import { acceptUnix, listenUnix, recvFds } from "../../ffi/socket.ts";
import { getWindowSize } from "../../ffi/tty.ts";

/** Reads from a pty master until `pattern` shows up or `ms` pass; returns what was read. */
function readUntil(master: number, pattern: RegExp, ms = 10_000): string {
  let text = "";
  const deadline = Date.now() + ms;
  while (!pattern.test(text) && Date.now() < deadline) {
    if (!pollReadable(master, 100)) continue;
    let chunk: Uint8Array;
    try {
      chunk = read(master);
    } catch {
      break; // EIO: the container side hung up.
    }
    if (chunk.length === 0) break;
    text += new TextDecoder().decode(chunk);
  }
  return text;
}

Deno.test("create --console-socket sends the pty master, and the container runs on its slave", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.terminal = true;
    spec.process!.consoleSize = { height: 33, width: 99 };
    spec.process!.args = [
      "sh",
      "-c",
      "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; ls -l /dev/console; read line; echo got:$line",
    ];
  });
  const socket = join(bundle.dir, "console.sock");
  const server = listenUnix(socket);
  const fds: number[] = [server];
  try {
    const id = testId();
    const created = await bundle.skiff([
      "create",
      "--console-socket",
      socket,
      "-b",
      bundle.dir,
      id,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const conn = acceptUnix(server);
    fds.push(conn);
    const { data, fds: received } = recvFds(conn);
    assert.equal(received.length, 1, "exactly one fd");
    const master = received[0];
    fds.push(master);
    assert.equal(new TextDecoder().decode(data), "/dev/ptmx");
    assert.deepEqual(getWindowSize(master), { rows: 33, columns: 99 });
    assert.equal((await bundle.skiff(["start", id])).code, 0);
    let out = readUntil(master, /crw.*\/dev\/console/);
    assert.match(out, /^\/dev\/pts\/0\r\n/);
    assert.match(out, /stdio-is-tty/);
    assert.match(out, /crw--w----\s+1 root\s+tty\s+136,\s+0 .* \/dev\/console/);
    writeAll(master, new TextEncoder().encode("typed-into-the-pty\n"));
    out = readUntil(master, /got:typed-into-the-pty/);
    assert.match(out, /got:typed-into-the-pty/);
  } finally {
    for (const fd of fds) close(fd);
  }
});

Deno.test("create with process.terminal and no --console-socket is refused as runc does", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.terminal = true;
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /cannot allocate tty if skiff will detach without setting console socket/,
  );
});

Deno.test("skiff run -t relays the pty to its own terminal and passes the exit status", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.terminal = true;
    spec.process!.args = ["sh", "-c", "tty; read x; echo answer:$x; exit 3"];
  });
  // script(1) gives skiff a terminal, the way a person runs it.
  const out = await new Deno.Command("script", {
    args: ["-qec", `${SKIFF} --root ${bundle.root} run -b ${bundle.dir} ${testId()}`, "/dev/null"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = out.stdin.getWriter();
  await new Promise((r) => setTimeout(r, 1000));
  await writer.write(new TextEncoder().encode("forty-two\n"));
  await writer.close();
  const result = await out.output();
  const text = new TextDecoder().decode(result.stdout);
  assert.match(text, /\/dev\/pts\/0\r\n/);
  assert.match(text, /answer:forty-two\r\n/);
  assert.doesNotMatch(text, /\r\r\n/, "output is raw: no second \\n -> \\r\\n translation");
  assert.equal(result.code, 3);
});

Deno.test("create --console-socket does not hold the caller's stdout open (go-runc reads it to EOF)", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.terminal = true;
    spec.process!.args = ["sleep", "30"];
  });
  const socket = join(bundle.dir, "eof.sock");
  const server = listenUnix(socket);
  try {
    const id = testId();
    bundle.ids.add(id);
    // output() returns only when stdout and stderr reach EOF, as go-runc's cmdOutput does.
    const out = await new Deno.Command(SKIFF, {
      args: ["--root", bundle.root, "create", "--console-socket", socket, "-b", bundle.dir, id],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const conn = acceptUnix(server);
    close(recvFds(conn).fds[0]);
    close(conn);
  } finally {
    close(server);
  }
});

Deno.test("the terminal belongs to a non-root process user, as runc's fixStdioPermissions makes it", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.terminal = true;
    spec.process!.user = { uid: 1000, gid: 1000 };
    spec.process!.args = ["sh", "-c", "stat -L -c owner=%u:%g /proc/self/fd/0; sleep 1"];
  });
  const socket = join(bundle.dir, "console.sock");
  const server = listenUnix(socket);
  const fds: number[] = [server];
  try {
    const id = testId();
    const created = await bundle.skiff([
      "create",
      "--console-socket",
      socket,
      "-b",
      bundle.dir,
      id,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const conn = acceptUnix(server);
    fds.push(conn);
    const master = recvFds(conn).fds[0];
    fds.push(master);
    assert.equal((await bundle.skiff(["start", id])).code, 0);
    // The uid is the process's; the gid stays the one devpts gave the slave (gid=5, tty).
    assert.match(readUntil(master, /owner=\d+:\d+/), /owner=1000:5\r\n/);
  } finally {
    for (const fd of fds) close(fd);
  }
});
