import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import type { DeviceCgroupRule } from "../../spec/config.ts";
import { makeBundle, startDetached, testId } from "../_helpers/bundle.ts";
import { detectCgroups } from "../../runtime/cgroups/detect.ts";
import { cpuSharesToWeight } from "../../runtime/cgroups/resources.ts";
import { exists } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";

const host = detectCgroups();
const v1 = host.layout !== "unified";
/** Where a controller's files are inside the container (its cgroup is bound at /sys/fs/cgroup). */
const inside = (controller: string) => (v1 ? `/sys/fs/cgroup/${controller}` : "/sys/fs/cgroup");

async function waitFor(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 25));
  }
}

function cgroupDirOf(pid: number, controller: string): string {
  const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).trim().split("\n");
  const line = v1
    ? lines.find((l) => l.split(":")[1].split(",").includes(controller))!
    : lines.find((l) => l.startsWith("0::"))!;
  const path = line.split(":").slice(2).join(":");
  return v1 ? `/sys/fs/cgroup/${controller}${path}` : `/sys/fs/cgroup${path}`;
}

Deno.test("the container runs in its own cgroup, and the cgroup namespace makes it the root", async () => {
  await using bundle = await makeBundle();
  const { id, pid } = await startDetached(bundle, ["sleep", "30"]);
  const dir = cgroupDirOf(pid, "memory");
  assert.ok(dir.endsWith(`/${id}`), dir);
  const result = await bundle.skiff(["exec", id, "cat", "/proc/self/cgroup"]);
  assert.equal(result.code, 0, result.stderr);
  // cgroups(7): "hierarchy-ID:controller-list:path", one line per hierarchy the process is in.
  const lines = result.stdout.trim().split("\n").map((l) => l.split(":"));
  if (v1) {
    // Every controller hierarchy shows the container's cgroup as its root (named hierarchies such
    // as name=systemd are the host's business); so does the cgroup2 line of a hybrid host.
    const controllers = lines.filter(([, list]) => list !== "" && !list.startsWith("name="));
    assert.ok(controllers.some(([, list]) => list.split(",").includes("memory")), result.stdout);
    for (const [, list, path] of controllers) assert.equal(path, "/", `${list}: ${path}`);
    const unified = lines.filter(([hid]) => hid === "0");
    assert.deepEqual(unified.map(([, , path]) => path), host.unified ? ["/"] : []);
  } else {
    // Pure cgroup v2: a single "0::" line, whose path the cgroup namespace makes "/".
    assert.deepEqual(lines, [["0", "", "/"]], result.stdout);
  }
});

Deno.test("a memory limit OOM-kills an allocator, and events reports the oom", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.resources = {
      ...spec.linux!.resources,
      memory: { limit: 16 << 20, swap: 16 << 20 },
    };
  });
  const { id } = await startDetached(bundle, ["sleep", "300"]);
  const events = new Deno.Command(SKIFF, {
    args: ["--root", bundle.root, "events", "--interval", "100ms", id],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = events.stdout.pipeThrough(new TextDecoderStream()).getReader();
  // Generous: under the cgroup v2 test VM (software emulation) the allocation alone takes seconds.
  const deadline = Date.now() + 90_000;
  let hog: Promise<unknown> | undefined;
  // One read in flight at a time (a read abandoned to the timeout would lose its chunk), and only
  // the last 64 KiB kept: a stats line every 100 ms must not pile up in this process.
  let pending: Promise<ReadableStreamReadResult<string>> | undefined;
  let tail = "";
  let watching = false;
  let oom = false;
  while (!oom && Date.now() < deadline) {
    // events counts OOM kills from its start: allocate only once it is watching.
    if (!hog && watching) {
      // The allocator offers itself to the OOM killer first (1000: raising needs no privilege):
      // memory the memcg holds outside any task's RSS once made it pick PID 1, a `sleep` as small
      // as the pipeline's `sh` and `head`, and the container stopped before events saw the oom.
      hog = bundle.skiff([
        "exec",
        id,
        "sh",
        "-c",
        "echo 1000 > /proc/self/oom_score_adj && head -c 64m /dev/zero | tail > /dev/null",
      ]);
    }
    pending ??= reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      pending,
      new Promise<null>((r) => timer = setTimeout(() => r(null), 500)),
    ]);
    clearTimeout(timer);
    if (next === null) continue;
    pending = undefined;
    if (next.done) break;
    tail = (tail + next.value).slice(-65536);
    watching ||= tail.includes('"type":"stats"');
    oom = tail.includes(`{"type":"oom","id":"${id}"`);
  }
  try {
    events.kill();
  } catch {
    // Already exited: events ends when the container stops, which an OOM kill of PID 1 makes it.
  }
  await reader.cancel().catch(() => {});
  await events.status;
  await hog;
  assert.ok(oom, `no oom event for ${id}; the last output: ${tail.slice(-2000)}`);
  const statsOut = await bundle.skiff(["events", "--stats", id]);
  assert.equal(statsOut.code, 0, `events --stats: ${statsOut.stderr}`);
  const stats = JSON.parse(statsOut.stdout);
  assert.equal(stats.type, "stats");
  assert.ok(stats.data.memory.usage.limit <= 16 << 20);
});

