import assert from "node:assert/strict";
import { SpecError } from "./errors.ts";
import { integer, NULL_IS_UNSET, optArray, optInteger, optObject, optString } from "./json.ts";

Deno.test("opt* readers take null as unset only with NULL_IS_UNSET (Go's encoding/json)", () => {
  assert.equal(optObject(null, "a", NULL_IS_UNSET), undefined);
  assert.equal(optString(null, "a", NULL_IS_UNSET), undefined);
  assert.equal(optInteger(null, "a", 0, 10, NULL_IS_UNSET), undefined);
  assert.throws(() => optObject(null, "hooks"), /^SpecError: hooks: expected an object, got null$/);
  assert.throws(() => optString(null, "hostname"), SpecError);
  assert.throws(() => optInteger(null, "a.b"), /a\.b: expected an integer, got null/);
  assert.deepEqual(optArray(null, "a"), []);
});

Deno.test("integer() names the allowed range of a value outside it", () => {
  assert.throws(() => integer(8, "p", 0, 7), /^SpecError: p: 8 is out of range \(0 to 7\)$/);
  assert.throws(() => integer(-1, "p", 0), /p: -1 is out of range \(at least 0\)/);
  assert.throws(() => integer(2, "p", -Infinity, 1), /p: 2 is out of range \(at most 1\)/);
  assert.throws(() => integer(1.5, "p"), /p: expected an integer, got 1\.5/);
});
