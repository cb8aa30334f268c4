import assert from "node:assert/strict";
import type { Resources } from "../../spec/config.ts";
import { SpecError } from "../../spec/errors.ts";
import {
  blkioWeightToIoWeight,
  cpuSharesToWeight,
  type HostFacts,
  memorySwapToV2,
  planV1,
  planV2,
  type Write,
} from "./resources.ts";

/** "file=value" for each write, the shape the tests compare. */
function files(writes: Write[]): string[] {
  return writes.map((w) => `${w.file}=${w.value}`);
}

function specError(fn: () => unknown, path: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SpecError, `expected a SpecError, got ${err}`);
    assert.equal(err.path, path);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const V2_HOST: HostFacts = {
  controllers: ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"],
  hugepageSizes: ["1GB", "2MB"],
};

const V1_HOST: HostFacts = {
  controllers: ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"],
  unifiedControllers: ["hugetlb"],
  hugepageSizes: ["1GB", "2MB"],
  swapAccounting: true,
  bfq: true,
};

// ---------------------------------------------------------------- conversions

Deno.test("cpuSharesToWeight() maps runc's fixed points: 0 unset, 2 -> 1, 1024 -> 100, 262144 -> 10000", () => {
  assert.equal(cpuSharesToWeight(0), 0);
  assert.equal(cpuSharesToWeight(1), 1);
  assert.equal(cpuSharesToWeight(2), 1);
  assert.equal(cpuSharesToWeight(1024), 100);
  assert.equal(cpuSharesToWeight(262144), 10000);
  assert.equal(cpuSharesToWeight(500000), 10000);
  // Edges from opencontainers/cgroups utils_test.go.
  assert.equal(cpuSharesToWeight(3), 2);
  assert.equal(cpuSharesToWeight(262143), 10000);
  // Monotonic in between.
  for (let s = 3; s < 262144; s += 997) {
    assert.ok(cpuSharesToWeight(s + 997) >= cpuSharesToWeight(s));
  }
});

Deno.test("blkioWeightToIoWeight() converts 10..1000 linearly to 1..10000", () => {
  assert.equal(blkioWeightToIoWeight(0), 0);
  assert.equal(blkioWeightToIoWeight(10), 1);
  assert.equal(blkioWeightToIoWeight(500), 4950);
  assert.equal(blkioWeightToIoWeight(1000), 10000);
});

Deno.test("memorySwapToV2() subtracts the limit and keeps runc's -1 and 0 cases", () => {
  assert.equal(memorySwapToV2(0, -1), -1); // unlimited memory, swap unset: both unlimited
  assert.equal(memorySwapToV2(-1, 100), -1);
  assert.equal(memorySwapToV2(0, 100), 0);
  assert.equal(memorySwapToV2(300, -1), 300);
  assert.equal(memorySwapToV2(300, 100), 200);
  assert.equal(memorySwapToV2(100, 100), 0);
  assert.throws(() => memorySwapToV2(300, 0), /without memory limit/);
  assert.throws(() => memorySwapToV2(50, 100), /should be >= memory limit/);
});

// ---------------------------------------------------------------- v2

Deno.test("planV2() writes memory.swap.max before memory.max and memory.low", () => {
  const plan = planV2({ memory: { limit: 100, swap: 300, reservation: 50 } }, V2_HOST);
  assert.deepEqual(files(plan.writes), ["memory.swap.max=200", "memory.max=100", "memory.low=50"]);
  assert.equal(plan.writes[0].field, "linux.resources.memory.swap");
});

Deno.test("planV2() turns swap == limit into memory.swap.max 0 and -1 into max (optional without swap)", () => {
  assert.deepEqual(files(planV2({ memory: { limit: 100, swap: 100 } }, V2_HOST).writes), [
    "memory.swap.max=0",
    "memory.max=100",
  ]);
  const unlimited = planV2({ memory: { limit: -1 } }, V2_HOST).writes;
  assert.deepEqual(files(unlimited), ["memory.swap.max=max", "memory.max=max"]);
  assert.equal(unlimited[0].optional, true);
  assert.equal(planV2({ memory: { limit: 100, swap: 300 } }, V2_HOST).writes[0].optional, false);
});

