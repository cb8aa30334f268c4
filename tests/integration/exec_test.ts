import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { makeBundle, startDetached, testId } from "../_helpers/bundle.ts";
import { appArmorEnabled, selinuxEnabled } from "../../runtime/security/lsm.ts";
import { close, pollReadable, read } from "../../ffi/fs.ts";
import { acceptUnix, listenUnix, recvFds } from "../../ffi/socket.ts";
import { getWindowSize } from "../../ffi/tty.ts";
import { hasCommand } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";

Deno.test("exec joins every namespace of the container", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const names = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];
  const script = names.map((n) =>
    `[ "$(readlink /proc/self/ns/${n})" = "$(readlink /proc/1/ns/${n})" ] && echo ${n}-same`
  ).join("; ");
  const result = await bundle.skiff(["exec", id, "sh", "-c", script]);
  assert.equal(result.stdout, names.map((n) => `${n}-same\n`).join(""), result.stderr);
});

Deno.test("exec runs with the container's capabilities and no_new_privs, as its user", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.capabilities = {
      bounding: ["CAP_KILL", "CAP_CHOWN"],
      effective: ["CAP_KILL", "CAP_CHOWN"],
      permitted: ["CAP_KILL", "CAP_CHOWN"],
    };
    spec.process!.noNewPrivileges = true;
  });
  const { id } = await startDetached(bundle);
  const result = await bundle.skiff([
    "exec",
    id,
    "sh",
    "-c",
    "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status; id -u",
  ]);
  assert.equal(
    result.stdout,
    "CapEff:\t0000000000000021\nCapBnd:\t0000000000000021\nNoNewPrivs:\t1\n0\n",
  );
});

Deno.test("exec takes --user, --env, --cwd and --cap, and passes the exit status", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const result = await bundle.skiff([
    "exec",
    "--user",
    "1000:1000",
    "-e",
    "XV=1",
    "--cwd",
    "/tmp",
    "--cap",
    "CAP_SYS_CHROOT",
    id,
    "sh",
    "-c",
    "echo $(id -u):$(id -g) $XV $(pwd); grep CapAmb /proc/self/status; exit 5",
  ]);
  assert.equal(result.stdout, "1000:1000 1 /tmp\nCapAmb:\t0000000000040000\n");
  assert.equal(result.code, 5);
});

Deno.test("exec passes stdin through", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const result = await bundle.skiff(["exec", id, "cat"], { stdin: "exec-stdin-7\n" });
  assert.equal(result.stdout, "exec-stdin-7\n");
});

