/**
 * Crash tests (docs/reliability.md, "After a crash"): each Skiff command is SIGKILLed inside each
 * of its steps, then `delete --force` must leave the host as it was: no state directory, mount,
 * cgroup in any hierarchy (v1 controllers and the unified one), process, fifo or socket, and no
 * read/write layer or temp dir in the layer store.
 *
 * The kill points are deterministic: SKIFF_CRASH_AT=<trace label> makes Skiff SIGKILL itself right
 * after that trace point (runtime/log.ts). Timed kills (20-200 ms, where runc leaves cgroups
 * behind) come on top. In the cgroup v2 VM (SKIFF_IN_VM=1, set by tests/cgroup2/run_in_vm.sh),
 * where everything is ~15x slower, a subset of the points runs.
 */
import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { makeBundle, type TestBundle, testId } from "../_helpers/bundle.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { exists, newInits, skiffInits } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { buildFixtures } from "../../scripts/fixtures/oci_image.ts";

/** The VM's short set; SKIFF_CRASH_FULL=1 runs every kill point there too (~20 min under TCG). */
const inVm = Deno.env.get("SKIFF_IN_VM") === "1" && Deno.env.get("SKIFF_CRASH_FULL") !== "1";

/** The containers' `sleep` argument: finds their processes, and only this run's. */
const MARK = String(1_000_000 + Deno.pid);
/** The same for processes started by `exec`. */
const EXEC_MARK = String(2_000_000 + Deno.pid);

/** All kill points on the host; the first `vmCount` of them in the VM. */
function points(all: string[], vmCount = 1): string[] {
  return inVm ? all.slice(0, vmCount) : all;
}

/** Mount points of every cgroup hierarchy (v1 controllers, named ones, cgroup2). */
function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const fstype = right.split(" ")[0];
    if (fstype === "cgroup" || fstype === "cgroup2") out.push(left.split(" ")[4]);
  }
  return out;
}

/**
 * Cgroup directories named `id` wherever Skiff's default cgroupsPath could put them: under each
 * hierarchy's root and under this process's own cgroup in each (found here independently of
 * Skiff's cgroup code).
 */
function cgroupsNamed(id: string): string[] {
  const own = Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n")
    .map((line) => line.split(":").slice(2).join(":"));
  const found = new Set<string>();
  for (const mount of cgroupMounts()) {
    for (const path of ["/", ...own]) {
      const dir = join(mount, path, id);
      if (exists(dir)) found.add(dir);
    }
  }
  return [...found];
}

/** Pids whose command line contains `marker` (the container's own processes). */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").includes(marker)) out.push(pid);
    } catch {
      // Gone.
    }
  }
  return out;
}

/** Mount points at or below `dir`. */
function mountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point) => point !== undefined && (point === dir || point.startsWith(`${dir}/`)));
}

/**
 * What is left of container `id` on the host, as a list of findings (empty: nothing). Processes
 * get a moment to go: a killed init is a zombie until its new parent reaps it.
 */
