import assert from "node:assert/strict";
import { type ImportProgress, LayerStore } from "./layer_store.ts";
import {
  blob,
  buildConfig,
  buildLayer,
  FIXTURE_GROUP,
  fixtureImages,
  writeDirArchive,
  writeDockerArchive,
  writeImageBlobs,
  writeIndex,
  writeOciLayout,
} from "../../scripts/fixtures/oci_image.ts";
import { MEDIA_TYPES, REF_NAME_ANNOTATION } from "../../spec/image.ts";

interface Box {
  dir: string;
  store: LayerStore;
  [Symbol.asyncDispose](): Promise<void>;
}

async function box(): Promise<Box> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-store-test-" });
  return {
    dir,
    store: new LayerStore(`${dir}/store`, { durable: false }),
    async [Symbol.asyncDispose](): Promise<void> {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function names(path: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

async function assertStoreEmpty(root: string): Promise<void> {
  assert.deepEqual(await names(`${root}/layers/sha256`), [], "no layers");
  assert.deepEqual(await names(`${root}/images`), [], "no images");
  assert.deepEqual(await names(`${root}/tmp`), [], "no temp dirs");
}

function hasSkopeo(): boolean {
  try {
    return Deno.statSync("/usr/bin/skopeo").isFile;
  } catch {
    return false;
  }
}

function chain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(": ");
}

Deno.test("importImage() stores each layer once by diffID and records the image", async () => {
  await using b = await box();
  const built = await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  const events: ImportProgress[] = [];
  const image = await b.store.importImage(`oci:${b.dir}/layout:app`, {
    onProgress: (e) => events.push(e),
  });
  assert.deepEqual(image.names, ["app"]);
  assert.deepEqual(image.diffIds, built[1].diffIds);
  assert.equal(image.configDigest, built[1].config.digest);
  assert.equal(image.id, built[1].config.digest.slice(7));
  assert.equal(image.config.config?.User, "app");
  for (const d of image.diffIds) {
    assert.ok((await Deno.stat(b.store.layerPath(d))).isDirectory);
  }
  assert.equal(
    (await Deno.stat(`${b.store.layerPath(image.diffIds[0])}/bin/busybox`)).mode! & 0o7777,
    0o755,
  );
  assert.deepEqual(await names(`${b.store.root}/tmp`), []);
  assert.equal(events.at(-1)?.kind, "done");
  assert.ok(events.some((e) => e.kind === "layer-bytes"));
  const listed = await b.store.listImages();
  assert.deepEqual(listed.map((i) => i.id), [image.id]);
});

Deno.test("importImage() of an image whose base is stored unpacks only the new layers", async () => {
  await using b = await box();
  await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  const base = await b.store.importImage(`${b.dir}/layout:base`);
  const events: ImportProgress[] = [];
  const app = await b.store.importImage(`${b.dir}/layout:app`, {
    onProgress: (e) => events.push(e),
  });
  assert.equal(app.diffIds[0], base.diffIds[0]);
  const starts = events.filter((e) => e.kind === "layer-start");
  assert.deepEqual(starts.map((e) => e.kind === "layer-start" && e.stored), [true, false, false]);
  assert.equal((await names(`${b.store.root}/layers/sha256`)).length, 3, "base stored once");
  assert.equal((await b.store.listImages()).length, 2);
});

Deno.test("importImage() reads an OCI archive without extracting it", async () => {
  await using b = await box();
  await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  await writeDirArchive(`${b.dir}/layout`, `${b.dir}/img.tar`);
  const image = await b.store.importImage(`oci-archive:${b.dir}/img.tar:app`);
  assert.equal(image.diffIds.length, 3);
  const top = b.store.layerPath(image.diffIds[2]);
  assert.equal(await Deno.readTextFile(`${top}/etc/hostname`), "app\n");
  assert.deepEqual(await names(b.dir), ["img.tar", "layout", "store"], "nothing extracted beside");
});

Deno.test("importImage() reads a docker-archive, selecting by RepoTag", async () => {
  await using b = await box();
  await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  await writeDockerArchive(`${b.dir}/docker.tar`, await fixtureImages("none"));
  const image = await b.store.importImage(`docker-archive:${b.dir}/docker.tar:app`);
  const fromOci = await b.store.importImage(`${b.dir}/layout:app`);
  assert.equal(image.id, fromOci.id, "same config, same image ID");
  assert.equal((await names(`${b.store.root}/layers/sha256`)).length, 3);
  const autodetected = await b.store.importImage(`${b.dir}/docker.tar:base:latest`);
  assert.deepEqual(autodetected.names, ["base:latest"]);
});

Deno.test("importImage() decompresses zstd layers", async () => {
  await using b = await box();
  const built = await writeOciLayout(`${b.dir}/layout`, await fixtureImages("zstd"));
  assert.match(built[1].layers[0].mediaType, /\+zstd$/);
  const image = await b.store.importImage(`${b.dir}/layout:app`);
  assert.equal(
    await Deno.readTextFile(`${b.store.layerPath(image.diffIds[1])}/etc/motd`),
    "layer 2\n",
  );
});

Deno.test(
  "importImage() accepts archives written by skopeo (oci-archive and docker-archive) (needs skopeo)",
  {
    ignore: !hasSkopeo(),
  },
  async () => {
    await using b = await box();
    await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
    const run = async (...args: string[]): Promise<void> => {
      const out = await new Deno.Command("skopeo", { args, stderr: "piped", stdout: "null" })
        .output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    };
    await run(
      "copy",
      "--quiet",
      `oci:${b.dir}/layout:app`,
      `oci-archive:${b.dir}/skopeo.oci.tar:app`,
    );
    await run(
      "copy",
      "--quiet",
      `oci:${b.dir}/layout:app`,
      `docker-archive:${b.dir}/skopeo.docker.tar:skiff/app:v1`,
    );
    const a = await b.store.importImage(`${b.dir}/skopeo.oci.tar:app`);
    const d = await b.store.importImage(`${b.dir}/skopeo.docker.tar:skiff/app:v1`);
    assert.deepEqual(a.diffIds, d.diffIds);
    assert.equal((await names(`${b.store.root}/layers/sha256`)).length, 3);
  },
);

Deno.test("importImage() with a corrupted layer blob fails naming it and leaves nothing in the store", async () => {
  await using b = await box();
  const built = await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  const victim = built[1].layers[2];
  const path = `${b.dir}/layout/blobs/sha256/${victim.digest.slice(7)}`;
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 5] ^= 0xff; // inside the gzip trailer: decompression alone would not notice
  await Deno.writeFile(path, bytes);
  await assert.rejects(b.store.importImage(`${b.dir}/layout:app`), (err) => {
    assert.match(chain(err), new RegExp(`layers\\[2\\].*${victim.digest}`));
    assert.match(chain(err), /digest mismatch|crc|checksum|invalid/i);
    return true;
  });
  await assertStoreEmpty(b.store.root);
});

Deno.test("importImage() with a blob of the wrong size fails and leaves nothing in the store", async () => {
  await using b = await box();
  const built = await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  const victim = built[0].layers[0];
  const path = `${b.dir}/layout/blobs/sha256/${victim.digest.slice(7)}`;
  const f = await Deno.open(path, { append: true });
  await f.write(new Uint8Array(10));
  f.close();
  await assert.rejects(
    b.store.importImage(`${b.dir}/layout:base`),
    (err) => /blob is larger than its descriptor's size/.test(chain(err)),
  );
  await assertStoreEmpty(b.store.root);
});

Deno.test("importImage() with a diffID that does not match the layer leaves nothing in the store", async () => {
  await using b = await box();
  const dir = `${b.dir}/layout`;
  const layers = (await fixtureImages())[1].layers.map(buildLayer);
  const diffIds = layers.map((l) => l.diffId);
  diffIds[2] = blob("something else").digest;
  const config = buildConfig({ name: "bad", layers: [] }, diffIds);
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  for (const x of [...layers.map((l) => l.blob), config]) {
    await Deno.writeFile(`${dir}/blobs/sha256/${x.digest.slice(7)}`, x.bytes);
  }
  const manifest = blob(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => l.descriptor),
  }));
  await Deno.writeFile(`${dir}/blobs/sha256/${manifest.digest.slice(7)}`, manifest.bytes);
  await writeIndex(dir, {
    schemaVersion: 2,
    manifests: [{
      mediaType: MEDIA_TYPES.ociManifest,
      digest: manifest.digest,
      size: manifest.size,
    }],
  });
  await assert.rejects(b.store.importImage(dir), (err) => {
    assert.match(
      chain(err),
      new RegExp(
        `diffID mismatch: the config says ${diffIds[2]}, the layer is ${layers[2].diffId}`,
      ),
    );
    return true;
  });
  await assertStoreEmpty(b.store.root);
});

