import assert from "node:assert/strict";
import {
  parsedOptionNames,
  parseMountOptions,
  rootfsPropagationFlags,
  withMountLabel,
} from "./mount_options.ts";
import { MOUNT_OPTION_NAMES } from "./mount_option_names.ts";
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_SHARED,
  MS_SLAVE,
} from "../../ffi/constants.ts";

Deno.test("parseMountOptions() turns mount(8) names into MS_* flags, later options winning", () => {
  const parsed = parseMountOptions(["nosuid", "nodev", "noexec", "ro", "rw", "ro"]);
  assert.equal(parsed.flags, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
  assert.equal(parseMountOptions(["ro", "rw"]).flags & MS_RDONLY, 0);
});

Deno.test("parseMountOptions() keeps propagation apart, in order", () => {
  const parsed = parseMountOptions(["rbind", "rslave", "private", "rshared"]);
  assert.equal(parsed.flags, MS_BIND | MS_REC);
  assert.deepEqual(parsed.propagation, [MS_SLAVE | MS_REC, MS_PRIVATE, MS_SHARED | MS_REC]);
});

Deno.test("parseMountOptions() passes unknown options to the filesystem as data", () => {
  const parsed = parseMountOptions(["nosuid", "size=64k", "mode=755", "newinstance"]);
  assert.deepEqual(parsed.data, ["size=64k", "mode=755", "newinstance"]);
});

Deno.test("parseMountOptions() maps recursive options to mount_setattr attributes", () => {
  const parsed = parseMountOptions(["rro", "rnosuid", "rnoatime"]);
  assert.equal(parsed.recursiveSet, 0x1 | 0x2 | 0x10);
  assert.equal(parsed.recursiveClear, 0x70);
  const cleared = parseMountOptions(["rro", "rrw"]);
  assert.equal(cleared.recursiveSet & 0x1, 0);
  assert.equal(cleared.recursiveClear & 0x1, 0x1);
});

Deno.test("rootfsPropagationFlags() follows runc's table and is 0 when unset", () => {
  assert.equal(rootfsPropagationFlags(undefined), 0);
  assert.equal(rootfsPropagationFlags("rslave"), MS_SLAVE | MS_REC);
  assert.equal(rootfsPropagationFlags("shared"), MS_SHARED);
});

Deno.test("withMountLabel() adds SELinux's context= to tmpfs and devpts, not to binds, proc or sysfs", () => {
  const label = "system_u:object_r:container_file_t:s0:c1,c2";
  assert.deepEqual(withMountLabel("tmpfs", ["size=64k"], label), [
    "size=64k",
    `context="${label}"`,
  ]);
  assert.deepEqual(withMountLabel("devpts", [], label), [`context="${label}"`]);
  for (const type of ["bind", "proc", "sysfs", "mqueue", "cgroup2"]) {
    assert.deepEqual(withMountLabel(type, ["ro"], label), ["ro"]);
  }
  assert.deepEqual(withMountLabel("tmpfs", ["size=64k"], undefined), ["size=64k"]);
});

Deno.test("features' mount option names are the parser's, sorted", () => {
  assert.deepEqual(MOUNT_OPTION_NAMES, parsedOptionNames());
  assert.deepEqual(MOUNT_OPTION_NAMES, [...MOUNT_OPTION_NAMES].sort());
});
