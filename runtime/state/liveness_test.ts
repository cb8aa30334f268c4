import assert from "node:assert/strict";
import { isAlive, processStartTime, readProcStat } from "./liveness.ts";

Deno.test("isAlive() is true for a live pid with its own start time", () => {
  const start = processStartTime(Deno.pid);
  assert.ok(start !== undefined && start > 0);
  assert.equal(isAlive(Deno.pid, start), true);
});

Deno.test("isAlive() is false when the pid was reused (another start time)", () => {
  const start = processStartTime(Deno.pid)!;
  assert.equal(isAlive(Deno.pid, start + 1), false);
});

Deno.test("isAlive() is false for a pid that does not exist or is 0", () => {
  assert.equal(isAlive(0, 1), false);
  assert.equal(isAlive(2 ** 22 + 1, 1), false);
});

Deno.test("readProcStat() copes with spaces and parentheses in the command name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const odd = `${dir}/we ird) (name`;
    await Deno.copyFile("/bin/sleep", odd);
    await Deno.chmod(odd, 0o755);
    const child = new Deno.Command(odd, { args: ["5"] }).spawn();
    try {
      await new Promise((r) => setTimeout(r, 50));
      const stat = readProcStat(child.pid);
      assert.equal(stat?.state, "S");
      assert.ok((stat?.startTime ?? 0) > 0);
    } finally {
      child.kill();
      await child.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