Deno.test("exec --process --detach --pid-file, as conmon and the containerd shim call it", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const processFile = join(bundle.dir, "process.json");
  await Deno.writeTextFile(
    processFile,
    JSON.stringify({
      user: { uid: 0, gid: 0 },
      args: ["sh", "-c", "echo detached > /tmp/detached; sleep 5"],
      env: ["PATH=/bin"],
      cwd: "/",
    }),
  );
  const pidFile = join(bundle.dir, "exec.pid");
  const result = await bundle.skiff([
    "exec",
    "--process",
    processFile,
    "--detach",
    "--pid-file",
    pidFile,
    id,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const pid = Number(await Deno.readTextFile(pidFile));
  assert.ok(pid > 0);
  const initPid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  assert.equal(
    Deno.readLinkSync(`/proc/${pid}/ns/pid`),
    Deno.readLinkSync(`/proc/${initPid}/ns/pid`),
  );
  for (let i = 0; i < 100; i++) {
    try {
      if ((await Deno.readTextFile(join(bundle.rootfs, "tmp/detached"))) === "detached\n") break;
    } catch {
      // Not yet.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await Deno.readTextFile(join(bundle.rootfs, "tmp/detached")), "detached\n");
});

Deno.test("exec --process refuses an invalid process.json, naming the field", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const processFile = join(bundle.dir, "bad.json");
  await Deno.writeTextFile(
    processFile,
    JSON.stringify({ user: { uid: 0, gid: 0 }, args: [], cwd: "/" }),
  );
  const result = await bundle.skiff(["exec", "--process", processFile, id]);
  assert.equal(result.code, 255, "runc exits 255 when exec fails");
  assert.match(result.stderr, /bad\.json: process\.args: must have at least one entry/);
});

Deno.test("exec into a stopped container is refused", async () => {
  await using bundle = await makeBundle();
  const id = testId();
  await bundle.skiff(["run", "--keep", "-b", bundle.dir, id]);
  const result = await bundle.skiff(["exec", id, "true"]);
  assert.equal(result.code, 255);
  assert.match(result.stderr, /cannot exec in a stopped container/);
});

Deno.test("exec of a missing program fails with runc's message", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const result = await bundle.skiff(["exec", id, "no-such-program"]);
  assert.equal(result.code, 255);
  assert.match(result.stderr, /exec: "no-such-program": executable file not found in \$PATH/);
});

Deno.test("exec --tty --console-socket sends a pty master for the new process", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const socket = join(bundle.dir, "exec-console.sock");
  const server = listenUnix(socket);
  const fds = [server];
  try {
    const result = await bundle.skiff([
      "exec",
      "--tty",
      "--detach",
      "--console-socket",
      socket,
      id,
      "sh",
      "-c",
      "tty; echo exec-tty-ok; sleep 1",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const conn = acceptUnix(server);
    fds.push(conn);
    const master = recvFds(conn).fds[0];
    fds.push(master);
    let out = "";
    const deadline = Date.now() + 10_000;
    while (!out.includes("exec-tty-ok") && Date.now() < deadline) {
      if (pollReadable(master, 100)) out += new TextDecoder().decode(read(master));
    }
    assert.match(out, /\/dev\/pts\/\d+\r\nexec-tty-ok/);
  } finally {
    for (const fd of fds) close(fd);
  }
});

Deno.test("exec --cgroup runs the process in a sub-cgroup of the container", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  const line = (await Deno.readTextFile(`/proc/${pid}/cgroup`)).split("\n").find((l) =>
    l.split(":")[1].split(",").includes("memory") || l.startsWith("0::")
  )!;
  const v2 = line.startsWith("0::");
  const dir = `${v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory"}${line.split(":")[2]}/sub`;
  await Deno.mkdir(dir);
  try {
    const spec = v2 ? "sub" : "memory:sub";
    const result = await bundle.skiff(["exec", "--cgroup", spec, id, "cat", "/proc/self/cgroup"]);
    assert.match(result.stdout, v2 ? /^0::\/sub$/m : /:memory:\/sub$/m, result.stderr);
    const escape = await bundle.skiff(["exec", "--cgroup", "../x", id, "true"]);
    assert.match(escape.stderr, /\.\.\/x is not a sub cgroup path/);
  } finally {
    await bundle.skiff(["delete", "--force", id]);
    await Deno.remove(dir).catch(() => {});
  }
});

Deno.test({
  name: "exec --apparmor is refused clearly when AppArmor is off",
  ignore: appArmorEnabled(),
}, async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const result = await bundle.skiff(["exec", "--apparmor", "unconfined", id, "true"]);
  assert.equal(result.code, 255);
  assert.match(
    result.stderr,
    /process\.apparmorProfile: apparmor profile "unconfined" is specified, but AppArmor is not enabled/,
  );
});

Deno.test({
  name: "exec --process-label is refused clearly when SELinux is off",
  ignore: selinuxEnabled(),
}, async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const result = await bundle.skiff([
    "exec",
    "--process-label",
    "system_u:system_r:container_t:s0",
    id,
    "true",
  ]);
  assert.equal(result.code, 255); // runc: an exec that fails before the process runs
  assert.match(
    result.stderr,
    /process\.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported/,
  );
});

