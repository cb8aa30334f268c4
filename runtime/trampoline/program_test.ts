import assert from "node:assert/strict";
import {
  buildTrampoline,
  decodeRecords,
  RECORD_ERROR,
  RECORD_SYNC,
  type TrampolineOp,
  type TrampolineProgram,
  validateProgram,
} from "./program.ts";
import { TRAMPOLINE_SYSCALLS } from "./syscalls.ts";
import { EM_X86_64 } from "./x86_64.ts";
import { EM_AARCH64 } from "./aarch64.ts";
import { SYSCALLS_AARCH64, SYSCALLS_X86_64 } from "../security/seccomp/syscall_tables.ts";

const exit0: TrampolineProgram = { reportFd: 3, ops: [{ op: "exit", code: 0 }] };

Deno.test("TRAMPOLINE_SYSCALLS agrees with the generated kernel syscall tables", () => {
  for (const [name, nr] of Object.entries(TRAMPOLINE_SYSCALLS.x86_64)) {
    assert.equal(nr, SYSCALLS_X86_64[name], `x86_64 ${name}`);
  }
  for (const [name, nr] of Object.entries(TRAMPOLINE_SYSCALLS.aarch64)) {
    assert.equal(nr, SYSCALLS_AARCH64[name], `aarch64 ${name}`);
  }
});

