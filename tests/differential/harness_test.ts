/** The differential harness's pure parts: generator, normalisation, comparison (no root needed). */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Spec } from "../../spec/config.ts";
import { validateSpec } from "../../spec/validate.ts";
import { adaptConfig, compare, loadCorpus } from "./harness.ts";
import { generateConfigs } from "./generator.ts";

Deno.test("generateConfigs() gives the same configs for the same seed and others for another", () => {
  assert.deepEqual(generateConfigs(42, 10), generateConfigs(42, 10));
  assert.notDeepEqual(generateConfigs(42, 10), generateConfigs(43, 10));
});

Deno.test("every config of the corpus is valid for Skiff's validator, the rootless one too", () => {
  const corpus = loadCorpus(20261130, 30);
  assert.ok(corpus.length >= 50, `only ${corpus.length} configs`);
  for (const entry of corpus) {
    const adapted = adaptConfig(entry.config, "/nonexistent-bundle", { hostNs: "" }, new Map());
    assert.doesNotThrow(() => validateSpec(JSON.parse(JSON.stringify(adapted))), entry.name);
  }
});

Deno.test("adaptConfig() keeps behaviour and replaces only the host-specific parts", async () => {
  const bundle = await Deno.makeTempDir({ prefix: "skiff-diff-unit-" });
  try {
    const input = {
      ociVersion: "1.0.2",
      root: { path: "/var/lib/engine/abc/merged", readonly: true },
      hooks: { prestart: [{ path: "/usr/bin/hook" }] },
      process: {
        terminal: true,
        cwd: "/",
        args: ["sh"],
        user: { uid: 0, gid: 0 },
        rlimits: [{ type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576 }],
        noNewPrivileges: true,
      },
      mounts: [
        {
          destination: "/etc/hosts",
          type: "bind",
          source: "/gone/userdata/hosts",
          options: ["bind"],
        },
        { destination: "/data", type: "bind", source: "{{bundle}}/vol", options: ["rbind", "ro"] },
      ],
      linux: {
        cgroupsPath: "/libpod_parent/x",
        namespaces: [{ type: "network", path: "/run/netns/x" }, { type: "mount" }],
        sysctl: { "net.ipv4.ip_forward": "1" },
        maskedPaths: ["/proc/kcore"],
      },
    } as unknown as Spec;
    const out = adaptConfig(input, bundle, { hostNs: "net=1" }, new Map([["RLIMIT_NOFILE", 4096]]));
    assert.equal(out.root!.path, "rootfs");
    assert.equal(out.root!.readonly, true);
    assert.equal(out.hooks, undefined);
    assert.equal(out.process!.terminal, false);
    assert.equal(out.process!.noNewPrivileges, true);
    assert.deepEqual(out.process!.rlimits, [{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }]);
    assert.equal(out.linux!.cgroupsPath, undefined);
    assert.deepEqual(out.linux!.namespaces, [{ type: "network" }, { type: "mount" }]);
    assert.equal(out.process!.args![0], "/probe");
    assert.ok(out.process!.args!.includes("net.ipv4.ip_forward"));
    assert.ok(out.process!.args!.some((a) => a.split(",").includes("/proc/kcore")));
    const [hosts, data] = out.mounts!;
    assert.ok(hosts.source!.startsWith(join(bundle, "host")));
    assert.ok(Deno.statSync(hosts.source!).isFile);
    assert.ok(Deno.statSync(data.source!).isDirectory);
    assert.deepEqual(data.options, ["rbind", "ro"]);
    assert.equal(input.root!.path, "/var/lib/engine/abc/merged", "the input is not changed");
  } finally {
    await Deno.remove(bundle, { recursive: true });
  }
});

Deno.test("compare() sorts differences into expected ones (values matching an entry) and the rest", () => {
  const ok = (stdout: string) => ({ code: 0, stdout, stderr: "" });
  const runc = ok("a=1\nuts.domainname=(none)\nmount./sys/fs/cgroup/unified=x\n");
  const skiff = ok("a=2\nuts.domainname=diff.example\n");
  const c = compare("gen-1-01", runc, skiff);
  assert.deepEqual(c.unexpected.map((d) => d.key), ["a", "mount./sys/fs/cgroup/unified"]);
  assert.deepEqual(c.expected.map((d) => d.key), ["uts.domainname"]);
});

Deno.test("compare() compares a run that failed before printing by its exit status only", () => {
  const c = compare(
    "podman-default",
    { code: 0, stdout: "a=1\nb=2\n", stderr: "" },
    { code: 1, stdout: "", stderr: "skiff: something" },
  );
  assert.deepEqual(c.unexpected, [{ key: "exit", runc: "0", skiff: "failed" }]);
});

Deno.test("compare() checks that Skiff refuses an expected refusal with a clear error", () => {
  const runc = { code: 0, stdout: "a=1\n", stderr: "" };
  const refusals = [{ config: /^refused$/, skiffError: /not supported/, reason: "a test" }];
  const good = compare(
    "refused",
    runc,
    {
      code: 1,
      stdout: "",
      stderr: "skiff: linux.x: not supported",
    },
    undefined,
    refusals,
  );
  assert.equal(good.refusal?.ok, true);
  const bad = compare(
    "refused",
    runc,
    { code: 0, stdout: "a=1\n", stderr: "" },
    undefined,
    refusals,
  );
  assert.equal(bad.refusal?.ok, false);
});

Deno.test("compare() applies an entry with a config condition only to configs that meet it", () => {
  const runc = { code: 0, stdout: "a=1\n", stderr: "" };
  const killed = { code: 137, stdout: "", stderr: "" };
  const withCpu = { process: { rlimits: [{ type: "RLIMIT_CPU", hard: 0, soft: 0 }] } } as Spec;
  assert.equal(compare("gen-1-01", runc, killed, withCpu).unexpected.length, 0);
  assert.equal(compare("gen-1-01", runc, killed, { process: {} } as Spec).unexpected.length, 1);
});
