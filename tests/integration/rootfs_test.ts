import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, runIn, testId } from "../_helpers/bundle.ts";
import { exists, hostMounts } from "../_helpers/host.ts";
import { detectCgroups } from "../../runtime/cgroups/detect.ts";

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
  // /tree is a tmpfs with another tmpfs at /tree/sub (both writable); /view binds that tree with
  // rbind + rro. The mounts are made in the container's namespace before pivot_root, so the host
  // path of /tree inside the rootfs reaches them. A non-recursive ro would leave /view/sub writable.
  bundle.spec.mounts!.push(
    { destination: "/tree", type: "tmpfs", source: "tmpfs" },
    { destination: "/tree/sub", type: "tmpfs", source: "tmpfs" },
    {
      destination: "/view",
      type: "bind",
      source: join(bundle.rootfs, "tree"),
      options: ["rbind", "rro"],
    },
  );
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "touch /tree/a /tree/sub/b && echo tree-rw; " +
    "for f in /view/x /view/sub/y; do touch $f 2>/dev/null && echo $f-written || echo $f-refused; done; " +
    "grep -E ' /view(/sub)? ' /proc/self/mountinfo | cut -d' ' -f5,6",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.deepEqual(lines.slice(0, 3), ["tree-rw", "/view/x-refused", "/view/sub/y-refused"]);
  assert.match(lines[3], /^\/view ro,/);
  assert.match(lines[4], /^\/view\/sub ro,/);
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

Deno.test("--no-pivot switches root with MS_MOVE and chroot, which leaves the old root under it", async () => {
  // pivot_root detaches the old root, so the mount namespace holds only the container's mounts;
  // MS_MOVE + chroot leaves the host's root under the moved rootfs. A process with CAP_SYS_ADMIN
  // shows the difference: unmount the container's root, then setns into its own mount namespace,
  // which sets root and cwd to the namespace's root, where a host file is visible only under
  // --no-pivot. (cwd in /proc keeps a path to the namespace file after the unmount.)
  const marker = await Deno.makeTempFile({ prefix: "skiff-no-pivot-" });
  await Deno.writeTextFile(marker, "host root reachable\n");
  try {
    await using bundle = await makeBundle((spec) => {
      const caps = spec.process!.capabilities!;
      for (const set of [caps.bounding!, caps.effective!, caps.permitted!]) {
        set.push("CAP_SYS_ADMIN", "CAP_SYS_CHROOT");
      }
      spec.process!.args = [
        "sh",
        "-c",
        `ls / | grep -qx bin && cd /proc && umount -l / && nsenter --mount=self/ns/mnt cat ${marker}`,
      ];
    });
    const moved = await bundle.skiff(["run", "--no-pivot", "-b", bundle.dir, testId()]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.equal(moved.stdout, "host root reachable\n");
    const pivoted = await bundle.skiff(["run", "-b", bundle.dir, testId()]);
    assert.notEqual(pivoted.code, 0, "the host's root is not left in a pivoted namespace");
    assert.equal(pivoted.stdout, "");
  } finally {
    await Deno.remove(marker);
  }
});

Deno.test("rootfsPropagation shared is applied to the container's root", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.rootfsPropagation = "shared";
  });
  const result = await runIn(bundle, ["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"]);
  assert.match(result.stdout, / \/ rw[^ ]* shared:\d+ /);
});

Deno.test("rootfsPropagation unbindable is applied after the rootfs bind, which it would refuse", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.rootfsPropagation = "unbindable";
  });
  const result = await runIn(bundle, ["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, / \/ rw[^ ]* unbindable /);
});

