import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, runIn, testId } from "../_helpers/bundle.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { hasCommand } from "../_helpers/host.ts";
import type { Spec } from "../../spec/config.ts";

function statusField(status: string, field: string): string {
  return status.split("\n").find((l) => l.startsWith(`${field}:`))?.split(/\s+/)[1] ?? "";
}

Deno.test("process.args[0] is looked up in the container's PATH", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.env = ["PATH=/opt/tools:/bin"];
  });
  await Deno.mkdir(join(bundle.rootfs, "opt/tools"), { recursive: true });
  await Deno.writeTextFile(
    join(bundle.rootfs, "opt/tools/hello"),
    "#!/bin/sh\necho from-opt-tools\n",
    { mode: 0o755 },
  );
  const result = await runIn(bundle, ["hello"]);
  assert.equal(result.stdout, "from-opt-tools\n");
});

Deno.test("process.env is the container's whole environment, plus HOME from /etc/passwd", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.env = ["PATH=/bin", "FOO=bar baz"];
    spec.process!.user = { uid: 1000, gid: 1000 };
  });
  const result = await runIn(bundle, ["env"]);
  assert.deepEqual(result.stdout.trim().split("\n").sort(), [
    "FOO=bar baz",
    "HOME=/home/skiff",
    "PATH=/bin",
  ]);
});

Deno.test("process.cwd is created when missing and is the working directory", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.cwd = "/work/dir";
  });
  const result = await runIn(bundle, ["pwd"]);
  assert.equal(result.stdout, "/work/dir\n");
});

Deno.test("process.user sets uid, gid, additional gids and umask", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.user = { uid: 1234, gid: 2345, additionalGids: [5, 3456], umask: 0o077 };
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f",
  ]);
  assert.equal(result.stdout, "1234\n2345\n2345 5 3456\n0077\n600\n", result.stderr);
});

Deno.test("process.rlimits are set on the container process", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.rlimits = [
      { type: "RLIMIT_NOFILE", soft: 123, hard: 456 },
      { type: "RLIMIT_CORE", soft: 0, hard: 0 },
    ];
  });
  const result = await runIn(bundle, ["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"]);
  assert.equal(result.stdout, "123\n456\n0\n");
});

Deno.test("process.noNewPrivileges sets NoNewPrivs, and it is off when false", async () => {
  await using on = await makeBundle((spec) => {
    spec.process!.noNewPrivileges = true;
  });
  assert.equal(
    statusField((await runIn(on, ["cat", "/proc/self/status"])).stdout, "NoNewPrivs"),
    "1",
  );
  await using off = await makeBundle((spec) => {
    spec.process!.noNewPrivileges = false;
  });
  assert.equal(
    statusField((await runIn(off, ["cat", "/proc/self/status"])).stdout, "NoNewPrivs"),
    "0",
  );
});

Deno.test("process.capabilities set the bounding, effective, permitted, inheritable and ambient sets", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.user = { uid: 1000, gid: 1000 };
    spec.process!.capabilities = {
      bounding: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
      effective: ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
      permitted: ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
      inheritable: ["CAP_NET_BIND_SERVICE"],
      ambient: ["CAP_NET_BIND_SERVICE"],
    };
  });
  const status = (await runIn(bundle, ["cat", "/proc/self/status"])).stdout;
  // CAP_CHOWN=0, CAP_KILL=5, CAP_NET_BIND_SERVICE=10.
  assert.equal(statusField(status, "CapBnd"), "0000000000000421");
  assert.equal(statusField(status, "CapInh"), "0000000000000400");
  // A non-root process keeps across execve only its ambient capabilities.
  assert.equal(statusField(status, "CapPrm"), "0000000000000400");
  assert.equal(statusField(status, "CapEff"), "0000000000000400");
  assert.equal(statusField(status, "CapAmb"), "0000000000000400");
});

Deno.test("root in the container gets the configured capability sets", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.capabilities = {
      bounding: ["CAP_KILL", "CAP_SYS_CHROOT"],
      effective: ["CAP_KILL", "CAP_SYS_CHROOT"],
      permitted: ["CAP_KILL", "CAP_SYS_CHROOT"],
    };
  });
  const status = (await runIn(bundle, ["cat", "/proc/self/status"])).stdout;
  assert.equal(statusField(status, "CapBnd"), "0000000000040020");
  assert.equal(statusField(status, "CapEff"), "0000000000040020");
});

Deno.test("capabilities that cannot be granted are logged as warnings and left out (config.md)", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.capabilities = {
      bounding: ["CAP_KILL", "CAP_FLY"],
      effective: ["CAP_KILL"],
      permitted: ["CAP_KILL"],
      // Ambient without inheritable, as `runc spec` writes it: the kernel would refuse the raise.
      ambient: ["CAP_KILL"],
    };
  });
  const result = await runIn(bundle, ["cat", "/proc/self/status"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /capability CAP_FLY is not known: ignored/);
  assert.match(result.stderr, /ambient capability CAP_KILL is not raised/);
  assert.equal(statusField(result.stdout, "CapBnd"), "0000000000000020");
  assert.equal(statusField(result.stdout, "CapAmb"), "0000000000000000");
});

