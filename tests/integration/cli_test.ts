/**
 * The CLI's details compared with runc 1.1.5 (/usr/sbin/runc): each test runs runc on the same
 * bundle where runc is installed, and asserts runc's behaviour directly either way.
 */
import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { makeBundle, startDetached, type TestBundle, testId } from "../_helpers/bundle.ts";
import { runSkiff, type SkiffResult } from "../_helpers/skiff.ts";
import { exists } from "../_helpers/host.ts";
import { REPO, SKIFF } from "../_helpers/paths.ts";
import { close } from "../../ffi/fs.ts";
import { acceptUnix, listenUnix, recvFds } from "../../ffi/socket.ts";

const RUNC = "/usr/sbin/runc";
const hasRunc = exists(RUNC);
const NO_RUNC = "(compared with runc: needs /usr/sbin/runc)";

/** Runs `program` (runc or dist/skiff) like runSkiff(), output through files. */
async function runTool(
  program: string,
  args: string[],
  options: { cwd?: string; stdin?: string } = {},
): Promise<SkiffResult> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-cli-out-" });
  try {
    const [out, err, input] = ["out", "err", "in"].map((f) => join(dir, f));
    await Deno.writeTextFile(input, options.stdin ?? "");
    const status = await new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$@" <"$IN" >"$OUT" 2>"$ERR"', "sh", program, ...args],
      env: { IN: input, OUT: out, ERR: err },
      cwd: options.cwd,
      stdout: "null",
      stderr: "null",
    }).spawn().status;
    return {
      code: status.code,
      stdout: await Deno.readTextFile(out),
      stderr: await Deno.readTextFile(err),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A runc state root in `bundle` whose containers are force-deleted on dispose. */
function runcIn(bundle: TestBundle): AsyncDisposable & {
  run(args: string[], options?: { cwd?: string }): Promise<SkiffResult>;
} {
  const root = join(bundle.dir, "runc-state");
  const ids = new Set<string>();
  return {
    run(args, options) {
      for (const arg of args) if (arg.includes(`-${Deno.pid}-`)) ids.add(arg);
      return runTool(RUNC, ["--root", root, ...args], options);
    },
    async [Symbol.asyncDispose]() {
      for (const id of ids) await runTool(RUNC, ["--root", root, "delete", "--force", id]);
    },
  };
}

/** The pid a pidfd refers to, from /proc/self/fdinfo. */
function pidOfPidfd(fd: number): number {
  const info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
  return Number(/^Pid:\s+(-?\d+)$/m.exec(info)?.[1]);
}

Deno.test('create --pidfd-socket sends a pidfd of the container\'s init, tagged "standard"', async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "60"];
  });
  const socket = join(bundle.dir, "pidfd.sock");
  const server = listenUnix(socket);
  const fds = [server];
  try {
    const id = testId("cli");
    const created = await bundle.skiff(["create", "--pidfd-socket", socket, "-b", bundle.dir, id]);
    assert.equal(created.code, 0, created.stderr);
    const conn = acceptUnix(server);
    fds.push(conn);
    const { data, fds: received } = recvFds(conn);
    fds.push(...received);
    assert.equal(received.length, 1);
    assert.equal(new TextDecoder().decode(data), "standard");
    const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
    assert.equal(pidOfPidfd(received[0]), pid);
  } finally {
    for (const fd of fds) close(fd);
  }
});

Deno.test('exec --pidfd-socket sends a pidfd of the new process, tagged "setns"', async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, undefined, "cli");
  const socket = join(bundle.dir, "pidfd.sock");
  const pidFile = join(bundle.dir, "exec.pid");
  const server = listenUnix(socket);
  const fds = [server];
  try {
    const result = await bundle.skiff([
      "exec",
      "-d",
      "--pid-file",
      pidFile,
      "--pidfd-socket",
      socket,
      id,
      "sleep",
      "30",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const conn = acceptUnix(server);
    fds.push(conn);
    const { data, fds: received } = recvFds(conn);
    fds.push(...received);
    assert.equal(new TextDecoder().decode(data), "setns");
    assert.equal(pidOfPidfd(received[0]), Number(await Deno.readTextFile(pidFile)));
  } finally {
    for (const fd of fds) close(fd);
  }
});