Deno.test("importImage() refuses an unknown layer media type naming the descriptor", async () => {
  await using b = await box();
  const dir = `${b.dir}/layout`;
  const layer = buildLayer({ entries: [{ name: "f", data: "x" }] });
  const config = buildConfig({ name: "x", layers: [] }, [layer.diffId]);
  for (const x of [layer.blob, config]) {
    await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
    await Deno.writeFile(`${dir}/blobs/sha256/${x.digest.slice(7)}`, x.bytes);
  }
  const manifest = blob(JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: config.digest, size: config.size },
    layers: [{ ...layer.descriptor, mediaType: "application/vnd.example.squashfs" }],
  }));
  await Deno.writeFile(`${dir}/blobs/sha256/${manifest.digest.slice(7)}`, manifest.bytes);
  await writeIndex(dir, {
    schemaVersion: 2,
    manifests: [{
      mediaType: MEDIA_TYPES.ociManifest,
      digest: manifest.digest,
      size: manifest.size,
    }],
  });
  await assert.rejects(
    b.store.importImage(dir),
    new RegExp(
      `layers\\[0\\] \\(application/vnd.example.squashfs ${layer.blob.digest}.*unknown layer media type`,
    ),
  );
  await assertStoreEmpty(b.store.root);
});

Deno.test("importImage() refuses a hostile layer and leaves nothing in the store or outside", async () => {
  await using b = await box();
  const outside = `${b.dir}/outside`;
  await Deno.mkdir(outside);
  await writeOciLayout(`${b.dir}/layout`, [{
    name: "evil",
    layers: [{
      entries: [
        { name: "ok", data: "fine" },
        { name: "link", type: "symlink", linkname: outside },
        { name: "link/pwned", data: "pwned" },
      ],
    }],
  }]);
  await assert.rejects(
    b.store.importImage(`${b.dir}/layout`),
    (err) => /refusing layer entry "link\/pwned": parent "link" is a symlink/.test(chain(err)),
  );
  await assertStoreEmpty(b.store.root);
  assert.deepEqual(await names(outside), []);
});

