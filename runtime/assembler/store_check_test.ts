import assert from "node:assert/strict";
import { LayerStore } from "./layer_store.ts";
import { fixtureImages, writeOciLayout } from "../../scripts/fixtures/oci_image.ts";
import { layerTreeDigest } from "./tree_digest.ts";

async function box() {
  const dir = await Deno.makeTempDir({ prefix: "skiff-check-test-" });
  await writeOciLayout(`${dir}/layout`, await fixtureImages());
  return {
    dir,
    layout: `${dir}/layout`,
    store: new LayerStore(`${dir}/store`, { durable: false }),
    async [Symbol.asyncDispose](): Promise<void> {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function messages(report: { problems: { path: string; message: string }[] }): string[] {
  return report.problems.map((p) => `${p.path}: ${p.message}`);
}

Deno.test("check() finds nothing wrong in a store that imports filled, and verifies every layer", async () => {
  await using b = await box();
  const app = await b.store.importImage(`${b.layout}:app`);
  await b.store.registerContainer("c1", app.id);
  const report = await b.store.check();
  assert.deepEqual(messages(report), []);
  assert.equal(report.layers, app.diffIds.length);
  assert.equal(report.images, 1);
  assert.equal(report.containers, 1);
});

Deno.test("layerTreeDigest() changes with content, mode, owner, symlink target and xattrs", async () => {
  await using b = await box();
  const d = `${b.dir}/tree`;
  await Deno.mkdir(`${d}/sub`, { recursive: true });
  await Deno.writeTextFile(`${d}/sub/f`, "x");
  await Deno.symlink("sub/f", `${d}/l`);
  const digests = new Set([await layerTreeDigest(d)]);
  const steps = [
    () => Deno.writeTextFile(`${d}/sub/f`, "y"),
    () => Deno.chmod(`${d}/sub/f`, 0o4755),
    () => Deno.chown(`${d}/sub/f`, 1, 1),
    async () => {
      await Deno.remove(`${d}/l`);
      await Deno.symlink("sub", `${d}/l`);
    },
    () => Deno.mkdir(`${d}/sub/empty`),
  ];
  for (const step of steps) {
    await step();
    digests.add(await layerTreeDigest(d));
  }
  assert.equal(digests.size, steps.length + 1, "each change gives a new digest");
  assert.equal(await layerTreeDigest(d), await layerTreeDigest(d), "and reading changes nothing");
});

Deno.test("check() reports each kind of damage, and check({ repair }) repairs all it can", async () => {
  await using b = await box();
  const root = b.store.root;
  const app = await b.store.importImage(`${b.layout}:app`);
  const [bottom, middle, top] = app.diffIds.map((d) => d.slice("sha256:".length));
  // A container whose layer is gone (it cannot be repaired: only deleting the container can).
  await Deno.writeTextFile(
    `${root}/containers/c3.json`,
    JSON.stringify({ id: "c3", imageId: "x", diffIds: [`sha256:${"a".repeat(64)}`] }),
  );
  // A killed import's temp dir and half-written record; a layer changed after import; a layer
  // record without its layer; a layer without its record; corrupt records.
  await Deno.mkdir(`${root}/tmp/layer-killed/bin`, { recursive: true });
  await Deno.writeTextFile(`${root}/images/${app.id}.json.1234.tmp`, '{"id": "ha');
  await Deno.writeTextFile(`${root}/layers/sha256/${middle}/etc/motd`, "tampered\n");
  await Deno.mkdir(`${root}/layerinfo/sha256`, { recursive: true });
  await Deno.writeTextFile(`${root}/layerinfo/sha256/${"e".repeat(64)}.json`, "{}");
  await Deno.remove(`${root}/layerinfo/sha256/${top}.json`);
  await Deno.writeTextFile(`${root}/images/${"f".repeat(64)}.json`, "not json");
  await Deno.writeTextFile(`${root}/containers/c2.json`, "[]");

  const found = await b.store.check();
  const text = messages(found).join("\n");
  for (
    const expected of [
      "tmp/layer-killed: left by a killed import or gc",
      `images/${app.id}.json.1234.tmp: a record a killed write left half-made`,
      `layers/sha256/${middle}: content changed`,
      `layers/sha256/${top}: no record of its content`,
      `layerinfo/sha256/${"e".repeat(64)}.json: records a layer that is not stored`,
      `images/${"f".repeat(64)}.json: not a valid image record`,
      "containers/c2.json: not a valid container record",
    ]
  ) {
    assert.ok(text.includes(expected), `expected "${expected}" in:\n${text}`);
  }
  assert.ok(found.problems.every((p) => !p.repaired));
  assert.equal(found.layers, 2, "bottom and middle verified (top has no record)");

  const repaired = await b.store.check({ repair: true });
  const left = repaired.problems.filter((p) => !p.repaired).map((p) => `${p.path}: ${p.message}`);
  // The image lost two layers: its record goes. The container's cannot be repaired.
  assert.ok(
    repaired.problems.some((p) => p.path === `images/${app.id}.json` && p.repaired),
    messages(repaired).join("\n"),
  );
  assert.equal(left.length, 1, left.join("\n"));
  assert.match(left[0], /^containers\/c3\.json: container "c3" uses layers that are not stored/);
  assert.deepEqual([...Deno.readDirSync(`${root}/tmp`)], []);
  assert.deepEqual(
    [...Deno.readDirSync(`${root}/layers/sha256`)].map((e) => e.name),
    [bottom],
    "only the intact layer stays",
  );

  // Deleting the container and importing again restores a consistent store.
  await b.store.unregisterContainer("c3");
  await b.store.importImage(`${b.layout}:app`);
  assert.deepEqual(messages(await b.store.check()), []);
  assert.equal(
    await Deno.readTextFile(`${root}/layers/sha256/${middle}/etc/motd`),
    "layer 2\n",
    "the tampered layer was unpacked again",
  );
});

Deno.test("check({ repair }) never removes a damaged layer a container uses, and says to delete the container", async () => {
  await using b = await box();
  const root = b.store.root;
  const app = await b.store.importImage(`${b.layout}:app`);
  await b.store.registerContainer("c1", app.id);
  const middle = app.diffIds[1].slice("sha256:".length);
  await Deno.writeTextFile(`${root}/layers/sha256/${middle}/etc/motd`, "tampered\n");
  const report = await b.store.check({ repair: true });
  assert.equal(report.problems.length, 1, messages(report).join("\n"));
  assert.match(
    messages(report)[0],
    /content changed: .*\(used by container "c1": delete it first\)$/,
  );
  assert.equal(report.problems[0].repaired, false);
  assert.equal(await Deno.readTextFile(`${root}/layers/sha256/${middle}/etc/motd`), "tampered\n");
  await b.store.unregisterContainer("c1");
  const repaired = await b.store.check({ repair: true });
  assert.ok(repaired.problems.every((p) => p.repaired), messages(repaired).join("\n"));
  assert.deepEqual(messages(await b.store.check()), []);
});

Deno.test("gc() removes unused layers with their records and leaves no temp dir", async () => {
  await using b = await box();
  const base = await b.store.importImage(`${b.layout}:base`);
  await b.store.removeImage(base.id);
  const result = await b.store.gc();
  assert.deepEqual(result.removedLayers, base.diffIds);
  assert.deepEqual([...Deno.readDirSync(`${b.store.root}/layers/sha256`)], []);
  assert.deepEqual([...Deno.readDirSync(`${b.store.root}/layerinfo/sha256`)], []);
  assert.deepEqual([...Deno.readDirSync(`${b.store.root}/tmp`)], []);
  assert.deepEqual(messages(await b.store.check()), []);
});
