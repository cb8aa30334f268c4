/**
 * pause, resume, update, ps and events on a container whose record points at a real cgroup with a
 * real process in it (the record is written by the test, as create will write it), plus the pure
 * helpers of those commands.
 */
import assert from "node:assert/strict";
import type { Resources, Spec } from "../../spec/config.ts";
import { enter, lacks, LAYOUT, sleep, spawnGated } from "../cgroups/_testing.ts";
import { readCgroupFile } from "../cgroups/files.ts";
import { filterPsOutput } from "./ps.ts";
import { parseRAMInBytes } from "./update.ts";
import { command as psCommand } from "./ps.ts";
import { parseDuration } from "./events.ts";
import { eventLine, watchEvents } from "../container/events.ts";
import { processStartTime } from "../state/liveness.ts";
import { type ContainerRecord, StateStore } from "../state/store.ts";
import { pauseContainer, resumeContainer } from "../container/pause.ts";
import { containerCgroup } from "../container/cgroup.ts";
import { isPaused } from "../container/container.ts";
import { mergeResources, updateContainer } from "../container/update.ts";

// ---------------------------------------------------------------- pure helpers

Deno.test("parseRAMInBytes() reads sizes as docker/go-units RAMInBytes does", () => {
  assert.equal(parseRAMInBytes("100"), 100);
  assert.equal(parseRAMInBytes("4m"), 4 * 1024 * 1024);
  assert.equal(parseRAMInBytes("4MB"), 4 * 1024 * 1024);
  assert.equal(parseRAMInBytes("1.5g"), 1.5 * 1024 ** 3);
  assert.equal(parseRAMInBytes("2 KiB"), 2048);
  assert.throws(() => parseRAMInBytes("12x"), /invalid size: '12x'/);
  assert.throws(() => parseRAMInBytes("-1"), /invalid size/);
});

Deno.test("parseDuration() reads Go durations into milliseconds", () => {
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("5"), /invalid duration "5"/);
  assert.throws(() => parseDuration("s"), /invalid duration/);
});

Deno.test("filterPsOutput() keeps the header and the rows of the cgroup's pids", () => {
  const output = "UID PID PPID C STIME TTY TIME CMD\n" +
    "root 1 0 0 10:00 ? 00:00:01 init\n" +
    "root 42 1 0 10:00 ? 00:00:00 sleep 60\n" +
    "root 420 1 0 10:00 ? 00:00:00 other\n";
  assert.equal(
    filterPsOutput(output, [42]),
    "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 60",
  );
  assert.throws(() => filterPsOutput("USER COMMAND\n", [1]), /couldn't find PID field/);
});

Deno.test("mergeResources() replaces given fields and keeps the others, like runc update", () => {
  const old: Resources = {
    memory: { limit: 100, swap: 200, reservation: 50 },
    cpu: { shares: 1024, quota: 1000, period: 100000 },
    pids: { limit: 10 },
    blockIO: {
      weight: 100,
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1 }, { major: 8, minor: 16, rate: 2 }],
    },
    devices: [{ allow: false, access: "rwm" }],
    unified: { "io.max": "8:0 rbps=1" },
  };
  const merged = mergeResources(old, {
    memory: { limit: 300 },
    cpu: { quota: 5000 },
    blockIO: {
      throttleReadBpsDevice: [{ major: 8, minor: 16, rate: 9 }, { major: 9, minor: 0, rate: 3 }],
    },
    unified: { "pids.max": "4" },
    devices: [{ allow: true, access: "rwm" }],
  });
  assert.deepEqual(merged, {
    memory: { limit: 300, swap: 200, reservation: 50 },
    cpu: { shares: 1024, quota: 5000, period: 100000 },
    pids: { limit: 10 },
    blockIO: {
      weight: 100,
      throttleReadBpsDevice: [
        { major: 8, minor: 0, rate: 1 },
        { major: 8, minor: 16, rate: 9 },
        { major: 9, minor: 0, rate: 3 },
      ],
    },
    devices: [{ allow: false, access: "rwm" }],
    unified: { "io.max": "8:0 rbps=1", "pids.max": "4" },
  });
  // The old resources are not changed.
  assert.equal(old.memory!.limit, 100);
});

Deno.test("mergeResources() applies runc's fix-ups for memory -1 and cpu idle", () => {
  const old: Resources = { memory: { limit: 100, swap: 200 }, cpu: { shares: 512 } };
  assert.deepEqual(mergeResources(old, { memory: { limit: -1 } }).memory, { limit: -1 });
  assert.deepEqual(mergeResources(old, { cpu: { idle: 1 } }).cpu, { idle: 1 });
  assert.deepEqual(mergeResources(undefined, { pids: { limit: 3 } }), { pids: { limit: 3 } });
});

// ---------------------------------------------------------------- on a real cgroup

interface FakeContainer extends AsyncDisposable {
  store: StateStore;
  id: string;
  record: ContainerRecord;
  /** The container's "init": a sleep in the cgroup. */
  stopInit(): Promise<void>;
}

