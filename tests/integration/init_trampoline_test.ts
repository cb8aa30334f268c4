/**
 * The container's init without a second Deno (runtime/container/init_trampoline.ts): `run` and
 * `create` start one Deno, PID 1 is the generated trampoline, and a failure leaves nothing behind.
 */
import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { initsUnder, makeBundle, runIn, startDetached, testId } from "../_helpers/bundle.ts";
import { exists, hasCommand } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";

/** The execve(2) calls of `skiff run` of `bundle` (strace -f), and its exit code and stdout. */
async function tracedRun(
  bundle: Awaited<ReturnType<typeof makeBundle>>,
  env: Record<string, string> = {},
): Promise<{ execs: string[]; code: number; stdout: string; stderr: string }> {
  const log = join(bundle.dir, `strace-${testId()}.log`);
  const id = testId();
  bundle.ids.add(id);
  const traced = await new Deno.Command("strace", {
    args: [
      "-f",
      "-qq",
      "-e",
      "trace=execve,execveat",
      "-o",
      log,
      SKIFF,
      "--root",
      bundle.root,
      "run",
      "--bundle",
      bundle.dir,
      id,
    ],
    env,
    stdin: "null",
  }).output();
  const execs = Deno.readTextFileSync(log).split("\n").filter((l) => / execve(at)?\(/.test(l));
  return {
    execs,
    code: traced.code,
    stdout: new TextDecoder().decode(traced.stdout),
    stderr: new TextDecoder().decode(traced.stderr),
  };
}

/** The execs of a Deno binary that succeeded. */
function denos(execs: string[]): string[] {
  return execs.filter((l) => /execve\("[^"]*\/deno"/.test(l) && /= 0$/.test(l));
}

Deno.test({
  name: "run starts no second Deno: one deno execve in the whole process tree (strace -f)" +
    (hasCommand("strace") ? "" : " (needs strace)"),
  ignore: !hasCommand("strace"),
  fn: async () => {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sh", "-c", "echo pid=$$ $(hostname); ls -d /proc/[0-9]*"];
    });
    const run = await tracedRun(bundle);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `pid=1 ${bundle.spec.hostname}\n/proc/1\n`);
    assert.equal(denos(run.execs).length, 1, run.execs.join("\n"));
    // PID 1 ran the second stage from its memfd, then the container's program: no Deno did.
    assert.ok(run.execs.some((l) => /execveat\(\d+, "", /.test(l)), run.execs.join("\n"));
    assert.ok(run.execs.some((l) => /execve\("\/bin\/sh", \["sh", "-c"/.test(l)));
    // The Deno init, still there for what the trampoline does not do: a second Deno.
    const fallback = await tracedRun(bundle, { SKIFF_DENO_INIT: "1" });
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.equal(fallback.stdout, run.stdout);
    assert.equal(denos(fallback.execs).length, 2, fallback.execs.join("\n"));
  },
});

Deno.test({
  name:
    "a rootfs without /proc (an image FROM scratch) gets its mount point made and still no second Deno" +
    (hasCommand("strace") ? "" : " (needs strace)"),
  ignore: !hasCommand("strace"),
  fn: async () => {
    await using bundle = await makeBundle((spec) => {
      spec.process!.args = ["sh", "-c", "ls -d /proc/[0-9]*"];
    });
    await Deno.remove(join(bundle.rootfs, "proc"), { recursive: true });
    const run = await tracedRun(bundle);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "/proc/1\n");
    assert.equal(denos(run.execs).length, 1, run.execs.join("\n"));
    assert.ok(Deno.lstatSync(join(bundle.rootfs, "proc")).isDirectory);
    // Anything but a directory there is left to the Deno init, which resolves it inside the rootfs.
    await Deno.remove(join(bundle.rootfs, "proc"));
    await Deno.symlink("/tmp", join(bundle.rootfs, "proc"));
    const linked = await bundle.skiff(["--debug", "run", "-b", bundle.dir, testId()]);
    assert.match(linked.stderr, /the Deno init \(the rootfs's \/proc is not a directory\)/);
  },
});

Deno.test("a created container waits as the trampoline: well under 1 MiB, then start runs it", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "echo started > /started"];
  });
  const id = testId();
  const created = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  const state = JSON.parse((await bundle.skiff(["state", id])).stdout);
  assert.equal(state.status, "created");
  const status = Deno.readTextFileSync(`/proc/${state.pid}/status`);
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  assert.ok(rss < 1024, `PID 1 uses ${rss} kB`);
  assert.match(Deno.readLinkSync(`/proc/${state.pid}/exe`), /^\/memfd:skiff-trampoline/);
  assert.deepEqual(initsUnder(bundle.dir), [state.pid], "found as a Skiff init (init waiter)");
  const started = await bundle.skiff(["start", id]);
  assert.equal(started.code, 0, started.stderr);
  for (let i = 0; i < 100; i++) {
    const now = JSON.parse((await bundle.skiff(["state", id])).stdout);
    if (now.status === "stopped") break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(Deno.readTextFileSync(join(bundle.rootfs, "started")), "started\n");
});

