import assert from "node:assert/strict";
import { applyIntelRdt, removeIntelRdt } from "./intel_rdt.ts";

// resctrl stand-in: a directory. Real resctrl makes `schemata`, `tasks` and `mon_groups` itself.
async function fakeResctrl(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-resctrl-" });
  await Deno.mkdir(`${dir}/mon_groups`);
  return dir;
}

Deno.test("applyIntelRdt() without closID makes a group named after the container", async () => {
  const mount = await fakeResctrl();
  try {
    const record = applyIntelRdt(
      { l3CacheSchema: "L3:0=f", memBwSchema: "MB:0=50", schemata: ["L2:0=3"] },
      "web",
      42,
      mount,
    );
    assert.deepEqual(record, { group: `${mount}/web`, created: true });
    // config-linux.md: l3CacheSchema first, memBwSchema next, schemata last.
    assert.equal(Deno.readTextFileSync(`${mount}/web/schemata`), "L3:0=f\nMB:0=50\nL2:0=3\n");
    assert.equal(Deno.readTextFileSync(`${mount}/web/tasks`), "42");
  } finally {
    await Deno.remove(mount, { recursive: true });
  }
});

Deno.test("applyIntelRdt() refuses a closID group that does not exist and has no schema", async () => {
  const mount = await fakeResctrl();
  try {
    assert.throws(
      () => applyIntelRdt({ closID: "gold" }, "web", 42, mount),
      /linux\.intelRdt\.closID: resctrl group .*\/gold does not exist/,
    );
  } finally {
    await Deno.remove(mount, { recursive: true });
  }
});

Deno.test("applyIntelRdt() puts the process in a MON group with enableMonitoring", async () => {
  const mount = await fakeResctrl();
  try {
    await Deno.mkdir(`${mount}/gold/mon_groups`, { recursive: true });
    const record = applyIntelRdt({ closID: "gold", enableMonitoring: true }, "web", 7, mount);
    assert.deepEqual(record, {
      group: `${mount}/gold`,
      created: false,
      monGroup: `${mount}/gold/mon_groups/web`,
    });
    assert.equal(Deno.readTextFileSync(`${mount}/gold/mon_groups/web/tasks`), "7");
    Deno.removeSync(`${mount}/gold/mon_groups/web/tasks`);
    removeIntelRdt(record);
    assert.equal(Deno.statSync(`${mount}/gold`).isDirectory, true, "a closID group is kept");
    assert.throws(() => Deno.statSync(`${mount}/gold/mon_groups/web`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(mount, { recursive: true });
  }
});
