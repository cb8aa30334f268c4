import assert from "node:assert/strict";
import { SpecError } from "../../spec/errors.ts";
import type { Variant } from "./dbus.ts";
import { normalizeDeviceRules } from "./device_rules.ts";
import { detectCgroups } from "./detect.ts";
import { cgroupManager } from "./manager.ts";
import { SystemdCgroupManager, systemdUnitOf } from "./systemd.ts";
import {
  busPath,
  connectSystemd,
  cpuQuotaPerSecUSec,
  cpusetMask,
  deviceProperties,
  transientProperties,
  UINT64_MAX,
  unitProperties,
} from "./systemd_unit.ts";
import { systemctlShow, SYSTEMD_HERE } from "./_testing.ts";

const props = (list: [string, Variant][]): Record<string, unknown> =>
  Object.fromEntries(list.map(([k, v]) => [k, v.value]));

Deno.test("unit names follow runc: prefix-name.scope, name.scope, a slice as is, default slice", () => {
  assert.deepEqual(systemdUnitOf("system.slice:docker:abc", "x"), {
    slice: "system.slice",
    name: "docker-abc.scope",
    user: false,
  });
  assert.equal(systemdUnitOf(":podman:abc", "x").slice, "system.slice");
  assert.equal(systemdUnitOf(":podman:abc", "x", true).slice, "user.slice");
  assert.equal(systemdUnitOf("-.slice::abc", "x").name, "abc.scope");
  assert.equal(systemdUnitOf("a.slice:p:b.slice", "x").name, "b.slice");
  assert.deepEqual(systemdUnitOf(undefined, "web"), {
    slice: "system.slice",
    name: "skiff-web.scope",
    user: false,
  });
});

Deno.test("linux.resources map to unit properties as runc's systemd v2 driver maps them", () => {
  const p = props(unitProperties({
    memory: { limit: 64 << 20, reservation: 32 << 20, swap: 96 << 20 },
    cpu: { shares: 1024, quota: 50_000, period: 100_000, cpus: "0-1,3", mems: "0" },
    pids: { limit: 42 },
    blockIO: { weight: 500 },
  }));
  assert.deepEqual(p, {
    MemoryMax: BigInt(64 << 20),
    MemoryLow: BigInt(32 << 20),
    MemorySwapMax: BigInt(32 << 20), // memory+swap - memory
    CPUWeight: 100n,
    CPUQuotaPerSecUSec: 500_000n,
    CPUQuotaPeriodUSec: 100_000n,
    AllowedCPUs: new Uint8Array([0b1011]),
    AllowedMemoryNodes: new Uint8Array([1]),
    TasksMax: 42n,
    IOWeight: 4950n,
  });
  // Unlimited values are systemd's infinity; nothing given, nothing set.
  assert.deepEqual(props(unitProperties({ memory: { limit: -1 }, pids: { limit: -1 } })), {
    MemoryMax: UINT64_MAX,
    MemorySwapMax: UINT64_MAX,
    TasksMax: UINT64_MAX,
  });
  assert.deepEqual(unitProperties(undefined), []);
  assert.throws(
    () => unitProperties({ memory: { limit: 100, swap: 50 } }),
    (e: unknown) => e instanceof SpecError && /memory\.swap/.test(e.message),
  );
});

Deno.test("on cgroup v1 they map to the legacy properties, as runc's v1 driver maps them", () => {
  const p = props(unitProperties(
    {
      memory: { limit: 64 << 20, reservation: 32 << 20, swap: 96 << 20 },
      cpu: { shares: 1024, quota: 50_000, period: 100_000, cpus: "0-1,3", mems: "0" },
      pids: { limit: 42 },
      blockIO: { weight: 500 },
    },
    undefined,
    true,
  ));
  // Reservation, swap and the cpuset have no v1 property: the cgroupfs half writes them.
  assert.deepEqual(p, {
    MemoryLimit: BigInt(64 << 20),
    CPUShares: 1024n,
    CPUQuotaPerSecUSec: 500_000n,
    CPUQuotaPeriodUSec: 100_000n,
    TasksMax: 42n,
    BlockIOWeight: 500n,
  });
  assert.deepEqual(props(unitProperties({ memory: { limit: -1 } }, undefined, true)), {
    MemoryLimit: UINT64_MAX,
  });
  const accounting = props(transientProperties("system.slice", 1, true));
  assert.equal(accounting.BlockIOAccounting, true);
  assert.equal(accounting.IOAccounting, undefined);
});