async function leftovers(
  bundle: TestBundle,
  id: string,
  initsBefore: readonly number[],
  marker?: string,
): Promise<string[]> {
  const found: string[] = [];
  if (exists(join(bundle.root, id))) {
    found.push(
      `state dir ${join(bundle.root, id)}: ${
        [...Deno.readDirSync(join(bundle.root, id))].map((e) => e.name)
      }`,
    );
  }
  for (const dir of cgroupsNamed(id)) found.push(`cgroup ${dir}`);
  for (const point of mountsUnder(bundle.dir)) found.push(`mount ${point}`);
  const deadline = Date.now() + 2000;
  let inits: number[] = [];
  let procs: number[] = [];
  do {
    inits = newInits(initsBefore);
    procs = marker ? processesWith(marker) : [];
    if (inits.length === 0 && procs.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  } while (Date.now() < deadline);
  for (const pid of inits) found.push(`skiff init ${pid}`);
  for (const pid of procs) found.push(`process ${pid} (${marker})`);
  return found;
}

/** Runs skiff with SKIFF_CRASH_AT=`label`; asserts that it was killed there (exit 128). */
async function crashAt(bundle: TestBundle, label: string, args: string[]): Promise<void> {
  const result = await bundle.skiff(args, { env: { SKIFF_CRASH_AT: label } });
  assert.equal(result.code, 128, `skiff ${args[0]} was not killed at "${label}": ${result.stderr}`);
}

/** Runs skiff and SIGKILLs it after `ms` milliseconds (when it has not finished by then). */
async function killAfter(bundle: TestBundle, ms: number, args: string[]): Promise<void> {
  const child = new Deno.Command(SKIFF, {
    args: ["--root", bundle.root, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Finished already.
    }
  }, ms);
  await child.status;
  clearTimeout(timer);
}

/** `list` shows `id` as one of `statuses` (never an error, never a ghost with a live pid). */
async function assertListed(bundle: TestBundle, id: string, statuses: string[]): Promise<void> {
  const list = await bundle.skiff(["list", "--format", "json"]);
  assert.equal(list.code, 0, list.stderr);
  const entry = (JSON.parse(list.stdout) ?? []).find((s: { id: string }) => s.id === id);
  if (entry === undefined) return; // Killed before the state dir had a record: not a container.
  assert.ok(statuses.includes(entry.status), `list shows ${id} as ${entry.status}`);
  if (entry.status === "stopped") assert.equal(entry.pid, 0);
}

/** `delete --force` succeeds and leaves nothing of `id`. */
async function assertDeletedClean(
  bundle: TestBundle,
  id: string,
  initsBefore: readonly number[],
  marker?: string,
): Promise<void> {
  const del = await bundle.skiff(["delete", "--force", id]);
  assert.equal(del.code, 0, del.stderr);
  assert.deepEqual(await leftovers(bundle, id, initsBefore, marker), []);
}

const CREATE_POINTS = [
  "create: cgroup made",
  "create: init ready",
  "create: state dir locked",
  "create: init spawned",
  "create: cgroup ready",
  "create: fifo made",
  "create: bootstrap sent",
  "create: state written",
];

Deno.test("create SIGKILLed at each step: list shows it stopped, delete --force leaves nothing", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", MARK];
  });
  for (const point of points(CREATE_POINTS)) {
    const before = skiffInits();
    const id = testId("crash");
    await crashAt(bundle, point, ["create", "--bundle", bundle.dir, id]);
    await assertListed(bundle, id, point === "create: state written" ? ["created"] : ["stopped"]);
    await assertDeletedClean(bundle, id, before, MARK);
  }
});

/**
 * When each create trace point is reached, in ms after the spawn of `skiff create`: one run with
 * SKIFF_TRACE=1, whose lines carry the wall-clock time.
 */
async function createTimings(bundle: TestBundle): Promise<number[]> {
  const id = testId("calibrate");
  bundle.ids.add(id);
  const spawned = Date.now();
  const child = new Deno.Command(SKIFF, {
    args: ["--root", bundle.root, "create", "--bundle", bundle.dir, id],
    env: { SKIFF_TRACE: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // The created init keeps stderr open: read until the last create point, not to EOF.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("create: state written")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.cancel().catch(() => {});
  await child.status;
  const day = new Date(spawned).toISOString().slice(0, 11);
  const out: number[] = [];
  for (const line of text.split("\n")) {
    const match = line.match(/@(\d\d:\d\d:\d\d\.\d\d\d) create: /);
    if (match) out.push(Date.parse(`${day}${match[1]}Z`) - spawned);
  }
  assert.ok(out.length >= 5, `no create trace lines: ${text}`);
  const del = await bundle.skiff(["delete", "--force", id]);
  assert.equal(del.code, 0, del.stderr);
  return out;
}

Deno.test("create SIGKILLed by a timer inside each step (timings from SKIFF_TRACE) and at 20-40 ms (where runc leaves cgroups) leaves nothing after delete --force", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", MARK];
  });
  const at = await createTimings(bundle);
  // The middle of each step: between one trace point and the next.
  const middles = at.slice(0, -1).map((t, i) => Math.round((t + at[i + 1]) / 2));
  // The VM runs one: the middle of the cgroup step.
  const delays = inVm ? [middles[2]] : [20, 40, ...middles];
  for (const ms of delays) {
    const before = skiffInits();
    const id = testId("crash");
    await killAfter(bundle, ms, ["create", "--bundle", bundle.dir, id]);
    await assertListed(bundle, id, ["stopped", "created"]);
    await assertDeletedClean(bundle, id, before, MARK);
  }
});

