import assert from "node:assert/strict";
import { SpecError } from "../../spec/errors.ts";
import { limitsIn, NoCgroup, noCgroupFor } from "./none.ts";

Deno.test("limitsIn() lists every limit set but the device rules", () => {
  assert.deepEqual(limitsIn(undefined), []);
  assert.deepEqual(limitsIn({ devices: [{ allow: false, access: "rwm" }] }), []);
  assert.deepEqual(
    limitsIn({
      memory: { limit: 1 << 20 },
      pids: { limit: 10 },
      hugepageLimits: [],
      unified: { "cpu.weight": "10" },
    }),
    [
      "linux.resources.memory.limit",
      "linux.resources.pids.limit",
      "linux.resources.unified.cpu.weight",
    ],
  );
});

Deno.test("noCgroupFor() names linux.cgroupsPath, then the first limit, else gives a NoCgroup", () => {
  const reason = "/sys/fs/cgroup is not writable by uid 1000";
  assert.throws(
    () => noCgroupFor(reason, "unified", "/mine", undefined, "/b/config.json"),
    (err: unknown) =>
      err instanceof SpecError && err.path === "linux.cgroupsPath" &&
      err.message.includes("cannot be used by a rootless container: " + reason),
  );
  assert.throws(
    () => noCgroupFor(reason, "unified", undefined, { pids: { limit: 5 } }),
    (err: unknown) =>
      err instanceof SpecError && err.path === "linux.resources.pids.limit" &&
      err.message.includes("needs a cgroup"),
  );
  const none = noCgroupFor(reason, "unified", "", { devices: [{ allow: true }] });
  assert.ok(none instanceof NoCgroup);
  assert.equal(none.reason, reason);
});

Deno.test("NoCgroup refuses what needs a cgroup with its reason, and allows the rest", async () => {
  const none = new NoCgroup("no delegated cgroup v2 subtree", "unified");
  assert.deepEqual(none.dirs(), {});
  assert.deepEqual(none.procsFiles(), []);
  assert.deepEqual(none.set({ devices: [] }), []);
  assert.equal(none.isFrozen(), false);
  assert.equal(none.exists(), false);
  await none.destroy();
  assert.throws(
    () => none.set({ memory: { limit: 1 } }),
    /memory\.limit needs the container's cgroup.*no delegated/,
  );
  await assert.rejects(() => none.freeze(), /pause needs the container's cgroup/);
  assert.throws(() => none.pids(), /listing the container's processes needs/);
  assert.throws(() => none.stats(), /stats needs/);
});