Deno.test("planV2() refuses swap without a memory limit, naming linux.resources.memory.swap", () => {
  specError(
    () => planV2({ memory: { swap: 300 } }, V2_HOST),
    "linux.resources.memory.swap",
    /without memory limit/,
  );
  specError(
    () => planV2({ memory: { limit: 300, swap: 100 } }, V2_HOST),
    "linux.resources.memory.swap",
  );
});

Deno.test("planV2() warns about memory fields that have no cgroup v2 file", () => {
  const plan = planV2(
    {
      memory: {
        kernel: 1,
        kernelTCP: 2,
        swappiness: 10,
        disableOOMKiller: true,
        useHierarchy: false,
      },
    },
    V2_HOST,
  );
  assert.deepEqual(plan.writes, []);
  const warnings = plan.warnings.join("\n");
  for (const field of ["kernel", "kernelTCP", "swappiness", "disableOOMKiller", "useHierarchy"]) {
    assert.match(warnings, new RegExp(`linux\\.resources\\.memory\\.${field}\\b`));
  }
});

Deno.test("planV2() maps shares to cpu.weight and quota/period to cpu.max like runc", () => {
  assert.deepEqual(
    files(
      planV2({ cpu: { shares: 1024, quota: 50000, period: 100000, burst: 1000, idle: 0 } }, V2_HOST)
        .writes,
    ),
    ["cpu.weight=100", "cpu.max.burst=1000", "cpu.max=50000 100000", "cpu.idle=0"],
  );
  assert.deepEqual(files(planV2({ cpu: { quota: -1 } }, V2_HOST).writes), ["cpu.max=max"]);
  assert.deepEqual(files(planV2({ cpu: { period: 50000 } }, V2_HOST).writes), [
    "cpu.max=max 50000",
  ]);
  const burst = planV2({ cpu: { quota: 1000, burst: 10 } }, V2_HOST).writes[0];
  assert.equal(burst.retryOnEinval, true);
});

Deno.test("planV2() writes cpus and mems to cpuset and refuses malformed lists", () => {
  assert.deepEqual(files(planV2({ cpu: { cpus: "0-1,3", mems: "0" } }, V2_HOST).writes), [
    "cpuset.cpus=0-1,3",
    "cpuset.mems=0",
  ]);
  specError(() => planV2({ cpu: { cpus: "0-a" } }, V2_HOST), "linux.resources.cpu.cpus");
});

Deno.test("planV2() refuses realtime CPU limits: cgroup v2 has no cpu.rt_* files", () => {
  specError(
    () => planV2({ cpu: { realtimeRuntime: 950000 } }, V2_HOST),
    "linux.resources.cpu.realtimeRuntime",
    /need cgroup v1/,
  );
  specError(
    () => planV2({ cpu: { realtimePeriod: 1000000 } }, V2_HOST),
    "linux.resources.cpu.realtimePeriod",
  );
  assert.deepEqual(planV2({ cpu: { realtimeRuntime: 0 } }, V2_HOST).writes, []);
});

Deno.test("planV2() writes pids.max, with 0 and negative limits meaning max", () => {
  assert.deepEqual(files(planV2({ pids: { limit: 20 } }, V2_HOST).writes), ["pids.max=20"]);
  assert.deepEqual(files(planV2({ pids: { limit: 0 } }, V2_HOST).writes), ["pids.max=max"]);
  assert.deepEqual(files(planV2({ pids: { limit: -1 } }, V2_HOST).writes), ["pids.max=max"]);
});

Deno.test("planV2() writes the blkio weight to io.bfq.weight as is, or converted to io.weight", () => {
  assert.deepEqual(files(planV2({ blockIO: { weight: 500 } }, { ...V2_HOST, bfq: true }).writes), [
    "io.bfq.weight=500",
  ]);
  assert.deepEqual(files(planV2({ blockIO: { weight: 500 } }, V2_HOST).writes), ["io.weight=4950"]);
  specError(() => planV2({ blockIO: { weight: 5 } }, V2_HOST), "linux.resources.blockIO.weight");
});

