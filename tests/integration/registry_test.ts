/**
 * Pulling from a real registry (issue 14): docker-registry on 127.0.0.1 with TLS and htpasswd or
 * token auth (tests/_helpers/registry.ts), images pushed with skopeo from fixture layouts. The
 * byte counts come from a proxy in front of the registry.
 */
import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { LayerStore } from "../../runtime/assembler/layer_store.ts";
import { pullImage } from "../../runtime/assembler/registry/mod.ts";
import type { RegistriesConfig } from "../../runtime/assembler/registry/config.ts";
import {
  baseLayerEntries,
  blob,
  FIXTURE_MTIME,
  type FixtureImage,
  writeImageBlobs,
  writeIndex,
  writeOciLayout,
} from "../../scripts/fixtures/oci_image.ts";
import { MEDIA_TYPES, REF_NAME_ANNOTATION } from "../../spec/image.ts";
import {
  PASSWORD,
  registryToolsPresent,
  startProxy,
  startRegistry,
  type TestRegistry,
  USER,
} from "../_helpers/registry.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { testId } from "../_helpers/bundle.ts";
import { SKIFF } from "../_helpers/paths.ts";

const ignore = !registryToolsPresent() || Deno.uid() !== 0;
const CREDS = { username: USER, password: PASSWORD };

function fileLayer(path: string, text: string) {
  return {
    entries: [{ name: path, data: text, mode: 0o644, mtime: FIXTURE_MTIME }],
    compression: "gzip" as const,
  };
}