Deno.test("importImage() removes the temp dir a killed import left, and never trusts it", async () => {
  await using b = await box();
  await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  // A killed import leaves its half-unpacked layer in tmp/, never in layers/.
  const stale = `${b.store.root}/tmp/layer-killed`;
  await Deno.mkdir(`${stale}/bin`, { recursive: true });
  await Deno.writeTextFile(`${stale}/bin/half`, "half a file");
  const image = await b.store.importImage(`${b.dir}/layout:base`);
  assert.deepEqual(await names(`${b.store.root}/tmp`), []);
  assert.ok((await Deno.stat(`${b.store.layerPath(image.diffIds[0])}/bin/busybox`)).isFile);
});

Deno.test("importImage() recovers after an import process is killed half-way", async () => {
  await using b = await box();
  // One big layer so that the process is surely still unpacking when it is killed.
  const big = new Uint8Array(64 << 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  await writeOciLayout(`${b.dir}/layout`, [{
    name: "big",
    layers: [{
      entries: [{ name: "big1", data: big }, { name: "big2", data: big }],
      compression: "none",
    }],
  }]);
  const script = `
    import { LayerStore } from "${new URL("./layer_store.ts", import.meta.url).href}";
    await new LayerStore(${JSON.stringify(b.store.root)}, { durable: false })
      .importImage(${JSON.stringify(`${b.dir}/layout`)}, { onProgress: (e) => {
        if (e.kind === "layer-bytes") console.log("bytes");
      } });`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // the first progress line: unpacking has begun
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  assert.deepEqual(
    await names(`${b.store.root}/layers/sha256`),
    [],
    "nothing half-made in layers/",
  );
  assert.equal(
    (await names(`${b.store.root}/tmp`)).length,
    1,
    "the killed import left its temp dir",
  );
  const image = await b.store.importImage(`${b.dir}/layout`);
  assert.deepEqual(await names(`${b.store.root}/tmp`), []);
  assert.equal((await Deno.stat(`${b.store.layerPath(image.diffIds[0])}/big2`)).size, big.length);
});

Deno.test("importImage() without a ref refuses an index with several images, listing their names", async () => {
  await using b = await box();
  await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  await assert.rejects(
    b.store.importImage(`${b.dir}/layout`),
    /2 images match; choose one by ref name \(base, app\)/,
  );
  await assert.rejects(
    b.store.importImage(`${b.dir}/layout:nope`),
    /no image named "nope" \(names: base, app\)/,
  );
  await assertStoreEmpty(b.store.root);
});

Deno.test("importImage() selects the host platform from a nested index, or the one asked for", async () => {
  await using b = await box();
  const dir = `${b.dir}/layout`;
  const layers = [{ entries: [{ name: "arch", data: "amd64" }] }];
  const amd = await writeImageBlobs(dir, {
    name: "m",
    layers,
    platform: { os: "linux", architecture: "amd64" },
  });
  const arm = await writeImageBlobs(dir, {
    name: "m",
    layers: [{ entries: [{ name: "arch", data: "arm64" }] }],
    platform: { os: "linux", architecture: "arm64", variant: "v8" },
  });
  const nested = blob(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [arm.manifest, amd.manifest],
  }));
  await Deno.writeFile(`${dir}/blobs/sha256/${nested.digest.slice(7)}`, nested.bytes);
  await writeIndex(dir, {
    schemaVersion: 2,
    manifests: [{
      mediaType: MEDIA_TYPES.ociIndex,
      digest: nested.digest,
      size: nested.size,
      annotations: { [REF_NAME_ANNOTATION]: "multi" },
    }],
  });
  const host = Deno.build.arch === "aarch64" ? arm : amd;
  const image = await b.store.importImage(`${dir}:multi`);
  assert.equal(image.manifestDigest, host.manifest.digest);
  const other = await b.store.importImage(`${dir}:multi`, {
    platform: { os: "linux", architecture: Deno.build.arch === "aarch64" ? "amd64" : "arm64" },
  });
  assert.notEqual(other.manifestDigest, host.manifest.digest);
  await assert.rejects(
    b.store.importImage(`${dir}:multi`, { platform: { os: "linux", architecture: "s390x" } }),
    /no image for platform linux\/s390x named "multi"/,
  );
});

