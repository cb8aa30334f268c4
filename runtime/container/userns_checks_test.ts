import assert from "node:assert/strict";
import type { Spec } from "../../spec/config.ts";
import { SpecError } from "../../spec/errors.ts";
import {
  checkUserNamespaceConfig,
  type HostFacts,
  hostFacts,
  parseHardLimits,
  parseSubids,
} from "./userns_checks.ts";

/** A user (uid 1000) with 100000-165535 delegated, nofile hard limit 4096, /dev/null only. */
function userFacts(overrides: Partial<HostFacts> = {}): HostFacts {
  const hardLimits = Array(16).fill(Infinity);
  hardLimits[7] = 4096;
  return {
    rootless: true,
    uid: 1000,
    gid: 1000,
    hardLimits,
    subuid: [{ start: 100000, count: 65536 }],
    subgid: [{ start: 100000, count: 65536 }],
    openError: (path) => path === "/proc/1/ns/net" ? "Permission denied" : undefined,
    hostDevice: (path) => path === "/dev/null" ? { type: "c", major: 1, minor: 3 } : undefined,
    ...overrides,
  };
}

function usernsSpec(linux: Spec["linux"] = {}, rest: Partial<Spec> = {}): Spec {
  return {
    ociVersion: "1.2.0",
    root: { path: "rootfs" },
    ...rest,
    linux: {
      namespaces: [{ type: "user" }, { type: "mount" }],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      ...linux,
    },
  };
}

function refusal(spec: Spec, facts: HostFacts): SpecError {
  try {
    checkUserNamespaceConfig(spec, facts, "/b/config.json");
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err;
  }
  assert.fail("expected a SpecError");
}

Deno.test("checkUserNamespaceConfig() accepts runc's rootless config for the caller's own ids", () => {
  checkUserNamespaceConfig(
    usernsSpec({}, {
      mounts: [{ destination: "/proc", type: "proc", source: "proc" }, {
        destination: "/sys",
        type: "none",
        source: "/sys",
        options: ["rbind", "ro"],
      }],
    }),
    userFacts(),
  );
});

Deno.test("checkUserNamespaceConfig() leaves root without a user namespace alone", () => {
  const spec: Spec = {
    ociVersion: "1.2.0",
    mounts: [{ destination: "/mnt", type: "ext4", source: "/dev/sda1" }],
    linux: { devices: [{ type: "c", path: "/dev/nonexistent", major: 9, minor: 9 }] },
  };
  checkUserNamespaceConfig(spec, userFacts({ rootless: false, uid: 0, gid: 0 }));
});

Deno.test("checkUserNamespaceConfig() refuses a mount type a user namespace cannot mount", () => {
  const err = refusal(
    usernsSpec({}, { mounts: [{ destination: "/mnt", type: "ext4", source: "/dev/sda1" }] }),
    userFacts(),
  );
  assert.equal(err.path, "mounts[0].type");
  assert.match(err.message, /"ext4" cannot be mounted in a user namespace.*bind-mount it/);
  // A bind of the same source is fine; fuse.* types are allowed.
  checkUserNamespaceConfig(
    usernsSpec({}, {
      mounts: [
        { destination: "/mnt", type: "ext4", source: "/srv", options: ["bind"] },
        { destination: "/f", type: "fuse.sshfs", source: "x" },
      ],
    }),
    userFacts(),
  );
});

Deno.test("checkUserNamespaceConfig() needs a host node for each linux.devices entry", () => {
  const missing = refusal(
    usernsSpec({ devices: [{ type: "c", path: "/dev/fuse", major: 10, minor: 229 }] }),
    userFacts(),
  );
  assert.equal(missing.path, "linux.devices[0].path");
  assert.match(missing.message, /\/dev\/fuse is not a device on the host.*bind-mounted/);
  const wrong = refusal(
    usernsSpec({ devices: [{ type: "c", path: "/dev/null", major: 1, minor: 5 }] }),
    userFacts(),
  );
  assert.equal(wrong.path, "linux.devices[0]");
  assert.match(wrong.message, /is c 1:3, not c 1:5/);
  checkUserNamespaceConfig(
    usernsSpec({ devices: [{ type: "c", path: "/dev/null", major: 1, minor: 3 }] }),
    userFacts(),
  );
});

Deno.test("checkUserNamespaceConfig() refuses a namespace path the caller cannot open", () => {
  const err = refusal(
    usernsSpec({ namespaces: [{ type: "user" }, { type: "network", path: "/proc/1/ns/net" }] }),
    userFacts(),
  );
  assert.equal(err.path, "linux.namespaces[1].path");
  assert.match(err.message, /\/proc\/1\/ns\/net cannot be opened by uid 1000: Permission denied/);
});

Deno.test("checkUserNamespaceConfig() refuses an rlimit above the caller's hard limit", () => {
  const spec = usernsSpec({}, {
    process: {
      user: { uid: 0, gid: 0 },
      cwd: "/",
      args: ["sh"],
      rlimits: [{ type: "RLIMIT_CORE", soft: 1, hard: 1 }, {
        type: "RLIMIT_NOFILE",
        soft: 1024,
        hard: 1048576,
      }],
    },
  });
  const err = refusal(spec, userFacts());
  assert.equal(err.path, "process.rlimits[1].hard");
  assert.match(err.message, /1048576 is above the caller's hard limit 4096 for RLIMIT_NOFILE/);
  checkUserNamespaceConfig(spec, userFacts({ rootless: false, uid: 0 }));
});

Deno.test("checkUserNamespaceConfig() allows only the caller's id and its /etc/subuid ranges", () => {
  checkUserNamespaceConfig(
    usernsSpec({
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }, {
        containerID: 1,
        hostID: 100000,
        size: 65536,
      }],
    }),
    userFacts(),
  );
  const err = refusal(
    usernsSpec({ gidMappings: [{ containerID: 0, hostID: 0, size: 1 }] }),
    userFacts(),
  );
  assert.equal(err.path, "linux.gidMappings[0]");
  assert.match(err.message, /host ids 0-0 are neither .* own id 1000 nor in its \/etc\/subgid/);
});

Deno.test("parseHardLimits() and parseSubids() read /proc/self/limits and subid files", () => {
  const limits = parseHardLimits(Deno.readTextFileSync("/proc/self/limits"));
  assert.equal(limits.length, 16);
  assert.equal(limits[0], Infinity); // RLIMIT_CPU
  assert.ok(Number.isInteger(limits[7]) && limits[7] > 0); // RLIMIT_NOFILE
  assert.deepEqual(parseSubids("a:1:2\nbob:100000:65536\n1001:5:6\n", "bob", 1001), [
    { start: 100000, count: 65536 },
    { start: 5, count: 6 },
  ]);
});

Deno.test("hostFacts() finds /dev/null as character device 1:3", () => {
  assert.deepEqual(hostFacts().hostDevice("/dev/null"), { type: "c", major: 1, minor: 3 });
  assert.equal(hostFacts().hostDevice("/nonexistent"), undefined);
});