Deno.test("a container with a 4 MiB memory limit runs true and echo (the init is not charged)", async () => {
  for (const limit of [4 << 20, 1 << 20]) {
    await using bundle = await makeBundle((spec) => {
      spec.linux!.resources = { ...spec.linux!.resources, memory: { limit, swap: limit } };
      spec.process!.args = ["echo", `hello within ${limit}`];
    });
    const echo = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
    assert.equal(echo.stdout, `hello within ${limit}\n`, echo.stderr);
    bundle.spec.process!.args = ["true"];
    await bundle.writeSpec();
    assert.equal((await bundle.skiff(["run", "-b", bundle.dir, testId()])).code, 0);
  }
});

Deno.test("a pids limit makes fork fail", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.resources = { ...spec.linux!.resources, pids: { limit: 8 } };
    spec.process!.args = [
      "sh",
      "-c",
      `cat ${
        inside("pids")
      }/pids.max; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>&1 | head -1`,
    ];
  });
  const result = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
  assert.match(result.stdout, /^8\n/);
  assert.match(result.stdout + result.stderr, /can't fork|Resource temporarily unavailable/);
});

Deno.test("the device cgroup denies a device that no rule allows, and allows it once a rule does", async () => {
  // Char 240:0 has no driver: past the cgroup, open(2) fails with ENXIO instead of EPERM.
  const cases: [DeviceCgroupRule[], RegExp][] = [
    [[{ allow: false, access: "rwm" }], /Operation not permitted/],
    [
      [{ allow: false, access: "rwm" }, {
        allow: true,
        type: "c",
        major: 240,
        minor: 0,
        access: "rw",
      }],
      /No such device or address/,
    ],
  ];
  for (const [rules, expected] of cases) {
    await using bundle = await makeBundle((spec) => {
      // The node exists (linux.devices) either way: only the cgroup decides whether it opens.
      spec.linux!.devices = [{
        type: "c",
        path: "/dev/nodriver",
        major: 240,
        minor: 0,
        fileMode: 0o600,
      }];
      spec.linux!.resources = { devices: rules };
      spec.process!.args = ["cat", "/dev/nodriver"];
    });
    const result = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
    assert.match(result.stderr, expected);
  }
});

Deno.test("a cpu quota shows in the cgroup and throttles a busy loop", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.resources = {
      ...spec.linux!.resources,
      cpu: { quota: 10000, period: 100000, shares: 512 },
    };
  });
  const { id } = await startDetached(bundle, ["sh", "-c", "while :; do :; done"]);
  const files = v1
    ? `cat ${inside("cpu")}/cpu.cfs_quota_us ${inside("cpu")}/cpu.cfs_period_us ${
      inside("cpu")
    }/cpu.shares`
    : "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight";
  const seen = await bundle.skiff(["exec", id, "sh", "-c", files]);
  const weight = cpuSharesToWeight(512);
  assert.equal(seen.stdout, v1 ? "10000\n100000\n512\n" : `10000 100000\n${weight}\n`, seen.stderr);
  await new Promise((r) => setTimeout(r, 600));
  const statsOut = await bundle.skiff(["events", "--stats", id]);
  assert.equal(statsOut.code, 0, `events --stats: ${statsOut.stderr}`);
  const stats = JSON.parse(statsOut.stdout);
  assert.ok(
    stats.data.cpu.throttling.throttledPeriods > 0,
    JSON.stringify(stats.data.cpu.throttling),
  );
});