Deno.test("planV2() writes each throttle as one io.max line and per-device weights only with BFQ", () => {
  const resources: Resources = {
    blockIO: {
      weightDevice: [{ major: 8, minor: 0, weight: 300 }],
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
      throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2048 }],
      throttleReadIOPSDevice: [{ major: 8, minor: 16, rate: 100 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 50 }],
    },
  };
  const bfq = planV2(resources, { ...V2_HOST, bfq: true, bfqDeviceWeight: true });
  assert.deepEqual(files(bfq.writes), [
    "io.bfq.weight=8:0 300",
    "io.max=8:0 rbps=1048576",
    "io.max=8:0 wbps=2048",
    "io.max=8:16 riops=100",
    "io.max=8:16 wiops=50",
  ]);
  const plain = planV2(resources, V2_HOST);
  assert.equal(plain.writes.length, 4);
  assert.match(plain.warnings.join(), /weightDevice\[0\]\.weight is ignored/);
});

Deno.test("planV2() writes hugetlb.<size>.max and .rsvd.max, and checks the size exists", () => {
  const plan = planV2({ hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }] }, V2_HOST);
  assert.deepEqual(files(plan.writes), ["hugetlb.2MB.max=4194304", "hugetlb.2MB.rsvd.max=4194304"]);
  assert.equal(plan.writes[1].optional, true);
  specError(
    () => planV2({ hugepageLimits: [{ pageSize: "4MB", limit: 1 }] }, V2_HOST),
    "linux.resources.hugepageLimits[0].pageSize",
    /not a hugepage size of this kernel \(it has: 1GB, 2MB\)/,
  );
});

Deno.test("planV2() writes rdma.max with the limits given", () => {
  assert.deepEqual(
    files(
      planV2(
        { rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 }, mlx4_0: { hcaObjects: 1 } } },
        V2_HOST,
      ).writes,
    ),
    ["rdma.max=mlx5_1 hca_handle=3 hca_object=10000", "rdma.max=mlx4_0 hca_object=1"],
  );
});

Deno.test("planV2() refuses network classID and priorities: net_cls/net_prio are v1 only", () => {
  specError(
    () => planV2({ network: { classID: 1 } }, V2_HOST),
    "linux.resources.network.classID",
    /cgroup v1/,
  );
  specError(
    () => planV2({ network: { priorities: [{ name: "eth0", priority: 1 }] } }, V2_HOST),
    "linux.resources.network.priorities",
  );
});

Deno.test("planV2() writes unified entries last, one write per line", () => {
  const plan = planV2(
    { pids: { limit: 5 }, unified: { "pids.max": "7", "io.max": "8:0 rbps=1\n8:16 wbps=2" } },
    V2_HOST,
  );
  assert.deepEqual(files(plan.writes), [
    "pids.max=5",
    "pids.max=7",
    "io.max=8:0 rbps=1",
    "io.max=8:16 wbps=2",
  ]);
  assert.equal(plan.writes[1].field, 'linux.resources.unified["pids.max"]');
});

Deno.test("planV2() refuses unified keys with '/' or '..', unknown controllers and cgroup.procs", () => {
  specError(
    () => planV2({ unified: { "../memory.max": "1" } }, V2_HOST),
    'linux.resources.unified["../memory.max"]',
    /plain file name/,
  );
  specError(() => planV2({ unified: { "a/b": "1" } }, V2_HOST), 'linux.resources.unified["a/b"]');
  specError(() => planV2({ unified: { "..": "1" } }, V2_HOST), 'linux.resources.unified[".."]');
  specError(
    () => planV2({ unified: { "nosuch.max": "1" } }, V2_HOST),
    'linux.resources.unified["nosuch.max"]',
    /not available/,
  );
  specError(
    () => planV2({ unified: { "cgroup.procs": "1" } }, V2_HOST),
    'linux.resources.unified["cgroup.procs"]',
  );
  specError(
    () => planV2({ unified: { memory: "1" } }, V2_HOST),
    'linux.resources.unified["memory"]',
    /CONTROLLER\.PARAMETER/,
  );
  assert.equal(planV2({ unified: { "cgroup.max.depth": "3" } }, V2_HOST).writes.length, 1);
});

Deno.test("planV2() names the field when its controller is not available", () => {
  specError(
    () => planV2({ pids: { limit: 3 } }, { controllers: ["memory"] }),
    "linux.resources.pids.limit",
    /pids controller is not available .*cgroup\.controllers: memory/,
  );
});

Deno.test("planV2() checks types and names the field of a wrong one", () => {
  specError(
    () => planV2({ memory: { limit: "1g" } } as unknown as Resources, V2_HOST),
    "linux.resources.memory.limit",
  );
  specError(() => planV2({ cpu: { shares: -5 } }, V2_HOST), "linux.resources.cpu.shares");
  specError(
    () => planV2({ devices: [{ allow: true, access: "rwx" }] }, V2_HOST),
    "linux.resources.devices[0].access",
  );
});

