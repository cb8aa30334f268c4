/**
 * The cgroup managers on the real kernel, as root: limits are enforced, not just written. Each test
 * runs on whatever layout the host has (v1 on this hybrid machine; v2 inside
 * tests/cgroup2/run_in_vm.sh); tests of one layout's files say so in their name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bpfProgQuery, closeFd, openCgroupDir } from "../../ffi/bpf.ts";
import { withDefaultDeviceRules } from "./device_rules.ts";
import { readCgroupFile } from "./files.ts";
import { statsData, toJson } from "./stats.ts";
import { enter, HOST, IS_ROOT, lacks, LAYOUT, sleep, spawnGated, withCgroup } from "./_testing.ts";

const V1 = LAYOUT === "hybrid" || LAYOUT === "legacy";
const V2 = LAYOUT === "unified";
const MiB = 1024 * 1024;

Deno.test({
  name:
    "create() makes the cgroup in every hierarchy, destroy() removes it and kills what is left (needs root)",
  ignore: lacks(),
  async fn() {
    await withCgroup("lifecycle", async (manager) => {
      const dirs = Object.values(manager.dirs());
      assert.ok(dirs.length > 0);
      for (const dir of dirs) assert.ok(Deno.statSync(dir).isDirectory, dir);
      manager.create(); // idempotent
      const proc = spawnGated("exec sleep 60");
      try {
        enter(manager, proc.pid);
        await proc.release();
        assert.deepEqual(manager.pids(), [proc.pid]);
        await manager.destroy();
        const result = await proc.result();
        assert.equal(result.signal, "SIGKILL");
        for (const dir of dirs) assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
        assert.equal(manager.exists(), false);
        await manager.destroy(); // idempotent
      } finally {
        proc.kill();
      }
    });
  },
});

Deno.test({
  name: "a memory limit OOM-kills an allocator and oomKillCount() grows (needs root, memory)",
  ignore: lacks("memory"),
  async fn() {
    await withCgroup("oom", async (manager) => {
      // memory+swap equal to the limit: no escape into swap.
      manager.set({ memory: { limit: 16 * MiB, swap: 16 * MiB } });
      assert.equal(manager.oomKillCount(), 0);
      // tail keeps the last "line" of a stream without newlines: all 64 MiB of it.
      const proc = spawnGated("head -c 67108864 /dev/zero | tail > /dev/null; echo tail=$?");
      try {
        enter(manager, proc.pid);
        await proc.release();
        const result = await proc.result();
        // The OOM killer picks its victim: usually tail, sometimes the shell itself.
        assert.ok(
          /tail=137/.test(result.stdout) || result.signal === "SIGKILL",
          `nothing was OOM-killed: ${JSON.stringify(result)}`,
        );
        assert.ok(manager.oomKillCount() >= 1, `oom_kill count ${manager.oomKillCount()}`);
      } finally {
        proc.kill();
      }
    });
  },
});

Deno.test({
  name: "a pids limit makes fork fail inside the cgroup (needs root, pids)",
  ignore: lacks("pids"),
  async fn() {
    await withCgroup("pids", async (manager) => {
      manager.set({ pids: { limit: 3 } });
      // The sleepers must not hold the output pipes open: the test waits for EOF.
      const sleeper = "sleep 30 </dev/null >/dev/null 2>&1 &";
      const proc = spawnGated(`${sleeper} ${sleeper} ${sleeper} ${sleeper} echo forked`);
      try {
        enter(manager, proc.pid);
        await proc.release();
        const result = await proc.result();
        assert.match(result.stderr, /fork/i, `no fork failure: ${JSON.stringify(result)}`);
        assert.equal(manager.stats().pids.limit, 3);
      } finally {
        proc.kill();
      }
    });
  },
});

Deno.test({
  name:
    "a devices deny rule blocks opening the device while the allowed ones still open (needs root, devices)",
  ignore: lacks("devices"),
  async fn() {
    await withCgroup("devices", async (manager) => {
      const rules = [
        ...withDefaultDeviceRules([{ allow: false, access: "rwm" }]),
        { allow: false, type: "c", major: 1, minor: 3, access: "rwm" }, // /dev/null
      ];
      manager.set({ devices: rules });
      if (V1) {
        const list = readCgroupFile(manager.dirs().devices, "devices.list") ?? "";
        assert.doesNotMatch(list, /^c 1:3 /m);
        assert.match(list, /^c 1:5 rwm$/m);
      }
      const proc = spawnGated(
        "echo x > /dev/null; echo null=$?; head -c 3 /dev/zero | wc -c | sed 's/^/zero=/'",
      );
      try {
        enter(manager, proc.pid);
        await proc.release();
        const result = await proc.result();
        assert.match(result.stdout, /null=[12]/, JSON.stringify(result));
        assert.match(result.stderr, /Operation not permitted/);
        assert.match(result.stdout, /zero=3/);
      } finally {
        proc.kill();
      }
      // Replacing the rules (update) lifts the deny.
      manager.set({ devices: withDefaultDeviceRules([{ allow: false, access: "rwm" }]) });
      const again = spawnGated("echo x > /dev/null; echo null=$?");
      try {
        enter(manager, again.pid);
        await again.release();
        assert.match((await again.result()).stdout, /null=0/);
      } finally {
        again.kill();
      }
    });
  },
});

Deno.test({
  name:
    "a cpu quota shows in the controller's file and in the throttling stats of a busy loop (needs root, cpu)",
  ignore: lacks("cpu"),
  async fn() {
    await withCgroup("cpu", async (manager) => {
      manager.set({ cpu: { quota: 10000, period: 100000 } });
      if (V1) assert.equal(readCgroupFile(manager.dirs().cpu, "cpu.cfs_quota_us")?.trim(), "10000");
      if (V2) assert.equal(readCgroupFile(manager.dirs()[""], "cpu.max")?.trim(), "10000 100000");
      const proc = spawnGated("while :; do :; done");
      try {
        enter(manager, proc.pid);
        await proc.release();
        await sleep(1500);
        const stats = manager.stats();
        assert.ok(stats.cpu.throttling.periods > 0, JSON.stringify(stats.cpu));
        assert.ok(stats.cpu.throttling.throttledPeriods > 0, JSON.stringify(stats.cpu));
        assert.ok(stats.cpu.usage.total > 0);
        // events --stats prints this shape.
        const data = JSON.parse(toJson(statsData(stats)));
        assert.ok(data.cpu.throttling.throttledPeriods > 0);
      } finally {
        proc.kill();
        await proc.result();
      }
    });
  },
});

Deno.test({
  name: "freeze() stops a counting loop and thaw() lets it continue (needs root, freezer)",
  ignore: lacks("freezer"),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "skiff-freeze-" });
    const counter = join(dir, "count");
    const text = (): string => {
      try {
        return Deno.readTextFileSync(counter);
      } catch {
        return ""; // not written yet
      }
    };
    /** Waits until the counter shows a number above `floor` (it may be mid-write when read). */
    const passes = async (floor: number): Promise<boolean> => {
      for (let i = 0; i < 200; i++) {
        const n = parseInt(text(), 10);
        if (Number.isInteger(n) && n > floor) return true;
        await sleep(10);
      }
      return false;
    };
    try {
      await withCgroup("freeze", async (manager) => {
        const proc = spawnGated(`i=0; while :; do i=$((i+1)); echo $i > ${counter}; done`);
        try {
          enter(manager, proc.pid);
          await proc.release();
          assert.ok(await passes(0), "the loop did not start");
          assert.equal(manager.isFrozen(), false);
          await manager.freeze();
          assert.equal(manager.isFrozen(), true);
          // The file may be caught half-written (empty): compare the text, not a number.
          const frozen = text();
          await sleep(400);
          assert.equal(text(), frozen, "the loop ran while frozen");
          manager.thaw();
          assert.equal(manager.isFrozen(), false);
          assert.ok(await passes(parseInt(frozen, 10) || 0), "the loop did not resume");
          // destroy() also kills a frozen cgroup.
          await manager.freeze();
        } finally {
          proc.kill();
        }
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "set() on a running cgroup changes its limits (update) (needs root, memory, pids)",
  ignore: lacks("memory", "pids"),
  async fn() {
    await withCgroup("update", async (manager) => {
      const dirs = manager.dirs();
      const memoryDir = V1 ? dirs.memory : dirs[""];
      const memoryFile = V1 ? "memory.limit_in_bytes" : "memory.max";
      const pidsDir = V1 ? dirs.pids : dirs[""];
      manager.set({ memory: { limit: 32 * MiB, swap: 64 * MiB }, pids: { limit: 10 } });
      const proc = spawnGated("exec sleep 30");
      try {
        enter(manager, proc.pid);
        await proc.release();
        // Raising the limit above memsw needs memsw first on v1: set() orders it.
        manager.set({ memory: { limit: 128 * MiB, swap: 256 * MiB }, pids: { limit: 20 } });
        assert.equal(readCgroupFile(memoryDir, memoryFile)?.trim(), String(128 * MiB));
        assert.equal(readCgroupFile(pidsDir, "pids.max")?.trim(), "20");
        manager.set({ memory: { limit: 16 * MiB, swap: 32 * MiB } });
        assert.equal(readCgroupFile(memoryDir, memoryFile)?.trim(), String(16 * MiB));
        assert.deepEqual(manager.pids(), [proc.pid]);
      } finally {
        proc.kill();
        await proc.result();
      }
    });
  },
});

Deno.test({
  name: "set() names the field and the file when the kernel refuses a value (needs root, cpuset)",
  ignore: lacks("cpuset"),
  async fn() {
    await withCgroup("refused", (manager) => {
      assert.throws(
        () => manager.set({ cpu: { cpus: "4095" } }),
        (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(
            err.message,
            /^linux\.resources\.cpu\.cpus: cannot write "4095" to \/sys\/fs\/cgroup\/.*cpuset\.cpus$/,
          );
          assert.ok(err.cause instanceof Error);
          return true;
        },
      );
    });
  },
});

Deno.test({
  name:
    "v1: cpu.shares the kernel clamps is an error saying the allowed minimum (needs root, cgroup v1 cpu)",
  ignore: !V1 || lacks("cpu"),
  async fn() {
    await withCgroup("shares", (manager) => {
      assert.throws(
        () => manager.set({ cpu: { shares: 1 } }),
        /the minimum this kernel allows is 2/,
      );
      manager.set({ cpu: { shares: 512 } });
      assert.equal(readCgroupFile(manager.dirs().cpu, "cpu.shares")?.trim(), "512");
    });
  },
});

Deno.test({
  name:
    "v1 on a hybrid host: the container also gets a cgroup2 directory, and hugetlb limits go there (needs root, hybrid)",
  ignore: !IS_ROOT || LAYOUT !== "hybrid" || !HOST?.unifiedControllers.includes("hugetlb"),
  async fn() {
    const root = HOST!.unified!.mountPoint;
    const before = readCgroupFile(root, "cgroup.subtree_control") ?? "";
    try {
      await withCgroup("hybrid", async (manager) => {
        const unified = manager.dirs().unified;
        assert.ok(unified?.startsWith(`${root}/`));
        assert.ok(manager.procsFiles().includes(join(unified, "cgroup.procs")));
        manager.set({ hugepageLimits: [{ pageSize: "2MB", limit: 0 }] });
        assert.equal(readCgroupFile(unified, "hugetlb.2MB.max")?.trim(), "0");
        const proc = spawnGated("true");
        enter(manager, proc.pid);
        assert.match(
          Deno.readTextFileSync(`/proc/${proc.pid}/cgroup`),
          /^0::\/skiff-test-hybrid-/m,
        );
        await proc.release();
        await proc.result();
      });
    } finally {
      // Leave the host's root cgroup2 as it was.
      if (!before.includes("hugetlb")) {
        try {
          Deno.writeTextFileSync(join(root, "cgroup.subtree_control"), "-hugetlb", {
            create: false,
          });
        } catch {
          // Another cgroup uses it now.
        }
      }
    }
  },
});

Deno.test({
  name:
    "v2: the eBPF device filter replaces the previous program on update instead of adding one (needs root, cgroup v2)",
  ignore: !V2 || lacks(),
  async fn() {
    await withCgroup("bpf", (manager) => {
      const rules = withDefaultDeviceRules([{ allow: false, access: "rwm" }]);
      manager.set({ devices: rules });
      manager.set({ devices: rules });
      const fd = openCgroupDir(manager.dirs()[""]);
      try {
        assert.equal(bpfProgQuery(fd).length, 1);
      } finally {
        closeFd(fd);
      }
      manager.set({ pids: { limit: 5 } }); // devices undefined: left alone
      const fd2 = openCgroupDir(manager.dirs()[""]);
      try {
        assert.equal(bpfProgQuery(fd2).length, 1);
      } finally {
        closeFd(fd2);
      }
    });
  },
});

Deno.test({
  name:
    "v2: create() enables the controllers in cgroup.subtree_control of the parents (needs root, cgroup v2)",
  ignore: !V2 || lacks("memory", "pids"),
  async fn() {
    await withCgroup("subtree", (manager) => {
      const dir = manager.dirs()[""];
      const controllers = readCgroupFile(dir, "cgroup.controllers") ?? "";
      assert.match(controllers, /\bmemory\b/);
      assert.match(controllers, /\bpids\b/);
    });
  },
});