Deno.test("pause freezes the container (status paused) and resume thaws it", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, [
    "sh",
    "-c",
    "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done",
  ]);
  const count = async () =>
    Number(await Deno.readTextFile(join(bundle.rootfs, "tmp/count")).catch(() => "0"));
  await waitFor(async () => (await count()) > 3);
  assert.equal((await bundle.skiff(["pause", id])).code, 0);
  assert.equal(JSON.parse((await bundle.skiff(["state", id])).stdout).status, "paused");
  const frozen = await count();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await count(), frozen, "no progress while paused");
  const exec = await bundle.skiff(["exec", id, "true"]);
  assert.match(exec.stderr, /cannot exec in a paused container/);
  assert.equal((await bundle.skiff(["resume", id])).code, 0);
  assert.equal(JSON.parse((await bundle.skiff(["state", id])).stdout).status, "running");
  await waitFor(async () => (await count()) > frozen + 3);
  assert.match((await bundle.skiff(["resume", id])).stderr, /container not paused/);
});

Deno.test("update changes a running container's limits, from flags and from --resources", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.resources = {
      ...spec.linux!.resources,
      memory: { limit: 64 << 20 },
      pids: { limit: 100 },
    };
  });
  // Long enough for the slow VM: five execs and three updates there take close to a minute.
  const { id } = await startDetached(bundle, ["sleep", "600"]);
  const read = async () =>
    (await bundle.skiff([
      "exec",
      id,
      "sh",
      "-c",
      v1
        ? `cat ${inside("memory")}/memory.limit_in_bytes ${inside("pids")}/pids.max`
        : "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
    ])).stdout;
  assert.equal(await read(), `${64 << 20}\n100\n`);
  assert.equal((await bundle.skiff(["update", "--memory", "128m", id])).code, 0);
  assert.equal(await read(), `${128 << 20}\n100\n`);
  const file = join(bundle.dir, "resources.json");
  await Deno.writeTextFile(file, JSON.stringify({ pids: { limit: 42 } }));
  assert.equal((await bundle.skiff(["update", "--resources", file, id])).code, 0);
  assert.equal(await read(), `${128 << 20}\n42\n`, "the earlier update is kept");
  // containerd sends LinuxResources JSON on stdin: --resources -.
  const stdin = await bundle.skiff(["update", "--resources", "-", id], {
    stdin: JSON.stringify({ memory: { limit: 96 << 20 } }),
  });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal(await read(), `${96 << 20}\n42\n`);
});

Deno.test("ps --format json lists the container's host pids; kill --all signals every one", async () => {
  await using bundle = await makeBundle();
  const { id, pid } = await startDetached(bundle, ["sh", "-c", "sleep 30 & sleep 30 & wait"]);
  let pids: number[] = [];
  await waitFor(async () => {
    pids = JSON.parse((await bundle.skiff(["ps", "--format", "json", id])).stdout);
    return pids.length === 3;
  });
  assert.ok(pids.includes(pid));
  const table = await bundle.skiff(["ps", id]);
  assert.match(table.stdout, /PID/);
  assert.equal((await bundle.skiff(["kill", "--all", id, "KILL"])).code, 0);
  await waitFor(async () =>
    (JSON.parse((await bundle.skiff(["ps", "--format", "json", id])).stdout) ?? []).length === 0
  );
});

Deno.test("delete removes the container's cgroup", async () => {
  await using bundle = await makeBundle();
  const { id, pid } = await startDetached(bundle, ["sleep", "30"]);
  const dir = cgroupDirOf(pid, "memory");
  assert.ok(exists(dir));
  assert.equal((await bundle.skiff(["delete", "--force", id])).code, 0);
  assert.equal(exists(dir), false);
});

Deno.test("an absolute cgroupsPath is used as it is", async () => {
  const path = `/skiff-test-${Deno.pid}/abs`;
  await using bundle = await makeBundle((spec) => {
    spec.linux!.cgroupsPath = path;
  });
  try {
    const { pid } = await startDetached(bundle, ["sleep", "30"]);
    assert.equal(
      cgroupDirOf(pid, "memory"),
      `${v1 ? "/sys/fs/cgroup/memory" : "/sys/fs/cgroup"}${path}`,
    );
  } finally {
    for (const id of bundle.ids) await bundle.skiff(["delete", "--force", id]);
    const bases = v1
      ? [...Object.values(host.v1).map((m) => m.mountPoint), host.unified?.mountPoint]
      : ["/sys/fs/cgroup"];
    for (const base of bases.filter((b): b is string => b !== undefined)) {
      await Deno.remove(`${base}/skiff-test-${Deno.pid}`).catch(() => {});
    }
  }
});

