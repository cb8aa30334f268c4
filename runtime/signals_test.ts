import assert from "node:assert/strict";
import { parseSignal, signalName } from "./signals.ts";

Deno.test("parseSignal() takes numbers, names and SIG-names, as runc does", () => {
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal("KILL"), 9);
  assert.equal(parseSignal("SIGKILL"), 9);
  assert.equal(parseSignal("term"), 15);
  assert.equal(parseSignal("RTMIN+2"), 36);
});

Deno.test("parseSignal() refuses unknown names and numbers out of range", () => {
  assert.throws(() => parseSignal("SIGFOO"), /unknown signal "SIGFOO"/);
  assert.throws(() => parseSignal("0"), /out of range/);
  assert.throws(() => parseSignal("65"), /out of range/);
});

Deno.test("signalName() names a signal number", () => {
  assert.equal(signalName(15), "SIGTERM");
});