Deno.test("a program that is not in the rootfs fails create readably and leaves nothing", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["no-such-program"];
  });
  const id = testId();
  // Only the bundle's own mounts: other tests on the host mount and unmount meanwhile.
  const ours = () =>
    Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) => l.includes(bundle.dir));
  const mountsBefore = ours();
  const result = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no-such-program/);
  assert.equal((await bundle.skiff(["state", id])).code, 1, "no state left");
  assert.deepEqual(initsUnder(bundle.dir), [], "no PID 1 left");
  assert.deepEqual(ours(), mountsBefore);
});

Deno.test("a step of PID 1 that fails names its config field", async () => {
  // More open files than fs.nr_open allows: prlimit64 is EPERM even for root, in PID 1.
  const nrOpen = Number(Deno.readTextFileSync("/proc/sys/fs/nr_open"));
  const limit = nrOpen + 1;
  await using bundle = await makeBundle((spec) => {
    spec.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: limit, hard: limit }];
  });
  const id = testId();
  const result = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(`process\\.rlimits: cannot set RLIMIT_NOFILE to ${limit}/${limit}.*EPERM`, "s"),
  );
  assert.equal((await bundle.skiff(["state", id])).code, 1, "no state left");
  assert.deepEqual(initsUnder(bundle.dir), []);
});

Deno.test("prestart and createRuntime run in the CLI once PID 1's mounts are made, before its root switch", async () => {
  await using bundle = await makeBundle();
  const out = join(bundle.dir, "hooks.out");
  const script = join(bundle.dir, "hook.sh");
  // The state on stdin names PID 1; its mount table shows the rootfs mounts, not yet pivoted.
  Deno.writeTextFileSync(
    script,
    `#!/bin/sh
state=$(cat)
pid=$(echo "$state" | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')
status=$(echo "$state" | sed 's/.*"status":"\\([a-z]*\\)".*/\\1/')
shm=$(grep -c "${bundle.rootfs}/dev/shm " /proc/$pid/mountinfo)
echo "$1 $pid $status $shm $(readlink /proc/$pid/exe)" >> ${out}
`,
  );
  Deno.chmodSync(script, 0o755);
  bundle.spec.hooks = {
    prestart: [{ path: script, args: ["hook.sh", "prestart"] }],
    createRuntime: [{ path: script, args: ["hook.sh", "createRuntime"] }],
  };
  await bundle.writeSpec();
  const id = testId();
  const created = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  const lines = Deno.readTextFileSync(out).trim().split("\n");
  assert.equal(lines.length, 2, lines.join("\n"));
  for (const [i, kind] of ["prestart", "createRuntime"].entries()) {
    const [name, hookPid, status, shm, exe] = lines[i].split(" ");
    assert.deepEqual([name, Number(hookPid), status, shm], [kind, pid, "creating", "1"]);
    // PID 1 is the trampoline, not a Deno.
    assert.match(exe, /^\/memfd:skiff-trampoline/);
  }
});

