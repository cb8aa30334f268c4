/**
 * process.scheduler, process.ioPriority, process.execCPUAffinity, linux.personality,
 * linux.memoryPolicy, linux.netDevices and linux.intelRdt: read back from inside real containers,
 * and refused with their JSON path when they cannot be applied.
 */
import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import type { Spec } from "../../spec/config.ts";
import {
  initsUnder,
  makeBundle,
  runIn,
  startDetached,
  type TestBundle,
  testId,
} from "../_helpers/bundle.ts";
import { exists, hostMounts } from "../_helpers/host.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { resctrlMount } from "../../runtime/intel_rdt.ts";
import { SKIFF } from "../_helpers/paths.ts";

/** nice (field 19) and policy (field 41) of /proc/PID/stat; the shell's comm has no spaces. */
const NICE_POLICY = `cut -d" " -f19,41 /proc/$$/stat`;

const twoCpus = navigator.hardwareConcurrency >= 2;

async function execWithProcess(
  bundle: TestBundle,
  id: string,
  edit: (process: NonNullable<Spec["process"]>) => void,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const process = structuredClone(bundle.spec.process!);
  edit(process);
  const file = join(bundle.dir, "process.json");
  await Deno.writeTextFile(file, JSON.stringify(process));
  return await bundle.skiff(["exec", "--process", file, id]);
}

Deno.test("process.scheduler sets policy and nice of the container process", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.scheduler = { policy: "SCHED_BATCH", nice: 7 };
  });
  const result = await runIn(bundle, ["sh", "-c", NICE_POLICY]);
  assert.equal(result.stdout, "7 3\n", result.stderr);
});

Deno.test("process.scheduler.flags are applied: RESET_ON_FORK gives children nice 0", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.scheduler = {
      policy: "SCHED_OTHER",
      nice: -5,
      flags: ["SCHED_FLAG_RESET_ON_FORK"],
    };
  });
  // The trailing `true` keeps ash from exec'ing the inner sh in place of forking it.
  const result = await runIn(bundle, ["sh", "-c", `${NICE_POLICY}; sh -c '${NICE_POLICY}'; true`]);
  assert.equal(result.stdout, "-5 0\n0 0\n", result.stderr);
});

Deno.test("exec takes process.scheduler from config.json, or from process.json", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.scheduler = { policy: "SCHED_BATCH", nice: 3 };
  });
  const { id } = await startDetached(bundle);
  const inherited = await bundle.skiff(["exec", id, "sh", "-c", NICE_POLICY]);
  assert.equal(inherited.stdout, "3 3\n", inherited.stderr);
  const own = await execWithProcess(bundle, id, (p) => {
    p.args = ["sh", "-c", NICE_POLICY];
    p.scheduler = { policy: "SCHED_IDLE" };
  });
  assert.equal(own.stdout, "0 5\n", own.stderr);
  // runc: a process.json without a scheduler gets config.json's.
  const fallback = await execWithProcess(bundle, id, (p) => {
    p.args = ["sh", "-c", NICE_POLICY];
    delete p.scheduler;
  });
  assert.equal(fallback.stdout, "3 3\n", fallback.stderr);
});

Deno.test("process.ioPriority sets the I/O class and level, for exec too", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 5 };
  });
  const result = await runIn(bundle, ["sh", "-c", "ionice -p $$"]);
  assert.equal(result.stdout, "best-effort: prio 5\n", result.stderr);
  const { id } = await startDetached(bundle);
  const own = await execWithProcess(bundle, id, (p) => {
    p.args = ["sh", "-c", "ionice -p $$"];
    p.ioPriority = { class: "IOPRIO_CLASS_IDLE", priority: 0 };
  });
  assert.equal(own.stdout, "idle\n", own.stderr);
});

Deno.test("linux.personality LINUX32 makes uname report a 32-bit machine, for exec too", {
  ignore: Deno.build.arch !== "x86_64",
}, async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.personality = { domain: "LINUX32" };
  });
  const result = await runIn(bundle, ["sh", "-c", "uname -m; cat /proc/self/personality"]);
  assert.equal(result.stdout, "i686\n00000008\n", result.stderr);
  const { id } = await startDetached(bundle);
  const exec = await bundle.skiff(["exec", id, "uname", "-m"]);
  assert.equal(exec.stdout, "i686\n", exec.stderr);
});

