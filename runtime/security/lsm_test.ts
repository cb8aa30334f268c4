import assert from "node:assert/strict";
import { join } from "node:path";
import type { Process } from "../../spec/config.ts";
import { appArmorEnabled, applyExecLabels, selinuxEnabled } from "./lsm.ts";

const base: Process = { cwd: "/", args: ["true"], user: { uid: 0, gid: 0 } };

/** A stand-in for /proc/thread-self/attr with the given (empty) attribute files. */
async function attrDir(files: string[]): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-attr-" });
  for (const file of files) {
    await Deno.mkdir(join(dir, file, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, file), "");
  }
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const read = (dir: string, file: string) => Deno.readTextFileSync(join(dir, file));

Deno.test("applyExecLabels() writes 'exec <profile>' to AppArmor's own attr/apparmor/exec", async () => {
  await using attr = await attrDir(["apparmor/exec", "exec"]);
  applyExecLabels({ ...base, apparmorProfile: "containers-default" }, attr.dir);
  assert.equal(read(attr.dir, "apparmor/exec"), "exec containers-default");
  assert.equal(read(attr.dir, "exec"), "", "the shared attribute is left to SELinux");
});

Deno.test("applyExecLabels() falls back to attr/exec for AppArmor on kernels without attr/apparmor", async () => {
  await using attr = await attrDir(["exec"]);
  applyExecLabels({ ...base, apparmorProfile: "containers-default" }, attr.dir);
  assert.equal(read(attr.dir, "exec"), "exec containers-default");
  assert.deepEqual([...Deno.readDirSync(attr.dir)].map((e) => e.name), ["exec"]);
});

Deno.test("applyExecLabels() writes the SELinux label as it is to attr/exec", async () => {
  await using attr = await attrDir(["apparmor/exec", "exec"]);
  applyExecLabels({ ...base, selinuxLabel: "system_u:system_r:container_t:s0" }, attr.dir);
  assert.equal(read(attr.dir, "exec"), "system_u:system_r:container_t:s0");
  assert.equal(read(attr.dir, "apparmor/exec"), "");
});

Deno.test("applyExecLabels() writes nothing when the process has no label", async () => {
  await using attr = await attrDir(["apparmor/exec", "exec"]);
  applyExecLabels(base, attr.dir);
  assert.equal(read(attr.dir, "apparmor/exec") + read(attr.dir, "exec"), "");
});

Deno.test("applyExecLabels() names the field, the value and the files when no attribute takes it", async () => {
  await using attr = await attrDir([]);
  assert.throws(
    () => applyExecLabels({ ...base, apparmorProfile: "p" }, attr.dir),
    {
      message:
        `process.apparmorProfile: cannot write "exec p" to ${attr.dir}/apparmor/exec or ${attr.dir}/exec`,
    },
  );
  assert.deepEqual([...Deno.readDirSync(attr.dir)], [], "no attribute file was created");
});

Deno.test({
  name: "applyExecLabels() on this kernel's /proc: the write is refused when no LSM takes labels",
  // With AppArmor or SELinux on, the write would label this test runner's next execve.
  ignore: appArmorEnabled() || selinuxEnabled(),
  fn() {
    assert.throws(
      () => applyExecLabels({ ...base, selinuxLabel: "system_u:system_r:container_t:s0" }),
      (err: Error) => {
        assert.equal(
          err.message,
          'process.selinuxLabel: cannot write "system_u:system_r:container_t:s0" to /proc/thread-self/attr/exec',
        );
        // No LSM implements the attribute: the kernel says EINVAL.
        assert.ok(
          err.cause instanceof Error && /Invalid argument|os error 22/.test(err.cause.message),
        );
        return true;
      },
    );
  },
});
