import assert from "node:assert/strict";
import { join } from "../path.ts";
import { O_DIRECTORY, O_NOFOLLOW, O_PATH } from "../../ffi/constants.ts";
import { close } from "../../ffi/fs.ts";
import {
  fdPath,
  isSymlinkFd,
  mkdirAllAt,
  openInRoot,
  setOpenat2ForTesting,
  withRoot,
} from "./open_in_root.ts";

/** A root with symlinks that lead out of it as the host sees them, and a canary dir outside. */
function makeTree(): { base: string; root: string; outside: string } {
  const base = Deno.makeTempDirSync({ prefix: "skiff-open-in-root-" });
  const root = join(base, "root");
  const outside = join(base, "outside");
  Deno.mkdirSync(join(root, "a/b"), { recursive: true });
  Deno.mkdirSync(outside);
  Deno.writeTextFileSync(join(outside, "canary"), "canary\n");
  Deno.symlinkSync(outside, join(root, "abs")); // absolute: the host's `outside`
  Deno.symlinkSync("../../outside", join(root, "a/up")); // climbs out as the host sees it
  Deno.symlinkSync("/a", join(root, "to-a"));
  return { base, root, outside };
}

function where(fd: number): string {
  try {
    return Deno.readLinkSync(fdPath(fd));
  } finally {
    close(fd);
  }
}

for (const mode of ["openat2", "path walk (no openat2)"] as const) {
  const setup = () => setOpenat2ForTesting(mode === "openat2" ? undefined : false);
  const teardown = () => setOpenat2ForTesting(undefined);

  Deno.test(`openInRoot() resolves symlinks and .. inside the root: ${mode}`, () => {
    setup();
    const { base, root, outside } = makeTree();
    try {
      withRoot(root, (r) => {
        assert.equal(where(openInRoot(r, "/to-a/b", O_PATH)), join(root, "a/b"));
        assert.equal(where(openInRoot(r, "/../../a/../a/b", O_PATH)), join(root, "a/b"));
        // The host's `outside` is not in the root: the same path under the root is missing.
        assert.throws(() => openInRoot(r, "/abs/canary", O_PATH), /ENOENT/);
        assert.throws(() => openInRoot(r, "/a/up/canary", O_PATH), /ENOENT/);
        // O_NOFOLLOW|O_PATH opens the symlink itself.
        const link = openInRoot(r, "/abs", O_PATH | O_NOFOLLOW);
        try {
          assert.ok(isSymlinkFd(link));
        } finally {
          close(link);
        }
        assert.throws(() => openInRoot(r, "/abs", O_PATH | O_NOFOLLOW | O_DIRECTORY), /ENOTDIR/);
      });
      assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["canary"]);
    } finally {
      teardown();
      Deno.removeSync(base, { recursive: true });
    }
  });

  Deno.test(`mkdirAllAt() creates through symlinks inside the root, never outside: ${mode}`, () => {
    setup();
    const { base, root, outside } = makeTree();
    try {
      withRoot(root, (r) => {
        assert.equal(where(mkdirAllAt(r, "/abs/x/y")), join(root, outside.slice(1), "x/y"));
        assert.equal(where(mkdirAllAt(r, "/a/up/z")), join(root, "outside/z"));
        assert.equal(where(mkdirAllAt(r, "/to-a/b/../c")), join(root, "a/c"));
      });
      assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["canary"]);
    } finally {
      teardown();
      Deno.removeSync(base, { recursive: true });
    }
  });
}

Deno.test("openInRoot() refuses a procfs magic link on the way (RESOLVE_NO_MAGICLINKS)", () => {
  // Only opened as a handle (O_PATH), nothing written: /proc/self/root leads to the host's "/".
  withRoot("/", (r) => {
    assert.throws(() => openInRoot(r, "/proc/self/root/etc", O_PATH), /ELOOP/);
  });
});
