import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, runIn, startDetached, testId } from "../_helpers/bundle.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { PR_SET_CHILD_SUBREAPER } from "../../ffi/constants.ts";
import { prctl } from "../../ffi/process.ts";
import { exists, skiffInits } from "../_helpers/host.ts";

Deno.test("skiff run prints the container's output as PID 1 with its own hostname and uid", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.hostname = "lifecycle-host";
    spec.process!.user = { uid: 1000, gid: 1000 };
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "echo pid=$$ host=$(hostname) uid=$(id -u):$(id -g)",
  ]);
  assert.equal(result.stderr, "");
  assert.equal(result.stdout, "pid=1 host=lifecycle-host uid=1000:1000\n");
  assert.equal(result.code, 0);
});

Deno.test("skiff run exits with the container's exit status", async () => {
  await using bundle = await makeBundle();
  const result = await runIn(bundle, ["sh", "-c", "exit 42"]);
  assert.equal(result.code, 42);
});

Deno.test("skiff run exits with 128+signal when the container is killed by a signal", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
  });
  const id = testId();
  const running = bundle.skiff(["run", "-b", bundle.dir, id]);
  let status = "";
  for (let i = 0; i < 200 && status !== "running"; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const state = await bundle.skiff(["state", id]);
    status = state.code === 0 ? JSON.parse(state.stdout).status : "";
  }
  assert.equal((await bundle.skiff(["kill", id, "KILL"])).code, 0);
  assert.equal((await running).code, 137);
});

Deno.test("skiff run deletes the container afterwards unless --keep is given", async () => {
  await using bundle = await makeBundle();
  const gone = testId();
  assert.equal((await bundle.skiff(["run", "-b", bundle.dir, gone])).code, 0);
  assert.equal(exists(join(bundle.root, gone)), false);
  const kept = testId();
  assert.equal((await bundle.skiff(["run", "--keep", "-b", bundle.dir, kept])).code, 0);
  const state = JSON.parse((await bundle.skiff(["state", kept])).stdout);
  assert.equal(state.status, "stopped");
  assert.equal(state.pid, 0);
});

Deno.test("skiff run passes stdin to the container untouched", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["cat"];
  });
  const result = await bundle.skiff(["run", "-b", bundle.dir, testId()], {
    stdin: "hello\nworld\n",
  });
  assert.equal(result.stdout, "hello\nworld\n");
});

Deno.test("skiff run without an ID generates one and --config takes a standalone config.json", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.root!.path = "rootfs";
    spec.process!.args = ["echo", "from-config"];
  });
  const config = join(bundle.dir, "my-config.json");
  await Deno.rename(join(bundle.dir, "config.json"), config);
  const result = await runSkiff(["run", "--config", config], { root: bundle.root, cwd: "/" });
  assert.equal(result.stdout, "from-config\n");
  assert.equal(result.code, 0);
});

Deno.test("create leaves the process blocked until start, and state follows created -> running -> stopped", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "echo started > /tmp/marker; sleep 30"];
  });
  const id = testId();
  const pidFile = join(bundle.dir, "init.pid");
  const created = await bundle.skiff(["create", "--bundle", bundle.dir, "--pid-file", pidFile, id]);
  assert.equal(created.stderr, "");
  assert.equal(created.code, 0);
  const pid = Number(await Deno.readTextFile(pidFile));
  assert.ok(pid > 1, "the pid file holds the host pid");

  let state = JSON.parse((await bundle.skiff(["state", id])).stdout);
  assert.equal(state.status, "created");
  assert.equal(state.pid, pid);
  assert.equal(state.id, id);
  assert.equal(state.bundle, bundle.dir);
  assert.equal(state.rootfs, bundle.rootfs);
  assert.equal(state.ociVersion, "1.3.0");
  assert.match(state.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(exists(join(bundle.rootfs, "tmp/marker")), false, "process.args did not run yet");

  assert.equal((await bundle.skiff(["start", id])).code, 0);
  state = JSON.parse((await bundle.skiff(["state", id])).stdout);
  assert.equal(state.status, "running");
  for (let i = 0; i < 100 && !exists(join(bundle.rootfs, "tmp/marker")); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await Deno.readTextFile(join(bundle.rootfs, "tmp/marker")), "started\n");

  assert.equal((await bundle.skiff(["kill", id, "KILL"])).code, 0);
  for (let i = 0; i < 200 && state.status !== "stopped"; i++) {
    await new Promise((r) => setTimeout(r, 10));
    state = JSON.parse((await bundle.skiff(["state", id])).stdout);
  }
  assert.equal(state.status, "stopped");
  assert.equal(state.pid, 0);
  assert.equal((await bundle.skiff(["delete", id])).code, 0);
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("state prints runc's keys in runc's order with two-space indentation", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.annotations = { "org.example.key": "value" };
    spec.process!.args = ["sleep", "30"];
  });
  const id = testId();
  await bundle.skiff(["create", "-b", bundle.dir, id]);
  const out = (await bundle.skiff(["state", id])).stdout;
  const keys = Object.keys(JSON.parse(out));
  assert.deepEqual(keys, [
    "ociVersion",
    "id",
    "pid",
    "status",
    "bundle",
    "rootfs",
    "created",
    "annotations",
    "owner",
  ]);
  assert.ok(out.startsWith(`{\n  "ociVersion": "1.3.0",\n  "id": `), out);
});