Deno.test("exec --process applies process.consoleSize and gives the pty to the process user", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const processFile = join(bundle.dir, "process.json");
  await Deno.writeTextFile(
    processFile,
    JSON.stringify({
      ...bundle.spec.process,
      terminal: true,
      consoleSize: { height: 21, width: 77 },
      user: { uid: 1000, gid: 1000 },
      args: ["sh", "-c", "stty size; stat -L -c owner=%u /proc/self/fd/0; sleep 1"],
    }),
  );
  const socket = join(bundle.dir, "exec-console.sock");
  const server = listenUnix(socket);
  const fds = [server];
  try {
    const result = await bundle.skiff([
      "exec",
      "--detach",
      "--console-socket",
      socket,
      "--process",
      processFile,
      id,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const conn = acceptUnix(server);
    fds.push(conn);
    const master = recvFds(conn).fds[0];
    fds.push(master);
    assert.deepEqual(getWindowSize(master), { rows: 21, columns: 77 });
    let out = "";
    const deadline = Date.now() + 10_000;
    while (!/owner=\d+/.test(out) && Date.now() < deadline) {
      if (pollReadable(master, 100)) out += new TextDecoder().decode(read(master));
    }
    assert.match(out, /^21 77\r\nowner=1000\r\n/);
  } finally {
    for (const fd of fds) close(fd);
  }
});

Deno.test("exec --cgroup takes runc's argument forms and refuses the others with runc's words", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const mixed = await bundle.skiff(["exec", "--cgroup", "memory:a", "--cgroup", "b", id, "true"]);
  assert.equal(mixed.code, 255); // runc: "exec failed: ..." exits 255
  assert.match(mixed.stderr, /invalid --cgroup argument: b \(missing <controller>: prefix\)/);
  const colons = await bundle.skiff(["exec", "--cgroup", "memory:a:b", id, "true"]);
  assert.match(colons.stderr, /invalid --cgroup argument: memory:a:b/);
  const unknown = await bundle.skiff(["exec", "--cgroup", "nosuch:a", id, "true"]);
  assert.match(unknown.stderr, /unknown controller nosuch/);
  // "." stays in the container's cgroup: allowed, as path.Join in runc makes it.
  const same = await bundle.skiff(["exec", "--cgroup", "sub/..", id, "true"]);
  assert.equal(same.code, 0, same.stderr);
});

Deno.test({
  name: "exec starts no second Deno: one deno execve in the whole process tree (strace -f)" +
    (hasCommand("strace") ? "" : " (needs strace)"),
  ignore: !hasCommand("strace"),
  fn: async () => {
    await using bundle = await makeBundle();
    const { id } = await startDetached(bundle);
    const log = join(bundle.dir, "strace.log");
    for (const flags of [[], ["--tty"]]) {
      const traced = await new Deno.Command("strace", {
        args: [
          "-f",
          "-qq",
          "-e",
          "trace=execve",
          "-o",
          log,
          SKIFF,
          "--root",
          bundle.root,
          "exec",
          ...flags,
          id,
          "sh",
          "-c",
          "echo in-container",
        ],
        stdin: "null",
      }).output();
      const stderr = new TextDecoder().decode(traced.stderr);
      assert.equal(traced.code, 0, stderr);
      if (flags.length === 0) {
        assert.equal(new TextDecoder().decode(traced.stdout), "in-container\n");
      }
      const execs = Deno.readTextFileSync(log).split("\n").filter((l) => / execve\(/.test(l));
      const denos = execs.filter((l) => /execve\("[^"]*\/deno"/.test(l) && /= 0$/.test(l));
      assert.equal(denos.length, 1, execs.join("\n"));
      assert.ok(!execs.some((l) => l.includes('"init"')), execs.join("\n"));
      // The container's program was exec'd, by a process that is not Deno.
      assert.ok(execs.some((l) => /execve\("\/bin\/sh", \["sh", "-c"/.test(l)), execs.join("\n"));
    }
  },
});