Deno.test("create --pidfd-socket with nobody listening fails and leaves no container", async () => {
  await using bundle = await makeBundle();
  const id = testId("cli");
  const result = await bundle.skiff([
    "create",
    "--pidfd-socket",
    join(bundle.dir, "nobody.sock"),
    "-b",
    bundle.dir,
    id,
  ]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /--pidfd-socket: cannot connect to .*nobody\.sock/);
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test({
  name: `spec --rootless writes runc's rootless changes ${NO_RUNC}`,
  ignore: !hasRunc,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "skiff-cli-spec-" });
  try {
    const read = async (tool: string, name: string, rootless: boolean) => {
      await Deno.mkdir(join(dir, name));
      const result = await runTool(tool, ["spec", ...(rootless ? ["--rootless"] : [])], {
        cwd: join(dir, name),
      });
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(await Deno.readTextFile(join(dir, name, "config.json")));
    };
    const runc = await read(RUNC, "runc", true);
    const skiff = await read(SKIFF, "skiff", true);
    const plain = await read(SKIFF, "plain", false);
    const uid = Deno.uid()!;
    const gid = Deno.gid()!;
    // The same mappings (the caller's ids), mounts and keys in `linux`, in runc's order.
    assert.deepEqual(skiff.linux.uidMappings, [{ containerID: 0, hostID: uid, size: 1 }]);
    assert.deepEqual(skiff.linux.gidMappings, [{ containerID: 0, hostID: gid, size: 1 }]);
    assert.deepEqual(skiff.linux.uidMappings, runc.linux.uidMappings);
    assert.deepEqual(skiff.linux.gidMappings, runc.linux.gidMappings);
    assert.deepEqual(skiff.mounts, runc.mounts);
    assert.deepEqual(Object.keys(skiff.linux), Object.keys(runc.linux));
    // Skiff's default also has a cgroup namespace (runc 1.1's has none); the rest is runc's.
    const types = (s: { linux: { namespaces: { type: string }[] } }) =>
      s.linux.namespaces.map((n) => n.type).filter((t) => t !== "cgroup");
    assert.deepEqual(types(skiff), types(runc));
    assert.equal(skiff.linux.resources, undefined);
    assert.deepEqual(skiff.process, plain.process);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--rootless takes runc's values true, false and auto; --criu is refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "skiff-cli-root-" });
  try {
    for (const value of ["false", "auto", "true"]) {
      const ok = await runSkiff(["--rootless", value, "list", "-q"], { root });
      assert.equal(ok.code, 0, `${value}: ${ok.stderr}`);
    }
    const bad = await runSkiff(["--rootless=maybe", "list"], { root });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid --rootless value "maybe": expected true, false or auto/);
    const criu = await runSkiff(["--criu", "/usr/sbin/criu", "list"], { root });
    assert.equal(criu.code, 1);
    assert.match(criu.stderr, /--criu: skiff has no checkpoint or restore/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--version prints runc's line shape with the git commit dist/skiff was built from", async () => {
  const result = await runSkiff(["--version"]);
  assert.equal(result.code, 0);
  const lines = result.stdout.trimEnd().split("\n");
  const keys = lines.map((l) => l.startsWith("skiff version ") ? "version" : l.split(":")[0]);
  const git = new Deno.Command("git", { args: ["rev-parse", "HEAD"], cwd: REPO, stderr: "null" })
    .outputSync();
  if (git.success && !Deno.env.get("SKIFF_BIN")) {
    const head = new TextDecoder().decode(git.stdout).trim();
    assert.deepEqual(keys, ["version", "commit", "spec", "deno"]);
    assert.match(lines[1], new RegExp(`^commit: ${head}(-dirty)?$`));
  } else {
    assert.deepEqual(keys.filter((k) => k !== "commit"), ["version", "spec", "deno"]);
  }
  if (hasRunc) {
    const runc = (await runTool(RUNC, ["--version"])).stdout.split("\n");
    assert.match(runc[0], /^runc version /);
    assert.match(runc[1], /^commit: /);
    assert.match(runc[2], /^spec: /);
  }
});

Deno.test("relative --root, --log and --pid-file are resolved against the caller's cwd", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "60"];
  });
  await using runc = runcIn(bundle);
  const cwd = join(bundle.dir, "cwd");
  await Deno.mkdir(cwd);
  const id = testId("cli");
  const skiff = await runTool(SKIFF, [
    "--root",
    "st",
    "--log",
    "skiff.log",
    "--debug",
    "create",
    "-b",
    "..",
    "--pid-file",
    "skiff.pid",
    id,
  ], { cwd });
  try {
    assert.equal(skiff.code, 0, skiff.stderr);
    assert.ok(exists(join(cwd, "st", id, "state.json")), "state under the relative --root");
    assert.match(await Deno.readTextFile(join(cwd, "skiff.pid")), /^\d+$/);
    assert.match(await Deno.readTextFile(join(cwd, "skiff.log")), /level=debug/);
    assert.equal(exists(`/skiff.pid`), false);
  } finally {
    await runTool(SKIFF, ["--root", join(cwd, "st"), "delete", "--force", id]);
  }
  if (!hasRunc) return;
  const runcId = testId("cli");
  const theirs = await runc.run(
    ["--log", "runc.log", "create", "-b", "..", "--pid-file", "runc.pid", runcId],
    { cwd },
  );
  assert.equal(theirs.code, 0, theirs.stderr);
  assert.ok(exists(join(cwd, "runc.pid")), "runc writes the pid file in the caller's cwd");
});

