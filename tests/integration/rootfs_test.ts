import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, runIn, testId } from "../_helpers/bundle.ts";
import { exists, hostMounts } from "../_helpers/host.ts";

Deno.test("mounts are applied in order with their mount(8) flags and fs data", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.mounts!.push(
      {
        destination: "/data",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "size=1m", "mode=700"],
      },
      { destination: "/data/inner", type: "tmpfs", source: "tmpfs", options: ["ro", "noexec"] },
    );
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "grep ' /data' /proc/self/mountinfo; stat -c %a /data",
  ]);
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines.length, 3, result.stdout + result.stderr);
  assert.match(lines[0], / \/data rw,nosuid,nodev\b.* - tmpfs tmpfs rw,size=1024k,mode=700/);
  assert.match(lines[1], / \/data\/inner ro,noexec\b/);
  assert.equal(lines[2], "700");
});

Deno.test("mount propagation options are applied to the mount", async () => {
  await using bundle = await makeBundle();
  bundle.spec.mounts!.push(
    { destination: "/shared", type: "tmpfs", source: "tmpfs", options: ["rshared"] },
    { destination: "/unbindable", type: "tmpfs", source: "tmpfs", options: ["unbindable"] },
  );
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "grep -E ' /(shared|unbindable) ' /proc/self/mountinfo",
  ]);
  const [shared, unbindable] = result.stdout.trim().split("\n");
  assert.match(shared, / shared:\d+ /);
  assert.match(unbindable, / unbindable /);
});

Deno.test("a bind mount shows a host directory, read-only when asked, and writes go through otherwise", async () => {
  await using bundle = await makeBundle();
  const shared = join(bundle.dir, "shared");
  await Deno.mkdir(shared);
  await Deno.writeTextFile(join(shared, "from-host"), "hello");
  bundle.spec.mounts!.push(
    { destination: "/rw", type: "bind", source: shared, options: ["rbind"] },
    { destination: "/ro", type: "bind", source: shared, options: ["bind", "ro"] },
  );
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "cat /rw/from-host; echo back > /rw/from-container; echo x > /ro/nope || echo ro-refused",
  ]);
  assert.match(result.stdout, /^hello/);
  assert.match(result.stdout, /ro-refused/);
  assert.equal(await Deno.readTextFile(join(shared, "from-container")), "back\n");
  assert.equal(exists(join(shared, "nope")), false);
});

Deno.test("a bind mount of a file creates the file mount point", async () => {
  await using bundle = await makeBundle();
  const file = join(bundle.dir, "hosts");
  await Deno.writeTextFile(file, "127.0.0.1 bound\n");
  bundle.spec.mounts!.push({
    destination: "/etc/hosts",
    type: "bind",
    source: file,
    options: ["bind", "ro"],
  });
  const result = await runIn(bundle, ["cat", "/etc/hosts"]);
  assert.equal(result.stdout, "127.0.0.1 bound\n");
});

Deno.test("recursive mount attributes (rro) make a whole bind tree read-only", async () => {
  await using bundle = await makeBundle();
  bundle.spec.mounts!.push(
    { destination: "/tree", type: "tmpfs", source: "tmpfs" },
    { destination: "/view", type: "bind", source: bundle.dir, options: ["rbind", "rro"] },
  );
  const result = await runIn(bundle, ["sh", "-c", "touch /view/x 2>&1 || echo refused"]);
  assert.match(result.stdout, /refused/);
});

