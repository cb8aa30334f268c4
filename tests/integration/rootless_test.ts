/**
 * Rootless Skiff: --rootless and the optional cgroup (as root on this host, where the cgroup is
 * v1/hybrid and never delegated), and what a real user (the `skiffrl` fixture) sees: its own
 * state root, its ids in `spec --rootless`, the config checks that come before anything is made,
 * and its containers in user namespaces (the trampoline, newuidmap). docs/rootless.md.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, startDetached, testId } from "../_helpers/bundle.ts";
import { BUSYBOX_BUNDLE } from "../_helpers/paths.ts";
import { exists, newInits, skiffInits } from "../_helpers/host.ts";
import { detectCgroups } from "../../runtime/cgroups/detect.ts";
import {
  ensureRootlessUser,
  removeUserTree,
  rootlessBlocker,
  runSkiffAs,
  SUBID_COUNT,
  SUBID_START,
  userEnv,
} from "../_helpers/rootless.ts";

const v1Host = detectCgroups().layout !== "unified";
const blocker = rootlessBlocker();
const NO_USER = blocker ? `(skipped: ${blocker})` : "";

/**
 * Makes `dir` a bundle of the user's: a copy of the busybox rootfs it owns and the config its
 * `skiff spec --rootless` writes, which is returned.
 */
async function userBundle(user: ReturnType<typeof ensureRootlessUser>, dir: string) {
  Deno.mkdirSync(dir);
  const copy = new Deno.Command("cp", {
    args: ["-a", join(BUSYBOX_BUNDLE, "rootfs"), join(dir, "rootfs")],
  }).outputSync();
  assert.ok(copy.success);
  new Deno.Command("chown", { args: ["-R", `${user.uid}:${user.gid}`, dir] }).outputSync();
  const spec = await runSkiffAs(user, ["spec", "--rootless"], { cwd: dir });
  assert.equal(spec.code, 0, spec.stderr);
  return JSON.parse(Deno.readTextFileSync(join(dir, "config.json")));
}

/** The container's cgroup directories a v1 host would have for `id`. */
function v1CgroupDirs(id: string): string[] {
  return Object.values(detectCgroups().v1).map((m) => join(m.mountPoint, id));
}

Deno.test({
  name: "--rootless true: a container without a delegated cgroup runs in none (needs cgroup v1)",
  ignore: !v1Host,
}, async () => {
  await using bundle = await makeBundle();
  const id = testId("rl");
  const r = (args: string[]) => bundle.skiff(["--rootless", "true", ...args]);
  bundle.spec.process!.args = ["sleep", "60"];
  await bundle.writeSpec();
  const created = await r(["create", "--bundle", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  const state = JSON.parse((await r(["state", id])).stdout);
  // No cgroup of its own: the init stays in the caller's (this test's) cgroups.
  assert.equal(
    Deno.readTextFileSync(`/proc/${state.pid}/cgroup`),
    Deno.readTextFileSync("/proc/self/cgroup"),
  );
  for (const dir of v1CgroupDirs(id)) assert.equal(exists(dir), false, dir);
  const reason = /this rootless container has none: the host's cgroups are (hybrid|legacy)/;
  for (
    const [args, what] of [
      [["pause", id], "pause"],
      [["ps", id], "listing the container's processes"],
      [["update", "--memory", "64m", id], "setting linux.resources.memory.limit"],
      [["events", "--stats", id], "events"],
      [["events", id], "events"],
    ] as const
  ) {
    const result = await r([...args]);
    assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`${what} needs the container's cgroup`));
    assert.match(result.stderr, reason);
  }
  // Starting, killing and deleting need no cgroup.
  assert.equal((await r(["start", id])).code, 0);
  assert.equal(JSON.parse((await r(["state", id])).stdout).status, "running");
  const kill = await r(["kill", "--all", id, "KILL"]);
  assert.equal(kill.code, 0, kill.stderr);
  assert.match(kill.stderr, /kill --all: only the init gets the signal/);
  const deleted = await r(["delete", "--force", id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test({
  name: "--rootless false and a plain root create still make the cgroup (needs cgroup v1)",
  ignore: !v1Host,
}, async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle, ["sleep", "60"], "rlfalse");
  assert.ok(v1CgroupDirs(id).some(exists), "the container's cgroup exists");
});

Deno.test({
  name: "--rootless true refuses limits and a cgroupsPath it cannot have, naming the field",
  ignore: !v1Host,
}, async () => {
  await using bundle = await makeBundle();
  const before = skiffInits();
  for (
    const [edit, field] of [
      [() => bundle.spec.linux!.resources = { memory: { limit: 64 << 20 } }, "memory.limit"],
      [() => {
        delete bundle.spec.linux!.resources;
        bundle.spec.linux!.cgroupsPath = "/skiff-rl-test";
      }, "cgroupsPath"],
    ] as const
  ) {
    edit();
    await bundle.writeSpec();
    const id = testId("rlref");
    const result = await bundle.skiff(["--rootless", "true", "run", "--bundle", bundle.dir, id]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`config\\.json: linux\\.(resources\\.)?${field.replace(".", "\\.")}: .*rootless`),
    );
    assert.equal(exists(join(bundle.root, id)), false);
    for (const dir of v1CgroupDirs(id)) assert.equal(exists(dir), false, dir);
  }
  assert.deepEqual(newInits(before), []);
});

Deno.test({
  name: `a user's spec --rootless maps root to its own uid and gid ${NO_USER}`,
  ignore: blocker !== undefined,
}, async () => {
  const user = ensureRootlessUser();
  const dir = join(user.home, `spec-${Deno.pid}`);
  try {
    const result = await runSkiffAs(user, ["spec", "--rootless", "--bundle", dir], {
      env: {},
    });
    assert.equal(result.code, 1); // The bundle directory does not exist yet: no file is written.
    Deno.mkdirSync(dir);
    Deno.chownSync(dir, user.uid, user.gid);
    const ok = await runSkiffAs(user, ["spec", "--rootless", "--bundle", dir]);
    assert.equal(ok.code, 0, ok.stderr);
    const spec = JSON.parse(Deno.readTextFileSync(join(dir, "config.json")));
    assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: user.uid, size: 1 }]);
    assert.deepEqual(spec.linux.gidMappings, [{ containerID: 0, hostID: user.gid, size: 1 }]);
    assert.equal(Deno.statSync(join(dir, "config.json")).uid, user.uid);
  } finally {
    removeUserTree(dir);
  }
});