Deno.test("a bundle written by `runc spec` runs unchanged but for its args", {
  ignore: !hasCommand("runc"),
}, async () => {
  await using bundle = await makeBundle();
  await Deno.remove(join(bundle.dir, "config.json"));
  const spec = await new Deno.Command("runc", { args: ["spec"], cwd: bundle.dir }).output();
  assert.ok(spec.success, new TextDecoder().decode(spec.stderr));
  const config = JSON.parse(await Deno.readTextFile(join(bundle.dir, "config.json")));
  config.process.terminal = false;
  config.process.args = ["sh", "-c", "grep -E '^(CapEff|CapAmb)' /proc/self/status"];
  await Deno.writeTextFile(join(bundle.dir, "config.json"), JSON.stringify(config));
  const result = await bundle.skiff(["run", "--bundle", bundle.dir, testId()]);
  assert.equal(result.code, 0, result.stderr);
  // runc spec: effective = permitted = bounding = AUDIT_WRITE, KILL, NET_BIND_SERVICE; no ambient.
  assert.equal(result.stdout, "CapEff:\t0000000020000420\nCapAmb:\t0000000000000000\n");
});

Deno.test("fds are closed on exec even under a seccomp profile that refuses close_range", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
      syscalls: [{ names: ["close_range"], action: "SCMP_ACT_ERRNO" }],
    };
  });
  const result = await runIn(bundle, ["ls", "/proc/self/fd"]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split("\n").map(Number).sort(), [0, 1, 2, 3]);
});

Deno.test("process.oomScoreAdj is set on the container process", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.oomScoreAdj = 345;
  });
  const result = await runIn(bundle, ["cat", "/proc/self/oom_score_adj"]);
  assert.equal(result.stdout, "345\n");
});

Deno.test("the container process starts with no signal ignored, though Deno ignores SIGPIPE and 32", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["grep", "SigIgn", "/proc/self/status"];
  });
  const id = testId();
  bundle.ids.add(id);
  // Started with default dispositions, not with those of this test's Deno (which ignores both).
  const run = await new Deno.Command("env", {
    args: ["--default-signal", SKIFF, "--root", bundle.root, "run", "--bundle", bundle.dir, id],
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  assert.equal(
    decoder.decode(run.stdout),
    "SigIgn:\t0000000000000000\n",
    decoder.decode(run.stderr),
  );
});

Deno.test("no file descriptor other than 0-2 reaches the container process", async () => {
  await using bundle = await makeBundle();
  const result = await runIn(bundle, ["ls", "/proc/self/fd"]);
  // ls itself opens one fd for the directory it lists.
  assert.deepEqual(result.stdout.trim().split("\n").map(Number).sort(), [0, 1, 2, 3]);
});

Deno.test("--preserve-fds passes fds 3..3+N-1 to the container", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"];
  });
  const data = join(bundle.dir, "fd3");
  await Deno.writeTextFile(data, "fd3-content\n");
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      `exec 3<${data}; exec "$@"`,
      "sh",
      Deno.env.get("SKIFF_BIN") ?? join(Deno.cwd(), "dist/skiff"),
      "--root",
      bundle.root,
      "run",
      "--preserve-fds",
      "1",
      "-b",
      bundle.dir,
      testId(),
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.match(stdout, /^fd3-content\n0 1 2 3 4 $/, new TextDecoder().decode(out.stderr));
});

Deno.test("a missing executable fails create with runc's message", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["no-such-program"];
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /exec: "no-such-program": executable file not found in \$PATH/);
  const absolute = await runIn(bundle, ["/no/such/file"]);
  assert.match(
    absolute.stderr,
    /exec: "\/no\/such\/file": stat \/no\/such\/file: no such file or directory/,
  );
});

Deno.test("a non-executable file fails with permission denied", async () => {
  await using bundle = await makeBundle();
  await Deno.writeTextFile(join(bundle.rootfs, "notexec"), "data", { mode: 0o644 });
  const result = await runIn(bundle, ["/notexec"]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /exec: "\/notexec": permission denied/);
});

/**
 * Creates a container that waits for start (`edit` shapes it), then runs `script` in a second
 * container that shares its PID namespace: root, but without CAP_SYS_PTRACE. Returns the waiting
 * init's /proc status and what the peer printed; both bundles are gone afterwards.
 */
async function peekAtWaitingInit(
  edit: (spec: Spec) => void,
  script: string,
  env: Record<string, string> = {},
): Promise<{ status: string; stdout: string; stderr: string }> {
  await using waiting = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
    edit(spec);
  });
  const id = testId();
  await waiting.skiff(["create", "-b", waiting.dir, id], { env });
  const pid = JSON.parse((await waiting.skiff(["state", id])).stdout).pid;
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  await using peer = await makeBundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.map((n) =>
      n.type === "pid" ? { type: "pid", path: `/proc/${pid}/ns/pid` } : n
    );
  });
  const result = await runIn(peer, ["sh", "-c", script]);
  return { status, stdout: result.stdout, stderr: result.stderr };
}