/** A temp dir with a store; removed on dispose. */
async function makeEnv() {
  const dir = await Deno.makeTempDir({ prefix: "skiff-pull-" });
  const base = { entries: await baseLayerEntries(), compression: "gzip" as const };
  return {
    dir,
    base,
    store: new LayerStore(join(dir, "store"), { durable: false }),
    async layerNames(): Promise<string[]> {
      const out: string[] = [];
      try {
        for await (const e of Deno.readDir(join(dir, "store/layers/sha256"))) out.push(e.name);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      return out;
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Pushes `images` (one layout) to `registry` as repo:NAME each. */
async function pushImages(
  registry: TestRegistry,
  dir: string,
  repo: string,
  images: FixtureImage[],
) {
  const layout = join(dir, `layout-${repo}`);
  const built = await writeOciLayout(layout, images);
  for (const i of images) await registry.push(layout, i.name, `${repo}:${i.name}`);
  return built;
}

Deno.test({
  name: "a second image that shares the base downloads only its new layer",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("htpasswd");
    await using proxy = startProxy(registry);
    const built = await pushImages(registry, env.dir, "app", [
      { name: "one", layers: [env.base, fileLayer("one.txt", "one\n")] },
      { name: "two", layers: [env.base, fileLayer("two.txt", "two\n")] },
    ]);
    const config: RegistriesConfig = { registries: { [proxy.host]: { insecure: true } } };
    const one = await pullImage(env.store, `${proxy.host}/app:one`, { config, credentials: CREDS });
    assert.equal(`sha256:${one.id}`, built[0].config.digest);
    assert.deepEqual(one.names, [`${proxy.host}/app:one`]);
    const [baseBlob, oneBlob] = built[0].layers;
    assert.equal(proxy.served.get(baseBlob.digest), baseBlob.size);
    assert.equal(proxy.served.get(oneBlob.digest), oneBlob.size);

    proxy.served.clear();
    const two = await pullImage(env.store, `${proxy.host}/app:two`, { config, credentials: CREDS });
    const twoBlob = built[1].layers[1];
    assert.equal(
      proxy.served.get(baseBlob.digest),
      undefined,
      "the base layer is not fetched again",
    );
    assert.equal(proxy.served.get(twoBlob.digest), twoBlob.size);
    const layerBytes = [...proxy.served.entries()]
      .filter(([d]) => d !== built[1].config.digest)
      .reduce((n, [, b]) => n + b, 0);
    assert.equal(layerBytes, twoBlob.size, "only the new layer's bytes were served");
    assert.deepEqual(two.diffIds, built[1].diffIds);
    assert.equal((await env.layerNames()).length, 3);
    const text = await env.store.readImageFile(two, "two.txt");
    assert.equal(text, "two\n");
    const report = await env.store.check();
    assert.deepEqual(report.problems, []);
  },
});

Deno.test({
  name:
    "a connection cut in the middle of a layer is resumed with a Range request; 503s are retried",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("htpasswd");
    await using proxy = startProxy(registry);
    const [built] = await pushImages(registry, env.dir, "cut", [
      { name: "v1", layers: [env.base] },
    ]);
    const layer = built.layers[0];
    const half = Math.floor(layer.size / 2);
    proxy.faults.cut = { digest: layer.digest, after: half };
    proxy.faults.unavailable = { digest: built.config.digest, times: 2 };
    const config: RegistriesConfig = { registries: { [proxy.host]: { insecure: true } } };
    const image = await pullImage(env.store, `${proxy.host}/cut:v1`, {
      config,
      credentials: CREDS,
    });
    assert.equal(proxy.ranges.length, 1, `one resumed request (ranges: ${proxy.ranges})`);
    const from = Number(/^bytes=(\d+)-$/.exec(proxy.ranges[0])?.[1]);
    assert.ok(from > 0 && from <= half, `resumed from byte ${from}, cut at ${half}`);
    assert.ok(
      proxy.served.get(layer.digest)! < layer.size * 1.5,
      "the whole layer was not downloaded twice",
    );
    assert.equal(
      proxy.faults.unavailable.times,
      0,
      "the config was asked for again after two 503s",
    );
    assert.deepEqual(image.diffIds, built.diffIds);
    assert.deepEqual((await env.store.check()).problems, []);
  },
});

Deno.test({
  name: "a registry serving a wrong blob is refused and nothing is left in the store",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("htpasswd");
    await using proxy = startProxy(registry);
    const [built] = await pushImages(registry, env.dir, "bad", [
      { name: "v1", layers: [env.base, fileLayer("x.txt", "x\n")] },
    ]);
    proxy.faults.corrupt = built.layers[1].digest;
    const config: RegistriesConfig = { registries: { [proxy.host]: { insecure: true } } };
    await assert.rejects(
      pullImage(env.store, `${proxy.host}/bad:v1`, { config, credentials: CREDS }),
      (err: Error) => {
        const chain = [err, err.cause as Error, (err.cause as Error)?.cause as Error]
          .map((e) => e?.message).join(" / ");
        assert.match(chain, /digest mismatch/);
        assert.match(chain, new RegExp(built.layers[1].digest));
        return true;
      },
    );
    assert.deepEqual(await env.layerNames(), [], "no layer stays, not even the good base");
    assert.deepEqual(await env.store.listImages(), []);
    assert.deepEqual([...Deno.readDirSync(join(env.dir, "store/tmp"))], []);
    assert.deepEqual((await env.store.check()).problems, []);
  },
});

Deno.test({
  name: "the platform is chosen from an image index (token auth, TLS with a configured CA)",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("token");
    const layout = join(env.dir, "multi");
    const platforms = [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ];
    const built = [];
    for (const p of platforms) {
      built.push(
        await writeImageBlobs(layout, {
          name: p.architecture,
          layers: [fileLayer("arch", `${p.architecture}\n`)],
          platform: p,
        }),
      );
    }
    const index = blob(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: built.map((b) => b.manifest),
    }));
    await Deno.writeFile(join(layout, "blobs/sha256", index.digest.slice(7)), index.bytes);
    await writeIndex(layout, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [{
        mediaType: MEDIA_TYPES.ociIndex,
        digest: index.digest,
        size: index.size,
        annotations: { [REF_NAME_ANNOTATION]: "multi" },
      }],
    });
    await registry.push(layout, "multi", "multi:latest");
    const config: RegistriesConfig = { registries: { [registry.host]: { ca: registry.ca } } };
    const ref = `${registry.host}/multi`;
    const arm = await pullImage(env.store, ref, {
      config,
      credentials: CREDS,
      platform: { os: "linux", architecture: "arm64" },
    });
    assert.equal(arm.config.architecture, "arm64");
    assert.equal(`sha256:${arm.id}`, built[1].config.digest);
    assert.equal(await env.store.readImageFile(arm, "arch"), "arm64\n");
    assert.deepEqual(arm.names, [`${ref}:latest`]);
    const amd = await pullImage(env.store, `${ref}@${built[0].manifest.digest}`, {
      config,
      credentials: CREDS,
      platform: { os: "linux", architecture: "amd64" },
    });
    assert.equal(await env.store.readImageFile(amd, "arch"), "amd64\n");
    await assert.rejects(
      pullImage(env.store, ref, {
        config,
        credentials: CREDS,
        platform: { os: "linux", architecture: "s390x" },
      }),
      (err: Error) => {
        assert.match(
          String((err.cause as Error)?.message),
          /no image for platform linux\/s390x \(the index offers linux\/amd64, linux\/arm64\/v8\)/,
        );
        return true;
      },
    );
    assert.ok(
      registry.tokenRequests.includes("repository:multi:pull"),
      String(registry.tokenRequests),
    );
  },
});

