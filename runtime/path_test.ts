import assert from "node:assert/strict";
import * as nodePath from "node:path";
import { basename, dirname, join, normalize, relative, resolve } from "./path.ts";

const CASES = ["/", "//a//b/", "/a/./b/../c", "a/../../b", "/../x", ".", "", "a/b/", "/a/b/.."];

Deno.test("normalize(), join(), dirname() and basename() agree with node:path on POSIX paths", () => {
  for (const p of CASES) {
    if (p !== "") {
      assert.equal(normalize(p), nodePath.posix.normalize(p).replace(/(.)\/$/, "$1"), p);
    }
    if (p !== "") assert.equal(dirname(p), nodePath.posix.dirname(p), p);
    assert.equal(basename(p), nodePath.posix.basename(p), p);
  }
  assert.equal(join("/a", "b", "../c"), "/a/c");
  assert.equal(join("/a", "", "b"), "/a/b");
});

Deno.test("resolve() resolves right to left against the current directory", () => {
  assert.equal(resolve("/a", "b", "/c", "d"), "/c/d");
  assert.equal(resolve("x"), nodePath.resolve("x"));
  assert.equal(resolve("/a/b", ".."), "/a");
});

Deno.test("relative() agrees with node:path", () => {
  for (
    const [a, b] of [["/a/b", "/a/b/c"], ["/a/b", "/a/x"], ["/", "/x/y"], ["/a", "/a"], [
      "/a/b/c",
      "/",
    ]]
  ) {
    assert.equal(relative(a, b), nodePath.posix.relative(a, b), `${a} -> ${b}`);
  }
});
