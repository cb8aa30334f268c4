import assert from "node:assert/strict";
import {
  classifyWhiteout,
  isOpaqueValue,
  isOverlayWhiteout,
  isReservedXattr,
  overlayAction,
} from "./whiteout.ts";

Deno.test("classifyWhiteout() leaves ordinary entries alone", () => {
  assert.deepEqual(classifyWhiteout("etc/passwd"), { kind: "entry" });
  assert.deepEqual(classifyWhiteout("etc/wh.passwd"), { kind: "entry" });
  assert.deepEqual(classifyWhiteout("etc/.whx"), { kind: "entry" });
});

Deno.test("classifyWhiteout() turns .wh.NAME into a deletion of NAME in the same directory", () => {
  assert.deepEqual(classifyWhiteout("etc/.wh.motd"), {
    kind: "whiteout",
    dir: "etc",
    name: "motd",
    path: "etc/motd",
  });
  assert.deepEqual(classifyWhiteout(".wh.top"), {
    kind: "whiteout",
    dir: "",
    name: "top",
    path: "top",
  });
  assert.deepEqual(overlayAction(classifyWhiteout("a/b/.wh.c")), {
    op: "mknod-whiteout",
    path: "a/b/c",
  });
});

Deno.test("classifyWhiteout() turns .wh..wh..opq into an opaque marker on its directory", () => {
  assert.deepEqual(classifyWhiteout("var/lib/.wh..wh..opq"), { kind: "opaque", dir: "var/lib" });
  assert.deepEqual(overlayAction(classifyWhiteout("var/.wh..wh..opq")), {
    op: "set-xattr",
    path: "var",
    name: "trusted.overlay.opaque",
    value: "y",
  });
});

Deno.test("classifyWhiteout() skips other .wh..wh. AUFS metadata", () => {
  assert.deepEqual(classifyWhiteout(".wh..wh.plnk"), { kind: "ignore" });
  assert.deepEqual(classifyWhiteout("x/.wh..wh.aufs"), { kind: "ignore" });
  assert.equal(overlayAction({ kind: "ignore" }), undefined);
});

Deno.test("classifyWhiteout() refuses a whiteout that names nothing, '.' or '..'", () => {
  assert.throws(() => classifyWhiteout("etc/.wh."), /names no file/);
  assert.throws(() => classifyWhiteout("etc/.wh.."), /names no file/);
  assert.throws(() => classifyWhiteout("etc/.wh..."), /names no file/);
});

Deno.test("isOverlayWhiteout() is true only for a char device 0:0", () => {
  assert.equal(isOverlayWhiteout(0o020000, 0, 0), true);
  assert.equal(isOverlayWhiteout(0o020666, 1, 3), false);
  assert.equal(isOverlayWhiteout(0o060000, 0, 0), false);
  assert.equal(isOverlayWhiteout(0o100644, 0, 0), false);
});

Deno.test("isOpaqueValue() and isReservedXattr() recognise overlayfs's own xattrs", () => {
  assert.equal(isOpaqueValue(new TextEncoder().encode("y")), true);
  assert.equal(isOpaqueValue(new TextEncoder().encode("n")), false);
  assert.equal(isOpaqueValue(undefined), false);
  assert.equal(isReservedXattr("trusted.overlay.redirect"), true);
  assert.equal(isReservedXattr("security.capability"), false);
});
