import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { exists } from "../_helpers/host.ts";
import { appArmorEnabled, selinuxEnabled } from "../../runtime/security/lsm.ts";
import { detectCgroups, systemdRunning } from "../../runtime/cgroups/detect.ts";
import { type Plan, planV1, planV2 } from "../../runtime/cgroups/resources.ts";

Deno.test("features prints the runtime-spec features document of what Skiff implements", async () => {
  const result = await runSkiff(["features"]);
  assert.equal(result.code, 0);
  const f = JSON.parse(result.stdout);
  assert.equal(f.ociVersionMin, "1.0.0");
  assert.equal(f.ociVersionMax, "1.3.0");
  assert.deepEqual(f.hooks, [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
  ]);
  // containerd's CRI enables recursive read-only mounts when "rro" is listed.
  assert.ok(f.mountOptions.includes("rro"));
  assert.ok(f.mountOptions.includes("rbind"));
  // Every namespace, user namespaces included (CRI enables them from this list).
  assert.deepEqual(f.linux.namespaces.sort(), [
    "cgroup",
    "ipc",
    "mount",
    "network",
    "pid",
    "time",
    "user",
    "uts",
  ]);
  // Idmapped mounts (config.md uidMappings/gidMappings): CRI checks this before it asks for them.
  assert.equal(f.linux.mountExtensions.idmap.enabled, true);
  assert.ok(f.mountOptions.includes("idmap") && f.mountOptions.includes("ridmap"));
  assert.ok(f.linux.capabilities.includes("CAP_SYS_ADMIN"));
  assert.equal(f.linux.seccomp.enabled, true);
  assert.ok(f.linux.seccomp.actions.includes("SCMP_ACT_NOTIFY"));
  assert.ok(f.linux.seccomp.operators.includes("SCMP_CMP_MASKED_EQ"));
  assert.ok(f.linux.seccomp.archs.includes("SCMP_ARCH_X86_64"));
  assert.ok(
    f.linux.seccomp.supportedFlags.includes("SECCOMP_FILTER_FLAG_TSYNC"),
    "probed from the kernel",
  );
  assert.deepEqual(Object.keys(f.linux.cgroup).sort(), [
    "rdma",
    "systemd",
    "systemdUser",
    "v1",
    "v2",
  ]);
});

Deno.test("features' cgroup block claims what the cgroup code does", async () => {
  const { cgroup } = JSON.parse((await runSkiff(["features"])).stdout).linux;
  const files = (plan: Plan) => plan.writes.map((w) => `${w.file}=${w.value}`);
  // v1 and v2: each version's planner turns linux.resources into its files...
  const pids = { pids: { limit: 8 } };
  assert.equal(cgroup.v1, files(planV1(pids, { controllers: ["pids"] })).includes("pids.max=8"));
  assert.equal(cgroup.v2, files(planV2(pids, { controllers: ["pids"] })).includes("pids.max=8"));
  // ...and this host's version limits a real container.
  const v2Host = detectCgroups().layout === "unified";
  await using bundle = await makeBundle((spec) => {
    spec.linux!.resources = { ...spec.linux!.resources, pids: { limit: 8 } };
    spec.process!.args = [
      "cat",
      v2Host ? "/sys/fs/cgroup/pids.max" : "/sys/fs/cgroup/pids/pids.max",
    ];
  });
  const run = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
  assert.equal(v2Host ? cgroup.v2 : cgroup.v1, run.code === 0 && run.stdout === "8\n", run.stderr);
  // rdma: linux.resources.rdma becomes rdma.max on both versions.
  const rdma = { rdma: { mlx5_0: { hcaHandles: 3, hcaObjects: 100 } } };
  const rdmaMax = "rdma.max=mlx5_0 hca_handle=3 hca_object=100";
  assert.equal(
    cgroup.rdma,
    files(planV1(rdma, { controllers: ["rdma"] })).includes(rdmaMax) &&
      files(planV2(rdma, { controllers: ["rdma"] })).includes(rdmaMax),
  );
  // systemd: the driver makes units over the system bus and, rootless, the user's
  // (runtime/cgroups/systemd.ts; its tests run in the systemd VM, tests/integration/
  // systemd_test.ts, which also checks that features says true there). It is claimed only where
  // it can run: without a running systemd --systemd-cgroup is refused, and a user's instance
  // needs cgroup v2.
  assert.equal(cgroup.systemd, systemdRunning());
  assert.equal(cgroup.systemdUser, systemdRunning() && detectCgroups().layout === "unified");
  if (!systemdRunning()) {
    const refused = await bundle.skiff(["run", "-b", bundle.dir, testId()], {
      global: ["--systemd-cgroup"],
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /systemd is not running/);
  }
});

Deno.test({
  name: "an AppArmor profile is refused clearly when AppArmor is off, as runc does",
  ignore: appArmorEnabled(),
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.process!.apparmorProfile = "containers-default";
    });
    const id = testId();
    const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /process\.apparmorProfile: apparmor profile "containers-default" is specified, but AppArmor is not enabled on the host/,
    );
    assert.equal(exists(join(bundle.root, id)), false);
  },
});

Deno.test({
  name: "an SELinux label or mount label is refused clearly when SELinux is off, as runc does",
  ignore: selinuxEnabled(),
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.process!.selinuxLabel = "system_u:system_r:container_t:s0";
    });
    const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
    assert.match(
      result.stderr,
      /process\.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported/,
    );
    await using mount = await makeBundle((spec) => {
      spec.linux!.mountLabel = "system_u:object_r:container_file_t:s0";
    });
    const mounted = await mount.skiff(["create", "-b", mount.dir, testId()]);
    assert.match(mounted.stderr, /linux\.mountLabel: selinux label is specified/);
  },
});
