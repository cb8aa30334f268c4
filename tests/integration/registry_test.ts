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
import { formatBytes } from "../../runtime/assembler/progress.ts";
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
        /^pulled .*busybox:v1 \([0-9a-f]{12}\): 1 layers, 0 downloaded \(0 B\), 1 already stored, in [0-9.]+ s\n$/,
      );
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

/** A text of `size` random hex digits (compresses to about half). */
function randomText(size: number): string {
  const bytes = new Uint8Array(size / 2);
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, i + 65536));
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The proxy saw GETs of app:current's manifest (the first is answered by the auth challenge). */
function assertManifestAsked(manifests: string[]): void {
  assert.ok(manifests.length > 0, "the manifest was asked for");
  assert.deepEqual(new Set(manifests), new Set(["GET app:current"]));
}

/** The frames a pull drew on a terminal: the text between the cursor movements, line by line. */
function frames(shown: string): string[][] {
  const esc = "\x1b";
  return shown.replace(/\r\n/g, "\n").split(new RegExp(`${esc}\\[\\d+A|${esc}\\[\\?25[lh]`))
    .slice(1, -1)
    .map((f) => f.split("\n").filter((l) => l !== "").map((l) => l.replace(`\r${esc}[K`, "")));
}

/** Runs `skiff ARGS` under script(1), in a pseudo-terminal `columns` wide. */
async function onTerminal(args: string[], env: Record<string, string>, columns = 100) {
  const out = await new Deno.Command("script", {
    args: ["-qfec", `stty cols ${columns} rows 40; exec ${SKIFF} ${args.join(" ")}`, "/dev/null"],
    env,
    stdin: "null",
    stdout: "piped",
  }).output();
  return { code: out.code, shown: new TextDecoder().decode(out.stdout) };
}