Deno.test("exec -p with no user runs as uid 0 gid 0, and -u UID keeps the gid, as runc does", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.user = { uid: 0, gid: 0 };
  });
  const { id } = await startDetached(bundle, undefined, "cli");
  const processFile = join(bundle.dir, "process.json");
  await Deno.writeTextFile(
    processFile,
    JSON.stringify({ args: ["sh", "-c", "echo $(id -u):$(id -g)"], cwd: "/", env: ["PATH=/bin"] }),
  );
  const fromFile = await bundle.skiff(["exec", "-p", processFile, id]);
  assert.equal(fromFile.stdout, "0:0\n", fromFile.stderr);
  const uidOnly = await bundle.skiff([
    "exec",
    "-u",
    "1234",
    id,
    "sh",
    "-c",
    "echo $(id -u):$(id -g)",
  ]);
  assert.equal(uidOnly.stdout, "1234:0\n", uidOnly.stderr);
  if (!hasRunc) return;
  await using runc = runcIn(bundle);
  const runcId = testId("cli");
  assert.equal((await runc.run(["run", "-d", "-b", bundle.dir, runcId])).code, 0);
  assert.equal((await runc.run(["exec", "-p", processFile, runcId])).stdout, "0:0\n");
  assert.equal(
    (await runc.run(["exec", "-u", "1234", runcId, "sh", "-c", "echo $(id -u):$(id -g)"])).stdout,
    "1234:0\n",
  );
});

Deno.test("--console-socket without process.terminal is refused, for create and exec, as runc does", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "60"];
  });
  const socket = join(bundle.dir, "console.sock");
  const server = listenUnix(socket);
  try {
    const id = testId("cli");
    const created = await bundle.skiff([
      "create",
      "--console-socket",
      socket,
      "-b",
      bundle.dir,
      id,
    ]);
    assert.equal(created.code, 1);
    assert.match(
      created.stderr,
      /cannot use console socket if skiff will not detach or allocate tty/,
    );
    assert.equal(exists(join(bundle.root, id)), false, "no state left behind");
    const { id: running } = await startDetached(bundle, undefined, "cli");
    const exec = await bundle.skiff(["exec", "-d", "--console-socket", socket, running, "true"]);
    assert.equal(exec.code, 255);
    assert.match(exec.stderr, /cannot use console socket if skiff will not detach or allocate tty/);
    if (!hasRunc) return;
    await using runc = runcIn(bundle);
    const theirs = await runc.run(["create", "--console-socket", socket, "-b", bundle.dir, id]);
    assert.equal(theirs.code, 1);
    assert.match(
      theirs.stderr,
      /cannot use console socket if runc will not detach or allocate tty/,
    );
  } finally {
    close(server);
  }
});

