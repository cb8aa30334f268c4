import assert from "node:assert/strict";
import { join } from "node:path";
import type { Seccomp } from "../../spec/config.ts";
import { makeBundle, runIn, testId } from "../_helpers/bundle.ts";
import { exists, hasCommand } from "../_helpers/host.ts";
import { REPO } from "../_helpers/paths.ts";
import {
  dockerProfileToSeccomp,
  PODMAN_DEFAULT_CAPS,
  readPodmanProfile,
} from "../../runtime/security/seccomp/_testing.ts";

const NATIVE = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";

function allowAllBut(syscalls: Seccomp["syscalls"]): Seccomp {
  return { defaultAction: "SCMP_ACT_ALLOW", syscalls };
}

Deno.test("an SCMP_ACT_ERRNO rule makes the syscall fail with the configured errno", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([
      { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 18 },
    ]);
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "mkdir /tmp/x || echo refused; touch /tmp/y && echo touched",
  ]);
  assert.match(result.stderr, /Invalid cross-device link/);
  assert.equal(result.stdout, "refused\ntouched\n");
});

Deno.test("defaultErrnoRet is returned for everything the profile does not allow", async () => {
  await using bundle = await makeBundle((spec) => {
    const base = dockerProfileToSeccomp(readPodmanProfile()!, NATIVE, PODMAN_DEFAULT_CAPS);
    spec.linux!.seccomp = { ...base, defaultErrnoRet: 38 };
  });
  const result = await runIn(bundle, ["sh", "-c", "unshare -n true 2>&1 || echo exit=$?"]);
  assert.match(result.stdout, /Function not implemented|Operation not permitted/);
  assert.match(result.stdout, /exit=1/);
});

Deno.test("an SCMP_ACT_KILL rule kills the process with SIGSYS", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([{ names: ["uname"], action: "SCMP_ACT_KILL" }]);
  });
  const result = await runIn(bundle, ["uname", "-a"]);
  assert.equal(result.code, 128 + 31);
  assert.equal(result.stdout, "");
});

Deno.test("SCMP_ACT_KILL_PROCESS kills the whole process", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([{ names: ["uname"], action: "SCMP_ACT_KILL_PROCESS" }]);
  });
  assert.equal((await runIn(bundle, ["uname"])).code, 128 + 31);
});

Deno.test("an SCMP_ACT_LOG rule lets the syscall through", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_LOG" }]);
  });
  const result = await runIn(bundle, ["sh", "-c", "mkdir /tmp/logged && echo made"]);
  assert.equal(result.stdout, "made\n");
});

Deno.test("argument conditions select which calls a rule matches", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([
      {
        names: ["chmod"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 1, value: 0o711, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["fchmodat"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 2, value: 0o711, op: "SCMP_CMP_EQ" }],
      },
    ]);
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "touch /tmp/f; chmod 755 /tmp/f && echo 755-ok; chmod 711 /tmp/f || echo 711-refused; stat -c %a /tmp/f",
  ]);
  assert.equal(result.stdout, "755-ok\n711-refused\n755\n");
});

Deno.test("an unknown syscall name is skipped, and --debug reports it", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([
      {
        names: ["mkdir", "mkdirat", "no_such_syscall_for_skiff"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
      },
    ]);
    spec.process!.args = ["sh", "-c", "mkdir /tmp/z || echo refused"];
  });
  const result = await bundle.skiff(["run", "-b", bundle.dir, testId()], { global: ["--debug"] });
  assert.equal(result.stdout, "refused\n");
  assert.match(result.stderr, /unknown syscalls skipped: .*no_such_syscall_for_skiff/);
});

