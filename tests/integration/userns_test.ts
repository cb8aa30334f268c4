/**
 * User namespaces (issue 10): a container whose linux.namespaces has "user" runs as the mapped
 * root, in namespaces that its user namespace owns, through the trampoline (docs/architecture.md).
 * These run as root with maps of arbitrary host ranges; tests/integration/rootless_test.ts runs
 * them as a non-root user.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Spec } from "../../spec/config.ts";
import { makeBundle, runIn, startDetached, type TestBundle, testId } from "../_helpers/bundle.ts";
import { exists, newInits, skiffInits } from "../_helpers/host.ts";

const HOST_BASE = 100000;
const SIZE = 65536;

/** A bundle with a new user namespace mapping 0..65535 to 100000..165535. */
async function usernsBundle(edit: (spec: Spec) => void = () => {}): Promise<TestBundle> {
  const bundle = await makeBundle((spec) => {
    spec.linux!.namespaces!.push({ type: "user" });
    spec.linux!.uidMappings = [{ containerID: 0, hostID: HOST_BASE, size: SIZE }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: HOST_BASE, size: SIZE }];
    edit(spec);
  });
  // The init (host uid 100000) must reach the rootfs through the bundle directory, as with runc.
  await Deno.chmod(bundle.dir, 0o755);
  return bundle;
}

/** chown -R of the rootfs to the mapped root, what Podman does for a --uidmap container. */
async function giveRootfs(bundle: TestBundle, uid = HOST_BASE, gid = HOST_BASE): Promise<void> {
  const out = await new Deno.Command("chown", { args: ["-R", `${uid}:${gid}`, bundle.rootfs] })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

Deno.test("a user namespace: the process is the mapped root, in namespaces of its own", async () => {
  await using bundle = await usernsBundle();
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user; " +
    "grep CapEff /proc/self/status",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
  assert.equal(lines[0], "0");
  assert.equal(lines[1], "0");
  assert.equal(lines[2], `0 ${HOST_BASE} ${SIZE}`);
  assert.equal(lines[3], `0 ${HOST_BASE} ${SIZE}`);
  assert.notEqual(lines[4], Deno.readLinkSync("/proc/self/ns/user"));
  // The config's capabilities (runc's default three), as in any container, now over this namespace.
  assert.match(lines[5], /^CapEff: 0000000020000420$/);
});

Deno.test("a user namespace: files created inside land with the mapped host ids", async () => {
  await using bundle = await usernsBundle((spec) => {
    const caps = spec.process!.capabilities!;
    for (const set of ["bounding", "effective", "permitted"] as const) caps[set]!.push("CAP_CHOWN");
  });
  await giveRootfs(bundle);
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "touch /made-by-root && mkdir /home/u && chown 1000:1001 /home/u && echo ok",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "ok\n");
  const byRoot = Deno.statSync(join(bundle.rootfs, "made-by-root"));
  assert.equal(byRoot.uid, HOST_BASE);
  assert.equal(byRoot.gid, HOST_BASE);
  const byUser = Deno.statSync(join(bundle.rootfs, "home/u"));
  assert.equal(byUser.uid, HOST_BASE + 1000);
  assert.equal(byUser.gid, HOST_BASE + 1001);
});

