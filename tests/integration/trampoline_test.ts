/**
 * The trampoline (runtime/trampoline/) run for real, as root: generated machine code, a memfd
 * exec, namespaces, the sync protocol and CLONE_PARENT. The aarch64 code runs under qemu-user.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildTrampoline,
  type TrampolineOp,
  type TrampolineProgram,
} from "../../runtime/trampoline/program.ts";
import {
  answer,
  nextEvent,
  spawnTrampoline,
  type TrampolineEvent,
  trampolineSocket,
} from "../../runtime/trampoline/spawn.ts";
import { holdUserNamespace } from "../../runtime/trampoline/userns.ts";
import {
  addSeals,
  close,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  getSeals,
  memfdCreate,
  MFD_ALLOW_SEALING,
  open,
  pipe,
  setCloexec,
  writeAll,
} from "../../ffi/fs.ts";
import { isErrno } from "../../ffi/errno.ts";
import { pidfdGetfd, pidfdOpen } from "../../ffi/process.ts";
import { posixSpawn, waitPid } from "../../ffi/spawn.ts";
import { openPty } from "../../ffi/tty.ts";
import { exists } from "../_helpers/host.ts";
import {
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
  MNT_DETACH,
  MS_BIND,
  MS_REC,
  MS_SLAVE,
  O_CLOEXEC,
  O_RDONLY,
} from "../../ffi/constants.ts";

const decoder = new TextDecoder();

interface Run {
  events: TrampolineEvent[];
  error?: Error;
  code: number;
  stdout: string;
}

/**
 * Runs `ops` (fd `FD` in them is the report socket) and collects its events until the end or an
 * error; `onSync(pid, point)` runs at each sync point before the answer.
 */
async function run(
  ops: (fd: number) => TrampolineOp[],
  onSync: (pid: number, point: number) => void | Promise<void> = () => {},
): Promise<Run> {
  const { ours, theirs } = trampolineSocket();
  let child: Deno.ChildProcess | undefined;
  try {
    const program: TrampolineProgram = { reportFd: theirs, ops: ops(theirs) };
    try {
      child = spawnTrampoline(program, { stdout: "piped" });
    } finally {
      close(theirs);
    }
    const output = child.output();
    const events: TrampolineEvent[] = [];
    let error: Error | undefined;
    for (;;) {
      let event: TrampolineEvent;
      try {
        event = await nextEvent(ours, program, 10_000);
      } catch (err) {
        error = err as Error;
        break;
      }
      events.push(event);
      if (event.kind === "end") break;
      if (event.kind === "sync") {
        await onSync(child.pid, event.point);
        answer(ours);
      }
    }
    const out = await output;
    child = undefined;
    return { events, error, code: out.code, stdout: decoder.decode(out.stdout) };
  } finally {
    close(ours);
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Gone already.
      }
      await child.output().catch(() => {});
    }
  }
}

/** Pids of this process's children that are still alive (zombies count: they await a reaper). */
function children(): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      if (status.match(/^PPid:\s+(\d+)$/m)?.[1] === String(Deno.pid)) out.push(pid);
    } catch {
      // Gone.
    }
  }
  return out;
}

const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

Deno.test("a trampoline's exit op is its exit code, and the report socket then ends", async () => {
  const result = await run(() => [{ op: "exit", code: 42 }]);
  assert.equal(result.error, undefined);
  assert.equal(result.code, 42);
  assert.deepEqual(result.events, [{ kind: "end" }]);
});

Deno.test("a trampoline execs its execve op with exactly its argv and envp", async () => {
  const result = await run(() => [
    {
      op: "execve",
      path: "/bin/sh",
      argv: ["sh", "-c", 'echo "$0 $1 X=$X Y=${Y-unset}"', "zero", "one"],
      envp: ["X=hello world"],
    },
  ]);
  assert.equal(result.error, undefined);
  assert.equal(result.stdout, "zero one X=hello world Y=unset\n");
  assert.equal(result.code, 0);
  assert.deepEqual(result.events, [{ kind: "end" }]);
});

