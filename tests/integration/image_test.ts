import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { testId } from "../_helpers/bundle.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { exists, hostMounts } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { buildFixtures } from "../../scripts/fixtures/oci_image.ts";
import { unmountUnder } from "../_helpers/leftovers.ts";

/** A temporary layer store, state root and fixture images; removed (and unmounted) on dispose. */
async function makeImageEnv() {
  const dir = await Deno.makeTempDir({ prefix: "skiff-image-" });
  const fixtures = await buildFixtures(join(dir, "fixtures"));
  const store = join(dir, "store");
  const root = join(dir, "state");
  const ids = new Set<string>();
  return {
    dir,
    fixtures,
    store,
    root,
    skiff(args: string[], stdin?: string) {
      for (const a of args) if (a.includes(`-${Deno.pid}-`)) ids.add(a);
      return runSkiff(args, { root, stdin, env: { SKIFF_STORE: store } });
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

Deno.test("skiff run --image runs a multi-layer OCI archive: entrypoint, env, user, workdir", async () => {
  await using env = await makeImageEnv();
  const id = testId();
  const result = await env.skiff(["run", "--image", `${env.fixtures.ociArchive}:app`, id]);
  assert.equal(result.stderr, "");
  assert.equal(result.stdout, "hello from app\n");
  assert.equal(result.code, 0);
});

Deno.test("skiff run --image replaces the image's Cmd with the arguments after --, and whiteouts hide lower files", async () => {
  await using env = await makeImageEnv();
  const result = await env.skiff([
    "run",
    "--image",
    `${env.fixtures.layout}:app`,
    testId(),
    "--",
    "-c",
    "cat /etc/motd; ls /etc/to-delete /usr/share/doc 2>&1 | wc -l; ls /olddir; pwd",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines[0], "layer 2");
  assert.equal(lines[1], "2", "both deleted paths are missing");
  assert.deepEqual(lines.slice(2, 3), ["c"], "olddir is opaque: only layer 2's c");
  assert.equal(lines.at(-1), "/app");
});

Deno.test("containers from one image do not see each other's writes, and delete removes the read/write layer", async () => {
  await using env = await makeImageEnv();
  const first = testId();
  const wrote = await env.skiff([
    "run",
    "--keep",
    "--image",
    `${env.fixtures.layout}:app`,
    first,
    "--",
    "-c",
    "echo mine > /tmp/private && cat /tmp/private",
  ]);
  assert.equal(wrote.stdout, "mine\n", wrote.stderr);
  const bundle = join(env.store, "bundles", first);
  assert.ok(
    exists(join(bundle, "upper/tmp/private")),
    "the write landed in the container's upper layer",
  );
  const second = await env.skiff([
    "run",
    "--image",
    "app",
    testId(),
    "--",
    "-c",
    "cat /tmp/private 2>/dev/null || echo not-visible",
  ]);
  assert.equal(second.stdout, "not-visible\n", second.stderr);
  assert.equal((await env.skiff(["delete", first])).code, 0);
  assert.equal(exists(bundle), false);
  assert.equal(hostMounts().some((m) => m.startsWith(bundle)), false);
});

Deno.test("image import stores each layer once; ls, rm and gc manage the store", async () => {
  await using env = await makeImageEnv();
  const base = await env.skiff(["image", "import", `${env.fixtures.layout}:base`]);
  assert.equal(base.code, 0, base.stderr);
  const app = await env.skiff(["image", "import", `${env.fixtures.dockerArchive}:app`]);
  assert.equal(app.code, 0, app.stderr);
  const zstd = await env.skiff(["image", "import", "--ref", "app", env.fixtures.zstdLayout]);
  assert.equal(zstd.code, 0, zstd.stderr);
  const layers = [...Deno.readDirSync(join(env.store, "layers/sha256"))].length;
  // base (1 layer) + app (base + 2); the docker-archive and zstd copies share their diffIDs.
  assert.equal(layers, 3);
  const listed = JSON.parse((await env.skiff(["image", "ls", "--format", "json"])).stdout);
  assert.ok(listed.length >= 2);
  assert.equal((await env.skiff(["image", "rm", "base"])).code, 0);
  const gc = await env.skiff(["image", "gc"]);
  assert.equal(gc.code, 0, gc.stderr);
  // base's only layer is app's bottom layer too: nothing to collect.
  assert.equal(gc.stdout, "");
  assert.equal([...Deno.readDirSync(join(env.store, "layers/sha256"))].length, 3);
  // Once no image uses them, gc removes app's three layers and names each.
  for (const image of JSON.parse((await env.skiff(["image", "ls", "--format", "json"])).stdout)) {
    const rm = await env.skiff(["image", "rm", image.id]);
    assert.equal(rm.code, 0, rm.stderr);
  }
  assert.equal(
    [...Deno.readDirSync(join(env.store, "layers/sha256"))].length,
    3,
    "rm leaves layers",
  );
  const collected = await env.skiff(["image", "gc"]);
  assert.equal(collected.code, 0, collected.stderr);
  assert.equal(collected.stdout.match(/^removed layer sha256:[0-9a-f]{64}$/gm)?.length, 3);
  assert.deepEqual([...Deno.readDirSync(join(env.store, "layers/sha256"))], []);
});

Deno.test("image rm refuses an image that a container uses", async () => {
  await using env = await makeImageEnv();
  const id = testId();
  await env.skiff([
    "run",
    "-d",
    "--image",
    `${env.fixtures.layout}:app`,
    id,
    "--",
    "-c",
    "sleep 30",
  ]);
  const refused = await env.skiff(["image", "rm", "app"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`used by container\\(s\\) ${id}`));
});

Deno.test("bundle create makes a bundle any runtime can run; bundle rm removes it", async () => {
  await using env = await makeImageEnv();
  const dir = join(env.dir, "my-bundle");
  const made = await env.skiff(["bundle", "create", "--image", `${env.fixtures.layout}:app`, dir]);
  assert.equal(made.code, 0, made.stderr);
  const spec = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
  assert.deepEqual(spec.process.args, ["/bin/sh", "/app/hello.sh"]);
  assert.equal(spec.process.cwd, "/app");
  assert.equal(spec.annotations["org.opencontainers.image.stopSignal"], "SIGINT");
  const run = await env.skiff(["run", "-b", dir, testId()]);
  assert.equal(run.stdout, "hello from app\n", run.stderr);
  assert.equal((await env.skiff(["bundle", "rm", dir])).code, 0);
  assert.equal(exists(dir), false);
});

Deno.test("bundle create --copy makes the root by copying the layers", async () => {
  await using env = await makeImageEnv();
  const dir = join(env.dir, "copied");
  const made = await env.skiff([
    "bundle",
    "create",
    "--copy",
    "--image",
    `${env.fixtures.layout}:app`,
    dir,
  ]);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(hostMounts().includes(join(dir, "rootfs")), false, "no overlay mount");
  assert.equal(await Deno.readTextFile(join(dir, "rootfs/etc/motd")), "layer 2\n");
  assert.equal(exists(join(dir, "rootfs/usr/share/doc")), false);
  const run = await env.skiff(["run", "-b", dir, testId()]);
  assert.equal(run.stdout, "hello from app\n", run.stderr);
});

Deno.test("run --image of a missing image fails clearly and leaves no bundle or mount", async () => {
  await using env = await makeImageEnv();
  const id = testId();
  const result = await env.skiff(["run", "--image", join(env.dir, "nope"), id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot import image/);
  assert.equal(exists(join(env.store, "bundles", id)), false);
});

Deno.test("a container whose create fails releases the image root it assembled", async () => {
  await using env = await makeImageEnv();
  const id = testId();
  const result = await env.skiff([
    "run",
    "--image",
    `${env.fixtures.layout}:base`,
    id,
    "--",
    "no-such-cmd",
  ]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /executable file not found/);
  assert.equal(exists(join(env.store, "bundles", id)), false);
  assert.equal(exists(join(env.store, "containers", `${id}.json`)), false);
});

Deno.test("image import shows layers and bytes on a terminal and is silent otherwise", async () => {
  await using env = await makeImageEnv();
  const quiet = await env.skiff(["image", "import", `${env.fixtures.layout}:base`]);
  assert.equal(quiet.stderr, "");
  assert.match(quiet.stdout, /^[0-9a-f]{64}\n$/);
  // script(1) gives the import a pseudo-terminal.
  const tty = await new Deno.Command("script", {
    args: [
      "-qec",
      `${SKIFF} image import --store ${env.store}-tty ${env.fixtures.layout}:app`,
      "/dev/null",
    ],
    stdout: "piped",
  }).output();
  const shown = new TextDecoder().decode(tty.stdout);
  assert.match(shown, /layer 1\/3/);
  assert.match(shown, /layer 3\/3/);
  assert.match(shown, /MiB/);
  await Deno.remove(`${env.store}-tty`, { recursive: true });
});
