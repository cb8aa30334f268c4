import assert from "node:assert/strict";
import { collectErrors, parsePath } from "./collect.ts";
import { SpecError } from "../../spec/errors.ts";

Deno.test("parsePath matches keys with dots against the config itself", () => {
  const json = { linux: { sysctl: { "net.ipv4.ip_forward": 1 } }, mounts: [{ options: ["a"] }] };
  assert.deepEqual(parsePath(json, "linux.sysctl.net.ipv4.ip_forward"), [
    { key: "linux" },
    { key: "sysctl" },
    { key: "net.ipv4.ip_forward" },
  ]);
  assert.deepEqual(parsePath(json, "mounts[0].options[0]"), [
    { key: "mounts" },
    { index: 0 },
    { key: "options" },
    { index: 0 },
  ]);
  assert.deepEqual(parsePath(json, "(root)"), []);
});

Deno.test("collectErrors reports each bad entry once, under its index in the original", () => {
  // A check that refuses the first odd number, as a validator refuses the first bad entry.
  const checks = (json: unknown) => {
    const list = (json as { list: number[] }).list;
    list.forEach((n, i) => {
      if (n % 2 === 1) throw new SpecError(`list[${i}]`, `${n} is odd`);
    });
  };
  const errors = collectErrors({ list: [2, 3, 4, 5, 7, 8] }, checks);
  assert.deepEqual(errors.map((e) => `${e.path}: ${e.detail}`), [
    "list[1]: 3 is odd",
    "list[3]: 5 is odd",
    "list[4]: 7 is odd",
  ]);
});

Deno.test("collectErrors gives a required field the default config's value, then goes on", () => {
  const checks = (json: unknown) => {
    const spec = json as { ociVersion?: unknown; hostname?: unknown };
    if (typeof spec.ociVersion !== "string") {
      throw new SpecError("ociVersion", "expected a string");
    }
    if (spec.hostname !== undefined) throw new SpecError("hostname", "no UTS namespace");
  };
  const errors = collectErrors({ ociVersion: 1, hostname: "h" }, checks);
  assert.deepEqual(errors.map((e) => e.path), ["ociVersion", "hostname"]);
});

Deno.test("collectErrors stops at an error that names no field", () => {
  const errors = collectErrors({}, () => {
    throw new Error("rootfs is gone");
  });
  assert.deepEqual(errors, [{ detail: "rootfs is gone", message: "rootfs is gone" }]);
});

Deno.test("collectErrors takes out a user namespace entry whose path is refused, not only the path", () => {
  // Without its path the entry would be a new user namespace, which needs mappings.
  const checks = (json: unknown) => {
    const spec = json as { linux: { namespaces: { type: string; path?: string }[] } };
    spec.linux.namespaces.forEach((ns, i) => {
      if (ns.path === "/proc/self/ns/uts") {
        throw new SpecError(`linux.namespaces[${i}].path`, "is not a user namespace");
      }
      if (ns.type === "user" && !ns.path) throw new SpecError("linux.uidMappings", "needed");
    });
  };
  const config = {
    linux: { namespaces: [{ type: "uts" }, { type: "user", path: "/proc/self/ns/uts" }] },
  };
  assert.deepEqual(collectErrors(config, checks).map((e) => e.path), ["linux.namespaces[1].path"]);
});