Deno.test("a mount destination that is a symlink out of the rootfs stays inside the rootfs", async () => {
  await using bundle = await makeBundle();
  const outside = join(bundle.dir, "outside");
  await Deno.mkdir(outside);
  await Deno.symlink(outside, join(bundle.rootfs, "escape"));
  await Deno.symlink("../../../../../../", join(bundle.rootfs, "dotdot"));
  bundle.spec.mounts!.push(
    { destination: "/escape/mnt", type: "tmpfs", source: "tmpfs" },
    { destination: "/dotdot/mnt2", type: "tmpfs", source: "tmpfs" },
  );
  const result = await runIn(bundle, ["sh", "-c", "grep -c mnt /proc/self/mountinfo"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(exists(join(outside, "mnt")), false, "nothing was created outside the rootfs");
  assert.equal(exists(join(bundle.dir, "mnt2")), false);
  assert.ok(
    exists(join(bundle.rootfs, bundle.dir.slice(1), "outside", "mnt")) ||
      exists(join(bundle.rootfs, "mnt2")),
  );
});

Deno.test("root.readonly makes / read-only while /dev and tmpfs mounts stay writable", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.root!.readonly = true;
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "touch /x 2>/dev/null || echo root-ro; touch /dev/shm/y && echo shm-rw",
  ]);
  assert.equal(result.stdout, "root-ro\nshm-rw\n");
});

Deno.test("maskedPaths hide files and directories; readonlyPaths are read-only", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.maskedPaths = ["/proc/timer_list", "/sys/firmware", "/does/not/exist"];
    spec.linux!.readonlyPaths = ["/proc/sys", "/does/not/exist/either"];
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo sys-ro",
  ]);
  assert.equal(result.stdout, "0\n0\nsys-ro\n", result.stderr);
});

Deno.test("/dev has the default devices, the standard symlinks and linux.devices with mode and owner", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.devices = [
      {
        type: "c",
        path: "/dev/custom-null",
        major: 1,
        minor: 3,
        fileMode: 0o640,
        uid: 1000,
        gid: 5,
      },
      { type: "p", path: "/dev/fifo0", fileMode: 0o600 },
    ];
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "for d in null zero full random urandom tty custom-null fifo0; do stat -c '%n %F %t:%T %a %u:%g' /dev/$d; done; " +
    "for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done; echo hi > /dev/null && echo writable",
  ]);
  const lines = result.stdout.trim().split("\n");
  assert.deepEqual(lines.slice(0, 8), [
    "/dev/null character special file 1:3 666 0:0",
    "/dev/zero character special file 1:5 666 0:0",
    "/dev/full character special file 1:7 666 0:0",
    "/dev/random character special file 1:8 666 0:0",
    "/dev/urandom character special file 1:9 666 0:0",
    "/dev/tty character special file 5:0 666 0:0",
    "/dev/custom-null character special file 1:3 640 1000:5",
    "/dev/fifo0 fifo 0:0 600 0:0",
  ]);
  assert.deepEqual(lines.slice(8, 13), [
    "fd=/proc/self/fd",
    "stdin=/proc/self/fd/0",
    "stdout=/proc/self/fd/1",
    "stderr=/proc/self/fd/2",
    "ptmx=pts/ptmx",
  ]);
  assert.equal(lines[13], "writable");
});

Deno.test("linux.sysctl is written inside the container's namespaces only", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.sysctl = { "net.ipv4.ip_forward": "1", "kernel.shmmni": "1234" };
  });
  const hostForward = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_forward");
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
  ]);
  assert.equal(result.stdout, "1\n1234\n");
  assert.equal(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_forward"), hostForward);
});

Deno.test("--no-pivot switches root with MS_MOVE and chroot", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sh", "-c", "ls /; cat /proc/self/mountinfo | wc -l"];
  });
  const result = await bundle.skiff(["run", "--no-pivot", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /\bbin\b/);
});

Deno.test("rootfsPropagation shared is applied to the container's root", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.rootfsPropagation = "shared";
  });
  const result = await runIn(bundle, ["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"]);
  assert.match(result.stdout, / \/ rw[^ ]* shared:\d+ /);
});

Deno.test("the cgroup mount shows the container's own cgroup in each hierarchy, read-only", async () => {
  await using bundle = await makeBundle();
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "ls /sys/fs/cgroup; touch /sys/fs/cgroup/memory/x 2>/dev/null || echo ro",
  ]);
  assert.match(result.stdout, /\bmemory\b/);
  assert.match(result.stdout, /\bro\n$/);
});