Deno.test("createContainer hooks run in PID 1's namespaces, PID namespace included, before its root switch", async () => {
  await using bundle = await makeBundle();
  const out = join(bundle.dir, "hook.out");
  const script = join(bundle.dir, "hook.sh");
  // Host paths still resolve (before pivot_root): the script and its output file are the host's.
  Deno.writeTextFileSync(
    script,
    `#!/bin/sh
state=$(cat)
pid=$(echo "$state" | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')
for ns in pid net uts ipc mnt; do
  [ "$(readlink /proc/self/ns/$ns)" = "$(readlink /proc/$pid/ns/$ns)" ] && echo "$ns same" >> ${out}
done
hostname >> ${out}
`,
  );
  Deno.chmodSync(script, 0o755);
  bundle.spec.hooks = { createContainer: [{ path: script }] };
  await bundle.writeSpec();
  const id = testId();
  const created = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  assert.match(Deno.readLinkSync(`/proc/${pid}/exe`), /^\/memfd:skiff-trampoline/);
  // The hostname comes after the hooks, as with the Deno init: the new UTS namespace's copy.
  assert.equal(
    Deno.readTextFileSync(out),
    `pid same\nnet same\nuts same\nipc same\nmnt same\n${Deno.hostname()}\n`,
  );
});

Deno.test("without a PID namespace of its own, the container's /proc is its PID namespace's: the host's, or a joined one", async () => {
  await using bundle = await makeBundle();
  const { pid: sleeper } = await startDetached(bundle, ["sleep", "30"]);
  // The host's PID namespace: the process is no PID 1, and /proc shows the host's processes.
  bundle.spec.linux!.namespaces = bundle.spec.linux!.namespaces!.filter((n) => n.type !== "pid");
  const noPid = await runIn(bundle, [
    "sh",
    "-c",
    `[ $$ != 1 ] && echo not-pid-1; test -d /proc/${Deno.pid} && echo host-proc`,
  ]);
  assert.equal(noPid.code, 0, noPid.stderr);
  assert.equal(noPid.stdout, "not-pid-1\nhost-proc\n");
  // A PID namespace joined by path: the first container's sleep is PID 1 there.
  bundle.spec.linux!.namespaces!.push({ type: "pid", path: `/proc/${sleeper}/ns/pid` });
  const joined = await runIn(bundle, ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]);
  assert.equal(joined.code, 0, joined.stderr);
  assert.equal(joined.stdout, "sleep 30 ");
});

/**
 * Creates `bundle` (with `flags`), checks that PID 1 is the trampoline, not a Deno, starts it and
 * returns what its process wrote to /out in the rootfs.
 */
async function createdByTrampoline(
  bundle: Awaited<ReturnType<typeof makeBundle>>,
  script: string,
  flags: string[] = [],
): Promise<string> {
  bundle.spec.process!.args = ["sh", "-c", `(${script}) > /out 2>&1`];
  await bundle.writeSpec();
  const id = testId();
  const created = await bundle.skiff(["create", ...flags, "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  assert.match(Deno.readLinkSync(`/proc/${pid}/exe`), /^\/memfd:skiff-trampoline/);
  assert.equal(Deno.readTextFileSync(`/proc/${pid}/comm`), "memfd:skiff-tra\n", "no Deno");
  const started = await bundle.skiff(["start", id]);
  assert.equal(started.code, 0, started.stderr);
  for (let i = 0; i < 200; i++) {
    const now = JSON.parse((await bundle.skiff(["state", id])).stdout);
    if (now.status === "stopped") break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Deno.readTextFileSync(join(bundle.rootfs, "out"));
}

Deno.test("a time namespace with linux.timeOffsets: the offsets are written before the clone enters it", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces!.push({ type: "time" });
    spec.linux!.timeOffsets = { boottime: { secs: 86400 * 365, nanosecs: 0 } };
  });
  const out = await createdByTrampoline(bundle, "cut -d. -f1 /proc/uptime");
  const host = Number(Deno.readTextFileSync("/proc/uptime").split(".")[0]);
  assert.ok(Number(out) - host > 86400 * 364, `uptime inside ${out} vs host ${host}`);
});

Deno.test("--no-pivot: PID 1 moves the rootfs over / and chroots; the host's /proc is hidden", async () => {
  await using bundle = await makeBundle();
  // rootfs_test.ts tells MS_MOVE from pivot_root apart (the old root left below); here: the
  // trampoline did it, the root is the rootfs, and only the container's procfs is in sight.
  const out = await createdByTrampoline(
    bundle,
    "grep -c ' /proc ' /proc/self/mountinfo; ls / | grep -qx bin && echo rootfs",
    ["--no-pivot"],
  );
  assert.equal(out, "1\nrootfs\n");
});