Deno.test("removeImage() and gc() remove layers no image or container uses", async () => {
  await using b = await box();
  await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  const base = await b.store.importImage(`${b.dir}/layout:base`);
  const app = await b.store.importImage(`${b.dir}/layout:app`);
  await b.store.registerContainer("c1", "app");
  await assert.rejects(b.store.removeImage("app"), /used by container\(s\) c1/);
  await b.store.removeImage("app", { force: true });
  assert.deepEqual((await b.store.gc()).removedLayers, [], "the container still uses app's layers");
  await b.store.unregisterContainer("c1");
  const gc = await b.store.gc();
  assert.deepEqual(gc.removedLayers.sort(), app.diffIds.slice(1).sort());
  assert.deepEqual(await names(`${b.store.root}/layers/sha256`), [base.diffIds[0].slice(7)]);
  await b.store.removeImage(base.id.slice(0, 8));
  await b.store.gc();
  await assertStoreEmpty(b.store.root);
});

Deno.test("registerContainer() refuses an unknown image and an unsafe container ID", async () => {
  await using b = await box();
  await assert.rejects(b.store.registerContainer("c1", "nope"), /no image "nope"/);
  await assert.rejects(b.store.registerContainer("../x", "nope"), /Invalid container ID/);
  await assert.rejects(b.store.unregisterContainer("a/b"), /Invalid container ID/);
});

Deno.test("readImageFile() reads /etc/group through the layers, honouring whiteouts", async () => {
  await using b = await box();
  await writeOciLayout(`${b.dir}/layout`, await fixtureImages());
  const app = await b.store.importImage(`${b.dir}/layout:app`);
  assert.equal(await b.store.readImageFile(app, "/etc/group"), FIXTURE_GROUP);
  assert.equal(await b.store.readImageFile(app, "etc/hostname"), "app\n");
  assert.equal(await b.store.readImageFile(app, "etc/to-delete"), undefined, "whited out");
  assert.equal(
    await b.store.readImageFile(app, "usr/share/doc/README"),
    undefined,
    "dir whited out",
  );
  assert.equal(await b.store.readImageFile(app, "olddir/a"), undefined, "hidden by an opaque dir");
  assert.equal(await b.store.readImageFile(app, "olddir/c"), "c\n");
});