// ---------------------------------------------------------------- v1

Deno.test("planV1() writes the memory limit before memsw on a new cgroup, after it when raising", () => {
  assert.deepEqual(files(planV1({ memory: { limit: 100, swap: 300 } }, V1_HOST).writes), [
    "memory.limit_in_bytes=100",
    "memory.memsw.limit_in_bytes=300",
  ]);
  // Raising above the current limit: memsw first, or the kernel refuses limit > memsw.
  assert.deepEqual(
    files(
      planV1({ memory: { limit: 500, swap: 600 } }, { ...V1_HOST, currentMemoryLimit: 100 }).writes,
    ),
    ["memory.memsw.limit_in_bytes=600", "memory.limit_in_bytes=500"],
  );
  // -1 with swap unset: swap unlimited too, written first.
  assert.deepEqual(files(planV1({ memory: { limit: -1 } }, V1_HOST).writes), [
    "memory.memsw.limit_in_bytes=-1",
    "memory.limit_in_bytes=-1",
  ]);
});

Deno.test("planV1() maps reservation, swappiness, OOM killer and kernel memory to v1 files", () => {
  const plan = planV1(
    {
      memory: {
        reservation: 50,
        swappiness: 10,
        disableOOMKiller: true,
        kernel: 1000,
        kernelTCP: 2000,
      },
    },
    V1_HOST,
  );
  assert.deepEqual(files(plan.writes), [
    "memory.soft_limit_in_bytes=50",
    "memory.oom_control=1",
    "memory.swappiness=10",
    "memory.kmem.limit_in_bytes=1000",
    "memory.kmem.tcp.limit_in_bytes=2000",
  ]);
  specError(
    () => planV1({ memory: { swappiness: 101 } }, V1_HOST),
    "linux.resources.memory.swappiness",
  );
});

Deno.test("planV1() refuses swap when the kernel does not account swap", () => {
  specError(
    () => planV1({ memory: { limit: 10, swap: 20 } }, { ...V1_HOST, swapAccounting: false }),
    "linux.resources.memory.swap",
    /swap accounting is off/,
  );
});

Deno.test("planV1() writes cpu shares, CFS and realtime knobs in runc's order", () => {
  const plan = planV1(
    {
      cpu: {
        shares: 512,
        period: 100000,
        quota: 20000,
        burst: 500,
        idle: 1,
        realtimePeriod: 1000000,
        realtimeRuntime: 950000,
        cpus: "0",
        mems: "0",
      },
    },
    V1_HOST,
  );
  assert.deepEqual(files(plan.writes), [
    "cpuset.cpus=0",
    "cpuset.mems=0",
    "cpu.shares=512",
    "cpu.cfs_period_us=100000",
    "cpu.cfs_burst_us=500",
    "cpu.cfs_quota_us=20000",
    "cpu.idle=1",
    "cpu.rt_period_us=1000000",
    "cpu.rt_runtime_us=950000",
  ]);
  const byFile = Object.fromEntries(plan.writes.map((w) => [w.file, w]));
  assert.equal(byFile["cpu.shares"].readBack, true);
  assert.equal(byFile["cpu.cfs_period_us"].retryOnEinval, true);
  assert.equal(byFile["cpu.rt_period_us"].retryOnEinval, true);
  assert.equal(byFile["cpu.cfs_burst_us"].optional, true);
});

Deno.test("planV1() uses blkio.bfq.* names when the kernel only has BFQ weights", () => {
  const resources: Resources = {
    blockIO: {
      weight: 300,
      leafWeight: 200,
      weightDevice: [{ major: 8, minor: 0, weight: 100, leafWeight: 50 }],
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 10 }],
    },
  };
  assert.deepEqual(files(planV1(resources, V1_HOST).writes), [
    "blkio.bfq.weight=300",
    "blkio.leaf_weight=200",
    "blkio.bfq.weight_device=8:0 100",
    "blkio.leaf_weight_device=8:0 50",
    "blkio.throttle.read_bps_device=8:0 1000",
    "blkio.throttle.write_iops_device=8:0 10",
  ]);
  assert.equal(planV1(resources, { ...V1_HOST, bfq: false }).writes[0].file, "blkio.weight");
});

