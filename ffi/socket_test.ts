import assert from "node:assert/strict";
import { join } from "node:path";
import { acceptUnix, connectUnix, listenUnix, recvFds, sendFds } from "./socket.ts";
import { close, open, read } from "./fs.ts";
import { O_RDONLY } from "./constants.ts";

Deno.test("sendFds() passes an open file and a payload over a unix socket in one message", async () => {
  const dir = await Deno.makeTempDir();
  const fds: number[] = [];
  try {
    const file = join(dir, "data");
    await Deno.writeTextFile(file, "through SCM_RIGHTS");
    const socket = join(dir, "s.sock");
    const server = listenUnix(socket);
    fds.push(server);
    const client = connectUnix(socket);
    fds.push(client);
    const conn = acceptUnix(server);
    fds.push(conn);
    const fd = open(file, O_RDONLY);
    fds.push(fd);
    sendFds(client, new TextEncoder().encode("name"), [fd]);
    const got = recvFds(conn);
    fds.push(...got.fds);
    assert.equal(new TextDecoder().decode(got.data), "name");
    assert.equal(got.fds.length, 1);
    assert.notEqual(got.fds[0], fd);
    assert.equal(new TextDecoder().decode(read(got.fds[0])), "through SCM_RIGHTS");
  } finally {
    for (const fd of fds) close(fd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connectUnix() names the path when nobody listens", () => {
  assert.throws(
    () => connectUnix("/nonexistent/skiff.sock"),
    /connect fd=\d+, path=\/nonexistent\/skiff\.sock: ENOENT/,
  );
});