Deno.test("buildTrampoline() writes a static ELF64 executable for the asked architecture", () => {
  for (const [arch, machine] of [["x86_64", EM_X86_64], ["aarch64", EM_AARCH64]] as const) {
    const elf = buildTrampoline(exit0, arch);
    const view = new DataView(elf.buffer);
    assert.deepEqual([...elf.subarray(0, 7)], [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    assert.equal(view.getUint16(16, true), 2, "ET_EXEC");
    assert.equal(view.getUint16(18, true), machine, arch);
    const entry = view.getBigUint64(24, true);
    const phnum = view.getUint16(56, true);
    const loads = [];
    for (let i = 0; i < phnum; i++) {
      const at = 64 + 56 * i;
      if (view.getUint32(at, true) !== 1) continue;
      loads.push({
        flags: view.getUint32(at + 4, true),
        offset: view.getBigUint64(at + 8, true),
        vaddr: view.getBigUint64(at + 16, true),
        size: view.getBigUint64(at + 32, true),
        align: view.getBigUint64(at + 48, true),
      });
    }
    assert.deepEqual(loads.map((l) => l.flags), [5, 6], "code r-x, data rw-");
    for (const load of loads) {
      assert.equal(load.vaddr % load.align, load.offset % load.align, "p_vaddr ≡ p_offset");
      assert.ok(load.offset + load.size <= BigInt(elf.length), "segment inside the file");
    }
    assert.ok(entry >= loads[0].vaddr && entry < loads[0].vaddr + loads[0].size, "entry in code");
    assert.ok(elf.length < 1024, `${arch} exit program is ${elf.length} bytes`);
  }
});

Deno.test("buildTrampoline() bakes paths, argv and envp into the data segment", () => {
  const elf = buildTrampoline({
    reportFd: 3,
    ops: [{ op: "execve", path: "/bin/sh", argv: ["sh", "-c", "echo $X"], envp: ["X=42"] }],
  }, "x86_64");
  const text = new TextDecoder().decode(elf);
  for (const s of ["/bin/sh\0", "sh\0", "-c\0", "echo $X\0", "X=42\0"]) {
    assert.ok(text.includes(s), s);
  }
});

Deno.test("validateProgram() names the op field that is wrong", () => {
  const cases: [TrampolineOp[], RegExp][] = [
    [[], /trampoline ops: must list at least one op/],
    [[{ op: "unshare", flags: 0 }], /ops\[0\]\.op: the last op must be execve, execveat or exit/],
    [
      [{ op: "exit", code: 0 }, { op: "exit", code: 1 }],
      /ops\[0\]\.op: execve, execveat or exit must be the last op/,
    ],
    [
      [{ op: "sync", fd: -1, point: 0 }, { op: "exit", code: 0 }],
      /ops\[0\]\.fd: must be an integer/,
    ],
    [[{ op: "setns", path: "a\0b", nstype: 0 }, { op: "exit", code: 0 }], /ops\[0\]\.path/],
    [[{ op: "execve", path: "/bin/true", argv: [], envp: [] }], /ops\[0\]\.argv: must list/],
    [[{ op: "exit", code: 256 }], /ops\[0\]\.code: must be an integer from 0 to 255/],
    [[{ op: "setgroups", groups: [1, 1.5] }, { op: "exit", code: 0 }], /ops\[0\]\.groups\[1\]/],
    [[{ op: "jump" } as unknown as TrampolineOp], /ops\[0\]\.op: must be one of/],
    [[{ op: "dup2", from: 4, to: 4 }, { op: "exit", code: 0 }], /ops\[0\]\.to: must differ/],
    [
      [{ op: "seccomp", flags: 0, filter: new Uint8Array(12) }, { op: "exit", code: 0 }],
      /ops\[0\]\.filter\.length/,
    ],
    [[{ op: "umask", mask: 0o1000 }, { op: "exit", code: 0 }], /ops\[0\]\.mask/],
    [[{ op: "chdir", path: "" }, { op: "exit", code: 0 }], /ops\[0\]\.path/],
    [
      [{ op: "mount", source: "", target: "", fstype: "", flags: 0 }, { op: "exit", code: 0 }],
      /ops\[0\]\.target/,
    ],
    [
      [{ op: "mount", source: "a", target: "/b", fstype: "", flags: -1 }, { op: "exit", code: 0 }],
      /ops\[0\]\.flags/,
    ],
    [[{ op: "pivotRoot", newRoot: ".", putOld: "" }, { op: "exit", code: 0 }], /ops\[0\]\.putOld/],
    [[{ op: "execveat", fd: -1, argv: ["x"], envp: [] }], /ops\[0\]\.fd/],
    [
      [{ op: "execveat", fd: 5, argv: ["x"], envp: [] }, { op: "exit", code: 0 }],
      /ops\[0\]\.op: execve, execveat or exit must be the last op/,
    ],
  ];
  for (const [ops, message] of cases) {
    assert.throws(() => validateProgram({ reportFd: 3, ops }), message);
  }
  assert.throws(() => validateProgram({ reportFd: -1, ops: exit0.ops }), /reportFd/);
  assert.throws(() => buildTrampoline({ reportFd: 3, ops: [] }), TypeError);
});

Deno.test("decodeRecords() reads 12-byte little-endian records and refuses a partial one", () => {
  const bytes = new Uint8Array(24);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, RECORD_SYNC, true);
  view.setUint32(4, 1, true);
  view.setInt32(8, 7, true);
  view.setUint32(12, RECORD_ERROR, true);
  view.setUint32(16, 4, true);
  view.setInt32(20, 2, true);
  assert.deepEqual(decodeRecords(bytes), [
    { kind: RECORD_SYNC, op: 1, value: 7 },
    { kind: RECORD_ERROR, op: 4, value: 2 },
  ]);
  assert.throws(() => decodeRecords(bytes.subarray(0, 13)), /not a multiple of 12/);
});

Deno.test("buildTrampoline() bakes a seccomp filter in, 8-aligned, for both architectures", () => {
  const filter = new Uint8Array([0x06, 0, 0, 0, 0x11, 0x22, 0xff, 0x7f]);
  for (const arch of ["x86_64", "aarch64"] as const) {
    const elf = buildTrampoline({
      reportFd: 3,
      ops: [{ op: "seccomp", flags: 0, filter }, { op: "exit", code: 0 }],
    }, arch);
    const at = elf.findIndex((_, i) => filter.every((b, j) => elf[i + j] === b));
    assert.ok(at > 0, `${arch}: filter bytes present`);
    assert.equal(at % 8, 0, `${arch}: filter 8-aligned in the file`);
  }
});

Deno.test("buildTrampoline() builds a runHook op for both architectures, and validates it", () => {
  const program: TrampolineProgram = {
    reportFd: 3,
    ops: [
      { op: "runHook", path: "/hook", argv: ["hook", "a"], envp: ["X=1"], stdin: '{"id":"c"}' },
      { op: "exit", code: 0 },
    ],
  };
  for (const arch of ["x86_64", "aarch64"] as const) {
    const text = new TextDecoder().decode(buildTrampoline(program, arch));
    assert.ok(text.includes('{"id":"c"}') && text.includes("skiff-hook-state"), arch);
  }
  const bad = { ...program, ops: [{ ...program.ops[0], argv: [] }, program.ops[1]] };
  assert.throws(() => validateProgram(bad as TrampolineProgram), /ops\[0\]\.argv: must list/);
  const withTimeout = (fields: object): TrampolineProgram => ({
    ...program,
    ops: [{ ...program.ops[0], ...fields } as TrampolineOp, program.ops[1]],
  });
  assert.throws(() => validateProgram(withTimeout({ timeout: 0 })), /ops\[0\]\.timeout: must be/);
  assert.throws(() => validateProgram(withTimeout({ timeout: 1.5 })), /ops\[0\]\.timeout/);
  assert.throws(
    () => validateProgram(withTimeout({ timeoutMessage: "late" })),
    /ops\[0\]\.timeout: must be set with timeoutMessage/,
  );
});

/** A hook op with nothing optional set. */
const hook: TrampolineOp = {
  op: "runHook",
  path: "/hook",
  argv: ["hook"],
  envp: [],
  stdin: "{}",
};

Deno.test("buildTrampoline() gives a runHook op with a timeout the pidfd calls and bakes its message in", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    const build = (op: TrampolineOp) =>
      buildTrampoline({ reportFd: 3, ops: [op, { op: "exit", code: 0 }] }, arch);
    const plain = build(hook);
    const timed = build({ ...hook, timeout: 7, timeoutMessage: "skiff: hook #0 timed out\n" });
    assert.ok(new TextDecoder().decode(timed).includes("skiff: hook #0 timed out\n"), arch);
    assert.ok(!new TextDecoder().decode(plain).includes("timed out"), arch);
    // The syscall numbers of pidfd_open, ppoll and pidfd_send_signal are loaded only with one.
    const numbers = TRAMPOLINE_SYSCALLS[arch];
    for (const name of ["pidfd_open", "ppoll", "pidfd_send_signal", "sendto"] as const) {
      assert.ok(loadsNumber(timed, arch, numbers[name]), `${arch} ${name}`);
      assert.ok(!loadsNumber(plain, arch, numbers[name]), `${arch} no ${name}`);
    }
  }
});

