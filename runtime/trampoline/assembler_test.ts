import assert from "node:assert/strict";
import type { Assembler } from "./assembler.ts";
import { X86_64Assembler } from "./x86_64.ts";
import { Aarch64Assembler } from "./aarch64.ts";

// The expected bytes were checked against GNU objdump 2.40 (x86_64, -M intel) and llvm-mc 14
// (--disassemble -triple=aarch64); the disassembly is beside each case.

const hex = (emit: (asm: Assembler) => void, asm: Assembler): string => {
  emit(asm);
  return [...asm.finish()].map((b) => b.toString(16).padStart(2, "0")).join(" ");
};
const x86 = (emit: (asm: Assembler) => void): string => hex(emit, new X86_64Assembler());
// aarch64 words as the little-endian bytes they are in the file.
const a64 = (emit: (asm: Assembler) => void): string => hex(emit, new Aarch64Assembler());

Deno.test("x86_64 stackPointer() and addImmediate() encode mov r64, rsp and add r64, imm32", () => {
  assert.equal(x86((a) => a.stackPointer("arg1")), "48 89 e6"); // mov rsi, rsp
  assert.equal(x86((a) => a.stackPointer("saved")), "49 89 e4"); // mov r12, rsp
  assert.equal(x86((a) => a.addImmediate("arg2", 16)), "48 81 c2 10 00 00 00"); // add rdx, 0x10
  assert.equal(x86((a) => a.addImmediate("arg3", -72)), "49 81 c2 b8 ff ff ff"); // add r10, -0x48
});

Deno.test("x86_64 load64() and store64() encode mov with a 32-bit displacement, SIB for r12", () => {
  assert.equal(x86((a) => a.load64("result", "arg1", 8)), "48 8b 86 08 00 00 00"); // rax, [rsi+8]
  assert.equal(x86((a) => a.store64("arg2", -8, "result")), "48 89 82 f8 ff ff ff"); // [rdx-8], rax
  assert.equal(x86((a) => a.store64("arg1", 64, "arg3")), "4c 89 96 40 00 00 00"); // [rsi+64], r10
  assert.equal(x86((a) => a.load64("arg3", "saved", 0)), "4d 8b 94 24 00 00 00 00"); // r10, [r12]
  assert.equal(x86((a) => a.store64("saved", -256, "op")), "49 89 9c 24 00 ff ff ff"); // [r12-256], rbx
});

Deno.test("aarch64 stackPointer() and addImmediate() encode add xd, sp, #0 and add/sub #imm12", () => {
  assert.equal(a64((a) => a.stackPointer("arg1")), "e1 03 00 91"); // mov x1, sp
  assert.equal(a64((a) => a.stackPointer("saved")), "f4 03 00 91"); // mov x20, sp
  assert.equal(a64((a) => a.addImmediate("arg2", 16)), "42 40 00 91"); // add x2, x2, #16
  assert.equal(a64((a) => a.addImmediate("arg3", -72)), "63 20 01 d1"); // sub x3, x3, #72
  assert.equal(a64((a) => a.addImmediate("op", 4095)), "73 fe 3f 91"); // add x19, x19, #4095
});

Deno.test("aarch64 load64() and store64() encode ldur and stur with a signed 9-bit offset", () => {
  assert.equal(a64((a) => a.load64("result", "arg1", 8)), "20 80 40 f8"); // ldur x0, [x1, #8]
  assert.equal(a64((a) => a.store64("arg2", -8, "result")), "40 80 1f f8"); // stur x0, [x2, #-8]
  assert.equal(a64((a) => a.store64("arg1", 248, "arg3")), "23 80 0f f8"); // stur x3, [x1, #248]
  assert.equal(a64((a) => a.load64("arg3", "saved", -256)), "83 02 50 f8"); // ldur x3, [x20, #-256]
});

Deno.test("x86_64 load8() encodes movzx r64, byte [base + disp32], SIB for r12", () => {
  assert.equal(x86((a) => a.load8("result", "arg3", 0)), "49 0f b6 82 00 00 00 00"); // rax, [r10]
  assert.equal(x86((a) => a.load8("result", "saved", 5)), "49 0f b6 84 24 05 00 00 00"); // rax, [r12+5]
  assert.equal(x86((a) => a.load8("arg3", "arg2", -1)), "4c 0f b6 92 ff ff ff ff"); // r10, [rdx-1]
  assert.equal(x86((a) => a.load8("saved", "arg1", 255)), "4c 0f b6 a6 ff 00 00 00"); // r12, [rsi+255]
});

Deno.test("aarch64 load8() encodes ldurb with a signed 9-bit offset, any byte", () => {
  assert.equal(a64((a) => a.load8("result", "arg3", 0)), "60 00 40 38"); // ldurb w0, [x3]
  assert.equal(a64((a) => a.load8("result", "saved", 5)), "80 52 40 38"); // ldurb w0, [x20, #5]
  assert.equal(a64((a) => a.load8("arg3", "arg2", -1)), "43 f0 5f 38"); // ldurb w3, [x2, #-1]
  assert.equal(a64((a) => a.load8("saved", "arg1", 255)), "34 f0 4f 38"); // ldurb w20, [x1, #255]
});

Deno.test("addImmediate(), load64() and store64() refuse what aarch64 cannot encode, on both", () => {
  for (const asm of [new X86_64Assembler(), new Aarch64Assembler()]) {
    assert.throws(() => asm.addImmediate("arg0", 4096), /addImmediate: 4096 is not an integer/);
    assert.throws(() => asm.addImmediate("arg0", 1.5), RangeError);
    assert.throws(() => asm.load64("arg0", "arg1", 256), /offset 256 is not a multiple of 8/);
    assert.throws(() => asm.store64("arg0", -264, "arg1"), RangeError);
    assert.throws(() => asm.load64("arg0", "arg1", 4), /offset 4/);
    assert.throws(() => asm.load8("arg0", "arg1", 256), /load8: offset 256 is not an integer/);
    assert.throws(() => asm.load8("arg0", "arg1", -257), RangeError);
  }
});