Deno.test({
  name: `a user's state lives in $XDG_RUNTIME_DIR/skiff; without it the error says so ${NO_USER}`,
  ignore: blocker !== undefined,
}, async () => {
  const user = ensureRootlessUser();
  const list = await runSkiffAs(user, ["--debug", "list"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stderr, new RegExp(`state root ${user.runtimeDir}/skiff\\b`));
  const env = userEnv(user);
  const noXdg = await runSkiffAs(user, ["list"], { env: { XDG_RUNTIME_DIR: "" } });
  assert.equal(noXdg.code, 1, noXdg.stdout);
  assert.match(
    noXdg.stderr,
    new RegExp(
      `no state directory for uid ${user.uid}: XDG_RUNTIME_DIR is not set and /run/skiff is ` +
        `not writable; set XDG_RUNTIME_DIR \\(usually /run/user/${user.uid}\\) or pass --root`,
    ),
  );
  // spec keeps no state: it works without any state directory.
  assert.ok(env.HOME);
  const dir = join(user.home, `spec-noxdg-${Deno.pid}`);
  try {
    Deno.mkdirSync(dir);
    Deno.chownSync(dir, user.uid, user.gid);
    const spec = await runSkiffAs(user, ["spec", "--bundle", dir], {
      env: { XDG_RUNTIME_DIR: "" },
    });
    assert.equal(spec.code, 0, spec.stderr);
  } finally {
    removeUserTree(dir);
  }
});

Deno.test({
  name:
    `a user's create is refused up front: a namespace path it cannot open, an rlimit over its hard limit ${NO_USER}`,
  ignore: blocker !== undefined,
}, async () => {
  const user = ensureRootlessUser();
  await using bundle = await makeBundle((spec) => {
    spec.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 1 << 30 }];
    spec.linux!.namespaces = [{ type: "network", path: "/proc/1/ns/net" }];
    delete spec.hostname;
  });
  Deno.chmodSync(bundle.dir, 0o755);
  const root = join(user.runtimeDir, "skiff-test-" + Deno.pid);
  try {
    const id = testId("rluser");
    const first = await runSkiffAs(user, ["--root", root, "create", "--bundle", bundle.dir, id]);
    assert.equal(first.code, 1);
    assert.match(
      first.stderr,
      /config\.json: linux\.namespaces\[0\]\.path: \/proc\/1\/ns\/net cannot be opened by uid \d+/,
    );
    bundle.spec.linux!.namespaces = [];
    await bundle.writeSpec();
    const second = await runSkiffAs(user, ["--root", root, "create", "--bundle", bundle.dir, id]);
    assert.equal(second.code, 1);
    assert.match(
      second.stderr,
      /config\.json: process\.rlimits\[0\]\.hard: 1073741824 is above the caller's hard limit \d+ for RLIMIT_NOFILE/,
    );
    assert.equal(exists(join(root, id)), false);
  } finally {
    removeUserTree(root);
  }
});