Deno.test("linux.rootfsPropagation through the trampoline init: / and a mount's own propagation", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.rootfsPropagation = "rshared";
  });
  await Deno.mkdir(join(bundle.dir, "private-src"));
  bundle.spec.mounts!.push({
    destination: "/mnt/private",
    type: "bind",
    source: join(bundle.dir, "private-src"),
    options: ["bind", "private"],
  });
  const out = await createdByTrampoline(
    bundle,
    'awk \'$5 == "/" || $5 == "/mnt/private" {print $5, $7}\' /proc/self/mountinfo',
  );
  assert.match(out, /^\/ shared:\d+\n\/mnt\/private -\n$/);
});

Deno.test("linux.memoryPolicy through the trampoline init: a set_mempolicy op before the identity", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.memoryPolicy = {
      mode: "MPOL_INTERLEAVE",
      nodes: "0",
      flags: ["MPOL_F_STATIC_NODES"],
    };
  });
  const out = await createdByTrampoline(bundle, "head -1 /proc/self/numa_maps | cut -d' ' -f2");
  assert.equal(out, "interleave=static:0\n");
});

Deno.test("startContainer hooks are run by PID 1 after start, in the container, before process.args; a failing one stops it", async () => {
  await using bundle = await makeBundle();
  // In the container's root (after pivot_root), with the state on stdin, its args and env only.
  Deno.writeTextFileSync(
    join(bundle.rootfs, "hook.sh"),
    `#!/bin/sh
state=$(cat)
echo "$1 $HOOK_ENV $(id -u) $(cat /proc/1/comm) $(echo "$state" | sed 's/.*"status":"\\([a-z]*\\)".*/\\1/') $(test -e /out && echo late)" >> /hooks.out
exit $2
`,
    { mode: 0o755 },
  );
  const hook = (name: string, code: number) => ({
    path: "/hook.sh",
    args: ["hook.sh", name, String(code)],
    env: ["HOOK_ENV=set"],
  });
  bundle.spec.hooks = { startContainer: [hook("first", 0), hook("second", 0)] };
  const out = await createdByTrampoline(bundle, "echo ran");
  assert.equal(out, "ran\n");
  assert.equal(
    Deno.readTextFileSync(join(bundle.rootfs, "hooks.out")),
    "first set 0 memfd:skiff-tra created \nsecond set 0 memfd:skiff-tra created \n",
  );
  // A failing hook: the process never runs, and the container stops (runtime.md lifecycle).
  Deno.removeSync(join(bundle.rootfs, "hooks.out"));
  Deno.removeSync(join(bundle.rootfs, "out"));
  bundle.spec.hooks = { startContainer: [hook("fails", 3), hook("never", 0)] };
  bundle.spec.process!.args = ["sh", "-c", "echo ran > /out"];
  await bundle.writeSpec();
  const id = testId();
  const created = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  assert.equal((await bundle.skiff(["start", id])).code, 0);
  for (let i = 0; i < 200; i++) {
    const now = JSON.parse((await bundle.skiff(["state", id])).stdout);
    if (now.status === "stopped") break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(JSON.parse((await bundle.skiff(["state", id])).stdout).status, "stopped");
  assert.equal(
    Deno.readTextFileSync(join(bundle.rootfs, "hooks.out")),
    "fails set 0 memfd:skiff-tra created \n",
  );
  assert.equal(exists(join(bundle.rootfs, "out")), false, "process.args did not run");
});

/**
 * startContainer hooks: #0 notes which init runs them (PID 1's comm in /init.comm), #1 `sleep 30`
 * with a timeout of 1 s, as the message names it.
 */
function lateHookBundle(): Promise<Awaited<ReturnType<typeof makeBundle>>> {
  return makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "echo ran > /out"];
    spec.hooks = {
      startContainer: [
        { path: "/bin/sh", args: ["sh", "-c", "cat /proc/1/comm > /init.comm"], timeout: 5 },
        { path: "/bin/sh", args: ["sh", "-c", "sleep 30"], timeout: 1 },
      ],
    };
  });
}
const LATE_HOOK_MESSAGE = "skiff: startContainer hook #1 (/bin/sh) failed: timed out after 1s\n";

