import * as assert from "node:assert/strict";
import { supportedSeccompFlags } from "./features.ts";
import { supportedSeccompFlags as probeSeccompFlags } from "../../../ffi/seccomp.ts";

const WITH_SECCOMP = () => "Name:\tdeno\nSeccomp:\t0\nSeccomp_filters:\t0\n";

Deno.test("the flags derived from this kernel's version are those seccomp(2) accepts here", () => {
  // `skiff features` reports the derived list; the probe is what the kernel really accepts.
  assert.deepEqual(supportedSeccompFlags(), probeSeccompFlags());
});

Deno.test("supportedSeccompFlags() goes by the release each flag appeared in", () => {
  assert.deepEqual(supportedSeccompFlags("3.16.0", WITH_SECCOMP), []);
  assert.deepEqual(supportedSeccompFlags("4.14.0-generic", WITH_SECCOMP), [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
  ]);
  assert.deepEqual(supportedSeccompFlags("5.6.19", WITH_SECCOMP), [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_NEW_LISTENER",
  ]);
  assert.equal(supportedSeccompFlags("5.18.0", WITH_SECCOMP).length, 5);
  assert.equal(supportedSeccompFlags("5.19.0", WITH_SECCOMP).length, 6);
  assert.equal(supportedSeccompFlags("10.0", WITH_SECCOMP).length, 6);
});

Deno.test("supportedSeccompFlags(): none without seccomp in the kernel, all for an odd release", () => {
  assert.deepEqual(supportedSeccompFlags("6.8.0", () => "Name:\tdeno\nSeccomp_x:\t0\n"), []);
  assert.equal(supportedSeccompFlags("custom", WITH_SECCOMP).length, 6);
});
