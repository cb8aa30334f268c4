import assert from "node:assert/strict";
import { removeEmptyCgroup } from "./remove.ts";
import { exists } from "../path.ts";

/** A cgroup v1 pids hierarchy or the v2 root, where root may make a test cgroup. */
function cgroupRoot(): string | undefined {
  for (const dir of ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]) {
    if (exists(`${dir}/cgroup.procs`)) return dir;
  }
  return undefined;
}

Deno.test({
  name:
    "removeEmptyCgroup() removes an empty cgroup and its sub-cgroups, and a busy one not at all",
  ignore: Deno.uid() !== 0 || cgroupRoot() === undefined,
  async fn() {
    const dir = `${cgroupRoot()}/skiff-remove-test-${Deno.pid}`;
    Deno.mkdirSync(`${dir}/sub`, { recursive: true });
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      Deno.writeTextFileSync(`${dir}/sub/cgroup.procs`, String(sleeper.pid));
      assert.equal(await removeEmptyCgroup([dir, dir]), false);
      assert.ok(exists(`${dir}/sub`), "a cgroup with a process is left to its manager");
      sleeper.kill("SIGKILL");
      await sleeper.status;
      assert.equal(await removeEmptyCgroup([dir, dir, `${dir}-absent`]), true);
      assert.ok(!exists(dir));
      // The usual case: empty, no sub-cgroup.
      Deno.mkdirSync(dir);
      assert.equal(await removeEmptyCgroup([dir]), true);
      assert.ok(!exists(dir));
    } finally {
      try {
        sleeper.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await sleeper.status;
      for (const d of [`${dir}/sub`, dir]) {
        try {
          Deno.removeSync(d);
        } catch {
          // Removed by the test.
        }
      }
    }
  },
});
