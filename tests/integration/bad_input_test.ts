import assert from "node:assert/strict";
import { join } from "node:path";
import { BAD_CASES } from "../_helpers/bad_input_cases.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { exists, hostMounts, newInits, skiffInits } from "../_helpers/host.ts";

for (const c of BAD_CASES) {
  Deno.test(`create refuses ${c.name}, names the field, and leaves nothing behind`, async () => {
    await using bundle = await makeBundle();
    await c.edit(bundle.spec, bundle.dir);
    await bundle.writeSpec();
    // Only this bundle's mounts: other tests (or test runs) may mount elsewhere meanwhile.
    const ours = () => hostMounts().filter((m) => m.startsWith(bundle.dir));
    const mountsBefore = ours();
    const initsBefore = skiffInits();
    const id = testId();
    const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, c.message);
    assert.equal(result.stderr.trim().split("\n").length, 1, "one line");
    assert.equal(exists(join(bundle.root, id)), false, "no state directory");
    assert.deepEqual(ours(), mountsBefore, "no mount");
    assert.deepEqual(newInits(initsBefore), [], "no process");
  });
}

Deno.test("config.json that is not JSON is a syntax error naming the file", async () => {
  await using bundle = await makeBundle();
  await Deno.writeTextFile(join(bundle.dir, "config.json"), "{ not json");
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`${bundle.dir}/config\\.json: invalid JSON`));
});

Deno.test("a bundle without config.json is refused with runc's message", async () => {
  await using bundle = await makeBundle();
  await Deno.remove(join(bundle.dir, "config.json"));
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /JSON specification file .*config\.json not found/);
});

Deno.test("a failed create with --log-format json writes one error line to the log and nothing else", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["no-such-binary"];
  });
  const log = join(bundle.dir, "log.json");
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()], {
    global: ["--log", log, "--log-format", "json"],
  });
  assert.equal(result.code, 1);
  const lines = (await Deno.readTextFile(log)).trim().split("\n");
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.level, "error");
  assert.match(entry.msg, /executable file not found in \$PATH/);
});
