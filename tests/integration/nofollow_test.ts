/**
 * No write through a path the container controls (issue 15, runc CVE-2025-31133, 52565, 52881):
 * the rootfs belongs to the image, so where the runtime creates, removes, opens for writing or
 * mounts onto a path in it, a symlink in the last component must never be followed. Each hostile
 * symlink here points at a canary file the test owns, inside the bundle; never at a real /proc or
 * host file, which a vulnerable runtime would change.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Spec } from "../../spec/config.ts";
import { makeBundle, runIn, type TestBundle, testId } from "../_helpers/bundle.ts";
import { exists } from "../_helpers/host.ts";
import { close } from "../../ffi/fs.ts";
import { listenUnix } from "../../ffi/socket.ts";

const CANARY = "canary: must stay as it is\n";
const HOST_BASE = 100000;
const SIZE = 65536;

/** Drops the config's /dev mount, so the devices are made in the image's own /dev directory. */
function withoutDevMount(spec: Spec): void {
  spec.mounts = spec.mounts!.filter((m) => m.destination !== "/dev");
}

/** Puts a canary file at `name` in the rootfs and returns its host path. */
function plantCanary(bundle: TestBundle, name: string): string {
  const path = join(bundle.rootfs, name);
  Deno.writeTextFileSync(path, CANARY, { mode: 0o644 });
  return path;
}

function assertCanaryIntact(path: string): void {
  const info = Deno.lstatSync(path);
  assert.ok(info.isFile, `${path} must still be a regular file`);
  assert.equal(Deno.readTextFileSync(path), CANARY);
}

/** The container checks its devices: each must be the real node, and writable. */
const CHECK_DEVICES = "for d in null zero; do stat -c '%n %F %t:%T' /dev/$d; done; " +
  "echo x > /dev/null && echo null-writable";

for (const userns of [false, true]) {
  const how = userns ? "bind-mounted (user namespace)" : "made with mknod";
  Deno.test(`a /dev/null symlink in the image is replaced by the device, not followed: ${how}`, async () => {
    await using bundle = await makeBundle((spec) => {
      withoutDevMount(spec);
      if (userns) {
        spec.linux!.namespaces!.push({ type: "user" });
        spec.linux!.uidMappings = [{ containerID: 0, hostID: HOST_BASE, size: SIZE }];
        spec.linux!.gidMappings = [{ containerID: 0, hostID: HOST_BASE, size: SIZE }];
      }
    });
    const canary = plantCanary(bundle, "canary");
    Deno.symlinkSync("/canary", join(bundle.rootfs, "dev/null"));
    // A dangling one: following it would make a node at /nowhere.
    Deno.symlinkSync("../nowhere", join(bundle.rootfs, "dev/zero"));
    if (userns) {
      // The mapped root owns the image (as with Podman --uidmap), so it could unlink or write the
      // canary: only not following the symlink keeps it.
      await Deno.chmod(bundle.dir, 0o755);
      const out = await new Deno.Command("chown", {
        args: ["-R", `${HOST_BASE}:${HOST_BASE}`, bundle.rootfs],
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    }
    const result = await runIn(bundle, ["sh", "-c", CHECK_DEVICES]);
    assertCanaryIntact(canary);
    assert.equal(exists(join(bundle.rootfs, "nowhere")), false, "a node was made at /nowhere");
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "/dev/null character special file 1:3",
      "/dev/zero character special file 1:5",
      "null-writable",
    ]);
  });
}

Deno.test("masked and read-only paths that are symlinks in the image are skipped, not followed", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.maskedPaths = [...(spec.linux!.maskedPaths ?? []), "/masked-link"];
    spec.linux!.readonlyPaths = [...(spec.linux!.readonlyPaths ?? []), "/ro-link"];
  });
  const canary = plantCanary(bundle, "canary");
  Deno.symlinkSync("/canary", join(bundle.rootfs, "masked-link"));
  Deno.symlinkSync("canary", join(bundle.rootfs, "ro-link"));
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "cat /canary; echo mounts-on-canary=$(grep -c ' /canary ' /proc/self/mountinfo)",
  ]);
  assert.equal(result.code, 0, result.stderr);
  // Followed, the mask would hide the canary's content and the read-only bind would show up.
  assert.equal(result.stdout, `${CANARY}mounts-on-canary=0\n`);
  assertCanaryIntact(canary);
});