/** Whether `elf` loads `n` into the syscall number register (x86_64 movabs rax; aarch64 movz x8). */
function loadsNumber(elf: Uint8Array, arch: "x86_64" | "aarch64", n: number): boolean {
  const pattern = arch === "x86_64"
    ? [0x48, 0xb8, n & 0xff, n >> 8, 0, 0, 0, 0, 0, 0]
    : [...new Uint8Array(new Uint32Array([0xd2800000 | (n << 5) | 8]).buffer)];
  return elf.some((_, i) => pattern.every((b, j) => elf[i + j] === b));
}

Deno.test("buildTrampoline() gives a runHook op with failMessage its line's words once, writev and the signal names", () => {
  const failing = { ...hook, failMessage: "skiff: hook #0 failed: " };
  const text = (elf: Uint8Array) => new TextDecoder().decode(elf);
  for (const arch of ["x86_64", "aarch64"] as const) {
    const build = (...ops: TrampolineOp[]) =>
      buildTrampoline({ reportFd: 3, ops: [...ops, { op: "exit", code: 0 }] }, arch);
    const plain = build(hook);
    const one = text(build(failing));
    const two = text(build(failing, { ...failing, failMessage: "skiff: hook #1 failed: " }));
    for (
      const words of ["skiff: hook #0 failed: ", "exit status ", "killed by signal ", "SIGSYS"]
    ) {
      assert.ok(one.includes(words), `${arch}: ${words}`);
    }
    assert.ok(one.includes("SIGABRT") && !one.includes("SIGIOT"), `${arch}: Deno's names`);
    assert.equal(two.split("SIGKILL").length, 2, `${arch}: one table for both hooks`);
    assert.ok(two.includes("skiff: hook #1 failed: "), arch);
    assert.ok(!text(plain).includes("exit status"), arch);
    assert.ok(
      loadsNumber(build(failing), arch, TRAMPOLINE_SYSCALLS[arch].writev),
      `${arch} writev`,
    );
    assert.ok(!loadsNumber(plain, arch, TRAMPOLINE_SYSCALLS[arch].writev), `${arch} no writev`);
  }
  assert.throws(
    () =>
      validateProgram({
        reportFd: 3,
        ops: [{ ...hook, failMessage: "" }, { op: "exit", code: 0 }],
      }),
    /ops\[0\]\.failMessage: must be a non-empty string/,
  );
});