Deno.test("linux.memoryPolicy sets the NUMA policy and its flags, for exec too", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.memoryPolicy = {
      mode: "MPOL_INTERLEAVE",
      nodes: "0",
      flags: ["MPOL_F_STATIC_NODES"],
    };
  });
  const policy = "head -1 /proc/self/numa_maps | cut -d' ' -f2";
  const result = await runIn(bundle, ["sh", "-c", policy]);
  assert.equal(result.stdout, "interleave=static:0\n", result.stderr);
  const { id } = await startDetached(bundle);
  const exec = await bundle.skiff(["exec", id, "sh", "-c", policy]);
  assert.equal(exec.stdout, "interleave=static:0\n", exec.stderr);
});

const CPUS_ALLOWED = "grep Cpus_allowed_list /proc/self/status | cut -f2";

Deno.test("exec with a scheduler, an I/O priority, an affinity, a personality and a memory policy needs no Deno exec init", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.scheduler = { policy: "SCHED_BATCH", nice: 4 };
    spec.process!.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 6 };
    spec.process!.execCPUAffinity = { final: "0" };
    spec.linux!.memoryPolicy = { mode: "MPOL_INTERLEAVE", nodes: "0" };
    if (Deno.build.arch === "x86_64") spec.linux!.personality = { domain: "LINUX32" };
  });
  const { id } = await startDetached(bundle);
  const script = `${NICE_POLICY}; ionice -p $$; ${CPUS_ALLOWED}; ` +
    "head -1 /proc/self/numa_maps | cut -d' ' -f2; cat /proc/self/personality";
  const exec = await bundle.skiff(["--debug", "exec", id, "sh", "-c", script]);
  assert.equal(exec.code, 0, exec.stderr);
  const persona = Deno.build.arch === "x86_64" ? "00000008" : "00000000";
  assert.equal(exec.stdout, `4 3\nbest-effort: prio 6\n0\ninterleave:0\n${persona}\n`);
  // The exec trampoline exec'd it (exec_trampoline.ts), not a second Deno (init/setns.ts).
  assert.match(exec.stderr, /exec'd .* \(trampoline\)/);
  assert.doesNotMatch(exec.stderr, /needs the Deno exec init/);
});

Deno.test({
  name: "process.execCPUAffinity: final is the exec'd process's affinity; the init ignores it",
  ignore: !twoCpus,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.process!.execCPUAffinity = { initial: "0", final: "1" };
    });
    // config.md: "This setting is not applicable to the container's init process."
    const init = await runIn(bundle, ["sh", "-c", CPUS_ALLOWED]);
    assert.notEqual(init.stdout, "1\n", init.stderr);
    const { id } = await startDetached(bundle);
    const exec = await bundle.skiff(["exec", id, "sh", "-c", CPUS_ALLOWED]);
    assert.equal(exec.stdout, "1\n", exec.stderr);
  },
});

Deno.test({
  name: "process.execCPUAffinity.initial alone is kept by the exec'd process (from process.json)",
  ignore: !twoCpus,
  async fn() {
    await using bundle = await makeBundle();
    const { id } = await startDetached(bundle);
    const result = await execWithProcess(bundle, id, (p) => {
      p.args = ["sh", "-c", CPUS_ALLOWED];
      p.execCPUAffinity = { initial: "1" };
    });
    assert.equal(result.stdout, "1\n", result.stderr);
  },
});

