import assert from "node:assert/strict";
import { SpecError, withFile } from "./errors.ts";

Deno.test("a SpecError reads FILE: PATH: what, and withFile() adds the file once", () => {
  const bare = new SpecError("linux.namespaces[2].type", "must be one of mount, pid");
  assert.equal(bare.message, "linux.namespaces[2].type: must be one of mount, pid");
  const named = withFile(bare, "/b/config.json") as SpecError;
  assert.equal(
    named.message,
    "/b/config.json: linux.namespaces[2].type: must be one of mount, pid",
  );
  assert.equal(named.path, "linux.namespaces[2].type");
  assert.equal(withFile(named, "/other.json"), named);
  const other = new Error("not a config error");
  assert.equal(withFile(other, "/b/config.json"), other);
});
