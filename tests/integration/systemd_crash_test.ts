/**
 * `skiff create --systemd-cgroup` SIGKILLed inside each of its steps (SKIFF_CRASH_AT, as in
 * crash_test.ts), then `delete --force`: systemd must have forgotten the scope (its write-ahead
 * record names the unit; the undo stops it, runtime/container/creating.ts), and no cgroup directory
 * or state directory may be left. Runs where systemd is PID 1 with its system bus: the VM of
 * `deno task test:systemd` (cgroup v2) and the hybrid boot of `deno task test:systemd-hybrid`
 * (cgroup v1). Elsewhere it is ignored.
 */
import assert from "node:assert/strict";
import { makeBundle, type TestBundle, testId } from "../_helpers/bundle.ts";
import { exists } from "../_helpers/host.ts";
import { systemctlShow } from "../../runtime/cgroups/_testing.ts";
import { detectCgroups, systemdRunning } from "../../runtime/cgroups/detect.ts";

const busHere = (() => {
  try {
    return Deno.statSync("/run/dbus/system_bus_socket").isSocket === true;
  } catch {
    return false;
  }
})();
const here = systemdRunning() && busHere && Deno.uid() === 0;
const SYSTEMD = { global: ["--systemd-cgroup"] };

/**
 * Kill points of a create under --systemd-cgroup (the trampoline init's path): one before the
 * unit exists, StartTransientUnit done, the rest of create, and the complete create.
 */
const POINTS = [
  "create: state dir locked",
  "create: systemd unit started",
  "create: init ready",
  "create: state written",
];

/** A scope unit, or a slice one (a cgroupsPath name "x.slice"), which outlives its processes. */
type Kind = "scope" | "slice";

/** The cgroupsPath and unit of the container `id` of `kind`. */
function unitFor(id: string, kind: Kind): { cgroupsPath: string; unit: string } {
  if (kind === "scope") {
    return { cgroupsPath: `system.slice:skiff-crash:${id}`, unit: `skiff-crash-${id}.scope` };
  }
  // "-" in a slice name is its parent: system-x.slice lives in system.slice.
  const unit = `system-skiffcrash${id.replaceAll("-", "_")}.slice`;
  return { cgroupsPath: `system.slice::${unit}`, unit };
}

/**
 * True when the unit is still active after a kill at `point`: a slice once started; a scope once
 * its init outlives the creator (before "init ready" the init dies with it, and systemd collects
 * the empty scope on its own).
 */
function outlives(kind: Kind, point: string): boolean {
  if (point === "create: state dir locked") return false;
  return kind === "slice" || point === "create: init ready" || point === "create: state written";
}

/** The directories of system.slice/`unit` in every hierarchy (v1 ones and the cgroup2 mount). */
function unitDirs(unit: string): string[] {
  const host = detectCgroups();
  const mounts = new Set([
    ...Object.values(host.v1).map((m) => m.mountPoint),
    ...(host.unified ? [host.unified.mountPoint] : []),
  ]);
  return [...mounts].map((m) => `${m}/system.slice/${unit}`);
}

/** What is left of `unit` and container `id` after its delete (empty: nothing). */
async function leftovers(bundle: TestBundle, id: string, unit: string): Promise<string[]> {
  const found: string[] = [];
  const show = await systemctlShow(unit, "LoadState", "ActiveState");
  // `systemctl show` of a slice loads it (systemd makes any slice on demand): inactive is gone.
  const forgotten = show.LoadState === "not-found" || unit.endsWith(".slice");
  if (!forgotten || show.ActiveState !== "inactive") {
    found.push(`unit ${unit}: LoadState=${show.LoadState} ActiveState=${show.ActiveState}`);
  }
  for (const dir of unitDirs(unit)) if (exists(dir)) found.push(`cgroup ${dir}`);
  if (exists(`${bundle.root}/${id}`)) found.push(`state dir ${bundle.root}/${id}`);
  return found;
}

/** Stops and forgets `units` (what a failed assertion left behind). */
async function stopUnits(units: string[]): Promise<void> {
  for (const unit of units) {
    await new Deno.Command("systemctl", { args: ["stop", unit], stderr: "null" }).output();
    await new Deno.Command("systemctl", { args: ["reset-failed", unit], stderr: "null" }).output();
  }
}

/** Kills `create` of a new container at each of `points`, deletes it, checks that nothing is left. */
async function crashEach(bundle: TestBundle, kind: Kind, points: string[]): Promise<void> {
  const units: string[] = [];
  try {
    for (const point of points) {
      const id = testId("sdcrash");
      const { cgroupsPath, unit } = unitFor(id, kind);
      units.push(unit);
      bundle.spec.linux!.cgroupsPath = cgroupsPath;
      await bundle.writeSpec();
      const create = await bundle.skiff(["create", "--bundle", bundle.dir, id], {
        ...SYSTEMD,
        env: { SKIFF_CRASH_AT: point },
      });
      assert.equal(create.code, 128, `create was not killed at "${point}": ${create.stderr}`);
      if (outlives(kind, point)) {
        const show = await systemctlShow(unit, "ActiveState");
        assert.equal(show.ActiveState, "active", `${unit} after a kill at "${point}"`);
      }
      const del = await bundle.skiff(["delete", "--force", id]);
      assert.equal(del.code, 0, del.stderr);
      assert.deepEqual(await leftovers(bundle, id, unit), [], `${kind} killed at "${point}"`);
    }
  } finally {
    await stopUnits(units);
  }
}

Deno.test({
  name: "create --systemd-cgroup SIGKILLed at each step: delete --force leaves no scope or cgroup",
  ignore: !here,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sleep", "600"];
    });
    await crashEach(bundle, "scope", POINTS);
  },
});

Deno.test({
  // A slice stays active with no process in it: only the undo's StopUnit removes it.
  name:
    "create --systemd-cgroup into a slice unit SIGKILLed after it started: delete --force stops it",
  ignore: !here,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sleep", "600"];
    });
    await crashEach(bundle, "slice", POINTS.slice(1));
  },
});
