import assert from "node:assert/strict";
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  generateConfig,
  resolveUser,
} from "./generate_config.ts";
import type { ImageConfig } from "../../spec/image.ts";
import { APP_CONFIG, FIXTURE_GROUP, FIXTURE_PASSWD } from "../../scripts/fixtures/oci_image.ts";

const image = (config: ImageConfig["config"]): ImageConfig => ({
  architecture: "amd64",
  os: "linux",
  created: "2023-11-14T22:13:20Z",
  config,
  rootfs: { type: "layers", diff_ids: [] },
});

const P = FIXTURE_PASSWD;
const G = FIXTURE_GROUP;

Deno.test("resolveUser() is root when the image names no user", () => {
  assert.deepEqual(resolveUser(undefined, undefined, undefined), {
    uid: 0,
    gid: 0,
    username: "root",
  });
  assert.deepEqual(resolveUser("", P, G), { uid: 0, gid: 0, username: "root" });
});

Deno.test("resolveUser() takes a name's uid, primary gid and group memberships", () => {
  assert.deepEqual(resolveUser("app", P, G), {
    uid: 1000,
    gid: 1000,
    additionalGids: [10, 29],
    username: "app",
  });
  assert.deepEqual(resolveUser("daemon", P, G), { uid: 1, gid: 1, username: "daemon" });
});

Deno.test("resolveUser() accepts a numeric uid with or without a passwd entry", () => {
  assert.deepEqual(resolveUser("1000", P, G), {
    uid: 1000,
    gid: 1000,
    additionalGids: [10, 29],
    username: "app",
  });
  assert.deepEqual(resolveUser("4242", P, G), { uid: 4242, gid: 0 });
  assert.deepEqual(resolveUser("4242", undefined, undefined), { uid: 4242, gid: 0 });
});

Deno.test("resolveUser() takes an explicit group by number or name, without memberships", () => {
  assert.deepEqual(resolveUser("4242:77", undefined, undefined), { uid: 4242, gid: 77 });
  assert.deepEqual(resolveUser("app:wheel", P, G), { uid: 1000, gid: 10, username: "app" });
  assert.deepEqual(resolveUser("1000:audio", P, G), { uid: 1000, gid: 29, username: "app" });
  assert.deepEqual(resolveUser("app:5", P, G), { uid: 1000, gid: 5, username: "app" });
});

Deno.test("resolveUser() names the user or group it cannot find", () => {
  assert.throws(
    () => resolveUser("ghost", P, G),
    /Cannot resolve user "ghost": no such user in \/etc\/passwd/,
  );
  assert.throws(() => resolveUser("ghost", undefined, G), /the image has no \/etc\/passwd/);
  assert.throws(
    () => resolveUser("app:ghosts", P, G),
    /Cannot resolve group "ghosts": no such group/,
  );
  assert.throws(() => resolveUser("99999999999", P, G), /uid "99999999999" is out of range/);
});

Deno.test("generateConfig() runs Entrypoint + Cmd in WorkingDir as the image's User", () => {
  const spec = generateConfig(image(APP_CONFIG), { passwd: P, group: G });
  assert.deepEqual(spec.process?.args, ["/bin/sh", "/app/hello.sh"]);
  assert.equal(spec.process?.cwd, "/app");
  assert.deepEqual(spec.process?.user, {
    uid: 1000,
    gid: 1000,
    additionalGids: [10, 29],
    username: "app",
  });
  assert.deepEqual(spec.process?.env, ["PATH=/usr/bin:/bin", "GREETING=hello"]);
  assert.deepEqual(spec.root, { path: "rootfs", readonly: false });
});

Deno.test("generateConfig() replaces Cmd with the given args and keeps the Entrypoint", () => {
  const spec = generateConfig(image(APP_CONFIG), { passwd: P, group: G, args: ["-c", "id"] });
  assert.deepEqual(spec.process?.args, ["/bin/sh", "-c", "id"]);
  const noEntry = generateConfig(image({ Cmd: ["sleep", "1"] }), { args: ["true"] });
  assert.deepEqual(noEntry.process?.args, ["true"]);
  const newEntry = generateConfig(image(APP_CONFIG), {
    passwd: P,
    entrypoint: ["/bin/echo"],
    args: [],
  });
  assert.deepEqual(newEntry.process?.args, ["/bin/echo"]);
});

Deno.test("generateConfig() refuses an image with no command when none is given", () => {
  assert.throws(() => generateConfig(image({})), /no Entrypoint or Cmd/);
});

Deno.test("generateConfig() adds the default PATH and merges extra env over the image's", () => {
  const spec = generateConfig(image({ Cmd: ["sh"], Env: ["A=1", "B=2"] }), {
    env: ["B=3", "C=4"],
    terminal: true,
  });
  assert.deepEqual(spec.process?.env, [`PATH=${DEFAULT_PATH}`, "A=1", "B=3", "C=4", "TERM=xterm"]);
  assert.equal(spec.process?.cwd, "/");
  assert.deepEqual(spec.process?.user, { uid: 0, gid: 0, username: "root" });
});

Deno.test("generateConfig() turns Labels, StopSignal and platform fields into annotations", () => {
  const spec = generateConfig(
    image({ ...APP_CONFIG, ExposedPorts: { "80/tcp": {}, "53/udp": {} } }),
    {
      passwd: P,
      group: G,
    },
  );
  assert.deepEqual(spec.annotations, {
    "org.opencontainers.image.title": "skiff fixture",
    "com.example.tier": "test",
    "org.opencontainers.image.os": "linux",
    "org.opencontainers.image.architecture": "amd64",
    "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
    "org.opencontainers.image.stopSignal": "SIGINT",
    "org.opencontainers.image.exposedPorts": "80/tcp,53/udp",
  });
});

Deno.test("generateConfig() sets runc-like defaults and Docker's capability set", () => {
  const spec = generateConfig(image({ Cmd: ["sh"] }), { hostname: "box" });
  assert.equal(spec.hostname, "box");
  assert.deepEqual(spec.linux?.namespaces?.map((n) => n.type), [
    "pid",
    "network",
    "ipc",
    "uts",
    "mount",
  ]);
  assert.deepEqual(spec.mounts?.map((m) => m.destination), [
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/sys/fs/cgroup",
  ]);
  assert.ok(spec.linux?.maskedPaths?.includes("/proc/kcore"));
  assert.ok(spec.linux?.readonlyPaths?.includes("/proc/sys"));
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
  assert.deepEqual(spec.process?.capabilities?.bounding, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(spec.process?.capabilities?.effective, [...DEFAULT_CAPABILITIES]);
  assert.equal(spec.process?.capabilities?.ambient, undefined);
});
