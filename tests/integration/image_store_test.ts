/**
 * The image store after a kill and under concurrency (issue 15): `skiff image import` and
 * `image gc` are SIGKILLed at points known from SKIFF_TRACE and at fixed delays; `image check`
 * must then find nothing worse than what a kill may leave (temp dirs, a half-written record, a
 * layer record without its layer), `image check --repair` must clear that, and the store must
 * work again. Two imports of one image at once both succeed; `image gc` keeps the layers of a
 * running container whose image was removed.
 */
import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { testId } from "../_helpers/bundle.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { exists } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { buildFixtures, writeOciLayout } from "../../scripts/fixtures/oci_image.ts";
import { unmountUnder } from "../_helpers/leftovers.ts";

/** What a kill may leave; anything else in `image check` output is a broken promise. */
const KILL_LEFTOVERS =
  /^problem: [^:]+: (left by a killed import or gc|a record a killed write left half-made|records a layer that is not stored);/;

/** A layer of `files` files of 16 KiB, each different (so that unpack and removal take time). */
function bigLayer(n: number, files: number) {
  const entries = [{ name: `layer${n}/`, type: "directory" as const }];
  for (let i = 0; i < files; i++) {
    const data = new Uint8Array(16 << 10);
    data.fill(i & 0xff);
    data[0] = n;
    entries.push({ name: `layer${n}/f${i}`, data } as never);
  }
  return { entries, compression: "none" as const };
}