Deno.test("a startContainer hook past its timeout in the trampoline init is killed: the container stops, process.args never runs, delete leaves nothing", async () => {
  await using bundle = await lateHookBundle();
  const id = testId();
  const created = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  assert.equal(Deno.readTextFileSync(`/proc/${pid}/comm`), "memfd:skiff-tra\n", "no Deno init");
  const since = performance.now();
  // start has released PID 1 and returns, as with the Deno init and runc: the hook fails later.
  const started = await bundle.skiff(["start", id]);
  assert.equal(started.code, 0, started.stderr);
  let status = "";
  while (performance.now() - since < 15_000) {
    status = JSON.parse((await bundle.skiff(["state", id])).stdout).status;
    if (status === "stopped") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const ms = performance.now() - since;
  assert.equal(status, "stopped", "the container stopped once the hook was past its timeout");
  assert.ok(ms >= 900 && ms < 8_000, `stopped ${Math.round(ms)} ms after start`);
  assert.equal(exists(join(bundle.rootfs, "out")), false, "process.args did not run");
  // Exited: gone, or a zombie until whoever adopted it (the CLI that made it has exited) reaps it.
  let state = "gone";
  try {
    state = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1][0];
  } catch {
    // Reaped.
  }
  assert.match(state, /^(gone|Z)$/, "PID 1 exited");
  const deleted = await bundle.skiff(["delete", id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(exists(join(bundle.root, id)), false, "no state directory");
  assert.deepEqual(initsUnder(bundle.dir), [], "no init left");
});

Deno.test("skiff run with a startContainer hook past its timeout: exit 1 and the same message from the trampoline init as from the Deno init", async () => {
  await using bundle = await lateHookBundle();
  const run = async (env: Record<string, string>) => {
    const id = testId();
    const since = performance.now();
    const result = await bundle.skiff(["run", "--bundle", bundle.dir, id], { env });
    const init = Deno.readTextFileSync(join(bundle.rootfs, "init.comm"));
    Deno.removeSync(join(bundle.rootfs, "init.comm"));
    return { ...result, ms: performance.now() - since, left: exists(join(bundle.root, id)), init };
  };
  const trampoline = await run({ SKIFF_DENO_INIT: "" });
  const deno = await run({ SKIFF_DENO_INIT: "1" });
  assert.equal(trampoline.init, "memfd:skiff-tra\n", "hook #0 ran in the trampoline init");
  assert.equal(deno.init, "deno\n", "hook #0 ran in the Deno init");
  for (const [name, r] of [["trampoline", trampoline], ["Deno init", deno]] as const) {
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.equal(r.stderr, LATE_HOOK_MESSAGE, name);
    assert.equal(r.stdout, "", name);
    assert.ok(r.ms < 10_000, `${name}: ${Math.round(r.ms)} ms`);
    assert.equal(r.left, false, `${name}: run deleted the container`);
  }
  assert.equal(exists(join(bundle.rootfs, "out")), false, "process.args did not run");
});

Deno.test("startContainer hooks within their timeout run in the trampoline init as without one", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.hooks = {
      startContainer: [
        { path: "/bin/sh", args: ["sh", "-c", "sleep 0.3; cat > /hook.state"], timeout: 30 },
        { path: "/bin/sh", args: ["sh", "-c", "echo second >> /hook.state"], timeout: 2 },
      ],
    };
  });
  const out = await createdByTrampoline(bundle, "echo ran");
  assert.equal(out, "ran\n");
  const state = Deno.readTextFileSync(join(bundle.rootfs, "hook.state"));
  assert.match(state, /^\{.*"status":"created".*\}second\n$/);
});

/**
 * startContainer hooks: #0 notes which init runs them (its parent's comm in /init.comm: PID 1 need
 * not be the init without a PID namespace), #1 runs `script`, which fails.
 */
function failingHookBundle(
  script: string,
  pidNamespace = true,
): Promise<Awaited<ReturnType<typeof makeBundle>>> {
  return makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "echo ran > /out"];
    if (!pidNamespace) {
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "pid");
    }
    spec.hooks = {
      startContainer: [
        { path: "/bin/sh", args: ["sh", "-c", "cat /proc/$PPID/comm > /init.comm"] },
        { path: "/bin/sh", args: ["sh", "-c", script] },
      ],
    };
  });
}

