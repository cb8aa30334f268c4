import assert from "node:assert/strict";
import { isUserNamespaceMap } from "./rootless.ts";

Deno.test("isUserNamespaceMap() tells the host's identity map from a user namespace's", () => {
  assert.equal(isUserNamespaceMap("         0          0 4294967295\n"), false);
  assert.equal(isUserNamespaceMap("         0       1001          1\n"), true);
  assert.equal(
    isUserNamespaceMap("         0       1001          1\n         1     300000      65536\n"),
    true,
  );
});