/** A container with a terminal and no /dev mount, created with a console socket in the bundle. */
async function createWithConsole(bundle: TestBundle) {
  const socket = join(bundle.dir, "console.sock");
  const server = listenUnix(socket);
  try {
    const id = testId();
    const created = await bundle.skiff([
      "create",
      "--console-socket",
      socket,
      "-b",
      bundle.dir,
      id,
    ]);
    return { id, created };
  } finally {
    close(server);
  }
}

Deno.test("a /dev/console symlink in the image is refused, not truncated or mounted over", async () => {
  await using bundle = await makeBundle((spec) => {
    withoutDevMount(spec);
    spec.process!.terminal = true;
  });
  const canary = plantCanary(bundle, "canary");
  Deno.symlinkSync("/canary", join(bundle.rootfs, "dev/console"));
  const { created } = await createWithConsole(bundle);
  assertCanaryIntact(canary);
  assert.notEqual(created.code, 0, "create must fail");
  assert.match(created.stderr, /\/dev\/console: it is a symlink/);
});

Deno.test("a /dev/console file in the image becomes the console's mount point untruncated", async () => {
  await using bundle = await makeBundle((spec) => {
    withoutDevMount(spec);
    spec.process!.terminal = true;
  });
  const canary = plantCanary(bundle, "dev/console");
  const { id, created } = await createWithConsole(bundle);
  assert.equal(created.code, 0, created.stderr);
  const state = JSON.parse((await bundle.skiff(["state", id])).stdout);
  const mounts = Deno.readTextFileSync(`/proc/${state.pid}/mountinfo`);
  assert.match(mounts, / \/dev\/console /, "the pty is bound over /dev/console");
  assertCanaryIntact(canary);
});

Deno.test("linux.sysctl is not written through a file mounted over /proc/sys", async () => {
  const canary = await Deno.makeTempFile({ prefix: "skiff-sysctl-canary-" });
  try {
    await Deno.writeTextFile(canary, CANARY);
    await using bundle = await makeBundle((spec) => {
      spec.mounts!.push({
        destination: "/proc/sys/kernel/shmmni",
        type: "bind",
        source: canary,
        options: ["bind"],
      });
      spec.linux!.sysctl = { "kernel.shmmni": "1234" };
    });
    const result = await runIn(bundle, ["true"]);
    assertCanaryIntact(canary);
    assert.notEqual(result.code, 0, "run must fail");
    assert.match(result.stderr, /linux\.sysctl\.kernel\.shmmni/);
    // openat2(RESOLVE_NO_XDEV) refuses the walk across the mount; the fstatfs check behind it
    // would refuse the canary too ("not on procfs"), on kernels without openat2.
    assert.match(result.stderr, /\/proc\/sys\/kernel\/shmmni is covered by a mount/);
  } finally {
    await Deno.remove(canary);
  }
});

Deno.test("a /dev that is a symlink out of the rootfs gets its devices and links inside the rootfs", async () => {
  await using bundle = await makeBundle(withoutDevMount);
  // The canary directory is on the host, beside the rootfs: an absolute symlink to it, followed as
  // the host sees it, would put device nodes and /dev/fd there.
  const outside = join(bundle.dir, "outside");
  await Deno.mkdir(outside);
  const canary = join(outside, "canary");
  Deno.writeTextFileSync(canary, CANARY);
  await Deno.remove(join(bundle.rootfs, "dev"), { recursive: true });
  Deno.symlinkSync(outside, join(bundle.rootfs, "dev"));
  const result = await runIn(bundle, ["sh", "-c", "stat -c '%F %t:%T' /dev/null"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "character special file 1:3\n");
  assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["canary"]);
  assertCanaryIntact(canary);
  // Resolved as the container sees it: the same absolute path, under the rootfs.
  assert.ok(exists(join(bundle.rootfs, outside.slice(1), "null")), "devices made in the rootfs");
});