/** A temp store and state root; `withBig` also writes the 3-layer "big" image layout. */
async function makeStoreEnv(withBig = true) {
  const dir = await Deno.makeTempDir({ prefix: "skiff-store-it-" });
  const store = join(dir, "store");
  const root = join(dir, "state");
  const big = join(dir, "big");
  if (withBig) {
    await writeOciLayout(big, [{ name: "big", layers: [0, 1, 2].map((n) => bigLayer(n, 120)) }]);
  }
  const ids = new Set<string>();
  return {
    dir,
    store,
    big,
    skiff(args: string[]) {
      for (const a of args) if (a.includes(`-${Deno.pid}-`)) ids.add(a);
      return runSkiff(args, { root, env: { SKIFF_STORE: store } });
    },
    /** Starts skiff with SKIFF_TRACE=1; stderr is piped for killAt(). */
    spawn(args: string[]) {
      return new Deno.Command(SKIFF, {
        args,
        env: { SKIFF_STORE: store, SKIFF_TRACE: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    },
    async [Symbol.asyncDispose]() {
      for (const id of ids) {
        await runSkiff(["delete", "--force", id], { root, env: { SKIFF_STORE: store } });
      }
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

type Env = Awaited<ReturnType<typeof makeStoreEnv>>;

/**
 * Kills `child` with SIGKILL right after it traces a line containing `label`, or after `delay`
 * ms. @returns whether it was killed (false: it ended first; the caller decides if that is fine).
 */
async function killAt(child: Deno.ChildProcess, at: string | number): Promise<boolean> {
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch {
      killed = false; // it had already ended
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (typeof at === "number") timer = setTimeout(kill, at);
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of child.stderr) {
    text += decoder.decode(chunk, { stream: true });
    if (typeof at === "string" && text.includes(at)) kill();
  }
  clearTimeout(timer);
  const status = await child.status;
  if (typeof at === "string" && !killed) {
    throw new Error(`the trace never showed "${at}" (exit ${status.code}):\n${text}`);
  }
  return killed && status.signal === "SIGKILL";
}

/** Asserts the store holds only what a kill may leave, repairs it, and checks it is clean. */
async function assertRecoverable(env: Env, what: string): Promise<void> {
  const check = await env.skiff(["image", "check"]);
  const lines = check.stdout.split("\n").filter((l) => l !== "");
  for (const line of lines) {
    if (line.startsWith("image store ")) continue;
    assert.match(line, KILL_LEFTOVERS, `${what}: image check found more than a kill leaves`);
  }
  if (check.code !== 0) {
    assert.equal(check.stderr.trim().split("\n").length, 1, check.stderr);
    assert.match(check.stderr, /problem\(s\).*image check --repair/);
  }
  const repair = await env.skiff(["image", "check", "--repair"]);
  assert.equal(repair.code, 0, `${what}: ${repair.stdout}${repair.stderr}`);
  const again = await env.skiff(["image", "check"]);
  assert.equal(again.code, 0, `${what}: ${again.stdout}${again.stderr}`);
  assert.match(again.stdout, /is consistent/);
  assert.deepEqual([...Deno.readDirSync(join(env.store, "tmp"))], [], `${what}: temp dirs`);
}

Deno.test("image check: exit 0 on a consistent store; a problem line each, one error line and exit 1 on a damaged one; --repair repairs", async () => {
  await using env = await makeStoreEnv(false);
  const fixtures = await buildFixtures(join(env.dir, "fixtures"));
  assert.equal((await env.skiff(["image", "import", `${fixtures.layout}:app`])).code, 0);
  const clean = await env.skiff(["image", "check"]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(
    clean.stdout,
    /^image store .* is consistent \(3 layers verified, 1 images, 0 containers\)\n$/,
  );

  const layer = [...Deno.readDirSync(join(env.store, "layers/sha256"))][0].name;
  await Deno.mkdir(join(env.store, "tmp/layer-killed"));
  await Deno.remove(join(env.store, "layers/sha256", layer), { recursive: true });
  const damaged = await env.skiff(["--log-format", "json", "image", "check"]);
  assert.equal(damaged.code, 1);
  const problems = damaged.stdout.trim().split("\n");
  assert.equal(problems.length, 3, damaged.stdout);
  assert.match(problems.join("\n"), /problem: tmp\/layer-killed: left by a killed import or gc/);
  assert.match(
    problems.join("\n"),
    new RegExp(`problem: layerinfo/sha256/${layer}.json: records a layer that is not stored`),
  );
  assert.match(problems.join("\n"), new RegExp(`problem: images/.*: names layers .*${layer}`));
  const error = damaged.stderr.trim().split("\n");
  assert.equal(error.length, 1, damaged.stderr);
  assert.equal(JSON.parse(error[0]).level, "error");
  assert.match(JSON.parse(error[0]).msg, /3 problem\(s\)/);

  const repaired = await env.skiff(["image", "check", "--repair"]);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.equal(repaired.stdout.split("\n").filter((l) => l.startsWith("repaired: ")).length, 3);
  assert.equal((await env.skiff(["image", "ls", "-q"])).stdout, "", "the broken image is gone");
  assert.equal((await env.skiff(["image", "import", `${fixtures.layout}:app`])).code, 0);
  assert.equal((await env.skiff(["image", "check"])).code, 0);
});

Deno.test("image import SIGKILLed at each step leaves a store that image check --repair makes whole", async () => {
  await using env = await makeStoreEnv();
  const points: (string | number)[] = [
    "image import: layer 0 unpacked",
    "image import: layer 0 recorded",
    "image import: layer 0 stored",
    "image import: layer 1 unpacked",
    "image import: layer 2 recorded",
    "image import: image recorded",
    80,
    400,
  ];
  let kills = 0;
  for (const at of points) {
    const child = env.spawn(["image", "import", env.big]);
    if (await killAt(child, at)) kills++;
    await assertRecoverable(env, `import killed at ${JSON.stringify(at)}`);
    // No half-made layer is taken as complete: the next import gives an intact image.
    const again = await env.skiff(["image", "import", env.big]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await env.skiff(["image", "check"])).code, 0);
    // Start each round from an empty store, so that each kill lands in a real unpack.
    assert.equal((await env.skiff(["image", "rm", "big"])).code, 0);
    assert.equal((await env.skiff(["image", "gc"])).code, 0);
  }
  assert.ok(kills >= points.length - 2, `only ${kills} of ${points.length} imports were killed`);
});

Deno.test("image gc SIGKILLed while it removes layers never leaves half a layer under its diffID", async () => {
  await using env = await makeStoreEnv();
  const points: (string | number)[] = [
    "image gc: removing layer",
    "moved out",
    150,
  ];
  let kills = 0;
  for (const at of points) {
    assert.equal((await env.skiff(["image", "import", env.big])).code, 0);
    assert.equal((await env.skiff(["image", "rm", "big"])).code, 0);
    const child = env.spawn(["image", "gc"]);
    if (await killAt(child, at)) kills++;
    await assertRecoverable(env, `gc killed at ${JSON.stringify(at)}`);
    // Whatever layers are left are whole: importing again reuses them, and they verify.
    assert.equal((await env.skiff(["image", "import", env.big])).code, 0);
    const check = await env.skiff(["image", "check"]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /3 layers verified/);
    assert.equal((await env.skiff(["image", "rm", "big"])).code, 0);
    assert.equal((await env.skiff(["image", "gc"])).code, 0);
    assert.deepEqual([...Deno.readDirSync(join(env.store, "layers/sha256"))], []);
  }
  assert.ok(kills >= 2, `only ${kills} of ${points.length} gc runs were killed`);
});

Deno.test("two imports of the same image at once both succeed and leave one consistent image", async () => {
  await using env = await makeStoreEnv();
  const results = await Promise.all(
    [0, 1, 2].map(() => env.skiff(["image", "import", env.big])),
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  assert.equal(new Set(results.map((r) => r.stdout)).size, 1, "one image ID");
  assert.equal([...Deno.readDirSync(join(env.store, "images"))].length, 1);
  assert.equal([...Deno.readDirSync(join(env.store, "layers/sha256"))].length, 3);
  const check = await env.skiff(["image", "check"]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

Deno.test("image gc while a container runs from a removed image keeps the container's layers", async () => {
  await using env = await makeStoreEnv(false);
  const fixtures = await buildFixtures(join(env.dir, "fixtures"));
  const id = testId("gc");
  const run = await env.skiff([
    "run",
    "-d",
    "--image",
    `${fixtures.layout}:app`,
    id,
    "--",
    "-c",
    "sleep 60",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const layers = [...Deno.readDirSync(join(env.store, "layers/sha256"))].map((e) => e.name);
  assert.equal(layers.length, 3);
  // The image goes, and gc runs twice at once: the running container's layers stay.
  assert.equal((await env.skiff(["image", "rm", "--force", "app"])).code, 0);
  const gcs = await Promise.all([env.skiff(["image", "gc"]), env.skiff(["image", "gc"])]);
  for (const gc of gcs) {
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal(gc.stdout, "", "no layer of the running container was removed");
  }
  for (const l of layers) assert.ok(exists(join(env.store, "layers/sha256", l)));
  const read = await env.skiff(["exec", id, "cat", "/etc/motd"]);
  assert.equal(read.stdout, "layer 2\n", read.stderr);
  assert.equal((await env.skiff(["image", "check"])).code, 0);
  // Once the container is gone, gc takes them.
  assert.equal((await env.skiff(["delete", "--force", id])).code, 0);
  const gc = await env.skiff(["image", "gc"]);
  assert.equal(gc.stdout.split("\n").filter((l) => l.startsWith("removed layer")).length, 3);
  assert.equal((await env.skiff(["image", "check"])).code, 0);
});
