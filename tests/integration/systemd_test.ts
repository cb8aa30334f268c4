/**
 * `skiff --systemd-cgroup` against a real systemd (PID 1 with its system bus, cgroup v2): the VM
 * of `deno task test:systemd` (tests/systemd/run_in_vm.sh). Elsewhere these tests are ignored.
 */
import assert from "node:assert/strict";
import { makeBundle, type TestBundle, testId } from "../_helpers/bundle.ts";
import { cpuSharesToWeight } from "../../runtime/cgroups/resources.ts";
import { systemctlShow, SYSTEMD_HERE } from "../../runtime/cgroups/_testing.ts";

const systemdHere = SYSTEMD_HERE;

const SYSTEMD = { global: ["--systemd-cgroup"] };

/**
 * Starts `sleep 600` detached under --systemd-cgroup in scope skiff-it-<id>.scope. Each skiff call
 * costs ~20 s in the emulated VM, so the pid comes from --pid-file rather than `state`.
 */
async function startInScope(
  bundle: TestBundle,
): Promise<{ id: string; pid: number; unit: string }> {
  const id = testId("sd");
  bundle.spec.process!.args = ["sleep", "600"];
  bundle.spec.linux!.cgroupsPath = `system.slice:skiff-it:${id}`;
  await bundle.writeSpec();
  const pidFile = `${bundle.dir}/${id}.pid`;
  const run = await bundle.skiff(
    ["run", "-d", "--pid-file", pidFile, "-b", bundle.dir, id],
    SYSTEMD,
  );
  assert.equal(run.code, 0, run.stderr);
  const pid = Number(Deno.readTextFileSync(pidFile).trim());
  return { id, pid, unit: `skiff-it-${id}.scope` };
}

/** `delete --force` of `id`, which the bundle then need not delete again. */
async function deleteForce(bundle: TestBundle, id: string): Promise<void> {
  const del = await bundle.skiff(["delete", "--force", id]);
  assert.equal(del.code, 0, del.stderr);
  bundle.ids.delete(id);
}

Deno.test({
  name: "skiff run --systemd-cgroup makes a scope with the limits; update, pause, ps, delete",
  ignore: !systemdHere,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.linux!.resources = {
        ...spec.linux!.resources,
        memory: { limit: 64 << 20 },
        pids: { limit: 40 },
        cpu: { shares: 2048, quota: 30_000, period: 100_000 },
      };
    });
    const { id, pid, unit } = await startInScope(bundle);
    const dir = `/sys/fs/cgroup/system.slice/${unit}`;
    const shown = await systemctlShow(
      unit,
      "ActiveState",
      "Delegate",
      "MemoryMax",
      "TasksMax",
      "CPUWeight",
      "CPUQuotaPerSecUSec",
      "DevicePolicy",
      "ControlGroup",
    );
    assert.deepEqual(shown, {
      ActiveState: "active",
      Delegate: "yes",
      MemoryMax: String(64 << 20),
      TasksMax: "40",
      CPUWeight: String(cpuSharesToWeight(2048)),
      CPUQuotaPerSecUSec: "300ms",
      DevicePolicy: "strict",
      ControlGroup: `/system.slice/${unit}`,
    });
    assert.ok(
      Deno.readTextFileSync(`/proc/${pid}/cgroup`).includes(`0::/system.slice/${unit}`),
    );
    assert.equal(Deno.readTextFileSync(`${dir}/memory.max`).trim(), String(64 << 20));

    // update: the unit's property and the file.
    const update = await bundle.skiff(["update", "--pids-limit", "20", "--memory", "128m", id]);
    assert.equal(update.code, 0, update.stderr);
    const after = await systemctlShow(unit, "TasksMax", "MemoryMax");
    assert.deepEqual(after, { TasksMax: "20", MemoryMax: String(128 << 20) });
    assert.equal(Deno.readTextFileSync(`${dir}/pids.max`).trim(), "20");

    // pause/resume through the scope's freezer; ps reads the scope's cgroup (events and stats
    // read it the same way: runtime/cgroups/systemd_test.ts checks stats() on a scope).
    assert.equal((await bundle.skiff(["pause", id])).code, 0);
    assert.equal(Deno.readTextFileSync(`${dir}/cgroup.freeze`).trim(), "1");
    assert.match(Deno.readTextFileSync(`${dir}/cgroup.events`), /^frozen 1$/m);
    assert.equal((await bundle.skiff(["resume", id])).code, 0);
    assert.match(Deno.readTextFileSync(`${dir}/cgroup.events`), /^frozen 0$/m);
    const ps = await bundle.skiff(["ps", "--format", "json", id]);
    assert.deepEqual(JSON.parse(ps.stdout), [pid]);

    await deleteForce(bundle, id);
    assert.equal((await systemctlShow(unit, "LoadState")).LoadState, "not-found");
    assert.ok(!exists(dir), `${dir} is still there`);
  },
});

Deno.test({
  name: "a container killed with SIGKILL leaves no unit and no cgroup after delete --force",
  ignore: !systemdHere,
  async fn() {
    await using bundle = await makeBundle();
    const { id, pid, unit } = await startInScope(bundle);
    const dir = `/sys/fs/cgroup/system.slice/${unit}`;
    Deno.kill(pid, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while (exists(`/proc/${pid}/stat`) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await deleteForce(bundle, id);
    assert.equal((await systemctlShow(unit, "LoadState")).LoadState, "not-found");
    assert.ok(!exists(dir), `${dir} is still there`);
    const failed = await new Deno.Command("systemctl", {
      args: ["list-units", "--failed", "--plain", "--no-legend", unit],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(failed.stdout).trim(), "");
  },
});

Deno.test({
  name: "a create that fails after the scope started stops the scope",
  ignore: !systemdHere,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      // The kernel refuses this cpuset (no such cpu); systemd accepts AllowedCPUs for it and
      // the cgroupfs half's write fails: create must not leave the scope behind.
      spec.linux!.resources = { ...spec.linux!.resources, cpu: { cpus: "1000" } };
    });
    const id = testId("sdfail");
    bundle.spec.process!.args = ["true"];
    bundle.spec.linux!.cgroupsPath = `system.slice:skiff-it:${id}`;
    await bundle.writeSpec();
    const unit = `skiff-it-${id}.scope`;
    const run = await bundle.skiff(["run", "-d", "-b", bundle.dir, id], SYSTEMD);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /linux\.resources\.cpu\.cpus/);
    bundle.ids.delete(id); // Nothing to delete: the failed create removed its state.
    assert.equal((await systemctlShow(unit, "LoadState")).LoadState, "not-found");
    assert.ok(!exists(`/sys/fs/cgroup/system.slice/${unit}`));
  },
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