function causes(err: unknown): string {
  const out: string[] = [];
  for (let e = err as Error | undefined; e; e = e.cause as Error | undefined) out.push(e.message);
  return out.join(": ");
}

Deno.test({
  name: "auth failures name the registry, the user and what to do",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using basic = await startRegistry("htpasswd");
    await using token = await startRegistry("token");
    const layout = join(env.dir, "layout");
    await writeOciLayout(layout, [{ name: "v1", layers: [fileLayer("a", "a\n")] }]);
    await basic.push(layout, "v1", "private:v1");
    await token.push(layout, "v1", "private:v1");
    const authFile = join(env.dir, "auth.json");
    Deno.env.set("REGISTRY_AUTH_FILE", authFile);
    try {
      for (const r of [basic, token]) {
        const config: RegistriesConfig = { registries: { [r.host]: { ca: r.ca } } };
        const ref = `${r.host}/private:v1`;
        const none = await pullImage(env.store, ref, { config }).catch((e) => causes(e));
        const wrong = await pullImage(env.store, ref, {
          config,
          credentials: { username: USER, password: "wrong" },
        }).catch((e) => causes(e));
        if (r.auth === "htpasswd") {
          assert.match(
            String(none),
            new RegExp(
              `registry ${r.host} requires a login for private: none is stored; log in with "skiff image login ${r.host}"`,
            ),
          );
          assert.match(
            String(wrong),
            new RegExp(`registry ${r.host} refused the credentials of user "${USER}" for private`),
          );
        } else {
          assert.match(
            String(none),
            new RegExp(
              `registry ${r.host} refused anonymous access to private \\(401\\); log in with "skiff image login ${r.host}"`,
            ),
          );
          assert.match(
            String(wrong),
            new RegExp(
              `registry ${r.host}: the token server http://127.0.0.1:\\d+ refused the credentials of user "${USER}"`,
            ),
          );
        }
        assert.deepEqual(await env.layerNames(), []);
        // Credentials from the auth file.
        await Deno.writeTextFile(
          authFile,
          JSON.stringify({ auths: { [r.host]: { auth: btoa(`${USER}:${PASSWORD}`) } } }),
        );
        const image = await pullImage(env.store, ref, { config });
        assert.equal(await env.store.readImageFile(image, "a"), "a\n");
        await env.store.removeImage(image.id);
        await env.store.gc();
        await Deno.remove(authFile);
      }
    } finally {
      Deno.env.delete("REGISTRY_AUTH_FILE");
    }
  },
});

