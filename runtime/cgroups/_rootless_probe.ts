/**
 * Run by rootless_test.ts as the test user, from inside a delegated cgroup v2 subtree: decides the
 * container's cgroup as a rootless create does, makes it, sets limits and moves a process in (what
 * the init does), then tries a cgroupsPath outside the subtree. Prints one JSON line.
 */
import { cgroupManager } from "./manager.ts";
import { noCgroupFor, rootlessCgroupBlocker } from "./none.ts";

const id = Deno.args[0];
const result: Record<string, unknown> = {};
const cgroup = cgroupManager({ id });
result.dir = cgroup.dirs()[""];
result.blocker = rootlessCgroupBlocker(cgroup) ?? null;
if (result.blocker === null) {
  cgroup.create();
  result.warnings = cgroup.set({ memory: { limit: 32 << 20 }, pids: { limit: 20 } });
  result.memoryMax = Deno.readTextFileSync(`${result.dir}/memory.max`).trim();
  result.pidsMax = Deno.readTextFileSync(`${result.dir}/pids.max`).trim();
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  Deno.writeTextFileSync(`${result.dir}/cgroup.procs`, String(child.pid));
  result.joined = cgroup.pids().includes(child.pid);
  child.kill("SIGKILL");
  await child.status;
  await cgroup.destroy();
  result.removed = !cgroup.exists();
}
const outside = cgroupManager({ id, cgroupsPath: `/skiff-rootless-outside-${id}` });
result.outsideBlocker = rootlessCgroupBlocker(outside) ?? null;
try {
  noCgroupFor(String(result.outsideBlocker), outside.layout, `/x`, undefined);
} catch (err) {
  result.outsideError = String(err);
}
console.log(JSON.stringify(result));