/** A state store with one running container whose init is a sleep placed in its cgroup. */
async function fakeContainer(name: string, resources: Resources = {}): Promise<FakeContainer> {
  const root = Deno.makeTempDirSync({ prefix: "skiff-cgroup-cmd-" });
  const store = new StateStore(root);
  const id = `${name}-${Deno.pid}`;
  store.createDir(id);
  const init = spawnGated("exec sleep 120");
  const record: ContainerRecord = {
    ociVersion: "1.2.0",
    id,
    pid: init.pid,
    initStartTime: processStartTime(init.pid)!,
    bundle: root,
    rootfs: `${root}/rootfs`,
    created: new Date().toISOString(),
    owner: "",
    config: { ociVersion: "1.2.0", linux: { resources } } as Spec,
    cgroup: { cgroupsPath: `/skiff-test-cmd-${id}`, systemd: false },
  };
  const manager = containerCgroup(record);
  // As create records them: later commands find the cgroup (and whether it is frozen) by these.
  record.cgroup.paths = manager.dirs();
  store.write(record);
  manager.create();
  manager.set(resources);
  enter(manager, init.pid);
  await init.release();
  let stopped = false;
  const stopInit = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    init.kill();
    await init.result();
  };
  return {
    store,
    id,
    record,
    stopInit,
    async [Symbol.asyncDispose]() {
      try {
        await manager.destroy();
      } finally {
        await stopInit();
        Deno.removeSync(root, { recursive: true });
      }
    },
  };
}

Deno.test({
  name:
    "pause freezes a running container and resume thaws it, with runc's messages otherwise (needs root, freezer)",
  ignore: lacks("freezer"),
  async fn() {
    await using c = await fakeContainer("pause");
    assert.equal(isPaused(c.record), false);
    assert.throws(() => resumeContainer(c.store, c.id), /^Error: container not paused$/);
    await pauseContainer(c.store, c.id);
    assert.equal(isPaused(c.record), true);
    await assert.rejects(() => pauseContainer(c.store, c.id), /^Error: container not running$/);
    resumeContainer(c.store, c.id);
    assert.equal(isPaused(c.record), false);
    await c.stopInit();
    await assert.rejects(() => pauseContainer(c.store, c.id), /container not running/);
  },
});

Deno.test({
  name:
    "update changes a running container's limit and returns the merged resources (needs root, pids)",
  ignore: lacks("pids"),
  async fn() {
    await using c = await fakeContainer("update", { pids: { limit: 10 }, cpu: { shares: 1024 } });
    const result = await updateContainer(c.store, c.id, { pids: { limit: 25 } });
    assert.deepEqual(result.resources, { pids: { limit: 25 }, cpu: { shares: 1024 } });
    const dirs = containerCgroup(c.record).dirs();
    const pidsDir = LAYOUT === "unified" ? dirs[""] : dirs.pids;
    assert.equal(readCgroupFile(pidsDir, "pids.max")?.trim(), "25");
    await c.stopInit();
    await assert.rejects(
      () => updateContainer(c.store, c.id, { pids: { limit: 5 } }),
      /container not running/,
    );
  },
});

Deno.test({
  name: "ps --format json prints the host pids in the container's cgroup (needs root)",
  ignore: lacks(),
  async fn() {
    await using c = await fakeContainer("ps");
    const lines: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => lines.push(args.join(" "));
    try {
      await psCommand.run({
        store: c.store,
        flags: { format: "json" },
        positionals: [c.id],
        rest: [],
        systemdCgroup: false,
      });
      await psCommand.run({
        store: c.store,
        flags: {},
        positionals: [c.id],
        rest: [],
        systemdCgroup: false,
      });
    } finally {
      console.log = log;
    }
    assert.equal(lines[0], JSON.stringify([c.record.pid]));
    const table = lines[1].split("\n");
    assert.match(table[0], /\bPID\b/);
    assert.equal(table.length, 2);
    assert.match(table[1], /sleep 120/);
  },
});

Deno.test({
  name:
    "events prints stats once with --stats, and an oom event when the OOM-kill count grows (needs root, memory)",
  ignore: lacks("memory"),
  async fn() {
    const MiB = 1024 * 1024;
    await using c = await fakeContainer("events", { memory: { limit: 16 * MiB, swap: 16 * MiB } });
    const once: string[] = [];
    await watchEvents(c.store, c.id, {
      stats: true,
      intervalMs: 1000,
      onEvent: (e) => once.push(eventLine(e)),
    });
    assert.equal(once.length, 1);
    const event = JSON.parse(once[0]);
    assert.equal(event.type, "stats");
    assert.equal(event.id, c.id);
    assert.equal(event.data.memory.usage.limit, 16 * MiB);
    assert.equal(event.data.pids.current, 1);

    const lines: string[] = [];
    const watching = watchEvents(c.store, c.id, {
      stats: false,
      intervalMs: 100,
      pollMs: 20,
      onEvent: (e) => lines.push(eventLine(e)),
    });
    const hog = spawnGated("head -c 67108864 /dev/zero | tail > /dev/null");
    try {
      enter(containerCgroup(c.record), hog.pid);
      await hog.release();
      await hog.result();
      await sleep(300);
    } finally {
      hog.kill();
    }
    await c.stopInit(); // the watch ends when the container stops
    await watching;
    assert.ok(lines.includes(JSON.stringify({ type: "oom", id: c.id })), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith(`{"type":"stats","id":"${c.id}","data":{"cpu":`)));
    await assert.rejects(
      () => watchEvents(c.store, c.id, { stats: true, intervalMs: 1000, onEvent: () => {} }),
      new RegExp(`container with id ${c.id} is not running`),
    );
  },
});