Deno.test("kill with signal 0 checks that the container's init exists, as runc does", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, undefined, "cli");
  const alive = await bundle.skiff(["kill", id, "0"]);
  assert.equal(alive.code, 0, alive.stderr);
  assert.equal((await bundle.skiff(["kill", id, "KILL"])).code, 0);
  for (let i = 0; i < 50; i++) {
    const state = JSON.parse((await bundle.skiff(["state", id])).stdout);
    if (state.status === "stopped") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const gone = await bundle.skiff(["kill", id, "0"]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /container not running/);
});

Deno.test("--debug writes debug lines in runc's text and JSON shapes, to stderr or --log", async () => {
  await using bundle = await makeBundle();
  const id = testId("cli");
  const text = await bundle.skiff(["--debug", "run", "-b", bundle.dir, id]);
  assert.equal(text.code, 0, text.stderr);
  const textLines = text.stderr.trimEnd().split("\n");
  assert.ok(textLines.length > 3, text.stderr);
  for (const line of textLines) {
    assert.match(line, /^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=debug msg=".*"$/);
  }
  // The init's steps are there: the CLI builds the rootfs itself (the trampoline init), or the
  // Deno init's come back through the CLI (runc's nsexec lines do likewise).
  assert.match(text.stderr, /msg="create: rootfs built"/);
  const denoInit = await bundle.skiff(["--debug", "run", "-b", bundle.dir, testId("cli")], {
    env: { SKIFF_DENO_INIT: "1" },
  });
  assert.equal(denoInit.code, 0, denoInit.stderr);
  assert.match(denoInit.stderr, /msg="init\[1\]: rootfs ready"/);
  const log = join(bundle.dir, "debug.json");
  const json = await bundle.skiff([
    "--debug",
    "--log",
    log,
    "--log-format",
    "json",
    "run",
    "-b",
    bundle.dir,
    testId("cli"),
  ]);
  assert.equal(json.code, 0, json.stderr);
  const entries = (await Deno.readTextFile(log)).trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.ok(entries.length > 3);
  for (const entry of entries) {
    assert.deepEqual(Object.keys(entry), ["level", "msg", "time"]);
    assert.equal(entry.level, "debug");
  }
});

Deno.test("without --debug a JSON log gets exactly one line for a failure", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, undefined, "cli");
  const log = join(bundle.dir, "error.json");
  const result = await bundle.skiff(["--log", log, "--log-format", "json", "exec", id, "nope"]);
  assert.equal(result.code, 255);
  const lines = (await Deno.readTextFile(log)).trimEnd().split("\n");
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).level, "error");
});

/** Exit code and which streams have text, the parts of help behaviour compared with runc. */
function shape(r: SkiffResult): { code: number; stdout: boolean; stderr: boolean } {
  return { code: r.code, stdout: r.stdout.length > 0, stderr: r.stderr.length > 0 };
}

