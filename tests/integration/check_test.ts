/**
 * `skiff check` against create: for every config of the bad-input corpus, create's error names a
 * field, and check must report that field too (with create's own path); configs create accepts
 * (runc spec's, runc spec --rootless's, the differential corpus's Podman and containerd configs)
 * give no error. check leaves nothing behind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BAD_CASES } from "../_helpers/bad_input_cases.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { exists, hostMounts } from "../_helpers/host.ts";
import type { Spec } from "../../spec/config.ts";
import {
  type Corpus,
  disagreements,
  mergePatch,
  refusedPath,
} from "../conformance/check_records.ts";

interface Report {
  errors: { path?: string; message: string }[];
  warnings: { path?: string; message: string }[];
}

/**
 * The JSON path in create's error line: "FILE/config.json: PATH: what" when create refused it, or
 * "skiff: PATH: what" when its init did.
 */
function createdErrorPath(stderr: string): string | undefined {
  return /(?:config\.json: |^skiff: )([A-Za-z][\w.]*(?:\[\d+\][\w.]*)*): /m.exec(stderr)?.[1];
}

for (const c of BAD_CASES) {
  Deno.test(`check reports the field create refuses: ${c.name}`, async () => {
    await using bundle = await makeBundle();
    await c.edit(bundle.spec, bundle.dir);
    await bundle.writeSpec();
    const id = testId();
    const created = await bundle.skiff(["create", "-b", bundle.dir, id]);
    assert.equal(created.code, 1, "create refuses it");
    const path = createdErrorPath(created.stderr);
    assert.ok(path, `create names a field: ${created.stderr}`);
    const ours = () => hostMounts().filter((m) => m.includes(bundle.dir));
    const mountsBefore = ours();
    const checked = await bundle.skiff(["check", "-b", bundle.dir, "--format", "json"]);
    assert.equal(checked.code, 1, checked.stderr);
    const report = JSON.parse(checked.stdout) as Report;
    assert.ok(
      report.errors.some((e) => e.path === path),
      `check reports ${path}: ${JSON.stringify(report.errors)}`,
    );
    assert.deepEqual(ours(), mountsBefore, "no mount");
    assert.equal(exists(join(bundle.root, "skiff-check")), false, "no state directory");
  });
}

Deno.test("check lists every error of a config at once, with the original indices", async () => {
  await using bundle = await makeBundle();
  const s = bundle.spec;
  s.process!.cwd = "relative";
  s.linux!.namespaces!.push({ type: "uts" }, { type: "bogus" as "uts" });
  s.linux!.devices = [{ type: "x" as "c", path: "/dev/x", major: 1, minor: 1 }];
  s.hooks = { prestart: [{ path: "hook.sh" }] };
  await bundle.writeSpec();
  const checked = await bundle.skiff(["check", "-b", bundle.dir, "--format", "json"]);
  assert.equal(checked.code, 1);
  const paths = (JSON.parse(checked.stdout) as Report).errors.map((e) => e.path).sort();
  assert.deepEqual(paths, [
    "hooks.prestart[0].path",
    "linux.devices[0].type",
    "linux.namespaces[6].type",
    "linux.namespaces[7].type",
    "process.cwd",
  ]);
});

Deno.test("check warns about what create accepts but is probably not meant, and --strict fails on it", async () => {
  await using bundle = await makeBundle();
  bundle.spec.process!.user = { uid: 4242, gid: 4242 };
  bundle.spec.mounts!.push({ destination: "/no-such-dir", type: "tmpfs", source: "tmpfs" });
  bundle.spec.linux!.seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["execve"], action: "SCMP_ACT_ERRNO" }],
  };
  await bundle.writeSpec();
  const checked = await bundle.skiff(["check", "-b", bundle.dir, "--format", "json"]);
  assert.equal(checked.code, 0, "warnings alone pass");
  const warnings = (JSON.parse(checked.stdout) as Report).warnings.map((w) => w.path).sort();
  assert.deepEqual(warnings, [
    "linux.seccomp",
    "mounts[7].destination",
    "process.user.gid",
    "process.user.uid",
  ]);
  const strict = await bundle.skiff(["check", "-b", bundle.dir, "--strict"]);
  assert.equal(strict.code, 1);
  assert.match(strict.stdout, /Warnings: accepted, but probably not meant \(4\)/);
});

Deno.test("check warns about a cgroupsPath that a created container uses", async () => {
  await using bundle = await makeBundle();
  bundle.spec.linux!.cgroupsPath = `/skiff-check-test-${Deno.pid}`;
  await bundle.writeSpec();
  const id = testId();
  const created = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  bundle.ids.add(id);
  const checked = await bundle.skiff(["check", "-b", bundle.dir, "--format", "json"]);
  const report = JSON.parse(checked.stdout) as Report;
  assert.ok(
    report.warnings.some((w) => w.path === "linux.cgroupsPath" && w.message.includes(id)),
    JSON.stringify(report.warnings),
  );
});