Deno.test("/dev/null that is not char 1:3 is refused as the source of a mask", async () => {
  // A /dev bind-mounted from a directory the test owns, whose "null" is a canary file: masking
  // with it would bind the canary over the masked path (CVE-2025-31133 in reverse).
  await using bundle = await makeBundle((spec) => {
    spec.mounts = spec.mounts!.filter((m) => !m.destination.startsWith("/dev"));
    spec.linux!.maskedPaths = ["/etc/passwd"];
  });
  const devDir = join(bundle.dir, "devdir");
  await Deno.mkdir(devDir);
  const canary = join(devDir, "null");
  Deno.writeTextFileSync(canary, CANARY);
  bundle.spec.mounts!.push({
    destination: "/dev",
    type: "bind",
    source: devDir,
    options: ["rbind"],
  });
  const result = await runIn(bundle, ["cat", "/etc/passwd"]);
  assertCanaryIntact(canary);
  assert.notEqual(result.code, 0, "run must fail");
  assert.match(result.stderr, /linux\.maskedPaths: cannot mask \/etc\/passwd/);
  assert.match(result.stderr, /\/dev\/null is not the null device \(char 1:3\)/);
});

Deno.test("a tmpcopyup destination that is a symlink out of the rootfs copies from inside it", async () => {
  await using bundle = await makeBundle();
  const outside = join(bundle.dir, "outside");
  await Deno.mkdir(outside);
  const canary = join(outside, "canary");
  Deno.writeTextFileSync(canary, CANARY);
  Deno.symlinkSync(outside, join(bundle.rootfs, "copied"));
  // Inside the rootfs, the same absolute path holds the image's own file.
  await Deno.mkdir(join(bundle.rootfs, outside.slice(1)), { recursive: true });
  Deno.writeTextFileSync(join(bundle.rootfs, outside.slice(1), "image-file"), "image\n");
  bundle.spec.mounts!.push({
    destination: "/copied",
    type: "tmpfs",
    source: "tmpfs",
    options: ["tmpcopyup"],
  });
  const result = await runIn(bundle, ["sh", "-c", "ls /copied/; stat -f -c %T /copied/"]);
  assert.equal(result.code, 0, result.stderr);
  // Followed as the host sees it, the tmpfs would sit on the host's directory (out of the
  // container's sight) with the canary copied into it.
  assert.equal(result.stdout, "image-file\ntmpfs\n");
  assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["canary"]);
  assertCanaryIntact(canary);
});

Deno.test("a file bind mount onto a dangling symlink makes its file inside the rootfs", async () => {
  await using bundle = await makeBundle();
  const source = plantCanary(bundle, "../source-file");
  const outside = join(bundle.dir, "outside");
  await Deno.mkdir(outside);
  // Dangling inside the rootfs; on the host it names a file to be created in `outside`.
  Deno.symlinkSync(join(outside, "made"), join(bundle.rootfs, "etc/made"));
  bundle.spec.mounts!.push({
    destination: "/etc/made",
    type: "bind",
    source,
    options: ["bind"],
  });
  const result = await runIn(bundle, ["cat", "/etc/made"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, CANARY);
  assert.deepEqual([...Deno.readDirSync(outside)], [], "a file was made outside the rootfs");
  assert.ok(exists(join(bundle.rootfs, outside.slice(1), "made")), "made inside the rootfs");
  assertCanaryIntact(source);
});

Deno.test("a mount destination that a symlink sends onto procfs is refused (runc's checkProcMount)", async () => {
  // The config mounts a procfs of its own at /myproc; the image's /link leads into it. Only a
  // tmpfs would land there, in the container's mount namespace, on a procfs directory: a
  // vulnerable runtime changes nothing on the host.
  await using bundle = await makeBundle();
  Deno.symlinkSync("/myproc/tty", join(bundle.rootfs, "link"));
  bundle.spec.mounts!.push(
    { destination: "/myproc", type: "proc", source: "proc" },
    // Written under the procfs, with no symlink on the way: allowed.
    { destination: "/myproc/driver", type: "tmpfs", source: "tmpfs" },
    { destination: "/link", type: "tmpfs", source: "tmpfs" },
  );
  const result = await runIn(bundle, ["true"]);
  assert.notEqual(result.code, 0, "run must fail");
  assert.match(result.stderr, /mounts\[\d+\]: cannot mount tmpfs on \/link/);
  assert.match(
    result.stderr,
    /destination \/link resolves into \/proc \(procfs\) through a symlink/,
  );
});
