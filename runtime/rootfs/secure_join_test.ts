import assert from "node:assert/strict";
import { join } from "node:path";
import { secureJoin } from "./secure_join.ts";

Deno.test("secureJoin() keeps .. and absolute symlinks inside the root", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(root, "etc"));
    await Deno.symlink("/", join(root, "etc/to-root"));
    await Deno.symlink("../../../../..", join(root, "up"));
    await Deno.symlink("/tmp", join(root, "abs"));
    assert.equal(secureJoin(root, "/../../etc"), join(root, "etc"));
    assert.equal(secureJoin(root, "/etc/to-root/etc"), join(root, "etc"));
    assert.equal(secureJoin(root, "/up/x"), join(root, "x"));
    assert.equal(secureJoin(root, "/abs/x"), join(root, "tmp/x"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("secureJoin() refuses a symlink loop", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.symlink("b", join(root, "a"));
    await Deno.symlink("a", join(root, "b"));
    assert.throws(() => secureJoin(root, "/a/x"), /too many levels of symbolic links/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