Deno.test('a user namespace: a mount target is made in a read-only "/" the mapped root owns (Podman\'s image roots)', async () => {
  const hostDir = await Deno.makeTempDir({ prefix: "skiff-userns-target-" });
  try {
    await Deno.chmod(hostDir, 0o755);
    await Deno.writeTextFile(join(hostDir, "file"), "bound\n", { mode: 0o644 });
    await using bundle = await usernsBundle((spec) => {
      spec.mounts!.push({
        destination: "/bound",
        type: "bind",
        source: join(hostDir, "file"),
        options: ["rbind"],
      });
    });
    await giveRootfs(bundle);
    // Root owns "/" in its namespace: DAC_OVERRIDE lets it make /bound in a 0555 directory.
    await Deno.chmod(bundle.rootfs, 0o555);
    try {
      const result = await runIn(bundle, ["cat", "/bound"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "bound\n");
      const target = Deno.statSync(join(bundle.rootfs, "bound"));
      assert.equal(target.uid, HOST_BASE);
      assert.equal(target.gid, HOST_BASE);
    } finally {
      await Deno.chmod(bundle.rootfs, 0o755);
    }
  } finally {
    await Deno.remove(hostDir, { recursive: true });
  }
});

Deno.test("a user namespace: the container's root has no power over host files", async () => {
  const hostDir = await Deno.makeTempDir({ prefix: "skiff-userns-host-" });
  try {
    await Deno.chmod(hostDir, 0o755);
    await Deno.writeTextFile(join(hostDir, "secret"), "host\n", { mode: 0o600 });
    await using bundle = await usernsBundle((spec) => {
      spec.mounts!.push({
        destination: "/host",
        type: "bind",
        source: hostDir,
        options: ["rbind"],
      });
    });
    await giveRootfs(bundle);
    const result = await runIn(bundle, [
      "sh",
      "-c",
      "stat -c %u /host/secret; cat /host/secret || echo read-denied; " +
      "touch /host/new || echo write-denied",
    ]);
    // Host root (uid 0) is not mapped: it shows as the overflow uid, and root inside can't
    // override its permissions.
    assert.equal(result.stdout, "65534\nread-denied\nwrite-denied\n", result.stderr);
    assert.equal(exists(join(hostDir, "new")), false);
  } finally {
    await Deno.remove(hostDir, { recursive: true });
  }
});

Deno.test("a user namespace: create, start, exec, kill and delete, and nothing left", async () => {
  const before = skiffInits();
  {
    await using bundle = await usernsBundle((spec) => {
      spec.process!.args = ["sleep", "60"];
    });
    const id = testId("userns");
    const created = await bundle.skiff(["create", "-b", bundle.dir, id]);
    assert.equal(created.code, 0, created.stderr);
    const state = JSON.parse((await bundle.skiff(["state", id])).stdout);
    assert.equal(state.status, "created");
    const userns = Deno.readLinkSync(`/proc/${state.pid}/ns/user`);
    assert.notEqual(userns, Deno.readLinkSync("/proc/self/ns/user"));
    // The init is a direct child of the CLI that created it: now re-parented away from us.
    assert.equal((await bundle.skiff(["start", id])).code, 0);
    const exec = await bundle.skiff([
      "exec",
      id,
      "sh",
      "-c",
      "id -u; readlink /proc/self/ns/user; readlink /proc/self/ns/pid; echo $$",
    ]);
    assert.equal(exec.code, 0, exec.stderr);
    const [uid, execUserns, execPidns] = exec.stdout.trim().split("\n");
    assert.equal(uid, "0");
    assert.equal(execUserns, userns);
    assert.equal(execPidns, Deno.readLinkSync(`/proc/${state.pid}/ns/pid`));
    assert.equal((await bundle.skiff(["kill", id, "KILL"])).code, 0);
    const deadline = Date.now() + 5000;
    while (JSON.parse((await bundle.skiff(["state", id])).stdout).status !== "stopped") {
      if (Date.now() > deadline) throw new Error("the container did not stop");
      await new Promise((r) => setTimeout(r, 20));
    }
    const deleted = await bundle.skiff(["delete", id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(exists(join(bundle.root, id)), false);
  }
  assert.deepEqual(newInits(before), []);
});

Deno.test("a user namespace: run exits with the container's status, and a signal's 128+N", async () => {
  await using bundle = await usernsBundle();
  assert.equal((await runIn(bundle, ["sh", "-c", "exit 7"])).code, 7);
  // A signal from outside: the init was cloned by the trampoline, and run still reaps it.
  bundle.spec.process!.args = ["sleep", "30"];
  await bundle.writeSpec();
  const id = testId();
  const run = bundle.skiff(["run", "-b", bundle.dir, id]);
  const deadline = Date.now() + 10_000;
  while ((await bundle.skiff(["state", id])).stdout.includes('"running"') === false) {
    if (Date.now() > deadline) throw new Error("the container did not start");
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal((await bundle.skiff(["kill", id, "KILL"])).code, 0);
  assert.equal((await run).code, 137);
});

Deno.test("a user namespace: a peer in it cannot reach the runtime through /proc (CVE-2019-5736)", async () => {
  await using waiting = await usernsBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
  });
  const id = testId();
  assert.equal((await waiting.skiff(["create", "-b", waiting.dir, id])).code, 0);
  const pid = JSON.parse((await waiting.skiff(["state", id])).stdout).pid;
  await using peer = await makeBundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.map((n) =>
      n.type === "pid" ? { type: "pid", path: `/proc/${pid}/ns/pid` } : n
    );
    spec.linux!.namespaces!.push({ type: "user", path: `/proc/${pid}/ns/user` });
  });
  await Deno.chmod(peer.dir, 0o755);
  const result = await runIn(peer, [
    "sh",
    "-c",
    "id -u; readlink /proc/1/exe; (echo x >>/proc/1/exe) 2>/dev/null && echo WRITTEN || echo write-denied",
  ]);
  assert.equal(
    result.stdout,
    "0\n/memfd:skiff-trampoline (deleted)\nwrite-denied\n",
    result.stderr,
  );
});