Deno.test("a created container waits as the sealed waiter, not as the runtime (CVE-2019-5736)", async () => {
  const seen = await peekAtWaitingInit(
    () => {},
    "readlink /proc/1/exe; (echo x >>/proc/1/exe) 2>/dev/null && echo WRITTEN || echo write-denied",
  );
  // Not Deno: a few hundred bytes in a sealed memfd, a few kB of memory.
  assert.match(seen.status, /Name:\s+memfd:skiff-tra/);
  assert.ok(Number(/VmRSS:\s+(\d+) kB/.exec(seen.status)![1]) < 1024, seen.status);
  // What the peer can reach through /proc/1/exe is the waiter, and it can't be written.
  assert.equal(seen.stdout, "/memfd:skiff-trampoline (deleted)\nwrite-denied\n", seen.stderr);
});

Deno.test("a container cannot reach the runtime binary through /proc of a waiting Deno init (CVE-2019-5736)", async () => {
  // SKIFF_DENO_INIT=1 takes the Deno init (trampolineInitReason), and a startContainer hook keeps
  // it a Deno until start (it runs the hook; init/standard.ts): it must not be dumpable.
  const seen = await peekAtWaitingInit(
    (spec) => {
      spec.hooks = { startContainer: [{ path: "/bin/true", timeout: 30 }] };
    },
    "cat /proc/1/comm; readlink /proc/1/exe || echo exe-denied; cat /proc/1/environ >/dev/null 2>&1 || echo environ-denied",
    { SKIFF_DENO_INIT: "1" },
  );
  // The init is a Deno process: its /proc/<pid>/exe is the Deno binary that runs Skiff.
  assert.match(seen.status, /Name:\s+deno/);
  assert.equal(seen.stdout, "deno\nexe-denied\nenviron-denied\n", seen.stderr);
});

Deno.test("the container gets its own session keyring _ses.<id>, unless --no-new-keyring", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.maskedPaths = [];
    spec.process!.args = ["cat", "/proc/keys"];
  });
  const id = testId();
  const result = await bundle.skiff(["run", "-b", bundle.dir, id]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`keyring\\s+_ses\\.${id.replaceAll(".", "\\.")}: `));
  // A random part: keyrings outlive their containers, and another test process that had the
  // same pid earlier (pids wrap on a busy machine) may have left a _ses.t-PID-N behind.
  const without = testId(`nokr${crypto.randomUUID().slice(0, 8)}`);
  const plain = await bundle.skiff(["run", "--no-new-keyring", "-b", bundle.dir, without]);
  assert.equal(plain.code, 0, plain.stderr);
  // /proc/keys was read (root sees at least the kernel's keyrings) and has no keyring for this ID.
  assert.match(plain.stdout, /^[0-9a-f]{8} \S+ +\d+ \S+ [0-9a-f]{8} +\d+ +\d+ keyring /m);
  assert.doesNotMatch(plain.stdout, new RegExp(`_ses\\.${without}: `));
});

Deno.test("a process.cwd only the runtime may enter works for a non-root user, as in runc", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.user = { uid: 1000, gid: 1000 };
    spec.process!.cwd = "/secret";
  });
  // runc changes into the cwd while it is still root, and only retries as the user on EACCES.
  await Deno.mkdir(join(bundle.rootfs, "secret"), { mode: 0o700 });
  await Deno.chmod(join(bundle.rootfs, "secret"), 0o700);
  const result = await runIn(bundle, ["sh", "-c", "pwd; id -u"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "/secret\n1000\n");
});

Deno.test("run -d gives the process user its stdio; run in the foreground leaves the caller's own alone", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.user = { uid: 1000, gid: 1000 };
    spec.process!.args = ["sh", "-c", "stat -L -c %u /proc/self/fd/1; echo reopened >>/dev/stdout"];
  });
  const runWithStdout = async (flags: string[], file: string, id: string) => {
    await Deno.writeTextFile(file, "");
    const cmd = `exec "$@" >${file} 2>&1 </dev/null`;
    const args = ["--root", bundle.root, "run", ...flags, "-b", bundle.dir, id];
    bundle.ids.add(id);
    return await new Deno.Command("/bin/sh", { args: ["-c", cmd, "sh", SKIFF, ...args] }).output();
  };
  // runc run -d (and create) chowns inherited stdio that is not /dev/null to the process uid
  // (fixStdioPermissions), so that a non-root process can reopen /dev/stdout.
  const detached = join(bundle.dir, "detached.out");
  const id = testId();
  assert.ok((await runWithStdout(["-d"], detached, id)).success);
  const deadline = Date.now() + 10_000;
  while (!(await Deno.readTextFile(detached)).includes("reopened") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await Deno.readTextFile(detached), "1000\nreopened\n");
  assert.equal((await Deno.stat(detached)).uid, 1000);
  // In the foreground runc would hand the container pipes of its own; Skiff passes the caller's
  // stdio, which must keep its owner.
  const foreground = join(bundle.dir, "foreground.out");
  await runWithStdout([], foreground, testId());
  assert.equal((await Deno.stat(foreground)).uid, 0);
  assert.match(await Deno.readTextFile(foreground), /^0\n/);
});