Deno.test(
  "a plain delete of a create killed half-way removes it too (the container counts as stopped)",
  { ignore: inVm },
  async () => {
    await using bundle = await makeBundle();
    const before = skiffInits();
    const id = testId("crash");
    await crashAt(bundle, "create: cgroup ready", ["create", "--bundle", bundle.dir, id]);
    const state = await bundle.skiff(["state", id]);
    assert.equal(state.code, 0, state.stderr);
    assert.equal(JSON.parse(state.stdout).status, "stopped");
    const del = await bundle.skiff(["delete", id]);
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(await leftovers(bundle, id, before), []);
  },
);

Deno.test(
  "create without a mount namespace SIGKILLed once the init mounted the rootfs on the host: delete --force unmounts it",
  { ignore: inVm },
  async () => {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sleep", MARK];
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((ns) => ns.type !== "mount");
    });
    for (const point of points(["create: init ready", "create: bootstrap sent"], 1)) {
      const before = skiffInits();
      const id = testId("crash");
      await crashAt(bundle, point, ["create", "--bundle", bundle.dir, id]);
      await assertListed(bundle, id, ["stopped"]);
      await assertDeletedClean(bundle, id, before, MARK);
    }
  },
);

Deno.test("run SIGKILLed while it creates, starts or waits leaves nothing after delete --force", {
  ignore: inVm,
}, async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", MARK];
  });
  for (
    const point of points(["start: fifo written", "create: init ready", "create: state written"], 1)
  ) {
    const before = skiffInits();
    const id = testId("crash");
    await crashAt(bundle, point, ["run", "--bundle", bundle.dir, id]);
    await assertListed(bundle, id, ["stopped", "created", "running"]);
    await assertDeletedClean(bundle, id, before, MARK);
  }
});

/** A created container (`sleep MARK`) of `bundle`. */
async function createOne(bundle: TestBundle, id: string): Promise<void> {
  const create = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(create.code, 0, create.stderr);
}

/** A running container (`sleep MARK`) of `bundle`. */
async function runOne(bundle: TestBundle, id: string): Promise<void> {
  const run = await bundle.skiff(["run", "-d", "--bundle", bundle.dir, id]);
  assert.equal(run.code, 0, run.stderr);
}

Deno.test("start SIGKILLed after it released the init: delete --force leaves nothing", {
  ignore: inVm,
}, async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", MARK];
  });
  const before = skiffInits();
  const id = testId("crash");
  await createOne(bundle, id);
  await crashAt(bundle, "start: fifo written", ["start", id]);
  await assertListed(bundle, id, ["created", "running"]);
  await assertDeletedClean(bundle, id, before, MARK);
});

Deno.test(
  "exec SIGKILLed at each step: the container stays usable, delete --force leaves no exec'd process",
  { ignore: inVm },
  async () => {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sleep", MARK];
    });
    const before = skiffInits();
    const id = testId("crash");
    await runOne(bundle, id);
    for (
      const point of points([
        "exec: trampoline spawned",
        "exec: process exec'd",
        "exec: program planned",
        "exec: resolved in the container",
      ], 1)
    ) {
      await crashAt(bundle, point, ["exec", "-d", id, "sleep", EXEC_MARK]);
      await assertListed(bundle, id, ["running"]);
    }
    const exec = await bundle.skiff(["exec", id, "true"]);
    assert.equal(exec.code, 0, exec.stderr);
    await assertDeletedClean(bundle, id, before, EXEC_MARK);
    assert.deepEqual(processesWith(MARK), []);
  },
);

Deno.test(
  "delete SIGKILLed half-way: list still shows the container, the next delete --force finishes",
  { ignore: inVm },
  async () => {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sleep", MARK];
    });
    const all = [
      "delete: cgroup removed",
      "delete: init killed",
      "delete: locked",
      "delete: host cleaned",
    ];
    for (const point of points(all, 1)) {
      const before = skiffInits();
      const id = testId("crash");
      await createOne(bundle, id);
      await crashAt(bundle, point, ["delete", "--force", id]);
      await assertListed(bundle, id, ["stopped", "created"]);
      await assertDeletedClean(bundle, id, before, MARK);
    }
  },
);