Deno.test("a user namespace: bad maps are refused before anything is made", async () => {
  await using bundle = await usernsBundle((spec) => {
    delete spec.linux!.gidMappings;
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /linux\.gidMappings: a new user namespace .* needs mappings/);
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("a user namespace: overlapping ranges are refused before the kernel sees them, and nothing is left", async () => {
  const before = skiffInits();
  {
    await using bundle = await usernsBundle((spec) => {
      spec.linux!.uidMappings = [
        { containerID: 0, hostID: HOST_BASE, size: 10 },
        { containerID: 5, hostID: HOST_BASE + 100, size: 10 },
      ];
    });
    const id = testId();
    const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /linux\.uidMappings\[1\]: its containerID range overlaps/);
    assert.equal(exists(join(bundle.root, id)), false);
  }
  assert.deepEqual(newInits(before), []);
});

Deno.test("a user namespace: startDetached and state report the init as a live process", async () => {
  await using bundle = await usernsBundle();
  const { pid } = await startDetached(bundle);
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  // Seen from the host, the process runs as the mapped root.
  assert.match(status, new RegExp(`^Uid:\\s+${HOST_BASE}\\s`, "m"));
});

Deno.test("a user namespace: user.* sysctls set the limits of the container's own namespace", async () => {
  await using bundle = await usernsBundle((spec) => {
    spec.linux!.sysctl = { "user.max_user_namespaces": "7" };
  });
  const result = await runIn(bundle, ["cat", "/proc/sys/user/max_user_namespaces"]);
  assert.equal(result.stdout, "7\n", result.stderr);
  // The host's limit is untouched.
  assert.notEqual(Deno.readTextFileSync("/proc/sys/user/max_user_namespaces"), "7\n");
});

Deno.test("user.* sysctls need a user namespace: the error names the key", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.sysctl = { "user.max_user_namespaces": "7" };
  });
  const result = await runIn(bundle, ["true"]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /linux\.sysctl\.user\.max_user_namespaces: sysctl is in the user namespace, which the container does not own/,
  );
});

/** The container as its process sees it: ids, owners and modes of what the init made, groups. */
const INSIDE = "id; stat -c '%n %u %g %a' / /dev /dev/null /dev/pts /dev/shm /dev/mqueue /proc; " +
  "ls -ln /dev | grep -v '^total' | awk '{print $1, $3, $4, $NF}'; cat /proc/self/setgroups; " +
  "mkdir /dev/made && stat -c '%n %u %g' /dev/made; grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status";

Deno.test("a user namespace goes through the trampoline init: no Deno in the container, and it looks as the Deno init makes it", async () => {
  await using bundle = await usernsBundle((spec) => {
    spec.process!.args = ["sh", "-c", `(${INSIDE}) > /out 2>&1`];
    spec.root!.readonly = false;
  });
  await giveRootfs(bundle);
  const seen: string[] = [];
  for (const env of [{}, { SKIFF_DENO_INIT: "1" }] as Record<string, string>[]) {
    const id = testId();
    const created = await bundle.skiff(["create", "--bundle", bundle.dir, id], { env });
    assert.equal(created.code, 0, created.stderr);
    const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
    const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
    if (seen.length === 0) {
      // PID 1 is the trampoline's second stage, as in a container without a user namespace.
      assert.match(exe, /^\/memfd:skiff-trampoline/);
      assert.equal(Deno.readTextFileSync(`/proc/${pid}/comm`), "memfd:skiff-tra\n");
      assert.notEqual(
        Deno.readLinkSync(`/proc/${pid}/ns/user`),
        Deno.readLinkSync("/proc/self/ns/user"),
      );
    }
    const started = await bundle.skiff(["start", id]);
    assert.equal(started.code, 0, started.stderr);
    for (let i = 0; i < 200 && exists(`/proc/${pid}`); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    seen.push(Deno.readTextFileSync(join(bundle.rootfs, "out")));
    await bundle.skiff(["delete", "-f", id]);
  }
  assert.match(seen[0], /^uid=0\(root\) gid=0\(root\)/);
  assert.match(seen[0], /\/dev\/made 0 0\n/);
  assert.equal(seen[0], seen[1]);
});
