/**
 * `skiff --systemd-cgroup` against a real systemd (PID 1 with its system bus, cgroup v2): the VM
 * of `deno task test:systemd` (tests/systemd/run_in_vm.sh). Elsewhere these tests are ignored.
 */
import assert from "node:assert/strict";
import { makeBundle, type TestBundle, testId } from "../_helpers/bundle.ts";
import { cpuSharesToWeight } from "../../runtime/cgroups/resources.ts";
import { systemctlShow, SYSTEMD_HERE } from "../../runtime/cgroups/_testing.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { toRootless } from "../../runtime/cli/spec.ts";
import { BUSYBOX_BUNDLE } from "../_helpers/paths.ts";
import {
  ensureRootlessUser,
  removeUserTree,
  rootlessBlocker,
  runAs,
  runSkiffAs,
} from "../_helpers/rootless.ts";

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
  name: "features reports the systemd driver, system and user instance, where systemd runs",
  ignore: !systemdHere,
  async fn() {
    await using bundle = await makeBundle();
    const features = await bundle.skiff(["features"]);
    assert.equal(features.code, 0, features.stderr);
    const { systemd, systemdUser } = JSON.parse(features.stdout).linux.cgroup;
    assert.deepEqual({ systemd, systemdUser }, { systemd: true, systemdUser: true });
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

/** `systemctl --user show UNIT -p P...` as the user, as a record of property name to value. */
async function userSystemctlShow(
  user: ReturnType<typeof ensureRootlessUser>,
  unit: string,
  ...properties: string[]
): Promise<Record<string, string>> {
  const out = await runAs(user, [
    "systemctl",
    "--user",
    "show",
    unit,
    ...properties.flatMap((p) => ["-p", p]),
  ]);
  assert.equal(out.code, 0, out.stderr);
  return Object.fromEntries(
    out.stdout.trim().split("\n").map((line) => {
      const i = line.indexOf("=");
      return [line.slice(0, i), line.slice(i + 1)];
    }),
  );
}

/** `systemctl start|stop` of the system units named. */
async function systemctl(...args: string[]): Promise<void> {
  const out = await new Deno.Command("systemctl", { args, stderr: "piped" }).output();
  assert.ok(out.success, `systemctl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test({
  name: "rootless: --systemd-cgroup puts the container in a scope of the user's systemd instance",
  ignore: !systemdHere || rootlessBlocker() !== undefined,
  async fn() {
    const user = ensureRootlessUser();
    const dir = Deno.makeTempDirSync({ prefix: "skiff-sd-user-" });
    Deno.chmodSync(dir, 0o755);
    const ids: string[] = [];
    const manager = `user@${user.uid}.service`;
    const base = `/user.slice/user-${user.uid}.slice/${manager}`;
    try {
      const copy = new Deno.Command("cp", {
        args: ["-a", `${BUSYBOX_BUNDLE}/rootfs`, `${dir}/rootfs`],
      }).outputSync();
      assert.ok(copy.success);
      const spec = toRootless(defaultSpec(), user.uid, user.gid);
      spec.process!.terminal = false;
      spec.process!.args = ["sleep", "600"];
      spec.linux!.resources = { memory: { limit: 48 << 20 }, pids: { limit: 30 } };
      const write = (id: string) => {
        spec.linux!.cgroupsPath = `user.slice:skiff-u:${id}`;
        Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(spec));
      };
      new Deno.Command("chown", { args: ["-R", `${user.uid}:${user.gid}`, dir] }).outputSync();
      const skiff = (args: string[]) =>
        runSkiffAs(user, ["--systemd-cgroup", ...args], { cwd: dir, timeoutMs: 300_000 });

      // No user instance yet: the create fails saying which bus it needs, and leaves nothing.
      const none = testId("sdu");
      write(none);
      const refused = await skiff(["run", "-d", none]);
      assert.notEqual(refused.code, 0);
      assert.match(
        refused.stderr,
        new RegExp(
          `needs the systemd user instance of uid ${user.uid}, whose bus ${user.runtimeDir}/bus cannot be reached`,
        ),
      );
      assert.ok(!exists(`${user.runtimeDir}/skiff/${none}`), "the refused create left its state");

      // The user's systemd as a login would start it (the VM has no logind session).
      await systemctl("start", manager);

      // run: the scope is the user instance's, with the limits, in its delegated subtree.
      const live = testId("sdu");
      ids.push(live);
      write(live);
      const unit = `skiff-u-${live}.scope`;
      const run = await skiff(["run", "-d", "--pid-file", `${dir}/pid`, live]);
      assert.equal(run.code, 0, run.stderr);
      const pid = Number(Deno.readTextFileSync(`${dir}/pid`).trim());
      const cgroup = `${base}/user.slice/${unit}`;
      assert.deepEqual(
        await userSystemctlShow(
          user,
          unit,
          "ActiveState",
          "Delegate",
          "MemoryMax",
          "TasksMax",
          "ControlGroup",
        ),
        {
          ActiveState: "active",
          Delegate: "yes",
          MemoryMax: String(48 << 20),
          TasksMax: "30",
          ControlGroup: cgroup,
        },
      );
      assert.ok(Deno.readTextFileSync(`/proc/${pid}/cgroup`).includes(`0::${cgroup}`));
      assert.equal(
        Deno.readTextFileSync(`/sys/fs/cgroup${cgroup}/memory.max`).trim(),
        String(48 << 20),
      );
      assert.equal(Deno.readTextFileSync(`/sys/fs/cgroup${cgroup}/pids.max`).trim(), "30");
      // The system instance does not know it.
      assert.equal((await systemctlShow(unit, "LoadState")).LoadState, "not-found");

      // delete --force of the running container: StopUnit on the user bus, nothing left.
      const del = await skiff(["delete", "--force", live]);
      assert.equal(del.code, 0, del.stderr);
      ids.pop();
      assert.equal((await userSystemctlShow(user, unit, "LoadState")).LoadState, "not-found");
      assert.ok(!exists(`/sys/fs/cgroup${cgroup}`), `${cgroup} is still there`);

      // A container whose processes were SIGKILLed leaves nothing after delete --force.
      const killed = testId("sdu");
      ids.push(killed);
      write(killed);
      const killedUnit = `skiff-u-${killed}.scope`;
      const run2 = await skiff(["run", "-d", "--pid-file", `${dir}/pid`, killed]);
      assert.equal(run2.code, 0, run2.stderr);
      const pid2 = Number(Deno.readTextFileSync(`${dir}/pid`).trim());
      Deno.kill(pid2, "SIGKILL");
      const deadline = Date.now() + 10_000;
      while (exists(`/proc/${pid2}/stat`) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const del2 = await skiff(["delete", "--force", killed]);
      assert.equal(del2.code, 0, del2.stderr);
      ids.pop();
      assert.deepEqual(await userSystemctlShow(user, killedUnit, "LoadState", "ActiveState"), {
        LoadState: "not-found",
        ActiveState: "inactive",
      });
      assert.ok(!exists(`/sys/fs/cgroup${base}/user.slice/${killedUnit}`));
    } finally {
      for (const id of ids) await deleteAsUser(user, id);
      await systemctl("stop", manager, `user-runtime-dir@${user.uid}.service`).catch(() => {});
      removeUserTree(dir);
    }
  },
});

/** Best-effort delete --force as the user (cleanup after a failed assertion). */
async function deleteAsUser(user: ReturnType<typeof ensureRootlessUser>, id: string) {
  await runSkiffAs(user, ["delete", "--force", id]).catch(() => {});
}
