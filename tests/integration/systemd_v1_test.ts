/**
 * `skiff --systemd-cgroup` against a real systemd on a cgroup v1 (hybrid) layout: systemd 252 as
 * PID 1 in namespaces on this hybrid host, booted by tests/systemd/hybrid_systemd.sh
 * (`deno task test:systemd-hybrid`). Elsewhere (no systemd, or cgroup v2) these tests are ignored.
 */
import assert from "node:assert/strict";
import { makeBundle, type TestBundle, testId } from "../_helpers/bundle.ts";
import { exists } from "../_helpers/host.ts";
import { systemctlShow } from "../../runtime/cgroups/_testing.ts";
import { detectCgroups, systemdRunning } from "../../runtime/cgroups/detect.ts";

const host = detectCgroups();
const v1SystemdHere = systemdRunning() && host.layout !== "unified" && Deno.uid() === 0;
const SYSTEMD = { global: ["--systemd-cgroup"] };

/** The directories of `unit` in every hierarchy (v1 ones and the cgroup2 mount). */
function unitDirs(unit: string): string[] {
  const mounts = new Set([
    ...Object.values(host.v1).map((m) => m.mountPoint),
    ...(host.unified ? [host.unified.mountPoint] : []),
  ]);
  return [...mounts].map((m) => `${m}/system.slice/${unit}`);
}

/** Starts `sleep 600` detached in scope skiff-v1-<id>.scope. */
async function startInScope(
  bundle: TestBundle,
): Promise<{ id: string; pid: number; unit: string }> {
  const id = testId("sdv1");
  bundle.spec.process!.args = ["sleep", "600"];
  bundle.spec.linux!.cgroupsPath = `system.slice:skiff-v1:${id}`;
  await bundle.writeSpec();
  const pidFile = `${bundle.dir}/${id}.pid`;
  const run = await bundle.skiff(
    ["run", "-d", "--pid-file", pidFile, "-b", bundle.dir, id],
    SYSTEMD,
  );
  assert.equal(run.code, 0, run.stderr);
  return { id, pid: Number(Deno.readTextFileSync(pidFile).trim()), unit: `skiff-v1-${id}.scope` };
}

/** `delete --force`, then no unit and no directory in any hierarchy. */
async function deleteAndCheck(bundle: TestBundle, id: string, unit: string): Promise<void> {
  const del = await bundle.skiff(["delete", "--force", id]);
  assert.equal(del.code, 0, del.stderr);
  bundle.ids.delete(id);
  assert.equal((await systemctlShow(unit, "LoadState")).LoadState, "not-found");
  assert.deepEqual(unitDirs(unit).filter(exists), []);
}

Deno.test({
  name:
    "v1: skiff run --systemd-cgroup makes a scope with the legacy properties; update, pause, delete",
  ignore: !v1SystemdHere,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.linux!.resources = {
        ...spec.linux!.resources,
        memory: { limit: 64 << 20 },
        pids: { limit: 40 },
        cpu: { shares: 2048, quota: 30_000, period: 100_000, cpus: "0" },
      };
    });
    const { id, pid, unit } = await startInScope(bundle);
    assert.deepEqual(
      await systemctlShow(
        unit,
        "ActiveState",
        "Delegate",
        "MemoryLimit",
        "TasksMax",
        "CPUShares",
        "CPUQuotaPerSecUSec",
        "DevicePolicy",
        "ControlGroup",
      ),
      {
        ActiveState: "active",
        Delegate: "yes",
        MemoryLimit: String(64 << 20),
        TasksMax: "40",
        CPUShares: "2048",
        CPUQuotaPerSecUSec: "300ms",
        DevicePolicy: "strict",
        ControlGroup: `/system.slice/${unit}`,
      },
    );
    // The init is in the scope in every hierarchy: those systemd manages, and those Skiff joins
    // itself (cpuset, freezer, the cgroup2 mount), as runc's v1 driver does.
    const cgroups = Deno.readTextFileSync(`/proc/${pid}/cgroup`).trim().split("\n");
    assert.deepEqual(
      cgroups.filter((line) => !line.endsWith(`:/system.slice/${unit}`)),
      [],
      cgroups.join("\n"),
    );
    const dir = (c: string) => `${host.v1[c].mountPoint}/system.slice/${unit}`;
    assert.equal(
      Deno.readTextFileSync(`${dir("memory")}/memory.limit_in_bytes`).trim(),
      String(64 << 20),
    );
    assert.equal(Deno.readTextFileSync(`${dir("cpuset")}/cpuset.cpus`).trim(), "0");
    assert.equal(Deno.readTextFileSync(`${dir("cpu")}/cpu.cfs_quota_us`).trim(), "30000");

    const update = await bundle.skiff(["update", "--pids-limit", "20", "--memory", "128m", id]);
    assert.equal(update.code, 0, update.stderr);
    assert.deepEqual(await systemctlShow(unit, "TasksMax", "MemoryLimit"), {
      TasksMax: "20",
      MemoryLimit: String(128 << 20),
    });
    assert.equal(
      Deno.readTextFileSync(`${dir("memory")}/memory.limit_in_bytes`).trim(),
      String(128 << 20),
    );

    assert.equal((await bundle.skiff(["pause", id])).code, 0);
    assert.equal(Deno.readTextFileSync(`${dir("freezer")}/freezer.state`).trim(), "FROZEN");
    assert.equal((await bundle.skiff(["resume", id])).code, 0);
    assert.equal(Deno.readTextFileSync(`${dir("freezer")}/freezer.state`).trim(), "THAWED");
    const ps = await bundle.skiff(["ps", "--format", "json", id]);
    assert.deepEqual(JSON.parse(ps.stdout), [pid]);

    await deleteAndCheck(bundle, id, unit);
  },
});

Deno.test({
  name: "v1: a container killed with SIGKILL leaves no unit and no cgroup after delete --force",
  ignore: !v1SystemdHere,
  async fn() {
    await using bundle = await makeBundle();
    const { id, pid, unit } = await startInScope(bundle);
    Deno.kill(pid, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while (exists(`/proc/${pid}/stat`) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await deleteAndCheck(bundle, id, unit);
  },
});

Deno.test({
  name: "v1: features reports the system instance's driver but not the user's",
  ignore: !v1SystemdHere,
  async fn() {
    await using bundle = await makeBundle();
    const features = await bundle.skiff(["features"]);
    assert.equal(features.code, 0, features.stderr);
    const { systemd, systemdUser } = JSON.parse(features.stdout).linux.cgroup;
    assert.deepEqual({ systemd, systemdUser }, { systemd: true, systemdUser: false });
  },
});