Deno.test("a failing op sends an error record that reads as step, op and errno", async () => {
  const result = await run(() => [
    { op: "cloexec", fd: 0 },
    { op: "unshare", flags: 0 },
    { op: "setns", path: "/nonexistent/ns/net", nstype: CLONE_NEWNET },
    { op: "execve", path: "/bin/echo", argv: ["echo", "not reached"], envp: [] },
  ]);
  assert.equal(result.code, 127);
  assert.equal(result.stdout, "");
  assert.match(
    String(result.error),
    /^SyscallError: trampoline step 2 \(setns \/nonexistent\/ns\/net\): ENOENT \(No such file/,
  );
  assert.ok(isErrno(result.error, "ENOENT"));
  // The errno of setns(2) itself: a file that is not a namespace.
  const notNs = await run(() => [
    { op: "setns", path: "/etc/hostname", nstype: 0 },
    { op: "exit", code: 0 },
  ]);
  assert.ok(isErrno(notNs.error, "EINVAL"), String(notNs.error));
  const badExec = await run(() => [
    { op: "execve", path: "/nonexistent/bin", argv: ["x"], envp: [] },
  ]);
  assert.match(String(badExec.error), /step 0 \(execve \/nonexistent\/bin\): ENOENT/);
  assert.equal(badExec.code, 127);
});

Deno.test("a trampoline waits at a sync point until it is answered", async () => {
  const seen: number[] = [];
  const result = await run((fd) => [
    { op: "sync", fd, point: 5 },
    { op: "sync", fd, point: -6 },
    { op: "exit", code: 3 },
  ], async (pid, point) => {
    seen.push(point);
    // Still there, blocked in read(2), 100 ms later.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const state = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1][0];
    assert.equal(state, "S", `trampoline ${pid} sleeps at point ${point}`);
  });
  assert.equal(result.error, undefined);
  assert.deepEqual(seen, [5, -6]);
  assert.deepEqual(result.events, [
    { kind: "sync", op: 0, point: 5 },
    { kind: "sync", op: 1, point: -6 },
    { kind: "end" },
  ]);
  assert.equal(result.code, 3);
});

Deno.test("the report socket ends when execve succeeds, while the new program still runs", async () => {
  const { ours, theirs } = trampolineSocket();
  const program: TrampolineProgram = {
    reportFd: theirs,
    ops: [{ op: "execve", path: "/bin/cat", argv: ["cat"], envp: [] }],
  };
  let child: Deno.ChildProcess;
  try {
    child = spawnTrampoline(program, { stdin: "piped", stdout: "piped" });
  } finally {
    close(theirs);
  }
  try {
    // cat waits on its stdin: only close-on-exec can end the socket now.
    assert.deepEqual(await nextEvent(ours, program, 3000), { kind: "end" });
    assert.equal(Deno.readTextFileSync(`/proc/${child.pid}/comm`), "cat\n");
  } finally {
    close(ours);
    await child.stdin.close();
    await child.output();
  }
});

Deno.test("a trampoline runs from a sealed memfd, not from a file", async () => {
  const { ours, theirs } = trampolineSocket();
  const program: TrampolineProgram = {
    reportFd: theirs,
    ops: [{ op: "sync", fd: theirs, point: 1 }, { op: "exit", code: 0 }],
  };
  let child: Deno.ChildProcess;
  try {
    child = spawnTrampoline(program);
  } finally {
    close(theirs);
  }
  try {
    assert.equal((await nextEvent(ours, program)).kind, "sync");
    const exe = `/proc/${child.pid}/exe`;
    assert.match(Deno.readLinkSync(exe), /^\/memfd:skiff-trampoline/);
    const fd = open(exe, O_RDONLY | O_CLOEXEC);
    try {
      assert.equal(getSeals(fd), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    } finally {
      close(fd);
    }
    answer(ours);
    assert.equal((await nextEvent(ours, program)).kind, "end");
  } finally {
    close(ours);
    await child.status;
  }
});

Deno.test("a sync point whose other end closes fails the trampoline", async () => {
  const { ours, theirs } = trampolineSocket();
  const program: TrampolineProgram = {
    reportFd: theirs,
    ops: [{ op: "sync", fd: theirs, point: 1 }, { op: "exit", code: 0 }],
  };
  let child: Deno.ChildProcess | undefined;
  try {
    child = spawnTrampoline(program);
  } finally {
    close(theirs);
  }
  try {
    assert.equal((await nextEvent(ours, program)).kind, "sync");
  } finally {
    close(ours);
  }
  // read(2) gives EOF: the error record's write then meets a closed socket (SIGPIPE or 127).
  const status = await child.status;
  assert.equal(status.success, false);
});

Deno.test("in a new user namespace the trampoline becomes the mapped root before it execs", async () => {
  const hostname = Deno.hostname();
  const ok = await run((fd) => [
    { op: "unshare", flags: CLONE_NEWUSER },
    { op: "sync", fd, point: 1 },
    { op: "setresgid", id: 0 },
    { op: "setresuid", id: 0 },
    { op: "setgroups", groups: [] },
    { op: "unshare", flags: CLONE_NEWNS | CLONE_NEWUTS },
    {
      op: "execve",
      path: "/bin/sh",
      argv: [
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u; id -g; hostname inside && hostname; grep -E '^Cap(Eff|Bnd)' /proc/self/status",
      ],
      envp: ["PATH=/usr/bin:/bin"],
    },
  ], (pid) => {
    Deno.writeTextFileSync(`/proc/${pid}/uid_map`, "0 100000 65536\n");
    Deno.writeTextFileSync(`/proc/${pid}/gid_map`, "0 100000 65536\n");
  });
  assert.equal(ok.error, undefined, String(ok.error));
  const lines = ok.stdout.trim().split("\n");
  assert.deepEqual(lines[0].trim().split(/\s+/), ["0", "100000", "65536"]);
  assert.equal(lines[1], "0", "id -u");
  assert.equal(lines[2], "0", "id -g");
  assert.equal(lines[3], "inside", "hostname set in the new UTS namespace");
  const capEff = lines[4].split(/\s+/)[1];
  const capBnd = lines[5].split(/\s+/)[1];
  assert.equal(capEff, capBnd, "root of the namespace has every capability of its bounding set");
  assert.notEqual(BigInt(`0x${capEff}`), 0n);
  assert.equal(Deno.hostname(), hostname, "the host's hostname is unchanged");
  assert.equal(ok.code, 0);
});

Deno.test("cloneParent makes PID 1 of a new PID namespace a child of the caller", async () => {
  const before = children();
  let pid = 0;
  try {
    const result = await run((fd) => [
      { op: "unshare", flags: CLONE_NEWPID },
      { op: "cloneParent", fd },
      { op: "execve", path: "/bin/sh", argv: ["sh", "-c", "echo $$"], envp: [] },
    ]);
    assert.equal(result.error, undefined, String(result.error));
    assert.equal(result.events[0].kind, "pid");
    pid = (result.events[0] as { pid: number }).pid;
    assert.deepEqual(result.events, [{ kind: "pid", op: 1, pid }, { kind: "end" }]);
    assert.equal(result.stdout, "1\n", "the clone is PID 1 in its namespace");
    assert.equal(result.code, 0, "the trampoline's own half exits 0");
    // Exited but not yet reaped: a zombie whose parent is this Deno process, not the trampoline.
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    assert.equal(status.match(/^PPid:\s+(\d+)$/m)?.[1], String(Deno.pid));
    assert.deepEqual(await waitPid(pid), { success: true, code: 0, signal: null });
    pid = 0;
  } finally {
    if (pid) await waitPid(pid).catch(() => {});
  }
  assert.deepEqual(children(), before, "nothing is left");
});

Deno.test("holdUserNamespace() keeps a user namespace with the maps and leaves nothing running", async () => {
  const before = children();
  const held = await holdUserNamespace(MAP, MAP, { setgroupsDeny: true });
  try {
    const link = Deno.readLinkSync(`/proc/self/fd/${held.fd}`);
    assert.match(link, /^user:\[\d+\]$/);
    assert.notEqual(link, Deno.readLinkSync("/proc/self/ns/user"));
    assert.deepEqual(children(), before, "the trampoline is gone and reaped");
    const inside = await new Deno.Command("nsenter", {
      args: [
        `--user=/proc/${Deno.pid}/fd/${held.fd}`,
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups",
      ],
    }).output();
    const lines = decoder.decode(inside.stdout).trim().split("\n").map((l) => l.trim());
    assert.deepEqual(lines.slice(0, 2).map((l) => l.split(/\s+/)), [
      ["0", "100000", "65536"],
      ["0", "100000", "65536"],
    ], decoder.decode(inside.stderr));
    assert.equal(lines[2], "deny");
  } finally {
    await held.release();
  }
  await held.release();
});

Deno.test("holdUserNamespace() fails readably when the kernel refuses the maps", async () => {
  const before = children();
  await assert.rejects(
    // Overlapping ranges are EINVAL (user_namespaces(7)).
    holdUserNamespace(
      [{ containerID: 0, hostID: 100000, size: 10 }, { containerID: 5, hostID: 200000, size: 10 }],
      MAP,
    ),
    (err: Error) => {
      assert.match(err.message, /Cannot create a user namespace/);
      assert.match(String((err.cause as Error).message), /uid_map/);
      return true;
    },
  );
  assert.deepEqual(children(), before, "the trampoline was killed and reaped");
});

const QEMU = ["/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-aarch64"].find((path) => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
});

Deno.test({
  name: "the aarch64 trampoline exits, syncs and reports errors (under qemu-user)" +
    (QEMU ? "" : " (needs qemu-user-static)"),
  ignore: !QEMU,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "skiff-tramp-" });
    try {
      const runAarch64 = async (ops: (fd: number) => TrampolineOp[]) => {
        const { ours, theirs } = trampolineSocket();
        const program: TrampolineProgram = { reportFd: theirs, ops: ops(theirs) };
        const path = join(dir, "trampoline");
        Deno.writeFileSync(path, buildTrampoline(program, "aarch64"), { mode: 0o755 });
        let child: Deno.ChildProcess;
        try {
          child = new Deno.Command(QEMU!, { args: [path], stdout: "null", stderr: "null" }).spawn();
        } finally {
          close(theirs);
        }
        const events: (TrampolineEvent | string)[] = [];
        try {
          for (;;) {
            const event = await nextEvent(ours, program, 20_000).catch((err) => String(err));
            events.push(event);
            if (typeof event === "string" || event.kind === "end") break;
            if (event.kind === "sync") answer(ours);
          }
        } finally {
          close(ours);
        }
        return { events, code: (await child.status).code };
      };
      assert.deepEqual(await runAarch64(() => [{ op: "exit", code: 42 }]), {
        events: [{ kind: "end" }],
        code: 42,
      });
      assert.deepEqual(
        await runAarch64((fd) => [{ op: "sync", fd, point: 9 }, { op: "exit", code: 7 }]),
        { events: [{ kind: "sync", op: 0, point: 9 }, { kind: "end" }], code: 7 },
      );
      // The exec ops run the same way on aarch64 (qemu-user passes these calls through).
      assert.deepEqual(
        await runAarch64(() => [
          { op: "chdir", path: "/" },
          { op: "umask", mask: 0o077 },
          { op: "sigdefault", signal: 13 },
          { op: "setsid" },
          { op: "dup2", from: 1, to: 9 },
          { op: "fchown", fd: 9, uid: 0 },
          { op: "cloexecFrom", first: 3 },
          { op: "prctl", option: 38, arg2: 1 },
          { op: "exit", code: 5 },
        ]),
        { events: [{ kind: "end" }], code: 5 },
      );
      // The create ops too: mounts in a new mount namespace, pivot_root, a session keyring.
      const root = join(dir, "root");
      Deno.mkdirSync(root);
      assert.deepEqual(
        await runAarch64(() => [
          { op: "unshare", flags: CLONE_NEWNS },
          { op: "mount", source: "", target: "/", fstype: "", flags: MS_SLAVE | MS_REC },
          { op: "mount", source: "/", target: root, fstype: "", flags: MS_BIND | MS_REC },
          { op: "mount", source: "m", target: `${root}/tmp`, fstype: "tmpfs", flags: 0 },
          { op: "umount2", target: `${root}/tmp`, flags: MNT_DETACH },
          { op: "sessionKeyring", name: "_ses.skiff-aarch64", perm: 0x3f3f0000 },
          { op: "chdir", path: root },
          { op: "pivotRoot", newRoot: ".", putOld: "." },
          { op: "umount2", target: ".", flags: MNT_DETACH },
          { op: "exit", code: 6 },
        ]),
        { events: [{ kind: "end" }], code: 6 },
      );
      // runHook with a timeout: pidfd_open, ppoll, pidfd_send_signal and sendto on aarch64.
      const hook = (script: string): TrampolineOp => ({
        op: "runHook",
        path: "/bin/sh",
        argv: ["sh", "-c", script],
        envp: [],
        stdin: "{}",
        timeout: 1,
        timeoutMessage: "late\n",
      });
      assert.deepEqual(await runAarch64(() => [hook("exit 0"), { op: "exit", code: 4 }]), {
        events: [{ kind: "end" }],
        code: 4,
      });
      const late = await runAarch64(() => [hook("exec sleep 30"), { op: "exit", code: 0 }]);
      assert.equal(late.code, 1);
      assert.match(
        String(late.events[0]),
        /step 0 \(run hook \/bin\/sh \(timeout 1s\)\): timed out/,
      );
      const failed = await runAarch64(() => [
        { op: "unshare", flags: 0 },
        { op: "setns", path: "/nonexistent/ns/net", nstype: CLONE_NEWNET },
        { op: "exit", code: 0 },
      ]);
      assert.equal(failed.code, 127);
      assert.match(
        String(failed.events[0]),
        /trampoline step 1 \(setns \/nonexistent\/ns\/net\): ENOENT/,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/**
 * Runs `ops` with stdout and stderr piped and collects its first event (an error as its message),
 * exit code, stderr and how long it ran.
 */
async function runPiped(
  ops: (fd: number) => TrampolineOp[],
): Promise<{ event: TrampolineEvent | string; code: number; stderr: string; ms: number }> {
  const { ours, theirs } = trampolineSocket();
  const program: TrampolineProgram = { reportFd: theirs, ops: ops(theirs) };
  const start = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = spawnTrampoline(program, { stdout: "piped", stderr: "piped" });
  } finally {
    close(theirs);
  }
  try {
    const event = await nextEvent(ours, program, 20_000).catch((err) => String(err));
    const out = await child.output();
    return {
      event,
      code: out.code,
      stderr: decoder.decode(out.stderr),
      ms: performance.now() - start,
    };
  } finally {
    close(ours);
  }
}

Deno.test("runHook with a timeout runs a hook within it as without one, and kills one past it, reaps it, says so on stderr and exits 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-hook-" });
  try {
    const out = join(dir, "stdin");
    const hook = (script: string): TrampolineOp => ({
      op: "runHook",
      path: "/bin/sh",
      argv: ["sh", "-c", script],
      envp: [],
      stdin: '{"id":"c"}',
      timeout: 5,
      timeoutMessage: "late\n",
    });
    const ok = await runPiped(() => [hook(`sleep 0.2; cat > ${out}`), { op: "exit", code: 3 }]);
    assert.deepEqual(ok.event, { kind: "end" });
    assert.equal(ok.code, 3);
    assert.equal(Deno.readTextFileSync(out), '{"id":"c"}');
    assert.ok(ok.ms < 4_000, `a hook that ends at once is not waited out: ${ok.ms} ms`);
    // A hook that fails within its timeout fails the op as before: its wait status, exit 127.
    const failed = await runPiped(() => [hook("exit 4"), { op: "exit", code: 0 }]);
    assert.match(String(failed.event), /trampoline step 0 \(run hook/);
    assert.doesNotMatch(String(failed.event), /timed out/);
    assert.equal(failed.code, 127);
    assert.equal(failed.stderr, "");
    const pidFile = join(dir, "pid");
    const run = await runPiped(() => [
      {
        op: "runHook",
        path: "/bin/sh",
        argv: ["sh", "-c", `echo $$ > ${pidFile}; exec sleep 30`],
        envp: [],
        stdin: "{}",
        timeout: 1,
        timeoutMessage: "skiff: the hook timed out\n",
      },
      { op: "exit", code: 0 },
    ]);
    assert.match(
      String(run.event),
      /trampoline step 0 \(run hook \/bin\/sh \(timeout 1s\)\): timed out after 1s/,
    );
    assert.equal(run.code, 1);
    assert.equal(run.stderr, "skiff: the hook timed out\n");
    assert.ok(run.ms >= 950 && run.ms < 10_000, `ran ${run.ms} ms`);
    // Killed and reaped by the trampoline before it exited: not even a zombie is left.
    const hookPid = Number(Deno.readTextFileSync(pidFile));
    assert.equal(exists(`/proc/${hookPid}`), false, `hook ${hookPid} is gone`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/**
 * Runs a runHook op with `failMessage` (after a chdir to `dir`, where a core dump lands) as an
 * `arch` executable, natively or under qemu-user, with stderr piped; `read: false` closes the
 * report socket's reading end before the hook ends, as `create` has when a hook runs after start.
 */
async function runFailingHook(
  arch: "x86_64" | "aarch64",
  dir: string,
  hook: { path?: string; script: string },
  read = true,
  before: TrampolineOp[] = [],
): Promise<
  {
    event: TrampolineEvent | string | undefined;
    code: number;
    signal: string | null;
    stderr: string;
  }
> {
  const { ours, theirs } = trampolineSocket();
  const program: TrampolineProgram = {
    reportFd: theirs,
    ops: [
      { op: "chdir", path: dir },
      ...before,
      {
        op: "runHook",
        path: hook.path ?? "/bin/sh",
        argv: ["sh", "-c", hook.script],
        envp: [],
        stdin: "{}",
        failMessage: "skiff: startContainer hook #0 (/bin/sh) failed: ",
      },
      { op: "exit", code: 5 },
    ],
  };
  const path = join(dir, `trampoline-${arch}`);
  Deno.writeFileSync(path, buildTrampoline(program, arch), { mode: 0o755 });
  let child: Deno.ChildProcess;
  try {
    const [command, args] = arch === "x86_64" ? [path, []] : [QEMU!, [path]];
    child = new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).spawn();
  } finally {
    close(theirs);
  }
  let event: TrampolineEvent | string | undefined;
  try {
    if (read) event = await nextEvent(ours, program, 20_000).catch((err) => String(err));
  } finally {
    close(ours);
  }
  const out = await child.output();
  return { event, code: out.code, signal: out.signal, stderr: decoder.decode(out.stderr) };
}

const HOOK_LINE = "skiff: startContainer hook #0 (/bin/sh) failed: ";

/** What the Deno init says for each hook (runtime/hooks.ts HookError), and what it does. */
const FAILING_HOOKS: { path?: string; script: string; reason: string; realtime?: boolean }[] = [
  { script: "exit 3", reason: "exit status 3" },
  { script: "exit 10", reason: "exit status 10" },
  { script: "exit 100", reason: "exit status 100" },
  { script: "exit 255", reason: "exit status 255" },
  { script: "kill -HUP $$", reason: "killed by SIGHUP" },
  { script: "kill -KILL $$", reason: "killed by SIGKILL" },
  { script: "kill -TERM $$", reason: "killed by SIGTERM" },
  { script: "kill -SYS $$", reason: "killed by SIGSYS" },
  // A core dump sets 0x80 in the wait status: the name is the signal's still.
  { script: "ulimit -c unlimited; kill -SEGV $$", reason: "killed by SIGSEGV" },
  // Deno has no names for the real-time signals; the number then.
  { script: "kill -34 $$", reason: "killed by signal 34", realtime: true },
  { script: "kill -64 $$", reason: "killed by signal 64", realtime: true },
  // The hook's execve fails in the child, which exits 127.
  { path: "/nonexistent/hook", script: "", reason: "exit status 127" },
];

async function checkFailingHooks(arch: "x86_64" | "aarch64"): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-hookfail-" });
  try {
    const ok = await runFailingHook(arch, dir, { script: "exit 0" });
    assert.deepEqual(ok, { event: { kind: "end" }, code: 5, signal: null, stderr: "" }, arch);
    // qemu-user keeps some host real-time signals for itself and renumbers the rest in the wait
    // statuses it passes on (host 34 reaches the guest as 32).
    for (const hook of FAILING_HOOKS.filter((h) => arch === "x86_64" || !h.realtime)) {
      const r = await runFailingHook(arch, dir, hook);
      const what = `${arch} ${hook.path ?? hook.script}`;
      assert.equal(r.stderr, `${HOOK_LINE}${hook.reason}\n`, what);
      assert.equal(r.code, 1, what);
      assert.match(String(r.event), /trampoline step 1 \(run hook/, what);
    }
    assert.ok(exists(join(dir, "core")), `${arch}: the SIGSEGV hook dumped core`);
    // Hooks share the code that tells the failure: each with its own line and op index.
    const second = await runFailingHook(arch, dir, { script: "exit 2" }, true, [{
      op: "runHook",
      path: "/bin/sh",
      argv: ["sh", "-c", "exit 0"],
      envp: [],
      stdin: "{}",
      failMessage: "skiff: the first hook failed: ",
    }]);
    assert.equal(second.stderr, `${HOOK_LINE}exit status 2\n`, `${arch} second hook`);
    assert.match(String(second.event), /trampoline step 2 \(run hook/, `${arch} second hook`);
    // Nobody reads the report socket: its record must not kill the trampoline (or the hook's
    // child) with SIGPIPE: without a PID namespace PID 1 is not spared it.
    for (const hook of [FAILING_HOOKS[0], FAILING_HOOKS[FAILING_HOOKS.length - 1]]) {
      const unread = await runFailingHook(arch, dir, hook, false);
      const what = `${arch} ${hook.path ?? hook.script}, report socket closed`;
      assert.equal(unread.signal, null, what);
      assert.equal(unread.stderr, `${HOOK_LINE}${hook.reason}\n`, what);
      assert.equal(unread.code, 1, what);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("runHook with failMessage writes the Deno init's line for a hook that fails (exit status, signal name or number) and exits 1, also with nobody reading the report socket", async () => {
  await checkFailingHooks("x86_64");
});

Deno.test({
  name: "runHook with failMessage writes the same lines on aarch64 (under qemu-user)" +
    (QEMU ? "" : " (needs qemu-user-static)"),
  ignore: !QEMU,
  fn: () => checkFailingHooks("aarch64"),
});

Deno.test("waitByte blocks until a byte comes, then prlimit applies before execve", async () => {
  const [readEnd, writeEnd] = pipe(O_CLOEXEC);
  setCloexec(readEnd, false);
  const { ours, theirs } = trampolineSocket();
  let child: Deno.ChildProcess | undefined;
  try {
    const program: TrampolineProgram = {
      reportFd: theirs,
      ops: [
        { op: "waitByte", fd: readEnd },
        { op: "prlimit", resource: 7, /* RLIMIT_NOFILE */ soft: 77n, hard: 77n },
        { op: "execve", path: "/bin/sh", argv: ["sh", "-c", "ulimit -n"], envp: [] },
      ],
    };
    try {
      child = spawnTrampoline(program, { stdout: "piped" });
    } finally {
      close(theirs);
      close(readEnd);
    }
    const output = child.output();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const state = Deno.readTextFileSync(`/proc/${child.pid}/stat`).split(") ")[1][0];
    assert.equal(state, "S", "the trampoline sleeps in read(2) until the byte comes");
    writeAll(writeEnd, new Uint8Array([1]));
    assert.deepEqual(await nextEvent(ours, program, 10_000), { kind: "end" });
    const out = await output;
    child = undefined;
    assert.equal(out.code, 0);
    assert.equal(decoder.decode(out.stdout), "77\n");
  } finally {
    close(ours);
    close(writeEnd);
    if (child) {
      child.kill("SIGKILL");
      await child.output().catch(() => {});
    }
  }
});

Deno.test("waitByte fails with an error record when the other end closes first", async () => {
  const [readEnd, writeEnd] = pipe(O_CLOEXEC);
  setCloexec(readEnd, false);
  const { ours, theirs } = trampolineSocket();
  try {
    const program: TrampolineProgram = {
      reportFd: theirs,
      ops: [{ op: "waitByte", fd: readEnd }, { op: "exit", code: 0 }],
    };
    let child: Deno.ChildProcess;
    try {
      child = spawnTrampoline(program);
    } finally {
      close(theirs);
      close(readEnd);
    }
    close(writeEnd);
    await assert.rejects(nextEvent(ours, program, 10_000), /step 0 \(wait for a byte on fd/);
    assert.equal((await child.status).code, 127);
  } finally {
    close(ours);
  }
});

/** A seccomp filter of one instruction: BPF_RET|BPF_K SECCOMP_RET_ALLOW. */
const ALLOW_ALL = new Uint8Array([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]);

Deno.test("the exec ops set cwd, root, umask, signals, session, fds, no_new_privs and seccomp", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-tramp-exec-" });
  const file = join(dir, "owned");
  Deno.writeTextFileSync(file, "");
  const fd = open(file, O_RDONLY | O_CLOEXEC);
  // An inherited fd: cloexecFrom must keep it from the program.
  const leaked = open("/dev/null", O_RDONLY | O_CLOEXEC);
  setCloexec(fd, false);
  setCloexec(leaked, false);
  try {
    const result = await run(() => [
      { op: "chroot", path: "/" },
      { op: "chdir", path: dir },
      { op: "umask", mask: 0o027 },
      // Signals a Deno parent leaves ignored in its children (glibc's 32 and 33).
      { op: "sigdefault", signal: 32 },
      { op: "sigdefault", signal: 33 },
      { op: "setsid" },
      { op: "fchown", fd, uid: 4321 },
      { op: "dup2", from: fd, to: 9 },
      { op: "cloexecFrom", first: 3 },
      { op: "prctl", option: 38, arg2: 1 }, // PR_SET_NO_NEW_PRIVS
      { op: "seccomp", flags: 0, filter: ALLOW_ALL },
      {
        op: "execve",
        path: "/bin/sh",
        argv: [
          "sh",
          "-c",
          'pwd; umask; grep -E "^(NoNewPrivs|Seccomp|SigIgn):" /proc/self/status; ' +
          'read -r _ _ _ _ _ sid _ </proc/$$/stat; [ "$sid" = "$$" ] && echo leader; ' +
          `ls /proc/$$/fd | tr '\\n' ' '`,
        ],
        envp: [],
      },
    ]);
    assert.equal(result.error, undefined);
    assert.equal(result.code, 0);
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], dir);
    assert.equal(lines[1], "0027");
    assert.match(result.stdout, /SigIgn:\s+0+\n/);
    assert.match(result.stdout, /NoNewPrivs:\s+1\n/);
    assert.match(result.stdout, /Seccomp:\s+2\n/);
    assert.match(result.stdout, /\nleader\n/);
    // 0-2 and the fd ls itself opens; the inherited ones are gone.
    assert.deepEqual(lines.at(-1)!.trim().split(" ").map(Number).filter((n) => n > 3), []);
    assert.equal(Deno.statSync(file).uid, 4321);
  } finally {
    close(fd);
    close(leaked);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("setctty and dup2 give the program a pty as controlling terminal and stdin", async () => {
  const pty = openPty("/dev/ptmx");
  setCloexec(pty.slave, false);
  try {
    const result = await run(() => [
      { op: "setsid" },
      { op: "setctty", fd: pty.slave },
      { op: "dup2", from: pty.slave, to: 0 },
      { op: "execve", path: "/bin/sh", argv: ["sh", "-c", "tty; echo ok >/dev/tty"], envp: [] },
    ]);
    assert.equal(result.error, undefined);
    assert.equal(result.stdout, `${pty.slavePath}\n`);
    assert.equal(result.code, 0);
  } finally {
    close(pty.master);
    close(pty.slave);
  }
});

Deno.test("a failing chdir names its step and the caller's why", async () => {
  const result = await run(() => [
    { op: "chdir", path: "/nonexistent-skiff-dir" },
    { op: "exit", code: 0 },
  ]);
  assert.equal(result.code, 127);
  assert.match(String(result.error), /trampoline step 0 \(chdir \/nonexistent-skiff-dir\): ENOENT/);
  const { ours, theirs } = trampolineSocket();
  const program: TrampolineProgram = {
    reportFd: theirs,
    ops: [{ op: "chdir", path: "/nonexistent-skiff-dir" }, { op: "exit", code: 0 }],
    why: ["process.cwd: cannot change to /nonexistent-skiff-dir"],
  };
  let child: Deno.ChildProcess;
  try {
    child = spawnTrampoline(program);
  } finally {
    close(theirs);
  }
  try {
    const err = await nextEvent(ours, program).then(() => undefined, (e) => e as Error);
    assert.match(String(err), /process\.cwd: cannot change to/);
    assert.ok(isErrno(err?.cause, "ENOENT"));
  } finally {
    close(ours);
    await child.status;
  }
});

Deno.test("posixSpawn() starts a child Deno does not know, with stdio on /dev/null if asked", async () => {
  const pid = posixSpawn(
    "/bin/sh",
    ["sh", "-c", 'test "$(readlink /proc/$$/fd/1)" = /dev/null && exit 3; exit 4'],
    [],
    true,
  );
  assert.deepEqual(await waitPid(pid), { success: false, code: 3, signal: null });
  const inherit = posixSpawn("/bin/sh", ["sh", "-c", "exit 5"], [], false);
  assert.equal((await waitPid(inherit)).code, 5);
});

Deno.test("mount, umount2 and pivotRoot make a new root in a new mount namespace", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-tramp-root-" });
  try {
    const result = await run(() => [
      { op: "unshare", flags: CLONE_NEWNS },
      { op: "mount", source: "", target: "/", fstype: "", flags: MS_SLAVE | MS_REC },
      // The new root: the host's own "/", bound with everything below it.
      { op: "mount", source: "/", target: dir, fstype: "", flags: MS_BIND | MS_REC },
      // A marker that only the new root has, at `dir` inside it.
      {
        op: "mount",
        source: "skiff-marker",
        target: `${dir}${dir}`,
        fstype: "tmpfs",
        flags: 0,
        data: "size=64k",
      },
      // Mounted and taken away again: umount2 works on a path of its own.
      { op: "mount", source: "gone", target: `${dir}/tmp`, fstype: "tmpfs", flags: 0 },
      { op: "umount2", target: `${dir}/tmp`, flags: MNT_DETACH },
      { op: "chdir", path: dir },
      { op: "pivotRoot", newRoot: ".", putOld: "." },
      { op: "mount", source: "", target: ".", fstype: "", flags: MS_SLAVE | MS_REC },
      { op: "umount2", target: ".", flags: MNT_DETACH },
      { op: "chdir", path: "/" },
      {
        op: "execve",
        path: "/bin/sh",
        argv: [
          "sh",
          "-c",
          "grep -E 'skiff-marker|gone' /proc/self/mountinfo | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* //'; " +
          "cut -d' ' -f5 /proc/self/mountinfo | grep -c '^/$'",
        ],
        envp: [],
      },
    ]);
    assert.equal(result.error, undefined, String(result.error));
    assert.equal(result.code, 0);
    // The marker sits at `dir` of the new root (not at dir/dir), the old root is gone (one "/"),
    // the tmpfs that was unmounted is not there, and the data string reached the kernel.
    const lines = result.stdout.trim().split("\n");
    assert.equal(lines[0].split(" ")[0], dir, result.stdout);
    assert.match(lines[0], / - tmpfs skiff-marker rw,size=64k/);
    assert.equal(lines.length, 2, result.stdout);
    assert.equal(lines[1], "1");
    // Nothing reached the host's mount table.
    assert.ok(!Deno.readTextFileSync("/proc/self/mountinfo").includes("skiff-marker"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a failing mount names its step, its target and the errno", async () => {
  const result = await run(() => [
    { op: "unshare", flags: CLONE_NEWNS },
    { op: "mount", source: "x", target: "/nonexistent-skiff-dir", fstype: "tmpfs", flags: 0 },
    { op: "exit", code: 0 },
  ]);
  assert.equal(result.code, 127);
  assert.match(
    String(result.error),
    /trampoline step 1 \(mount tmpfs x on \/nonexistent-skiff-dir flags 0x0\): ENOENT/,
  );
});

Deno.test("sessionKeyring joins a new session keyring with the asked permissions", async () => {
  const name = `_ses.skiff-test-${Deno.pid}`;
  const result = await run(() => [
    { op: "sessionKeyring", name, perm: 0x3f3f0000 },
    { op: "execve", path: "/bin/sh", argv: ["sh", "-c", `grep ${name} /proc/keys`], envp: [] },
  ]);
  assert.equal(result.error, undefined, String(result.error));
  // /proc/keys: serial flags usage timeout perm uid gid type description.
  const fields = result.stdout.trim().split(/\s+/);
  assert.equal(fields[4], "3f3f0000", result.stdout);
  assert.equal(fields[7], "keyring");
});

Deno.test("execveat runs the next stage the parent wrote into an inherited memfd meanwhile", async () => {
  const memfd = memfdCreate("skiff-stage", MFD_ALLOW_SEALING);
  const { ours, theirs } = trampolineSocket();
  let child: Deno.ChildProcess | undefined;
  try {
    const first: TrampolineProgram = {
      reportFd: theirs,
      ops: [
        { op: "sync", fd: theirs, point: 1 },
        { op: "cloexec", fd: memfd },
        { op: "execveat", fd: memfd, argv: ["stage2"], envp: [] },
      ],
    };
    try {
      child = spawnTrampoline(first, { stdout: "piped" });
    } finally {
      close(theirs);
    }
    const output = child.output();
    assert.deepEqual(await nextEvent(ours, first, 10_000), { kind: "sync", op: 0, point: 1 });
    // The second stage: a sync point on the same report fd, then a shell that shows its argv[0]
    // is what execveat gave and that the memfd did not stay open.
    const second: TrampolineProgram = {
      reportFd: theirs,
      ops: [
        { op: "sync", fd: theirs, point: 2 },
        {
          op: "execve",
          path: "/bin/sh",
          argv: ["sh", "-c", `test -e /proc/self/fd/${memfd} && echo open; echo done`],
          envp: [],
        },
      ],
    };
    writeAll(memfd, buildTrampoline(second));
    addSeals(memfd, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    answer(ours);
    assert.deepEqual(await nextEvent(ours, second, 10_000), { kind: "sync", op: 0, point: 2 });
    answer(ours);
    assert.deepEqual(await nextEvent(ours, second, 10_000), { kind: "end" });
    const out = await output;
    child = undefined;
    assert.equal(out.code, 0);
    assert.equal(decoder.decode(out.stdout), "done\n");
  } finally {
    close(ours);
    close(memfd);
    if (child) {
      child.kill("SIGKILL");
      await child.output().catch(() => {});
    }
  }
});

Deno.test("openDup opens a path onto fds that are open already, and the program writes there", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-tramp-open-" });
  try {
    const file = join(dir, "out");
    Deno.writeTextFileSync(file, "");
    const O_WRONLY = 1;
    const result = await run(() => [
      { op: "openDup", path: file, flags: O_WRONLY | O_CLOEXEC, to: [1, 2] },
      {
        op: "execve",
        path: "/bin/sh",
        argv: ["sh", "-c", "echo one; echo two >&2; ls /proc/$$/fd | tr '\\n' ' '"],
        envp: [],
      },
    ]);
    assert.equal(result.error, undefined, String(result.error));
    assert.equal(result.code, 0);
    assert.equal(result.stdout, "", "stdout went to the file");
    const lines = Deno.readTextFileSync(file).split("\n");
    assert.deepEqual(lines.slice(0, 2), ["one", "two"]);
    // The fd openat gave is closed again: the same fds as without openDup (what the test runner
    // leaves inheritable, and the one ls opens).
    const baseline = await run(() => [
      { op: "execve", path: "/bin/sh", argv: ["sh", "-c", "ls /proc/$$/fd"], envp: [] },
    ]);
    assert.equal(lines[2].trim(), baseline.stdout.trim().split("\n").join(" "));
    const missing = await run(() => [
      { op: "openDup", path: join(dir, "missing"), flags: 0, to: [0] },
      { op: "exit", code: 0 },
    ]);
    assert.match(String(missing.error), /step 0 \(open .*missing as fd 0\): ENOENT/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("personality sets the execution domain the program inherits", async () => {
  const result = await run(() => [
    { op: "personality", persona: 0x0008 }, // PER_LINUX32
    { op: "execve", path: "/bin/cat", argv: ["cat", "/proc/self/personality"], envp: [] },
  ]);
  assert.equal(result.error, undefined, String(result.error));
  assert.equal(result.stdout, "00000008\n");
});

Deno.test("a seccomp op with a listener reports its fd, waits until it is copied, then closes it", async () => {
  const SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3;
  let copied = "";
  const result = await run((fd) => [
    { op: "prctl", option: 38, arg2: 1 }, // PR_SET_NO_NEW_PRIVS
    {
      op: "seccomp",
      flags: SECCOMP_FILTER_FLAG_NEW_LISTENER,
      filter: ALLOW_ALL,
      listenerFd: fd,
    },
    { op: "execve", path: "/bin/sh", argv: ["sh", "-c", "ls -l /proc/$$/fd"], envp: [] },
  ], (pid, fdNumber) => {
    const pidfd = pidfdOpen(pid);
    try {
      const listener = pidfdGetfd(pidfd, fdNumber);
      copied = Deno.readLinkSync(`/proc/self/fd/${listener}`);
      close(listener);
    } finally {
      close(pidfd);
    }
  });
  assert.equal(result.error, undefined, String(result.error));
  assert.equal(result.events[0].kind, "sync");
  assert.equal(copied, "anon_inode:seccomp notify");
  assert.ok(!result.stdout.includes("seccomp notify"), "the program does not hold the listener");
});