Deno.test({
  name: "skiff image login, image pull (-q, summary line) and run --image --pull",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("token");
    const [built] = await pushImages(registry, env.dir, "busybox", [
      { name: "v1", layers: [env.base], config: { Cmd: ["/bin/echo", "hello from the registry"] } },
    ]);
    const regConfig = join(env.dir, "registries.json");
    await Deno.writeTextFile(
      regConfig,
      JSON.stringify({ registries: { [registry.host]: { ca: registry.ca } } }),
    );
    const root = join(env.dir, "state");
    const skiffEnv = {
      SKIFF_STORE: join(env.dir, "cli-store"),
      SKIFF_REGISTRIES_CONFIG: regConfig,
      REGISTRY_AUTH_FILE: join(env.dir, "auth.json"),
    };
    const skiff = (args: string[], stdin?: string) =>
      runSkiff(args, { root, env: skiffEnv, stdin });
    const ref = `${registry.host}/busybox:v1`;
    const id = testId();
    try {
      let r = await skiff(["run", "--image", ref, "--pull", "never", id]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /is not stored and --pull is never/);
      r = await skiff(["image", "pull", ref]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /refused anonymous access to busybox/);
      r = await skiff(
        ["image", "login", "--username", USER, "--password-stdin", registry.host],
        "wrong\n",
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /refused the credentials of user "skiffuser"/);
      r = await skiff(
        ["image", "login", "--username", USER, "--password-stdin", registry.host],
        `${PASSWORD}\n`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Login Succeeded/);
      r = await skiff(["image", "pull", "-q", ref]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${built.config.digest.slice(7)}\n`);
      assert.equal(r.stderr, "");
      r = await skiff(["image", "pull", ref]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /^pulled .*busybox:v1 \([0-9a-f]{12}\): 1 layers, 0 downloaded \(0\.0 MiB\), 1 already stored, in [0-9.]+ s\n$/,
      );
      // script(1) gives the pull a pseudo-terminal: one line per layer and a total.
      const tty = await new Deno.Command("script", {
        args: ["-qec", `${SKIFF} image pull ${ref}`, "/dev/null"],
        env: { ...skiffEnv, SKIFF_STORE: join(env.dir, "tty-store") },
        stdout: "piped",
      }).output();
      const shown = new TextDecoder().decode(tty.stdout);
      assert.match(shown, new RegExp(`${built.diffIds[0].slice(7, 19)} done [0-9.]+ MiB`));
      assert.match(shown, /total [0-9.]+ MiB \/ [0-9.]+ MiB/);
      r = await skiff(["run", "--image", ref, "--pull", "missing", id]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "hello from the registry\n");
    } finally {
      await skiff(["delete", "--force", id]);
    }
  },
});

Deno.test({
  name: "a configured mirror is asked first; the registry answers what the mirror lacks",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("htpasswd");
    await using mirrored = await startRegistry("htpasswd");
    await using proxy = startProxy(mirrored);
    await pushImages(registry, env.dir, "m", [{ name: "v1", layers: [fileLayer("m", "m\n")] }]);
    const [built] = await pushImages(mirrored, env.dir, "m", [
      { name: "v1", layers: [fileLayer("m", "m\n")] },
    ]);
    const config: RegistriesConfig = {
      registries: {
        [registry.host]: { mirrors: [proxy.host], ca: registry.ca },
        [proxy.host]: { insecure: true },
      },
    };
    const authFile = join(env.dir, "auth.json");
    const auth = btoa(`${USER}:${PASSWORD}`);
    // Credentials are looked up by the host asked, the mirror's own (as Podman does).
    await Deno.writeTextFile(
      authFile,
      JSON.stringify({ auths: { [registry.host]: { auth }, [proxy.host]: { auth } } }),
    );
    Deno.env.set("REGISTRY_AUTH_FILE", authFile);
    try {
      const image = await pullImage(env.store, `${registry.host}/m:v1`, { config });
      assert.equal(proxy.served.get(built.layers[0].digest), built.layers[0].size);
      assert.deepEqual(image.names, [`${registry.host}/m:v1`]);
      // A tag only the registry has: the mirror answers 404, the registry serves it.
      await pushImages(registry, env.dir, "m", [{ name: "v2", layers: [fileLayer("n", "n\n")] }]);
      proxy.served.clear();
      const v2 = await pullImage(env.store, `${registry.host}/m:v2`, { config });
      assert.equal(await env.store.readImageFile(v2, "n"), "n\n");
      assert.equal(proxy.served.size, 0);
    } finally {
      Deno.env.delete("REGISTRY_AUTH_FILE");
    }
  },
});
