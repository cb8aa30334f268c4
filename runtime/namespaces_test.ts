import assert from "node:assert/strict";
import { planNamespaces } from "./namespaces.ts";
import { CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS } from "../ffi/constants.ts";

Deno.test("planNamespaces() unshares the new namespaces with one flag set", () => {
  const plan = planNamespaces([{ type: "pid" }, { type: "mount" }, { type: "uts" }]);
  assert.equal(plan.create, CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS);
  assert.deepEqual(plan.join, []);
  assert.deepEqual(plan.touched, ["pid", "mount", "uts"]);
});

Deno.test("planNamespaces() joins paths with the mount namespace last", () => {
  const plan = planNamespaces([
    { type: "mount", path: "/proc/1/ns/mnt" },
    { type: "network", path: "/run/netns/a" },
    { type: "pid" },
  ]);
  assert.deepEqual(plan.join.map((j) => j.type), ["network", "mount"]);
  assert.equal(plan.join[0].flag, CLONE_NEWNET);
  assert.equal(plan.join[0].index, 1);
  assert.equal(plan.create, CLONE_NEWPID);
});