Deno.test("configs create accepts give no error: runc spec, runc spec --rootless, the engines' configs", async () => {
  await using bundle = await makeBundle();
  const configs: [string, Spec][] = [];
  for (const rootless of [false, true]) {
    const dir = await Deno.makeTempDir();
    try {
      const spec = await bundle.skiff(["spec", "-b", dir, ...(rootless ? ["--rootless"] : [])]);
      assert.equal(spec.code, 0, spec.stderr);
      configs.push([
        `spec${rootless ? " --rootless" : ""}`,
        JSON.parse(await Deno.readTextFile(join(dir, "config.json"))),
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const corpus = new URL("../differential/corpus/", import.meta.url);
  for (const entry of Deno.readDirSync(corpus)) {
    if (!entry.name.endsWith(".json")) continue;
    configs.push([entry.name, JSON.parse(Deno.readTextFileSync(new URL(entry.name, corpus)))]);
  }
  assert.ok(configs.length >= 10);
  for (const [name, spec] of configs) {
    spec.root = { path: bundle.rootfs, readonly: spec.root?.readonly ?? false };
    // The engines' own files (resolv.conf, hostname, shm...) were in their state dirs, gone now.
    spec.mounts = spec.mounts?.filter((m) => m.type !== "bind" || exists(m.source ?? "/"));
    await bundle.writeSpec(spec);
    const checked = await bundle.skiff(["check", "-b", bundle.dir, "--format", "json", "--host"]);
    const report = JSON.parse(checked.stdout) as Report & { host: Record<string, unknown> };
    assert.deepEqual(report.errors, [], name);
    assert.equal(checked.code, 0, name);
    assert.ok(report.host.cgroups, "host facts");
  }
});

Deno.test("check reports a process.args[0] that is not in the rootfs, unless a mount may bring it", async () => {
  await using bundle = await makeBundle();
  const errorsFor = async (args: string[], mount?: string) => {
    bundle.spec.process!.args = args;
    bundle.spec.mounts = bundle.spec.mounts!.filter((m) => m.destination !== mount);
    if (mount) bundle.spec.mounts.push({ destination: mount, type: "tmpfs", source: "tmpfs" });
    await bundle.writeSpec();
    const checked = await bundle.skiff(["check", "-b", bundle.dir, "--format", "json"]);
    return (JSON.parse(checked.stdout) as Report).errors.map((e) => e.path);
  };
  assert.deepEqual(await errorsFor(["/no/such/program"]), ["process.args[0]"]);
  assert.deepEqual(await errorsFor(["no-such-program"]), ["process.args[0]"]);
  assert.deepEqual(await errorsFor(["sh", "-c", "true"]), [], "found in PATH");
  assert.deepEqual(await errorsFor(["/opt/tool"], "/opt"), [], "a mount may bring it");
  // create gives runc's words for it, naming no field.
  bundle.spec.process!.args = ["/no/such/program"];
  await bundle.writeSpec();
  const created = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(created.code, 1);
  assert.match(
    created.stderr,
    /exec: "\/no\/such\/program": stat \/no\/such\/program: no such file/,
  );
});

// The configs of the runtime-tools suite that create refused naming a field, replayed without Go:
// tests/conformance/check_conformance_test.ts runs the suite itself and writes them
// (SKIFF_CHECK_CORPUS=tests/conformance/check_corpus.json). Judged as that test judges the suite's.
const CORPUS = JSON.parse(
  Deno.readTextFileSync(new URL("../conformance/check_corpus.json", import.meta.url)),
) as Corpus;
for (const [name, patch] of Object.entries(CORPUS.configs)) {
  Deno.test(`check agrees with create on runtime-tools' ${name}`, async () => {
    await using bundle = await makeBundle();
    const spec = mergePatch(CORPUS.base, patch) as Spec;
    spec.root = { ...spec.root, path: bundle.rootfs };
    await bundle.writeSpec(spec);
    const checked = await bundle.skiff(["check", "-b", bundle.dir, "--format", "json"]);
    const id = testId();
    const created = await bundle.skiff(["create", "-b", bundle.dir, id]);
    if (created.code === 0) bundle.ids.add(id);
    const record = {
      program: name,
      bundle: bundle.dir,
      config: "",
      checkRc: checked.code,
      checkStdout: checked.stdout,
      checkStderr: checked.stderr,
      createRc: created.code,
      createStderr: created.stderr,
    };
    assert.deepEqual(disagreements(record), []);
    // They were written on this kind of host, which refuses each of them.
    assert.ok(refusedPath(record), `create refuses it naming a field: ${created.stderr}`);
  });
}