Deno.test("a container run leaves no mount behind on the host", async () => {
  const before = hostMounts();
  await using bundle = await makeBundle((spec) => {
    spec.mounts!.push({ destination: "/bind", type: "bind", source: "/tmp", options: ["rbind"] });
  });
  await runIn(bundle, ["true"]);
  assert.deepEqual(hostMounts(), before);
});

Deno.test("tmpcopyup fills a new tmpfs with what the image had there (Podman --read-only)", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.root!.readonly = true;
  });
  await Deno.mkdir(join(bundle.rootfs, "data/sub"), { recursive: true });
  await Deno.writeTextFile(join(bundle.rootfs, "data/sub/seed"), "from-image\n");
  await Deno.chmod(join(bundle.rootfs, "data"), 0o1777);
  bundle.spec.mounts!.push({
    destination: "/data",
    type: "tmpfs",
    source: "tmpfs",
    options: ["rw", "nosuid", "nodev", "tmpcopyup"],
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "cat /data/sub/seed; stat -c %a /data; echo new > /data/x && echo writable; grep ' /data ' /proc/self/mountinfo | grep -c tmpfs",
  ]);
  assert.equal(result.stdout, "from-image\n1777\nwritable\n1\n", result.stderr);
  assert.equal(exists(join(bundle.rootfs, "data/x")), false, "writes stay in the tmpfs");
});

for (const [type, destination] of [["proc", "/proc"], ["sysfs", "/sys"]]) {
  Deno.test(`${type} is refused on a ${destination} that is a symlink in the rootfs, as runc refuses it`, async () => {
    await using bundle = await makeBundle();
    // Mounting through the link would put the filesystem wherever it points (here: /tmp).
    await Deno.remove(join(bundle.rootfs, destination), { recursive: true });
    await Deno.symlink("tmp", join(bundle.rootfs, destination));
    const id = testId();
    const result = await bundle.skiff(["run", "-b", bundle.dir, id]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `filesystem "${type}" must be mounted on an ordinary directory: ${destination} is a symlink`,
      ),
    );
    assert.ok(!exists(join(bundle.root, id)), "no state left behind");
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(bundle.rootfs, "tmp"))), []);
  });
}

Deno.test("--no-pivot leaves no full procfs for a nested user namespace to mount proc from", async () => {
  const caps = ["CAP_SETFCAP", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"];
  await using bundle = await makeBundle((spec) => {
    spec.process!.capabilities = { bounding: caps, effective: caps, permitted: caps };
    // The kernel allows a new procfs in a user namespace only while a fully visible one exists in
    // the mount namespace; under the chroot the host's /proc is still there unless it is removed.
    spec.process!.args = [
      "sh",
      "-c",
      "unshare -Urmpf sh -c 'mkdir -p /tmp/p; mount -t proc proc /tmp/p && echo mounted'; echo done",
    ];
  });
  const result = await bundle.skiff(["run", "--no-pivot", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "done\n");
  assert.match(result.stderr, /mount: permission denied/);
});

Deno.test("a /dev mount with ro gets its devices and /dev/pts first, then turns read-only (runc)", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.mounts!.find((m) => m.destination === "/dev")!.options!.push("ro");
    spec.mounts!.push({ destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["ro"] });
    spec.mounts!.push({ destination: "/scratch/inner", type: "tmpfs", source: "tmpfs" });
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "awk '$2 ~ /^\\/(dev|dev\\/pts|scratch)$/ {print $2, substr($4, 1, 2)}' /proc/self/mounts; " +
    "ls /dev/null /dev/ptmx; touch /dev/x /scratch/x 2>/dev/null || echo refused",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    "/dev ro\n/dev/pts rw\n/scratch ro\n/dev/null\n/dev/ptmx\nrefused\n",
  );
});

Deno.test("a /dev/ptmx in linux.devices is accepted and stays the pts/ptmx link, as in runc", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.devices = [
      { path: "/dev/ptmx", type: "c", major: 5, minor: 2, fileMode: 0o666, uid: 0, gid: 0 },
    ];
  });
  const result = await runIn(bundle, ["readlink", "/dev/ptmx"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "pts/ptmx\n");
});