Deno.test("planV1() refuses leaf weights when the kernel has no blkio.leaf_weight", () => {
  const host = { ...V1_HOST, leafWeight: false };
  specError(
    () => planV1({ blockIO: { leafWeight: 300 } }, host),
    "linux.resources.blockIO.leafWeight",
    /this kernel has no blkio\.leaf_weight/,
  );
  specError(
    () => planV1({ blockIO: { weightDevice: [{ major: 8, minor: 0, leafWeight: 50 }] } }, host),
    "linux.resources.blockIO.weightDevice[0].leafWeight",
    /no blkio\.leaf_weight_device/,
  );
  assert.deepEqual(files(planV1({ blockIO: { weight: 300 } }, host).writes), [
    "blkio.bfq.weight=300",
  ]);
});

Deno.test("planV1() sends hugetlb limits to the hybrid cgroup2 mount when v1 has no hugetlb", () => {
  const plan = planV1({ hugepageLimits: [{ pageSize: "2MB", limit: 2097152 }] }, V1_HOST);
  assert.deepEqual(plan.writes.map((w) => [w.controller, w.file, w.value, w.enable]), [
    ["unified", "hugetlb.2MB.max", "2097152", "hugetlb"],
    ["unified", "hugetlb.2MB.rsvd.max", "2097152", "hugetlb"],
  ]);
  const v1 = planV1({ hugepageLimits: [{ pageSize: "2MB", limit: 1 }] }, {
    ...V1_HOST,
    controllers: [...V1_HOST.controllers!, "hugetlb"],
  });
  assert.deepEqual(files(v1.writes), [
    "hugetlb.2MB.limit_in_bytes=1",
    "hugetlb.2MB.rsvd.limit_in_bytes=1",
  ]);
  specError(
    () =>
      planV1({ hugepageLimits: [{ pageSize: "2MB", limit: 1 }] }, {
        ...V1_HOST,
        unifiedControllers: [],
      }),
    "linux.resources.hugepageLimits[0]",
    /hugetlb controller is not available/,
  );
});

Deno.test("planV1() writes net_cls.classid and net_prio.ifpriomap where mounted", () => {
  const host = { ...V1_HOST, controllers: [...V1_HOST.controllers!, "net_cls", "net_prio"] };
  assert.deepEqual(
    files(
      planV1({ network: { classID: 0x100001, priorities: [{ name: "eth0", priority: 5 }] } }, host)
        .writes,
    ),
    ["net_cls.classid=1048577", "net_prio.ifpriomap=eth0 5"],
  );
  specError(
    () => planV1({ network: { classID: 1 } }, V1_HOST),
    "linux.resources.network.classID",
    /net_cls controller/,
  );
});

Deno.test("planV1() accepts unified only for controllers of the hybrid cgroup2 mount", () => {
  const plan = planV1({ unified: { "hugetlb.2MB.max": "0" } }, V1_HOST);
  assert.deepEqual(plan.writes.map((w) => [w.controller, w.file, w.enable]), [[
    "unified",
    "hugetlb.2MB.max",
    "hugetlb",
  ]]);
  specError(
    () => planV1({ unified: { "memory.max": "1" } }, V1_HOST),
    'linux.resources.unified["memory.max"]',
    /not available/,
  );
  specError(
    () => planV1({ unified: { "memory.max": "1" } }, { ...V1_HOST, unifiedControllers: undefined }),
    "linux.resources.unified",
    /only cgroup v1/,
  );
});

Deno.test("planV1() starts the devices list from deny-all and splits 'a' rules into c and b", () => {
  const plan = planV1({
    devices: [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
      { allow: true, type: "a", major: 7, access: "r" },
    ],
  }, V1_HOST);
  assert.deepEqual(files(plan.writes), [
    "devices.deny=a",
    "devices.deny=a",
    "devices.allow=c 1:3 rw",
    "devices.allow=c 7:* r",
    "devices.allow=b 7:* r",
  ]);
  assert.deepEqual(
    planV1({ devices: [{ allow: false, access: "rwm" }] }, V1_HOST, { skipDevices: true }).writes,
    [],
  );
});

Deno.test("planV1() and planV2() return nothing for absent or empty resources", () => {
  assert.deepEqual(planV1(undefined), { writes: [], warnings: [] });
  assert.deepEqual(planV2({}), { writes: [], warnings: [] });
});
