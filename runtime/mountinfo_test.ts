import assert from "node:assert/strict";
import { parseMountinfo } from "./mountinfo.ts";

Deno.test("parseMountinfo() decodes escaped paths and splits options, optional fields and super options", () => {
  const text = [
    "36 35 98:0 /mnt1 /my\\040root rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue",
    "40 36 0:5 / /proc rw,nosuid,nodev,noexec - proc proc rw",
    "not a mountinfo line",
  ].join("\n");
  const [first, proc, ...rest] = parseMountinfo(text);
  assert.deepEqual(rest, []);
  assert.deepEqual(first, {
    root: "/mnt1",
    mountPoint: "/my root",
    options: ["rw", "noatime"],
    optional: ["master:1", "shared:7"],
    fstype: "ext3",
    source: "/dev/root",
    superOptions: ["rw", "errors=continue"],
  });
  assert.equal(proc.mountPoint, "/proc");
  assert.deepEqual(proc.optional, []);
  assert.deepEqual(proc.options, ["rw", "nosuid", "nodev", "noexec"]);
});