Deno.test({
  name: "a user's --systemd-cgroup on a v1/hybrid host is refused naming the layout",
  ignore: detectCgroups().layout === "unified",
  async fn() {
    const files = cgroupManager({ id: "skiff-never-made", cgroupsPath: "/skiff-never-made" });
    const unit = { slice: "user.slice", name: "skiff-never-made.scope", user: true };
    const manager = new SystemdCgroupManager(unit, files);
    await assert.rejects(
      manager.start(Deno.pid),
      new RegExp(`needs cgroup v2; this host's layout is ${detectCgroups().layout}`),
    );
    assert.equal(files.exists(), false);
  },
});

Deno.test("CPUQuotaPerSecUSec is rounded up to 10 ms, and no quota is infinity", () => {
  assert.equal(cpuQuotaPerSecUSec(50_000, 100_000), 500_000n);
  assert.equal(cpuQuotaPerSecUSec(1234, 100_000), 20_000n);
  assert.equal(cpuQuotaPerSecUSec(10_000, 0), 100_000n); // default period 100 ms
  assert.equal(cpuQuotaPerSecUSec(-1, 100_000), UINT64_MAX);
});

Deno.test("cpu lists become systemd's byte masks, lowest cpu first", () => {
  assert.deepEqual(cpusetMask("0", "f"), new Uint8Array([1]));
  assert.deepEqual(cpusetMask("8-9", "f"), new Uint8Array([0, 3]));
  assert.deepEqual(cpusetMask("1,3,5-7", "f"), new Uint8Array([0b11101010]));
  assert.throws(() => cpusetMask("x", "linux.resources.cpu.cpus"), /linux\.resources\.cpu\.cpus/);
});

Deno.test("device rules: exact ones become DevicePolicy=strict + DeviceAllow, others auto", () => {
  const rules = normalizeDeviceRules([
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, type: "c", major: -1, minor: -1, access: "m" },
    { allow: true, type: "c", major: 136, minor: -1, access: "rwm" },
  ]);
  const p = props(deviceProperties(rules));
  assert.equal(p.DevicePolicy, "strict");
  const allow = p.DeviceAllow as [string, string][];
  assert.deepEqual(allow.slice(0, 2), [["/dev/char/1:3", "rwm"], ["char-*", "m"]]);
  // 136 is "pts" in /proc/devices wherever ptys exist.
  assert.deepEqual(allow[2], ["char-pts", "rwm"]);
  // Allow-all, or a deny after the deny-all, cannot be a strict list: systemd filters nothing.
  assert.deepEqual(
    props(deviceProperties(normalizeDeviceRules([{ allow: true, access: "rwm" }]))),
    {
      DevicePolicy: "auto",
    },
  );
  assert.deepEqual(
    props(deviceProperties(normalizeDeviceRules([
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: -1, access: "rwm" },
      { allow: false, type: "c", major: 1, minor: 3, access: "rwm" },
    ]))).DevicePolicy,
    "auto",
  );
});

Deno.test("a scope gets Delegate=yes and the init's pid; a slice neither", () => {
  const scope = props(transientProperties("system.slice", 42));
  assert.equal(scope.Delegate, true);
  assert.deepEqual(scope.PIDs, [42]);
  assert.equal(scope.Slice, "system.slice");
  assert.equal(scope.CollectMode, "inactive-or-failed");
  const slice = props(transientProperties("system.slice", undefined));
  assert.equal(slice.Delegate, undefined);
  assert.equal(slice.PIDs, undefined);
  assert.equal(slice.Slice, undefined);
  assert.deepEqual(slice.Wants, ["system.slice"]);
});

// The driver for real: needs systemd as PID 1 with its system bus on a cgroup v2 host (the VM of
// `deno task test:systemd`).
const systemdHere = SYSTEMD_HERE;

