import assert from "node:assert/strict";
import { errnoOf } from "./errno.ts";
import { kill } from "./signal.ts";

Deno.test("kill(2) signals a live process, reports a gone one as false and any other failure with its errno", async () => {
  const child = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
  try {
    assert.equal(kill(child.pid, 0), true);
    assert.equal(kill(child.pid, 15), true);
    assert.equal((await child.status).signal, "SIGTERM");
    // Reaped: no such process (ESRCH), read through __errno_location.
    assert.equal(kill(child.pid, 0), false);
    assert.throws(() => kill(Deno.pid, 999), (err) => errnoOf(err) === "EINVAL");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
    await child.status;
  }
});
