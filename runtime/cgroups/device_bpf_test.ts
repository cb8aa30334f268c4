import assert from "node:assert/strict";
import type { DeviceCgroupRule } from "../../spec/config.ts";
import { SpecError } from "../../spec/errors.ts";
import { runDeviceProgram, verifyDeviceProgram } from "./_bpf_interpreter.ts";
import { compileDeviceFilter, decodeBpf, encodeBpf } from "./device_bpf.ts";
import {
  defaultDeviceRules,
  deviceAllowed,
  type DeviceKind,
  type DeviceRule,
  normalizeDeviceRules,
  v1RuleLine,
  withDefaultDeviceRules,
} from "./device_rules.ts";

const ACCESSES = ["r", "w", "m", "rw", "rm", "wm", "rwm"];
const DEVICES: [DeviceKind, number, number][] = [
  ["c", 1, 3],
  ["c", 1, 5],
  ["c", 1, 9],
  ["c", 5, 2],
  ["c", 136, 4],
  ["c", 10, 200],
  ["c", 4, 1],
  ["b", 8, 0],
  ["b", 8, 16],
  ["b", 1, 3],
  ["c", 0x7fffffff, 0],
];

/** Runs the compiled program on every device and access and compares with deviceAllowed(). */
function agrees(rules: DeviceRule[]): void {
  const program = compileDeviceFilter(rules);
  verifyDeviceProgram(program);
  // The bytes round-trip: what is loaded is what was checked.
  assert.deepEqual(decodeBpf(encodeBpf(program)), program);
  for (const [kind, major, minor] of DEVICES) {
    for (const access of ACCESSES) {
      const expected = deviceAllowed(rules, kind, major, minor, access);
      const got = runDeviceProgram(program, { kind, major, minor, access });
      assert.equal(
        got,
        expected ? 1 : 0,
        `${kind} ${major}:${minor} ${access} with ${rules.map(v1RuleLine).join("; ")}`,
      );
    }
  }
}

const rules = (list: DeviceCgroupRule[]): DeviceRule[] => normalizeDeviceRules(list);

Deno.test("normalizeDeviceRules() fills in type a, wildcards and canonical access", () => {
  assert.deepEqual(rules([{ allow: true, access: "mwr" }]), [
    { allow: true, type: "a", major: -1, minor: -1, access: "rwm" },
  ]);
  assert.deepEqual(rules([{ allow: false, type: "b", major: 8, access: "w" }]), [
    { allow: false, type: "b", major: 8, minor: -1, access: "w" },
  ]);
});

Deno.test("normalizeDeviceRules() names the field of a bad type, number or access", () => {
  const bad = (rule: DeviceCgroupRule, path: string): void => {
    assert.throws(() => rules([{ allow: true, access: "r" }, rule]), (err: unknown) => {
      assert.ok(err instanceof SpecError);
      assert.equal(err.path, path);
      return true;
    });
  };
  bad({ allow: true, type: "u", access: "r" }, "linux.resources.devices[1].type");
  bad({ allow: true, major: -2, access: "r" }, "linux.resources.devices[1].major");
  bad({ allow: true, minor: 1.5, access: "r" }, "linux.resources.devices[1].minor");
  bad({ allow: true, access: "" }, "linux.resources.devices[1].access");
  bad({ allow: true, access: "rx" }, "linux.resources.devices[1].access");
  bad({ allow: "yes" as unknown as boolean, access: "r" }, "linux.resources.devices[1].allow");
});

Deno.test("defaultDeviceRules() is runc's list and drops defaults for paths linux.devices lists", () => {
  const lines = normalizeDeviceRules(defaultDeviceRules()).map(v1RuleLine);
  assert.deepEqual(lines, [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
  ]);
  const without = defaultDeviceRules([{ path: "/dev/null", type: "c", major: 1, minor: 3 }]);
  assert.equal(without.length, lines.length - 1);
  const merged = withDefaultDeviceRules([{ allow: false, access: "rwm" }]);
  assert.equal(merged.length, lines.length + 1);
  assert.deepEqual(merged[0], { allow: false, access: "rwm" });
});