/** Runs skiff pinned to CPU 0 (as a caller started with taskset would be); returns stdout. */
async function skiffOnCpu0(bundle: TestBundle, args: string[]): Promise<string> {
  const out = await new Deno.Command("taskset", {
    args: ["-c", "0", SKIFF, "--root", bundle.root, ...args],
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  assert.equal(out.code, 0, text.decode(out.stderr));
  return text.decode(out.stdout);
}

Deno.test({
  name: "without execCPUAffinity, the init and exec'd processes don't inherit skiff's affinity",
  ignore: !twoCpus,
  async fn() {
    await using bundle = await makeBundle();
    const all = (await Deno.readTextFile("/proc/self/status")).match(
      /Cpus_allowed_list:\s*(\S+)/,
    )![1];
    bundle.spec.process!.args = ["sh", "-c", CPUS_ALLOWED];
    await bundle.writeSpec();
    const id = testId();
    bundle.ids.add(id);
    assert.equal(await skiffOnCpu0(bundle, ["run", "-b", bundle.dir, id]), `${all}\n`);
    const { id: other } = await startDetached(bundle);
    const exec = await skiffOnCpu0(bundle, ["exec", other, "sh", "-c", CPUS_ALLOWED]);
    assert.equal(exec, `${all}\n`);
  },
});

/** A veth pair made for one test; disposing it removes whatever is left of it. */
async function vethPair(): Promise<AsyncDisposable & { name: string; peer: string }> {
  const name = `skv${Deno.pid % 100000}a`;
  const peer = `skv${Deno.pid % 100000}b`;
  const ip = async (...args: string[]) => {
    const out = await new Deno.Command("ip", { args, stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  await ip("link", "add", name, "type", "veth", "peer", "name", peer);
  await ip("addr", "add", "10.199.7.2/24", "dev", name);
  await ip("-6", "addr", "add", "fd00:199::2/64", "dev", name, "nodad");
  await ip("link", "set", name, "up");
  return {
    name,
    peer,
    async [Symbol.asyncDispose]() {
      for (const dev of [name, peer]) {
        if (exists(`/sys/class/net/${dev}`)) await ip("link", "del", dev).catch(() => {});
      }
    },
  };
}

Deno.test("linux.netDevices moves a host device in, renamed, with its addresses, and up", async () => {
  await using veth = await vethPair();
  await using bundle = await makeBundle((spec) => {
    spec.linux!.netDevices = { [veth.name]: { name: "ctr0" } };
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "ip addr show ctr0 | grep -o 'inet6\\? [^ ]*'; cat /sys/class/net/ctr0/flags",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const [v4, v6, flags] = result.stdout.trim().split("\n");
  assert.equal(v4, "inet 10.199.7.2/24");
  assert.equal(v6, "inet6 fd00:199::2/64");
  assert.equal(Number(flags) & 1, 1, "IFF_UP");
  // The spec leaves the device to the kernel: a veth dies with the container's namespace.
  for (let i = 0; i < 100 && exists(`/sys/class/net/${veth.peer}`); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(exists(`/sys/class/net/${veth.name}`), false, "moved off the host");
  assert.equal(exists(`/sys/class/net/${veth.peer}`), false, "destroyed with the namespace");
});

Deno.test("features reports memoryPolicy, netDevices, and intelRdt only with resctrl", async () => {
  const f = JSON.parse((await runSkiff(["features"])).stdout).linux;
  assert.deepEqual(f.memoryPolicy.modes, [
    "MPOL_BIND",
    "MPOL_DEFAULT",
    "MPOL_INTERLEAVE",
    "MPOL_LOCAL",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_WEIGHTED_INTERLEAVE",
  ]);
  assert.deepEqual(f.memoryPolicy.flags, [
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
  ]);
  assert.equal(f.netDevices.enabled, true);
  assert.equal(f.intelRdt.enabled, resctrlMount() !== undefined);
});

interface BadCase {
  name: string;
  edit: (spec: Spec) => void;
  message: RegExp;
  ignore?: boolean;
}

const BAD: BadCase[] = [
  {
    name: "an unknown scheduler policy",
    edit: (s) => void (s.process!.scheduler = { policy: "SCHED_FAST" }),
    message: /process\.scheduler\.policy: "SCHED_FAST" is not one of SCHED_OTHER, SCHED_FIFO/,
  },
  {
    name: "an unknown scheduler flag",
    edit: (s) => void (s.process!.scheduler = { policy: "SCHED_OTHER", flags: ["SCHED_FLAG_X"] }),
    message:
      /process\.scheduler\.flags\[0\]: "SCHED_FLAG_X" is not one of SCHED_FLAG_RESET_ON_FORK/,
  },
  {
    name: "a scheduler priority without a real-time policy",
    edit: (s) => void (s.process!.scheduler = { policy: "SCHED_BATCH", priority: 5 }),
    message: /process\.scheduler\.priority: must be 0 unless policy is SCHED_FIFO or SCHED_RR/,
  },
  {
    name: "a scheduler policy the kernel refuses (SCHED_ISO)",
    edit: (s) => void (s.process!.scheduler = { policy: "SCHED_ISO" }),
    message: /process\.scheduler: cannot set policy SCHED_ISO: sched_setattr .*EINVAL/,
  },
  {
    name: "an unknown I/O priority class",
    edit: (s) => void (s.process!.ioPriority = { class: "IOPRIO_CLASS_FAST", priority: 0 }),
    message: /process\.ioPriority\.class: "IOPRIO_CLASS_FAST" is not one of IOPRIO_CLASS_RT/,
  },
  {
    name: "an I/O priority level above 7",
    edit: (s) => void (s.process!.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 8 }),
    message: /process\.ioPriority\.priority: 8 is out of range \(0 to 7\)/,
  },
  {
    name: "a CPU list that is not a list",
    edit: (s) => void (s.process!.execCPUAffinity = { initial: "0-" }),
    message: /process\.execCPUAffinity\.initial: "0-" is not a valid list: "0-" is not a number/,
  },
  {
    name: "a CPU range that ends before it starts",
    edit: (s) => void (s.process!.execCPUAffinity = { final: "3-1" }),
    message: /process\.execCPUAffinity\.final: "3-1" is not a valid list: .* ends before it starts/,
  },
  {
    name: "an unknown personality domain",
    edit: (s) => void (s.linux!.personality = { domain: "LINUX64" }),
    message: /linux\.personality\.domain: "LINUX64" is not one of LINUX, LINUX32/,
  },
  {
    name: "personality flags (the spec defines none)",
    edit: (s) => void (s.linux!.personality = { domain: "LINUX", flags: ["ADDR_NO_RANDOMIZE"] }),
    message: /linux\.personality\.flags\[0\]: "ADDR_NO_RANDOMIZE": no flags are supported/,
  },
  {
    name: "an unknown memory policy mode",
    edit: (s) => void (s.linux!.memoryPolicy = { mode: "MPOL_FAST" }),
    message: /linux\.memoryPolicy\.mode: "MPOL_FAST" is not one of MPOL_DEFAULT/,
  },
  {
    name: "MPOL_BIND without nodes",
    edit: (s) => void (s.linux!.memoryPolicy = { mode: "MPOL_BIND" }),
    message: /linux\.memoryPolicy\.nodes: must list at least one node when mode is MPOL_BIND/,
  },
  {
    name: "MPOL_LOCAL with nodes",
    edit: (s) => void (s.linux!.memoryPolicy = { mode: "MPOL_LOCAL", nodes: "0" }),
    message: /linux\.memoryPolicy\.nodes: must be empty when mode is MPOL_LOCAL/,
  },
  {
    name: "an unknown memory policy flag",
    edit: (s) =>
      void (s.linux!.memoryPolicy = { mode: "MPOL_BIND", nodes: "0", flags: ["MPOL_F_X"] }),
    message: /linux\.memoryPolicy\.flags\[0\]: "MPOL_F_X" is not one of MPOL_F_NUMA_BALANCING/,
  },
  {
    name: "a memory policy on nodes the host does not have",
    edit: (s) => void (s.linux!.memoryPolicy = { mode: "MPOL_BIND", nodes: "63" }),
    message: /linux\.memoryPolicy: cannot set MPOL_BIND: .*set_mempolicy .*EINVAL/,
  },
  {
    name: "netDevices without a network namespace",
    edit: (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "network");
      s.linux!.netDevices = { eth0: {} };
    },
    message:
      /linux\.netDevices: network devices can only be moved into a container that has a network namespace/,
  },
  {
    name: "a netDevices name the kernel would refuse",
    edit: (s) => void (s.linux!.netDevices = { eth0: { name: "has/slash" } }),
    message: /linux\.netDevices\.eth0\.name: "has\/slash" is not a valid network interface name/,
  },
  {
    name: "a netDevices device the host does not have",
    edit: (s) => void (s.linux!.netDevices = { skiffnodev0: {} }),
    message: /linux\.netDevices\.skiffnodev0: cannot move network device skiffnodev0 .*ENODEV/,
  },
  {
    name: "intelRdt without a mounted resctrl",
    edit: (s) => void (s.linux!.intelRdt = { closID: "web" }),
    message: /linux\.intelRdt: Intel RDT is not available: no resctrl filesystem is mounted/,
    ignore: resctrlMount() !== undefined,
  },
  {
    name: "an intelRdt memBwSchema that does not start with MB:",
    edit: (s) => void (s.linux!.intelRdt = { memBwSchema: "L3:0=ff" }),
    message: /linux\.intelRdt\.memBwSchema: "L3:0=ff" does not start with "MB:"/,
  },
];

for (const c of BAD) {
  Deno.test({
    name: `create refuses ${c.name}, names the field, and leaves nothing behind`,
    ignore: c.ignore,
    async fn() {
      await using bundle = await makeBundle();
      c.edit(bundle.spec);
      await bundle.writeSpec();
      const mountsBefore = hostMounts();
      const id = testId();
      const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, c.message);
      assert.equal(result.stderr.trim().split("\n").length, 1, "one line");
      assert.equal(exists(join(bundle.root, id)), false, "no state directory");
      assert.deepEqual(hostMounts(), mountsBefore, "no mount");
      // Only this bundle's inits: other test runs on the machine start their own.
      assert.deepEqual(initsUnder(bundle.dir), [], "no process");
    },
  });
}

Deno.test("exec --process refuses a bad execCPUAffinity, naming the file and the field", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const result = await execWithProcess(bundle, id, (p) => {
    p.execCPUAffinity = { final: "one" };
  });
  assert.equal(result.code, 255); // runc: exec that fails before the process runs
  assert.match(
    result.stderr,
    /process\.json: process\.execCPUAffinity\.final: "one" is not a valid list/,
  );
});