Deno.test(
  "update SIGKILLed half-way: the container's state stays readable, delete --force leaves nothing",
  { ignore: inVm },
  async () => {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sleep", MARK];
    });
    for (const point of points(["update: cgroup set", "update: locked"], 1)) {
      const before = skiffInits();
      const id = testId("crash");
      await runOne(bundle, id);
      await crashAt(bundle, point, ["update", "--memory", "64m", "--pids-limit", "50", id]);
      await assertListed(bundle, id, ["running"]);
      const state = await bundle.skiff(["state", id]);
      assert.equal(state.code, 0, state.stderr);
      await assertDeletedClean(bundle, id, before, MARK);
    }
  },
);

Deno.test("pause SIGKILLed half-way: the frozen cgroup is thawed and removed by delete --force", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", MARK];
  });
  for (const point of points(["pause: freeze written", "pause: locked"], 1)) {
    const before = skiffInits();
    const id = testId("crash");
    await runOne(bundle, id);
    await crashAt(bundle, point, ["pause", id]);
    await assertListed(bundle, id, ["running", "paused"]);
    await assertDeletedClean(bundle, id, before, MARK);
  }
});

Deno.test(
  "run --image SIGKILLed while it assembles or creates leaves no read/write layer or temp dir in the store",
  {
    ignore: inVm,
  },
  async () => {
    await using bundle = await makeBundle();
    const fixtures = await buildFixtures(join(bundle.dir, "fixtures"));
    const store = join(bundle.dir, "store");
    const env = { SKIFF_STORE: store };
    // Imported once up front: the store then holds the image, and only the container is at stake.
    const load = await runSkiff(["image", "import", `${fixtures.layout}:app`], { env });
    assert.equal(load.code, 0, load.stderr);
    const listing = (): string[] => {
      const out: string[] = [];
      const walk = (dir: string, depth: number): void => {
        for (const entry of Deno.readDirSync(dir)) {
          const path = join(dir, entry.name);
          out.push(path);
          if (entry.isDirectory && depth > 0) walk(path, depth - 1);
        }
      };
      walk(store, 2);
      // The store's own directories (bundles/ appears with the first container) are not leftovers.
      return out.filter((path) => path !== join(store, "bundles")).sort();
    };
    const storeBefore = listing();
    for (
      const point of ["run: bundle assembled", "create: cgroup ready", "create: state written"]
    ) {
      const before = skiffInits();
      const id = testId("crash");
      const result = await bundle.skiff(
        ["run", "--image", "app", id, "--", "-c", `sleep ${MARK}`],
        {
          env: { ...env, SKIFF_CRASH_AT: point },
        },
      );
      assert.equal(result.code, 128, `run was not killed at "${point}": ${result.stderr}`);
      await assertListed(bundle, id, ["stopped", "created"]);
      const del = await bundle.skiff(["delete", "--force", id], { env });
      assert.equal(del.code, 0, del.stderr);
      assert.deepEqual(await leftovers(bundle, id, before), []);
      assert.deepEqual(mountsUnder(store), []);
      assert.deepEqual(listing(), storeBefore, `killed at "${point}"`);
    }
  },
);

Deno.test(
  "list and state show a container as creating while its creator lives",
  { ignore: inVm },
  async () => {
    await using bundle = await makeBundle((spec) => {
      // The create waits in this hook long enough to be looked at.
      spec.hooks = { createRuntime: [{ path: "/bin/sleep", args: ["sleep", inVm ? "20" : "3"] }] };
    });
    const id = testId("creating");
    bundle.ids.add(id);
    const create = bundle.skiff(["create", "--bundle", bundle.dir, id]);
    try {
      const deadline = Date.now() + (inVm ? 60_000 : 10_000);
      let status: string | undefined;
      while (status !== "creating" && Date.now() < deadline) {
        const state = await bundle.skiff(["state", id]);
        status = state.code === 0 ? JSON.parse(state.stdout).status : undefined;
      }
      assert.equal(status, "creating");
      const list = await bundle.skiff(["list", "--format", "json"]);
      assert.equal(
        JSON.parse(list.stdout).find((s: { id: string }) => s.id === id)?.status,
        "creating",
      );
    } finally {
      assert.equal((await create).code, 0);
    }
  },
);