Deno.test({
  name: "image pull on a terminal draws a bar per layer and a total; elsewhere one line; -q the ID",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("htpasswd");
    await using proxy = startProxy(registry);
    const [built] = await pushImages(registry, env.dir, "bars", [
      { name: "v1", layers: [env.base, fileLayer("bars.txt", randomText(1 << 20))] },
    ]);
    const regConfig = join(env.dir, "registries.json");
    await Deno.writeTextFile(
      regConfig,
      JSON.stringify({ registries: { [proxy.host]: { insecure: true } } }),
    );
    const authFile = join(env.dir, "auth.json");
    await Deno.writeTextFile(
      authFile,
      JSON.stringify({ auths: { [proxy.host]: { auth: btoa(`${USER}:${PASSWORD}`) } } }),
    );
    const skiffEnv = (store: string) => ({
      SKIFF_STORE: join(env.dir, store),
      SKIFF_REGISTRIES_CONFIG: regConfig,
      REGISTRY_AUTH_FILE: authFile,
    });
    const ref = `${proxy.host}/bars:v1`;
    const id = built.config.digest.slice(7);
    const short = built.diffIds.map((d) => d.slice(7, 19));

    // A terminal: frames redrawn in place, the last one all done, then the cursor back and the ID.
    let t = await onTerminal(["image", "pull", ref], skiffEnv("tty-store"));
    assert.equal(t.code, 0, t.shown);
    assert.ok(t.shown.startsWith("\x1b[?25l"), JSON.stringify(t.shown.slice(0, 80)));
    assert.ok(t.shown.endsWith(`\x1b[?25h${id}\r\n`), JSON.stringify(t.shown.slice(-200)));
    assert.ok(t.shown.includes("\x1b[3A"), "a frame of 3 lines was redrawn over the previous one");
    const all = frames(t.shown);
    assert.ok(all.length >= 2, `${all.length} frames`);
    for (const f of all) {
      assert.equal(f.length, 3, JSON.stringify(f));
      for (const line of f) assert.ok(line.length < 100, `${line.length} columns: ${line}`);
    }
    const last = all.at(-1)!;
    const sizes = built.layers.map((l) => l.size);
    for (const [i, line] of last.slice(0, 2).entries()) {
      assert.match(line, new RegExp(`^${short[i]} \\[=+\\] [0-9.]+ (B|KiB|MiB)  done$`));
      assert.ok(line.includes(formatBytes(sizes[i])), line);
    }
    const sum = formatBytes(sizes[0] + sizes[1]);
    assert.match(last[2], /^total 2\/2 {4}\[=+\] /);
    assert.ok(last[2].includes(`${sum} / ${sum}`), last[2]);
    // An early frame shows the layers under way (a bar not full yet or waiting).
    assert.match(all[0].join("\n"), /waiting|\[=*>/);

    // Again: everything is stored, which the display says.
    t = await onTerminal(["image", "pull", ref], skiffEnv("tty-store"), 60);
    assert.equal(t.code, 0, t.shown);
    assert.deepEqual(frames(t.shown).at(-1), [
      `${short[0]} already stored`,
      `${short[1]} already stored`,
      "total        all 2 layers already stored",
    ]);

    // -q on a terminal: the ID and nothing else.
    t = await onTerminal(["image", "pull", "-q", ref], skiffEnv("quiet-store"));
    assert.equal(t.code, 0, t.shown);
    assert.equal(t.shown, `${id}\r\n`);

    // Not a terminal: the ID on stdout, one summary line on stderr.
    const r = await runSkiff(["image", "pull", ref], { env: skiffEnv("pipe-store") });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${id}\n`);
    assert.match(
      r.stderr,
      new RegExp(
        `^pulled ${ref} \\(${id.slice(0, 12)}\\): 2 layers, 2 downloaded \\(${
          sum.replace(".", "\\.")
        }\\), 0 already stored, in [0-9.]+ s\\n$`,
      ),
    );

    // A failed pull leaves its last frame (the broken layer marked) and shows the cursor again.
    proxy.faults.corrupt = built.layers[1].digest;
    t = await onTerminal(["image", "pull", ref], skiffEnv("bad-store"));
    assert.notEqual(t.code, 0);
    const end = t.shown.lastIndexOf("\x1b[?25h");
    assert.ok(end > 0, JSON.stringify(t.shown.slice(-300)));
    assert.match(frames(t.shown).at(-1)![1], new RegExp(`^${short[1]} \\[=*>? *\\] .* failed$`));
    assert.match(t.shown.slice(end), /Cannot pull .*digest mismatch/);

    // SIGINT in the middle (the layer answers 503 and is retried meanwhile): the cursor is shown
    // again and skiff dies of the signal.
    proxy.faults.corrupt = undefined;
    proxy.faults.unavailable = { digest: built.layers[1].digest, times: 100 };
    const pidFile = join(env.dir, "skiff.pid");
    const child = new Deno.Command("script", {
      args: [
        "-qfec",
        `stty cols 100; echo $$ >${pidFile}; exec ${SKIFF} image pull ${ref}`,
        "/dev/null",
      ],
      env: skiffEnv("int-store"),
      stdin: "null",
      stdout: "piped",
    }).spawn();
    let shown = "";
    const decoder = new TextDecoder();
    const reader = child.stdout.getReader();
    try {
      while (!shown.includes("\x1b[?25l")) {
        const { value, done } = await reader.read();
        if (done) break;
        shown += decoder.decode(value, { stream: true });
      }
      Deno.kill(Number(await Deno.readTextFile(pidFile)), "SIGINT");
      for (let c = await reader.read(); !c.done; c = await reader.read()) {
        shown += decoder.decode(c.value, { stream: true });
      }
    } finally {
      reader.releaseLock();
      const status = await child.status;
      assert.equal(status.code, 130, `killed by SIGINT: ${shown}`);
    }
    assert.ok(shown.endsWith("\x1b[?25h"), JSON.stringify(shown.slice(-300)));
    assert.ok(proxy.faults.unavailable.times > 0, "interrupted before the retries ran out");
  },
});

Deno.test({
  name: "run --image --pull always asks the registry again; missing uses the stored; never fails",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("htpasswd");
    await using proxy = startProxy(registry);
    const cat = { Cmd: ["/bin/cat", "/msg.txt"] };
    await pushImages(registry, env.dir, "app", [
      { name: "first", layers: [env.base, fileLayer("msg.txt", "first\n")], config: cat },
      { name: "second", layers: [env.base, fileLayer("msg.txt", "second\n")], config: cat },
    ]);
    await registry.copy("app:first", "app:current");
    const regConfig = join(env.dir, "registries.json");
    await Deno.writeTextFile(
      regConfig,
      JSON.stringify({ registries: { [proxy.host]: { insecure: true } } }),
    );
    const authFile = join(env.dir, "auth.json");
    await Deno.writeTextFile(
      authFile,
      JSON.stringify({ auths: { [proxy.host]: { auth: btoa(`${USER}:${PASSWORD}`) } } }),
    );
    const root = join(env.dir, "state");
    const skiffEnv = {
      SKIFF_STORE: join(env.dir, "cli-store"),
      SKIFF_REGISTRIES_CONFIG: regConfig,
      REGISTRY_AUTH_FILE: authFile,
    };
    const ref = `${proxy.host}/app:current`;
    const ids: string[] = [];
    const run = (pull: string, image = ref) => {
      const id = testId();
      ids.push(id);
      return runSkiff(["run", "--image", image, "--pull", pull, id], { root, env: skiffEnv });
    };
    try {
      let r = await run("missing");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "first\n");
      assertManifestAsked(proxy.manifests);

      // The tag now names another image; a stored image satisfies --pull missing...
      await registry.copy("app:second", "app:current");
      proxy.manifests.length = 0;
      r = await run("missing");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "first\n", "--pull missing runs the stored image");
      assert.deepEqual(proxy.manifests, [], "--pull missing does not ask the registry");

      // ...and --pull always resolves the tag again, downloading only the changed layer.
      proxy.served.clear();
      r = await run("always");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "second\n", "--pull always runs what the tag names now");
      assertManifestAsked(proxy.manifests);
      assert.equal(proxy.served.size, 2, "the config and the new layer only");

      // --pull never with an image not stored: a clear error, and no request.
      proxy.manifests.length = 0;
      r = await run("never", `${proxy.host}/app:absent`);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        new RegExp(`image "${proxy.host}/app:absent" is not stored and --pull is never`),
      );
      assert.deepEqual(proxy.manifests, []);
      r = await run("sometimes");
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /--pull must be missing, always or never: got "sometimes"/);
    } finally {
      for (const id of ids) await runSkiff(["delete", "--force", id], { root, env: skiffEnv });
    }
  },
});

Deno.test({
  name: "credential helpers: credHelpers and credsStore run docker-credential-NAME get",
  ignore,
  async fn() {
    await using env = await makeEnv();
    await using registry = await startRegistry("htpasswd");
    await pushImages(registry, env.dir, "helped", [
      { name: "v1", layers: [fileLayer("h", "h\n")] },
    ]);
    const bin = join(env.dir, "bin");
    const home = join(env.dir, "home");
    const runtimeDir = join(env.dir, "run");
    const asked = join(env.dir, "asked");
    await Deno.mkdir(bin);
    await Deno.mkdir(join(home, ".docker"), { recursive: true });
    await Deno.mkdir(join(runtimeDir, "containers"), { recursive: true });
    const helpers: Record<string, string> = {
      // Records what it was asked (argv and stdin) and answers for the test registry only.
      good: `printf '%s %s\\n' "$1" "$(cat)" >>${asked}
        case "$(tail -n1 ${asked})" in
        "get ${registry.host}") printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}\\n' "${registry.host}";;
        *) echo "credentials not found in native keychain"; exit 1;;
        esac`,
      broken: `echo run >>${asked}.broken; echo "the keychain is locked" >&2; exit 2`,
      empty: `echo "credentials not found in native keychain"; exit 1`,
      garbled: `echo "user=x"`,
    };
    for (const [name, body] of Object.entries(helpers)) {
      await Deno.writeTextFile(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`, {
        mode: 0o755,
      });
    }
    const regConfig = join(env.dir, "registries.json");
    await Deno.writeTextFile(
      regConfig,
      JSON.stringify({ registries: { [registry.host]: { ca: registry.ca } } }),
    );
    const dockerConfig = join(home, ".docker/config.json");
    const authJson = join(runtimeDir, "containers/auth.json");
    const pull = async (files: { docker?: unknown; podman?: unknown }) => {
      await Deno.remove(dockerConfig).catch(() => {});
      await Deno.remove(authJson).catch(() => {});
      if (files.docker) await Deno.writeTextFile(dockerConfig, JSON.stringify(files.docker));
      if (files.podman) await Deno.writeTextFile(authJson, JSON.stringify(files.podman));
      return await runSkiff(["image", "pull", "-q", `${registry.host}/helped:v1`], {
        env: {
          SKIFF_STORE: join(env.dir, "cli-store"),
          SKIFF_REGISTRIES_CONFIG: regConfig,
          HOME: home,
          XDG_RUNTIME_DIR: runtimeDir,
          PATH: `${bin}:${Deno.env.get("PATH")}`,
        },
      });
    };
    const host = registry.host;
    const placeholder = { auths: { [host]: {} } };

    // credsStore: the one helper for every registry (Docker leaves empty "auths" entries).
    let r = await pull({ docker: { ...placeholder, credsStore: "good" } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    assert.equal(await Deno.readTextFile(asked), `get ${host}\n`, "get, and the host on stdin");

    // credHelpers names a helper for this registry: it wins over credsStore.
    r = await pull({ docker: { credsStore: "broken", credHelpers: { [host]: "good" } } });
    assert.equal(r.code, 0, r.stderr);

    // The same in containers-auth.json (Podman's file, read first).
    r = await pull({ podman: { credHelpers: { [host]: "good" } } });
    assert.equal(r.code, 0, r.stderr);

    // A helper that fails: the error names it, the file, the registry and what it said.
    r = await pull({ docker: { credHelpers: { [host]: "broken" } } });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `credential helper docker-credential-broken \\(credHelpers\\["${host}"\\] in ${dockerConfig}\\) failed for registry ${host}: exit status 2: the keychain is locked`,
      ),
    );
    assert.equal(await Deno.readTextFile(`${asked}.broken`), "run\n", "run once, not retried");
    r = await pull({ docker: { credsStore: "absent" } });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `credential helper docker-credential-absent \\(credsStore in ${dockerConfig}\\) for registry ${host} is not installed \\(not found on PATH\\)`,
      ),
    );
    r = await pull({ docker: { credsStore: "garbled" } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /docker-credential-garbled .* did not answer \{"Username", "Secret"\}/);

    // A helper with nothing for the registry: no credentials, so the registry's refusal.
    r = await pull({ docker: { credHelpers: { [host]: "empty" } } });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(`registry ${host} requires a login for helped: none is stored`),
    );
  },
});