/** `skiff run` of `bundle` with the trampoline init and with the Deno init, in turn. */
async function runWithBothInits(bundle: Awaited<ReturnType<typeof makeBundle>>) {
  const run = async (env: Record<string, string>) => {
    const id = testId();
    const result = await bundle.skiff(["run", "--bundle", bundle.dir, id], { env });
    const init = Deno.readTextFileSync(join(bundle.rootfs, "init.comm"));
    Deno.removeSync(join(bundle.rootfs, "init.comm"));
    return { ...result, left: exists(join(bundle.root, id)), init };
  };
  const trampoline = await run({ SKIFF_DENO_INIT: "" });
  const deno = await run({ SKIFF_DENO_INIT: "1" });
  assert.equal(trampoline.init, "memfd:skiff-tra\n", "the hooks ran in the trampoline init");
  assert.equal(deno.init, "deno\n", "the hooks ran in the Deno init");
  return { trampoline, deno };
}

/**
 * `skiff run` of `bundle` with each init exits 1 with `line` alone on stderr, nothing on stdout,
 * no state left, and process.args never ran.
 */
async function assertBothFailWith(bundle: Awaited<ReturnType<typeof makeBundle>>, line: string) {
  const { trampoline, deno } = await runWithBothInits(bundle);
  for (const [name, r] of [["trampoline", trampoline], ["Deno init", deno]] as const) {
    assert.deepEqual(
      { code: r.code, stdout: r.stdout, stderr: r.stderr, left: r.left },
      { code: 1, stdout: "", stderr: line, left: false },
      name,
    );
  }
  assert.equal(exists(join(bundle.rootfs, "out")), false, "process.args did not run");
}

for (
  const [script, reason] of [
    ["exit 3", "exit status 3"],
    ["kill -TERM $$", "killed by SIGTERM"],
  ]
) {
  Deno.test(`skiff run with a startContainer hook that fails (${reason}): exit 1 and the same line from the trampoline init as from the Deno init`, async () => {
    await using bundle = await failingHookBundle(script);
    await assertBothFailWith(bundle, `skiff: startContainer hook #1 (/bin/sh) failed: ${reason}\n`);
  });
}

Deno.test("skiff run without a PID namespace, a startContainer hook that exits 3: PID 1 is not killed by SIGPIPE, exit 1 and the same line as the Deno init's", async () => {
  await using bundle = await failingHookBundle("exit 3", false);
  await assertBothFailWith(
    bundle,
    "skiff: startContainer hook #1 (/bin/sh) failed: exit status 3\n",
  );
});

Deno.test("a startContainer hook that fails in the trampoline init stops the container after start: process.args never runs, delete leaves nothing", async () => {
  await using bundle = await failingHookBundle("exit 3");
  const id = testId();
  const created = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  assert.equal(Deno.readTextFileSync(`/proc/${pid}/comm`), "memfd:skiff-tra\n", "no Deno init");
  const started = await bundle.skiff(["start", id]);
  assert.equal(started.code, 0, started.stderr);
  const since = performance.now();
  let status = "";
  while (performance.now() - since < 10_000) {
    status = JSON.parse((await bundle.skiff(["state", id])).stdout).status;
    if (status === "stopped") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(status, "stopped", "the container stopped once the hook failed");
  assert.equal(Deno.readTextFileSync(join(bundle.rootfs, "init.comm")), "memfd:skiff-tra\n");
  assert.equal(exists(join(bundle.rootfs, "out")), false, "process.args did not run");
  const deleted = await bundle.skiff(["delete", id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(exists(join(bundle.root, id)), false, "no state directory");
  assert.deepEqual(initsUnder(bundle.dir), [], "no init left");
});

Deno.test("after startContainer hooks process.args starts with SIGPIPE at its default action, from either init (no PID namespace)", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "grep SigIgn /proc/self/status"];
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "pid");
    spec.hooks = {
      startContainer: [{
        path: "/bin/sh",
        args: ["sh", "-c", "cat /proc/$PPID/comm > /init.comm"],
      }],
    };
  });
  const { trampoline, deno } = await runWithBothInits(bundle);
  for (const [name, r] of [["trampoline", trampoline], ["Deno init", deno]] as const) {
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    // Signals the caller ignores stay ignored (this test's runner may ignore SIGQUIT); SIGPIPE,
    // which the Deno init ignores while its hooks read their state, is at its default again.
    const ignored = BigInt(`0x${r.stdout.match(/^SigIgn:\t([0-9a-f]+)\n$/)![1]}`);
    assert.equal(ignored & (1n << 12n), 0n, `${name}: SIGPIPE ignored in ${r.stdout}`);
  }
  assert.equal(trampoline.stdout, deno.stdout);
});