Deno.test("-h/--help after a command, an unknown command and help for one behave as runc's", async () => {
  const root = await Deno.makeTempDir({ prefix: "skiff-cli-root-" });
  try {
    const cases: [string[], { code: number; stdout: boolean; stderr: boolean }][] = [
      [["kill", "--help"], { code: 0, stdout: true, stderr: false }],
      [["kill", "-h"], { code: 0, stdout: true, stderr: false }],
      [["kill", "some-id", "--help"], { code: 0, stdout: true, stderr: false }],
      [["help", "kill"], { code: 0, stdout: true, stderr: false }],
      [["nosuch"], { code: 3, stdout: false, stderr: true }],
      [["nosuch", "--help"], { code: 3, stdout: false, stderr: true }],
      [["help", "nosuch"], { code: 3, stdout: false, stderr: true }],
      [["kill", "--bogus"], { code: 1, stdout: true, stderr: true }],
      [["state"], { code: 1, stdout: true, stderr: true }],
    ];
    for (const [args, expected] of cases) {
      const ours = await runSkiff(args, { root });
      assert.deepEqual(shape(ours), expected, `skiff ${args.join(" ")}: ${ours.stderr}`);
      if (args[0] === "nosuch" || args[1] === "nosuch") {
        assert.match(ours.stderr, /No help topic for 'nosuch'/);
      }
      if (hasRunc) {
        const theirs = await runTool(RUNC, ["--root", root, ...args]);
        assert.deepEqual(shape(theirs), expected, `runc ${args.join(" ")}`);
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--help after exec's container ID belongs to the command run in the container", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, undefined, "cli");
  const result = await bundle.skiff(["exec", id, "sh", "-c", 'echo "arg:$0"', "--help"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "arg:--help\n");
});

Deno.test("ps passes the arguments after the ID to ps(1), with or without --", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, undefined, "cli");
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  for (const args of [["ps", id, "-o", "pid,comm"], ["ps", id, "--", "-o", "pid,comm"]]) {
    const result = await bundle.skiff(args);
    assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    const lines = result.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^\s*PID COMMAND$/);
    assert.match(result.stdout, new RegExp(`^\\s*${pid} sleep$`, "m"));
  }
  const json = await bundle.skiff(["ps", "-f", "json", id, "-e"]);
  assert.equal(json.code, 1);
  assert.match(json.stderr, /cannot be used with --format json/);
  if (!hasRunc) return;
  await using runc = runcIn(bundle);
  const runcId = testId("cli");
  assert.equal((await runc.run(["run", "-d", "-b", bundle.dir, runcId])).code, 0);
  const theirs = await runc.run(["ps", runcId, "-o", "pid,comm"]);
  assert.match(theirs.stdout.split("\n")[0], /^\s*PID COMMAND$/);
});

Deno.test("exec failures exit 255 as runc's do, and the process's own status passes through", async () => {
  await using bundle = await makeBundle();
  const stopped = testId("cli");
  assert.equal((await bundle.skiff(["run", "--keep", "-b", bundle.dir, stopped])).code, 0);
  const { id } = await startDetached(bundle, undefined, "cli");
  const cases: [string, string[], number][] = [
    ["command not found", ["exec", id, "no-such-command"], 255],
    ["bad user", ["exec", "-u", "nobody", id, "true"], 255],
    ["no such container", ["exec", testId("cli"), "true"], 255],
    ["stopped container", ["exec", stopped, "true"], 255],
    ["status of the process", ["exec", id, "sh", "-c", "exit 7"], 7],
  ];
  for (const [what, args, code] of cases) {
    const result = await bundle.skiff(args);
    assert.equal(result.code, code, `${what}: ${result.stderr}`);
    if (code === 255) assert.match(result.stderr, /exec failed: /, what);
  }
  if (!hasRunc) return;
  await using runc = runcIn(bundle);
  const runcId = testId("cli");
  assert.equal((await runc.run(["run", "-d", "-b", bundle.dir, runcId])).code, 0);
  const runcStopped = testId("cli");
  assert.equal((await runc.run(["run", "-d", "-b", bundle.dir, runcStopped])).code, 0);
  assert.equal((await runc.run(["kill", runcStopped, "KILL"])).code, 0);
  for (let i = 0; i < 50; i++) {
    if (JSON.parse((await runc.run(["state", runcStopped])).stdout).status === "stopped") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const theirs: [string, string[], number][] = [
    ["stopped container", ["exec", runcStopped, "true"], 255],
    ["command not found", ["exec", runcId, "no-such-command"], 255],
    ["bad user", ["exec", "-u", "nobody", runcId, "true"], 255],
    ["no such container", ["exec", testId("cli"), "true"], 255],
    ["status of the process", ["exec", runcId, "sh", "-c", "exit 7"], 7],
  ];
  for (const [what, args, code] of theirs) {
    assert.equal((await runc.run(args)).code, code, `runc: ${what}`);
  }
});
