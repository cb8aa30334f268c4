import assert from "node:assert/strict";
import { formatReference, looksLikeRegistryReference, parseReference } from "./reference.ts";
import { parseChallenge } from "./client.ts";
import { parsePlatform } from "./pull.ts";
import { findCredentials, loadRegistriesConfig, saveCredentials } from "./config.ts";

const HEX = "a".repeat(64);

Deno.test("short names resolve as Docker's do", () => {
  assert.deepEqual(parseReference("alpine"), {
    registry: "docker.io",
    repository: "library/alpine",
    tag: "latest",
    digest: undefined,
  });
  assert.equal(formatReference(parseReference("alpine")), "docker.io/library/alpine:latest");
  assert.equal(formatReference(parseReference("user/app:v1")), "docker.io/user/app:v1");
  assert.equal(
    formatReference(parseReference("index.docker.io/alpine:3")),
    "docker.io/library/alpine:3",
  );
  assert.equal(formatReference(parseReference("localhost/app")), "localhost/app:latest");
  assert.equal(
    formatReference(parseReference(`127.0.0.1:5000/a/b@sha256:${HEX}`)),
    `127.0.0.1:5000/a/b@sha256:${HEX}`,
  );
  assert.deepEqual(parseReference(`ghcr.io/o/app:v2@sha256:${HEX}`), {
    registry: "ghcr.io",
    repository: "o/app",
    tag: "v2",
    digest: `sha256:${HEX}`,
  });
});

Deno.test("malformed references are refused naming the part", () => {
  assert.throws(() => parseReference("Alpine"), /path component "Alpine"/);
  assert.throws(() => parseReference("alpine@sha256:12"), /digest "sha256:12"/);
  assert.throws(() => parseReference("alpine:-x"), /tag "-x"/);
  assert.equal(looksLikeRegistryReference("/tmp/layout"), false);
  assert.equal(looksLikeRegistryReference("oci-archive:/x.tar"), false);
  assert.equal(looksLikeRegistryReference("docker.io/library/busybox"), true);
});

Deno.test("WWW-Authenticate challenges and --platform parse", () => {
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/alpine:pull",
      },
    },
  );
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: "basic", params: { realm: "x" } });
  assert.deepEqual(parsePlatform("linux/arm64/v8"), {
    os: "linux",
    architecture: "arm64",
    variant: "v8",
  });
  assert.throws(() => parsePlatform("linux"), /--platform must be OS\/ARCH\[\/VARIANT\]/);
});

Deno.test("the registry configuration is checked field by field; credentials round-trip", async () => {
  const dir = await Deno.makeTempDir({ prefix: "skiff-regconf-" });
  try {
    const file = `${dir}/registries.json`;
    await Deno.writeTextFile(file, JSON.stringify({ registries: { "a.io": { mirrors: "m" } } }));
    await assert.rejects(loadRegistriesConfig(file), /registries\["a.io"\].mirrors must be a list/);
    await Deno.writeTextFile(file, JSON.stringify({ registries: { "a.io": { insecure: 1 } } }));
    await assert.rejects(
      loadRegistriesConfig(file),
      /registries\["a.io"\].insecure must be true or false/,
    );
    assert.deepEqual(await loadRegistriesConfig(`${dir}/missing.json`), {});
    Deno.env.set("REGISTRY_AUTH_FILE", `${dir}/auth.json`);
    try {
      assert.equal(
        await saveCredentials("a.io", { username: "u", password: "p:w" }),
        `${dir}/auth.json`,
      );
      assert.deepEqual(await findCredentials("a.io"), { username: "u", password: "p:w" });
      assert.equal(await findCredentials("b.io"), undefined);
      assert.equal((await Deno.stat(`${dir}/auth.json`)).mode! & 0o777, 0o600);
    } finally {
      Deno.env.delete("REGISTRY_AUTH_FILE");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
