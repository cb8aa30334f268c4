import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { REPO } from "../_helpers/paths.ts";
import { hasCommand } from "../_helpers/host.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { close, pollReadable } from "../../ffi/fs.ts";
import { bindUnixDatagram, recvFds } from "../../ffi/socket.ts";

const gcc = hasCommand("gcc");

Deno.test({
  name: "NOTIFY_SOCKET: start waits for the container's READY=1 and forwards it with MAINPID",
  ignore: !gcc,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["/sd-notify"];
    });
    const built = await new Deno.Command("gcc", {
      args: [
        "-static",
        "-O1",
        "-o",
        join(bundle.rootfs, "sd-notify"),
        join(REPO, "tests/fixtures/sd_notify.c"),
      ],
    }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const hostSocket = join(bundle.dir, "host-notify.sock");
    const listener = bindUnixDatagram(hostSocket);
    try {
      const id = testId();
      const env = { NOTIFY_SOCKET: hostSocket };
      const created = await runSkiff(["create", "-b", bundle.dir, id], { root: bundle.root, env });
      bundle.ids.add(id);
      assert.equal(created.code, 0, created.stderr);
      const spec = JSON.parse(await Deno.readTextFile(join(bundle.dir, "config.json")));
      assert.equal(
        spec.process.env.some((e: string) => e.startsWith("NOTIFY_SOCKET")),
        false,
        "config.json untouched",
      );
      const started = await runSkiff(["start", id], { root: bundle.root, env });
      assert.equal(started.code, 0, started.stderr);
      assert.ok(pollReadable(listener, 5000), "the host socket got a message");
      const message = new TextDecoder().decode(recvFds(listener).data);
      const pid = JSON.parse((await runSkiff(["state", id], { root: bundle.root })).stdout).pid;
      assert.equal(message, `READY=1\nMAINPID=${pid}\n`);
    } finally {
      close(listener);
    }
  },
});