Deno.test("a limit the host cannot apply fails create, names the field, and leaves no cgroup", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.resources = {
      ...spec.linux!.resources,
      hugepageLimits: [{ pageSize: "3MB", limit: 1 << 20 }],
    };
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /config\.json: linux\.resources\.hugepageLimits\[0\]\.pageSize/);
  const mounts = v1
    ? [...Object.values(host.v1).map((m) => m.mountPoint), host.unified?.mountPoint]
    : ["/sys/fs/cgroup"];
  for (const mount of mounts.filter((m): m is string => m !== undefined)) {
    assert.equal(exists(`${mount}/${id}`), false, `${mount}/${id} is left`);
  }
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("--systemd-cgroup is refused clearly where systemd is not running", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.cgroupsPath = "system.slice:skiff:test";
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id], {
    global: ["--systemd-cgroup"],
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /systemd/);
  assert.equal(exists(join(bundle.root, id)), false);
});

/** Makes `name` directly under each hierarchy's root; returns a cleanup that removes them. */
function precreateCgroup(name: string): { dirs: string[]; remove: () => Promise<void> } {
  const bases = v1
    ? [...Object.values(host.v1).map((m) => m.mountPoint), host.unified?.mountPoint]
    : ["/sys/fs/cgroup"];
  const dirs = [...new Set(bases.filter((b): b is string => b !== undefined))].map((b) =>
    `${b}/${name}`
  );
  for (const dir of dirs) Deno.mkdirSync(dir, { recursive: true });
  return {
    dirs,
    async remove() {
      for (const dir of dirs) await Deno.remove(dir).catch(() => {});
    },
  };
}

Deno.test("a cgroupsPath that already holds processes gets runc's warning, and the container runs", async () => {
  const name = `skiff-nonempty-${Deno.pid}`;
  const pre = precreateCgroup(name);
  const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    const procs = v1
      ? `/sys/fs/cgroup/pids/${name}/cgroup.procs`
      : `/sys/fs/cgroup/${name}/cgroup.procs`;
    Deno.writeTextFileSync(procs, String(sleeper.pid));
    await using bundle = await makeBundle((spec) => {
      spec.linux!.cgroupsPath = `/${name}`;
    });
    const result = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /container's cgroup is not empty: 1 process\(es\) found/);
  } finally {
    try {
      sleeper.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await sleeper.status;
    await pre.remove();
  }
});

Deno.test("a cgroupsPath whose cgroup is frozen is refused, as runc refuses it, and left as it was", async () => {
  const name = `skiff-frozen-${Deno.pid}`;
  const pre = precreateCgroup(name);
  const freezer = v1 ? `/sys/fs/cgroup/freezer/${name}` : `/sys/fs/cgroup/${name}`;
  const freeze = (on: boolean) =>
    v1
      ? Deno.writeTextFileSync(`${freezer}/freezer.state`, on ? "FROZEN" : "THAWED")
      : Deno.writeTextFileSync(`${freezer}/cgroup.freeze`, on ? "1" : "0");
  try {
    await using bundle = await makeBundle((spec) => {
      spec.linux!.cgroupsPath = `/${name}`;
    });
    const id = testId();
    bundle.ids.add(id);
    freeze(true);
    const errFile = join(bundle.dir, "create.err");
    let result: Deno.CommandStatus;
    try {
      // An init that joins a frozen cgroup never reports back: bound the wait, and keep its
      // output in a file (a frozen init would hold a pipe open).
      result = await new Deno.Command("/bin/sh", {
        args: [
          "-c",
          `exec timeout 20 "$@" </dev/null >/dev/null 2>${errFile}`,
          "sh",
          SKIFF,
          "--root",
          bundle.root,
          "create",
          "-b",
          bundle.dir,
          id,
        ],
      }).spawn().status;
    } finally {
      freeze(false);
    }
    assert.equal(result.code, 1);
    assert.match(
      await Deno.readTextFile(errFile),
      /linux\.cgroupsPath: container's cgroup unexpectedly frozen/,
    );
    assert.equal(exists(join(bundle.root, id)), false, "no state left behind");
    assert.ok(exists(freezer), "the cgroup that was there before stays");
  } finally {
    await pre.remove();
  }
});
