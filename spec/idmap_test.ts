import assert from "node:assert/strict";
import { mountIdmap, validateIdMappings } from "./idmap.ts";

const MAP = [{ containerID: 0, hostID: 1000, size: 1 }];

Deno.test("mountIdmap() is undefined for a mount without idmap, ridmap or mappings", () => {
  assert.equal(
    mountIdmap({ destination: "/d", source: "/s", options: ["rbind", "ro"] }),
    undefined,
  );
});

Deno.test("mountIdmap() is recursive for ridmap, the last of idmap and ridmap winning", () => {
  assert.equal(mountIdmap({ destination: "/d", options: ["ridmap"] })?.recursive, true);
  assert.equal(mountIdmap({ destination: "/d", options: ["ridmap", "idmap"] })?.recursive, false);
  assert.equal(mountIdmap({ destination: "/d", options: ["idmap", "ridmap"] })?.recursive, true);
});

Deno.test("mountIdmap() takes mappings without an option as idmap (not recursive)", () => {
  assert.deepEqual(mountIdmap({ destination: "/d", uidMappings: MAP, gidMappings: MAP }), {
    recursive: false,
    uidMappings: MAP,
    gidMappings: MAP,
  });
});

Deno.test("validateIdMappings() accepts adjacent ranges and the last valid id", () => {
  const list = [
    { containerID: 0, hostID: 100000, size: 65536 },
    { containerID: 65536, hostID: 0, size: 1 },
    { containerID: 4294967294, hostID: 1, size: 1 },
  ];
  assert.deepEqual(validateIdMappings(list, "linux.uidMappings"), list);
});

Deno.test("validateIdMappings() refuses more than the kernel's 340 lines", () => {
  const list = Array.from({ length: 341 }, (_, i) => ({ containerID: i, hostID: i, size: 1 }));
  assert.throws(
    () => validateIdMappings(list, "m"),
    { message: "m: has 341 entries: the kernel takes at most 340" },
  );
});