Deno.test("an unknown action is refused at create, naming the JSON path", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([{
      names: ["mkdir"],
      action: "SCMP_ACT_FOO" as "SCMP_ACT_LOG",
    }]);
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /config\.json: linux\.seccomp\.syscalls\[0\]\.action: "SCMP_ACT_FOO" is not one of/,
  );
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("SCMP_ACT_NOTIFY sends the listener fd and the container state to listenerPath", async () => {
  await using bundle = await makeBundle();
  const socket = join(bundle.dir, "agent.sock");
  const out = join(bundle.dir, "agent.json");
  const agent = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "tests/_helpers/seccomp_agent.ts"), socket, out, "18"],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  try {
    for (let i = 0; i < 300 && !exists(`${out}.listening`); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    bundle.spec.linux!.seccomp = {
      ...allowAllBut([{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_NOTIFY" }]),
      listenerPath: socket,
      listenerMetadata: "test-metadata",
    };
    bundle.spec.annotations = { "org.example": "yes" };
    const result = await runIn(bundle, ["sh", "-c", "mkdir /tmp/n || echo agent-refused"]);
    assert.equal(result.stdout, "agent-refused\n", result.stderr);
    assert.match(result.stderr, /Invalid cross-device link/);
    const received = JSON.parse(await Deno.readTextFile(out));
    assert.equal(received.fds, 1);
    assert.deepEqual(received.state.fds, ["seccompFd"]);
    assert.equal(received.state.metadata, "test-metadata");
    assert.equal(received.state.state.status, "creating");
    assert.equal(received.state.state.bundle, bundle.dir);
    assert.deepEqual(received.state.state.annotations, { "org.example": "yes" });
    assert.ok(received.state.pid > 1);
    assert.equal(await Deno.readTextFile(`${out}.answered`), "1");
  } finally {
    try {
      agent.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await agent.status;
  }
});

Deno.test("SCMP_ACT_NOTIFY without listenerPath is refused at create", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = allowAllBut([{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }]);
  });
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /config\.json: linux\.seccomp\.listenerPath: is required when an action is SCMP_ACT_NOTIFY/,
  );
});

const podman = readPodmanProfile();
const runc = hasCommand("runc");
const gcc = hasCommand("gcc");

const PROBES = [
  "acct",
  "add_key",
  "bpf",
  "clock_settime",
  "delete_module",
  "init_module",
  "ioperm",
  "iopl",
  "kcmp",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mount",
  "move_pages",
  "name_to_handle_at",
  "open_by_handle_at",
  "perf_event_open",
  "pivot_root",
  "process_vm_readv",
  "ptrace",
  "quotactl",
  "reboot",
  "request_key",
  "setns",
  "settimeofday",
  "swapoff",
  "swapon",
  "sysfs",
  "umount2",
  "unshare",
  "uselib",
  "userfaultfd",
  "ustat",
  "getpid",
  "getppid",
  "sched_yield",
  "personality",
];