Deno.test("the device filter denies everything when there are no rules", () => {
  const program = compileDeviceFilter([]);
  verifyDeviceProgram(program);
  assert.equal(runDeviceProgram(program, { kind: "c", major: 1, minor: 3, access: "r" }), 0);
  agrees([]);
});

Deno.test("the device filter of an engine's typical rules (deny all, then defaults) allows only those", () => {
  const list = rules(withDefaultDeviceRules([{ allow: false, access: "rwm" }]));
  agrees(list);
  const program = compileDeviceFilter(list);
  const run = (kind: DeviceKind, major: number, minor: number, access: string): number =>
    runDeviceProgram(program, { kind, major, minor, access });
  assert.equal(run("c", 1, 3, "rw"), 1); // /dev/null
  assert.equal(run("c", 136, 7, "rw"), 1); // /dev/pts/7
  assert.equal(run("b", 8, 0, "r"), 0); // /dev/sda
  assert.equal(run("b", 8, 0, "m"), 1); // mknod of anything
  assert.equal(run("c", 4, 1, "w"), 0); // /dev/tty1
});

Deno.test("the device filter lets the last matching rule decide, bit by bit", () => {
  agrees(rules([
    { allow: true, access: "rwm" },
    { allow: false, type: "c", major: 1, minor: 3, access: "w" },
  ]));
  agrees(rules([
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, access: "r" },
    { allow: true, type: "c", major: 1, minor: 5, access: "w" },
    { allow: false, type: "c", major: 1, minor: 9, access: "rw" },
  ]));
  agrees(rules([
    { allow: true, type: "b", access: "rw" },
    { allow: false, type: "a", major: 8, access: "m" },
    { allow: true, type: "a", major: 8, minor: 16, access: "m" },
  ]));
  // A later allow-all shadows everything before it, and the program stays verifiable.
  agrees(rules([
    { allow: false, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, access: "rwm" },
  ]));
  agrees(rules([
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: false, access: "rwm" },
  ]));
});

Deno.test("the device filter agrees with the rule semantics on random rule lists", () => {
  // A fixed-seed generator: the test is the same on every run.
  let seed = 0x5eed;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const majors = [-1, 1, 5, 8, 136];
  const minors = [-1, 0, 3, 5, 16];
  for (let round = 0; round < 300; round++) {
    const list: DeviceCgroupRule[] = [];
    const count = next(7);
    for (let i = 0; i < count; i++) {
      list.push({
        allow: next(2) === 0,
        type: ["a", "c", "b"][next(3)],
        major: majors[next(majors.length)],
        minor: minors[next(minors.length)],
        access: ACCESSES[next(ACCESSES.length)],
      });
    }
    agrees(rules(list));
  }
});

Deno.test("verifyDeviceProgram() rejects what the kernel verifier would", () => {
  const exit = { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 };
  const mov0 = { code: 0xb4, dst: 0, src: 0, off: 0, imm: 0 };
  assert.throws(() => verifyDeviceProgram([mov0, exit, mov0, exit]), /unreachable insn 2/);
  assert.throws(() => verifyDeviceProgram([mov0]), /falls off the end/);
  assert.throws(
    () => verifyDeviceProgram([{ code: 0x05, dst: 0, src: 0, off: -1, imm: 0 }, exit]),
    /back-edge/,
  );
  assert.throws(
    () => runDeviceProgram([exit], { kind: "c", major: 1, minor: 3, access: "r" }),
    /R0 !read_ok/,
  );
  assert.throws(
    () =>
      runDeviceProgram([{ code: 0x61, dst: 2, src: 1, off: 12, imm: 0 }, mov0, exit], {
        kind: "c",
        major: 1,
        minor: 3,
        access: "r",
      }),
    /invalid bpf_context access/,
  );
});