Deno.test("start on a running container fails and changes nothing", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
  });
  const id = testId();
  await bundle.skiff(["create", "-b", bundle.dir, id]);
  await bundle.skiff(["start", id]);
  const again = await bundle.skiff(["start", id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /cannot start an already running container/);
  const state = JSON.parse((await bundle.skiff(["state", id])).stdout);
  assert.equal(state.status, "running");
});

Deno.test("start on a stopped container fails with runc's message", async () => {
  await using bundle = await makeBundle();
  const id = testId();
  await bundle.skiff(["create", "-b", bundle.dir, id]);
  await bundle.skiff(["kill", id, "9"]);
  await new Promise((r) => setTimeout(r, 100));
  const result = await bundle.skiff(["start", id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot start a container that has stopped/);
});

Deno.test('kill on a stopped container fails with "container not running" but kill --all succeeds', async () => {
  await using bundle = await makeBundle();
  const id = testId();
  await bundle.skiff(["run", "--keep", "-b", bundle.dir, id]);
  const plain = await bundle.skiff(["kill", id, "15"]);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /container not running/);
  assert.equal((await bundle.skiff(["kill", "--all", id, "9"])).code, 0);
});

Deno.test("kill sends SIGTERM when no signal is given and accepts numbers and names", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = [
      "sh",
      "-c",
      "trap 'echo got-term > /tmp/sig; exit 0' TERM; while true; do sleep 0.05; done",
    ];
  });
  const id = testId();
  await bundle.skiff(["run", "-d", "--keep", "-b", bundle.dir, id]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await bundle.skiff(["kill", id])).code, 0);
  for (let i = 0; i < 100 && !exists(join(bundle.rootfs, "tmp/sig")); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await Deno.readTextFile(join(bundle.rootfs, "tmp/sig")), "got-term\n");
  for (const signal of ["SIGUSR1x", "0", "65"]) {
    const bad = await bundle.skiff(["kill", id, signal]);
    assert.equal(bad.code, 1, `signal ${signal} is refused`);
  }
});

Deno.test("delete refuses a running container without --force and kills it with --force", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, ["sleep", "30"]);
  const refused = await bundle.skiff(["delete", id]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    new RegExp(`cannot delete container ${id} that is not stopped: running`),
  );
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  assert.equal((await bundle.skiff(["delete", "--force", id])).code, 0);
  assert.equal(
    exists(`/proc/${pid}/stat`) && !(await Deno.readTextFile(`/proc/${pid}/stat`)).includes(") Z"),
    false,
  );
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("delete of a created container kills its init, as runc does", async () => {
  await using bundle = await makeBundle();
  const id = testId();
  await bundle.skiff(["create", "-b", bundle.dir, id]);
  const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  assert.ok(skiffInits().includes(pid));
  assert.equal((await bundle.skiff(["delete", id])).code, 0);
  assert.equal(skiffInits().includes(pid), false);
});

Deno.test("delete --force of an unknown ID succeeds; state, start, kill and delete of it fail", async () => {
  await using bundle = await makeBundle();
  assert.equal((await bundle.skiff(["delete", "--force", "no-such-container"])).code, 0);
  for (const verb of [["state"], ["start"], ["kill"], ["delete"]]) {
    const result = await bundle.skiff([...verb, "no-such-container"]);
    assert.equal(result.code, 1, verb[0]);
    assert.match(result.stderr, /container does not exist/, verb[0]);
  }
});

Deno.test("create refuses an ID that exists and an ID with characters runc refuses", async () => {
  await using bundle = await makeBundle();
  const id = testId();
  assert.equal((await bundle.skiff(["create", "-b", bundle.dir, id])).code, 0);
  const dup = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /already exists/);
  for (const bad of ["a/b", "a b", "..", "ünï"]) {
    const result = await bundle.skiff(["create", "-b", bundle.dir, bad]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /invalid container ID format/);
  }
});

Deno.test("list shows containers as a table, as JSON and as IDs", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
  });
  const empty = await bundle.skiff(["list", "--format", "json"]);
  assert.equal(empty.stdout, "null\n");
  const id = testId();
  await bundle.skiff(["create", "-b", bundle.dir, id]);
  const table = (await bundle.skiff(["list"])).stdout.split("\n");
  assert.match(table[0], /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
  assert.match(table[1], new RegExp(`^${id}\\s+\\d+\\s+created\\s+${bundle.dir}\\s`));
  const json = JSON.parse((await bundle.skiff(["list", "--format", "json"])).stdout);
  assert.equal(json.length, 1);
  assert.equal(json[0].id, id);
  assert.equal(json[0].status, "created");
  assert.equal((await bundle.skiff(["list", "-q"])).stdout, `${id}\n`);
});