Deno.test("the cgroup mount shows the container's own cgroup in each hierarchy, read-only", async () => {
  await using bundle = await makeBundle();
  // kernfs refuses touch(1) even on a writable cgroup mount, so the probe is mkdir of a child
  // cgroup, which works on a writable mount and fails with EROFS on a read-only one (and is
  // removed again if it was made). The mount flags in mountinfo must say ro too.
  const unified = detectCgroups().layout === "unified";
  const dir = unified ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
  const result = await runIn(bundle, [
    "sh",
    "-c",
    `ls /sys/fs/cgroup; grep ' ${dir} ' /proc/self/mountinfo | cut -d' ' -f6; ` +
    `mkdir ${dir}/probe 2>&1 && rmdir ${dir}/probe && echo made`,
  ]);
  assert.equal(result.code, 1, "mkdir is refused");
  const lines = result.stdout.trim().split("\n");
  assert.ok(lines.includes(unified ? "cgroup.procs" : "memory"), result.stdout);
  assert.match(lines.at(-2)!, /^ro,/);
  assert.match(lines.at(-1)!, /Read-only file system/);
});

Deno.test("a container run leaves no mount behind on the host", async () => {
  const before = hostMounts();
  await using bundle = await makeBundle((spec) => {
    spec.mounts!.push({ destination: "/bind", type: "bind", source: "/tmp", options: ["rbind"] });
  });
  const result = await runIn(bundle, ["sh", "-c", "grep -c ' /bind ' /proc/self/mountinfo"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "1\n", "the bind mount was there while the container ran");
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

Deno.test("readonlyPaths add no nosuid/nodev/noexec: programs under a read-only /bin still run", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.readonlyPaths = ["/bin"];
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "grep ' /bin ' /proc/self/mountinfo | cut -d' ' -f6; touch /bin/x 2>/dev/null || echo bin-ro",
  ]);
  assert.equal(result.stdout, "ro,relatime\nbin-ro\n", result.stderr);
});

Deno.test("a /dev/ptmx in linux.devices (--privileged) leaves the /dev/ptmx -> pts/ptmx link", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.devices = [
      { type: "c", path: "/dev/ptmx", major: 5, minor: 2, fileMode: 0o666, uid: 0, gid: 0 },
    ];
  });
  const result = await runIn(bundle, ["readlink", "/dev/ptmx"]);
  assert.equal(result.stdout, "pts/ptmx\n", result.stderr);
});

Deno.test("tmpcopyup on a path the image lacks leaves the tmpfs world-writable (1777), as under runc", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.root!.readonly = true;
    spec.process!.user = { uid: 1000, gid: 1000 };
  });
  bundle.spec.mounts!.push({
    destination: "/var/tmp",
    type: "tmpfs",
    source: "tmpfs",
    options: ["rw", "nosuid", "nodev", "tmpcopyup"],
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "stat -c %a /var/tmp; touch /var/tmp/x && echo writable",
  ]);
  assert.equal(result.stdout, "1777\nwritable\n", result.stderr);
});

Deno.test("tmpcopyup with ro fills the tmpfs first, then makes the mount read-only", async () => {
  await using bundle = await makeBundle();
  await Deno.mkdir(join(bundle.rootfs, "data"), { recursive: true });
  await Deno.writeTextFile(join(bundle.rootfs, "data/seed"), "from-image\n");
  bundle.spec.mounts!.push({
    destination: "/data",
    type: "tmpfs",
    source: "tmpfs",
    options: ["ro", "nosuid", "nodev", "tmpcopyup"],
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "cat /data/seed; touch /data/x 2>/dev/null || echo read-only; grep ' /data ' /proc/self/mountinfo | cut -d' ' -f6",
  ]);
  assert.equal(result.stdout, "from-image\nread-only\nro,nosuid,nodev,relatime\n", result.stderr);
});

Deno.test("a mount's own propagation outlives a recursive rootfsPropagation", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.rootfsPropagation = "rprivate";
  });
  await Deno.mkdir(join(bundle.dir, "shared-src"));
  bundle.spec.mounts!.push({
    destination: "/mnt/shared",
    type: "bind",
    source: join(bundle.dir, "shared-src"),
    options: ["bind", "shared"],
  });
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "grep -E ' /(mnt/shared|proc) ' /proc/self/mountinfo | cut -d' ' -f5,7",
  ]);
  assert.match(result.stdout, /^\/proc -\n\/mnt\/shared shared:\d+\n$/, result.stderr);
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