Deno.test({
  name: "Podman's default profile denies the same syscalls with the same errno as under runc",
  ignore: !podman || !runc || !gcc,
  async fn() {
    await using bundle = await makeBundle((spec) => {
      spec.linux!.seccomp = dockerProfileToSeccomp(podman!, NATIVE, PODMAN_DEFAULT_CAPS);
      spec.process!.capabilities = {
        bounding: [...PODMAN_DEFAULT_CAPS],
        effective: [...PODMAN_DEFAULT_CAPS],
        permitted: [...PODMAN_DEFAULT_CAPS],
      };
      spec.process!.args = ["/probe", ...PROBES];
      // runc 1.1 mounts cgroups its own way; the probe needs none.
      spec.mounts = spec.mounts!.filter((m) => m.type !== "cgroup");
      spec.linux!.resources = undefined;
    });
    const built = await new Deno.Command("gcc", {
      args: [
        "-static",
        "-O1",
        "-o",
        join(bundle.rootfs, "probe"),
        join(REPO, "tests/fixtures/seccomp_probe.c"),
      ],
    }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const skiff = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
    assert.equal(skiff.code, 0, skiff.stderr);
    const runcRoot = join(bundle.dir, "runc-state");
    const underRunc = await new Deno.Command("runc", {
      args: ["--root", runcRoot, "run", "-b", bundle.dir, testId("runc")],
      stdin: "null",
    }).output();
    const runcOut = new TextDecoder().decode(underRunc.stdout);
    assert.ok(underRunc.success, new TextDecoder().decode(underRunc.stderr));
    assert.equal(skiff.stdout, runcOut);
    // The probe list is not vacuous: the profile denies most of it.
    assert.ok((skiff.stdout.match(/=-1\/1\n/g) ?? []).length >= 20, skiff.stdout);
    assert.match(skiff.stdout, /getpid=0\/0/);
  },
});

Deno.test({
  name:
    "syscalls newer than the profile get ENOSYS only for the architectures it lists, as under runc",
  ignore: !podman || !runc || !gcc,
  async fn() {
    // runc 1.1's patchbpf prepends an ENOSYS stub per listed architecture only; -1 counts as an
    // x32 number there. Probe numbers: one no kernel has (1000) and -1.
    const cases: Array<[string[] | undefined, string]> = [
      [undefined, "getpid=0/0\nnr:1000=-1/5\nnr:0xffffffff=-1/5\n"],
      [["SCMP_ARCH_X86_64"], "getpid=0/0\nnr:1000=-1/38\nnr:0xffffffff=-1/5\n"],
      [["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"], "getpid=0/0\nnr:1000=-1/38\nnr:0xffffffff=-1/38\n"],
    ];
    for (const [architectures, expected] of cases) {
      await using bundle = await makeBundle((spec) => {
        const base = dockerProfileToSeccomp(podman!, NATIVE, PODMAN_DEFAULT_CAPS);
        spec.linux!.seccomp = { ...base, architectures, defaultErrnoRet: 5 };
        spec.process!.args = ["/probe", "getpid", "nr:1000", "nr:0xffffffff"];
        spec.mounts = spec.mounts!.filter((m) => m.type !== "cgroup");
        spec.linux!.resources = undefined;
      });
      const built = await new Deno.Command("gcc", {
        args: [
          "-static",
          "-O1",
          "-o",
          join(bundle.rootfs, "probe"),
          join(REPO, "tests/fixtures/seccomp_probe.c"),
        ],
      }).output();
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const skiff = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
      assert.equal(skiff.code, 0, skiff.stderr);
      const underRunc = await new Deno.Command("runc", {
        args: ["--root", join(bundle.dir, "runc-state"), "run", "-b", bundle.dir, testId("runc")],
        stdin: "null",
      }).output();
      assert.ok(underRunc.success, new TextDecoder().decode(underRunc.stderr));
      assert.equal(new TextDecoder().decode(underRunc.stdout), expected, "runc");
      assert.equal(skiff.stdout, expected, `architectures ${architectures}`);
    }
  },
});

Deno.test("without noNewPrivileges the filter is loaded while the init still has CAP_SYS_ADMIN", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.noNewPrivileges = false;
    spec.process!.user = { uid: 1000, gid: 1000 };
    spec.linux!.seccomp = allowAllBut([
      { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 18 },
    ]);
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "grep NoNewPrivs /proc/self/status; mkdir /tmp/q || echo refused",
  ]);
  assert.equal(result.stdout, "NoNewPrivs:\t0\nrefused\n", result.stderr);
});

Deno.test("SCMP_ACT_NOTIFY on write is refused: the init still writes after loading the filter", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = {
      ...allowAllBut([{ names: ["write"], action: "SCMP_ACT_NOTIFY" }]),
      listenerPath: "/tmp/unused.sock",
    };
  });
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /config\.json: linux\.seccomp\.syscalls\[0\]\.names: SCMP_ACT_NOTIFY cannot be used for write/,
  );
});

Deno.test("a profile that refuses getcwd still runs the container (runtime-tools linux_seccomp)", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.noNewPrivileges = false;
    spec.linux!.seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
      syscalls: [{ names: ["getcwd"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    };
  });
  const result = await runIn(bundle, ["echo", "ran"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "ran\n");
});