Deno.test("options are accepted in any order, with one dash, and with =value", async () => {
  await using bundle = await makeBundle();
  const id = testId();
  const pidFile = join(bundle.dir, "p.pid");
  const result = await bundle.skiff(["create", id, `-bundle=${bundle.dir}`, "-pid-file", pidFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(Number(await Deno.readTextFile(pidFile)) > 0);
});

Deno.test("--log-format json writes exactly one error line with level, msg and time", async () => {
  await using bundle = await makeBundle();
  const log = join(bundle.dir, "log.json");
  const result = await bundle.skiff(["state", "missing"], {
    global: ["--log", log, "--log-format", "json"],
  });
  assert.equal(result.code, 1);
  const lines = (await Deno.readTextFile(log)).trim().split("\n");
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(entry), ["level", "msg", "time"]);
  assert.equal(entry.level, "error");
  assert.equal(entry.msg, "container does not exist");
  assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

Deno.test("--version prints the shape Docker and go-runc parse", async () => {
  const result = await runSkiff(["--version"]);
  const lines = result.stdout.trimEnd().split("\n");
  assert.match(lines[0], /^skiff version \d+\.\d+\.\d+$/);
  // runc prints a commit line only when its build recorded one; a version number is no commit.
  const hasCommit = lines[1].startsWith("commit: ");
  if (hasCommit) assert.match(lines[1], /^commit: [0-9a-f]{40}(-dirty)?$/);
  assert.equal(lines[hasCommit ? 2 : 1], "spec: 1.3.0");
});

Deno.test("an unknown command and a missing argument are usage errors with runc's exit codes", async () => {
  const unknown = await runSkiff(["frobnicate"]);
  assert.equal(unknown.code, 3);
  assert.match(unknown.stderr, /No help topic for 'frobnicate'/);
  const missing = await runSkiff(["kill"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /"kill" requires a minimum of 1 argument/);
  assert.match(missing.stdout, /^Incorrect Usage\.\n\nNAME:\n {3}skiff kill/);
});

Deno.test("spec writes a config.json that runs as it is", async () => {
  await using bundle = await makeBundle();
  await Deno.remove(join(bundle.dir, "config.json"));
  assert.equal((await runSkiff(["spec", "--bundle", bundle.dir])).code, 0);
  const spec = JSON.parse(await Deno.readTextFile(join(bundle.dir, "config.json")));
  assert.deepEqual(spec.process.args, ["sh"]);
  assert.equal(spec.root.path, "rootfs");
  const again = await runSkiff(["spec", "--bundle", bundle.dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists/);
  const run = await bundle.skiff(["run", "-b", bundle.dir, testId()], { stdin: "echo via-sh\n" });
  assert.equal(run.stdout, "via-sh\n");
});

Deno.test("concurrent commands on one container are serialised by its lock", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
  });
  const id = testId();
  await bundle.skiff(["create", "-b", bundle.dir, id]);
  const starts = await Promise.all([1, 2, 3].map(() => bundle.skiff(["start", id])));
  assert.equal(starts.filter((r) => r.code === 0).length, 1, "exactly one start wins");
  const state = JSON.parse((await bundle.skiff(["state", id])).stdout);
  assert.equal(state.status, "running");
});

Deno.test("create leaves the init in the caller's process tree, for a subreaper to wait on", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
  });
  const id = testId();
  // Like conmon and the containerd shim: orphans below this process are re-parented to it.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  try {
    assert.equal((await bundle.skiff(["create", "-b", bundle.dir, id])).code, 0);
    const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    assert.equal(ppid, Deno.pid);
  } finally {
    prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
});

Deno.test("every command prints its usage with --help", async () => {
  for (const verb of ["create", "start", "run", "state", "kill", "delete", "list", "spec"]) {
    const result = await runSkiff([verb, "--help"]);
    assert.equal(result.code, 0, verb);
    assert.match(result.stdout, new RegExp(`USAGE:\\n   skiff ${verb}`), verb);
  }
});

Deno.test("with LISTEN_FDS set, those fds and LISTEN_FDS/LISTEN_PID=1 reach the container", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"];
  });
  const data = join(bundle.dir, "socket-stand-in");
  await Deno.writeTextFile(data, "activated\n");
  const out = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      `exec 3<${data}; exec "$@"`,
      "sh",
      SKIFF,
      "--root",
      bundle.root,
      "run",
      "-b",
      bundle.dir,
      testId(),
    ],
    env: { LISTEN_FDS: "1", LISTEN_PID: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(out.stdout),
    "1 1\nactivated\n",
    new TextDecoder().decode(out.stderr),
  );
});