Deno.test({
  name: "the driver starts a delegated scope with limits, updates, freezes and stops it (systemd)",
  ignore: !systemdHere,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const id = `drv-${Deno.pid}`;
    const sleeper = new Deno.Command("sleep", { args: ["120"] }).spawn();
    const manager = cgroupManager({
      id,
      cgroupsPath: "system.slice:skiff-test:" + id,
      systemd: true,
    });
    assert.ok(manager instanceof SystemdCgroupManager);
    const unit = `skiff-test-${id}.scope`;
    try {
      await manager.start!(sleeper.pid, {
        memory: { limit: 64 << 20 },
        pids: { limit: 50 },
        cpu: { quota: 20_000, period: 100_000 },
      });
      const shown = await systemctlShow(
        unit,
        "ActiveState",
        "Delegate",
        "MemoryMax",
        "TasksMax",
        "CPUQuotaPerSecUSec",
        "ControlGroup",
      );
      assert.equal(shown.ActiveState, "active");
      assert.equal(shown.Delegate, "yes");
      assert.equal(shown.MemoryMax, String(64 << 20));
      assert.equal(shown.TasksMax, "50");
      assert.equal(shown.CPUQuotaPerSecUSec, "200ms");
      assert.equal(shown.ControlGroup, `/system.slice/${unit}`);
      const dir = manager.dirs()[""];
      assert.equal(dir, `/sys/fs/cgroup/system.slice/${unit}`);
      assert.deepEqual(manager.pids(), [sleeper.pid]);
      assert.equal(Deno.readTextFileSync(`${dir}/memory.max`).trim(), String(64 << 20));
      // stats (events, ps) read the scope's cgroup.
      assert.equal(manager.stats().pids.current, 1);
      assert.equal(manager.stats().memory.usage.limit, 64 << 20);
      // update: SetUnitProperties, then the files.
      await manager.setProperties!({ pids: { limit: 30 } }, { skipDevices: true });
      manager.set({ pids: { limit: 30 } }, { skipDevices: true });
      assert.equal((await systemctlShow(unit, "TasksMax")).TasksMax, "30");
      assert.equal(Deno.readTextFileSync(`${dir}/pids.max`).trim(), "30");
      await manager.freeze();
      assert.ok(manager.isFrozen());
      manager.thaw();
      assert.ok(!manager.isFrozen());
      await manager.destroy();
      assert.equal((await systemctlShow(unit, "LoadState")).LoadState, "not-found");
      assert.ok(!manager.exists());
      // StopUnit ends the scope's processes (SIGTERM, systemd's KillMode=control-group).
      assert.ok((await sleeper.status).signal !== null);
    } finally {
      try {
        sleeper.kill("SIGKILL");
      } catch { /* gone */ }
      await manager.destroy().catch(() => {});
    }
  },
});

Deno.test("the user instance's bus: a missing one is an error that says how to get it", async () => {
  const dir = Deno.makeTempDirSync();
  const saved = ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"].map((k) => [k, Deno.env.get(k)]);
  try {
    Deno.env.delete("DBUS_SESSION_BUS_ADDRESS");
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    assert.equal(busPath(true), `${dir}/bus`);
    await assert.rejects(
      connectSystemd(true),
      new RegExp(`systemd user instance .* bus ${dir}/bus cannot be reached .*enable-linger`),
    );
    Deno.env.set("DBUS_SESSION_BUS_ADDRESS", "unix:path=/x/y");
    assert.equal(busPath(true), "/x/y");
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "a bus without systemd on it: starting a unit fails naming the unit and the D-Bus error",
  ignore: !hasDaemon(),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "skiff-dbus-" });
    const daemon = new Deno.Command("dbus-daemon", {
      args: ["--session", `--address=unix:path=${dir}/bus`, "--print-address", "--nofork"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const saved = Deno.env.get("DBUS_SYSTEM_BUS_ADDRESS");
    try {
      const reader = daemon.stdout.getReader();
      await reader.read();
      reader.releaseLock();
      Deno.env.set("DBUS_SYSTEM_BUS_ADDRESS", `unix:path=${dir}/bus`);
      await using bus = await connectSystemd(false);
      // Nobody owns org.freedesktop.systemd1 here (a session bus may try to activate it: its
      // service file runs /bin/false): the error names the unit, its cause the D-Bus error.
      await assert.rejects(
        bus.startUnit("skiff-x.scope", transientProperties("system.slice", 1)),
        (err: unknown) =>
          err instanceof Error && /cannot start systemd unit skiff-x\.scope/.test(err.message) &&
          /org\.freedesktop\.DBus\.Error\./.test(String((err.cause as Error)?.message)),
      );
    } finally {
      saved === undefined
        ? Deno.env.delete("DBUS_SYSTEM_BUS_ADDRESS")
        : Deno.env.set("DBUS_SYSTEM_BUS_ADDRESS", saved);
      daemon.kill("SIGTERM");
      await daemon.status;
      await daemon.stdout.cancel().catch(() => {});
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

function hasDaemon(): boolean {
  try {
    return Deno.statSync("/usr/bin/dbus-daemon").isFile;
  } catch {
    return false;
  }
}