Deno.test({
  name:
    `a user runs runc's rootless config: root in the container, no cgroup, limits refused ${NO_USER}`,
  ignore: blocker !== undefined || !v1Host,
}, async () => {
  const user = ensureRootlessUser();
  const dir = join(user.home, `run-${Deno.pid}`);
  const root = join(user.runtimeDir, `skiff-run-${Deno.pid}`);
  try {
    const config = await userBundle(user, dir);
    config.process.terminal = false;
    config.process.args = ["sh", "-c", "id -u; cat /proc/self/uid_map"];
    Deno.writeTextFileSync(join(dir, "config.json"), JSON.stringify(config));
    const ran = await runSkiffAs(user, ["--root", root, "run", testId("rlrun")], { cwd: dir });
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, new RegExp(`^0\\n\\s*0\\s+${user.uid}\\s+1\\n$`));
    config.linux.resources = { pids: { limit: 10 } };
    Deno.writeTextFileSync(join(dir, "config.json"), JSON.stringify(config));
    const id = testId("rllimit");
    const limited = await runSkiffAs(user, ["--root", root, "run", id], { cwd: dir });
    assert.equal(limited.code, 1);
    assert.match(limited.stderr, /linux\.resources\.pids\.limit: needs a cgroup/);
    assert.equal(exists(join(root, id)), false);
  } finally {
    removeUserTree(dir);
    removeUserTree(root);
  }
});

Deno.test({
  name:
    `a user's container with subordinate ids: create, start, exec, kill and delete through newuidmap ${NO_USER}`,
  ignore: blocker !== undefined || !v1Host,
}, async () => {
  const user = ensureRootlessUser();
  const dir = join(user.home, `life-${Deno.pid}`);
  const root = join(user.runtimeDir, `skiff-life-${Deno.pid}`);
  const before = skiffInits();
  try {
    const config = await userBundle(user, dir);
    config.process.terminal = false;
    config.process.args = ["sleep", "60"];
    // Root is the user; 1..65536 are its /etc/subuid range: only newuidmap may write that.
    config.linux.uidMappings = [
      { containerID: 0, hostID: user.uid, size: 1 },
      { containerID: 1, hostID: SUBID_START, size: SUBID_COUNT },
    ];
    config.linux.gidMappings = [
      { containerID: 0, hostID: user.gid, size: 1 },
      { containerID: 1, hostID: SUBID_START, size: SUBID_COUNT },
    ];
    Deno.writeTextFileSync(join(dir, "config.json"), JSON.stringify(config));
    const id = testId("rllife");
    const as = (args: string[]) => runSkiffAs(user, ["--root", root, ...args], { cwd: dir });
    const created = await as(["create", id]);
    assert.equal(created.code, 0, created.stderr);
    const state = JSON.parse((await as(["state", id])).stdout);
    assert.equal(state.status, "created");
    assert.equal((await as(["start", id])).code, 0);
    const exec = await as([
      "exec",
      "--user",
      "1000:1000",
      id,
      "sh",
      "-c",
      "id -u; cat /proc/self/uid_map",
    ]);
    assert.equal(exec.code, 0, exec.stderr);
    const [uid, ...map] = exec.stdout.trim().split("\n").map((l) =>
      l.trim().split(/\s+/).join(" ")
    );
    assert.equal(uid, "1000");
    assert.deepEqual(map, [`0 ${user.uid} 1`, `1 ${SUBID_START} ${SUBID_COUNT}`]);
    assert.equal((await as(["kill", id, "KILL"])).code, 0);
    const deadline = Date.now() + 5000;
    while (JSON.parse((await as(["state", id])).stdout).status !== "stopped") {
      if (Date.now() > deadline) throw new Error("the container did not stop");
      await new Promise((r) => setTimeout(r, 20));
    }
    const deleted = await as(["delete", id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(exists(join(root, id)), false);
    assert.deepEqual(newInits(before), []);
  } finally {
    removeUserTree(dir);
    removeUserTree(root);
  }
});

Deno.test({
  name:
    `a user's read-only root on a nosuid,nodev tmpfs keeps those flags (they are locked) ${NO_USER}`,
  ignore: blocker !== undefined,
}, async () => {
  const user = ensureRootlessUser();
  const dir = join(user.home, `rotmp-${Deno.pid}`);
  const root = join(user.runtimeDir, `skiff-rotmp-${Deno.pid}`);
  Deno.mkdirSync(dir);
  const mounted = new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "nosuid,nodev,mode=755", "skiff-rotmp", dir],
  }).outputSync();
  assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
  try {
    Deno.chownSync(dir, user.uid, user.gid);
    const bundle = join(dir, "b");
    const config = await userBundle(user, bundle);
    assert.equal(config.root.readonly, true);
    config.process.terminal = false;
    config.process.args = ["cat", "/proc/self/mountinfo"];
    Deno.writeTextFileSync(join(bundle, "config.json"), JSON.stringify(config));
    const ran = await runSkiffAs(user, ["--root", root, "run", testId("rotmp")], {
      cwd: bundle,
    });
    // Without nosuid,nodev in the remount the kernel refuses it in the user namespace (EPERM).
    assert.equal(ran.code, 0, ran.stderr);
    const rootLine = ran.stdout.split("\n").find((line) => line.split(" ")[4] === "/");
    assert.match(rootLine ?? "", / \/ ro,nosuid,nodev/, ran.stdout);
  } finally {
    new Deno.Command("umount", { args: ["-l", dir] }).outputSync();
    removeUserTree(dir);
    removeUserTree(root);
  }
});
