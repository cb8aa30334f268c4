/**
 * The aarch64 encoder: just the instructions a trampoline uses (Arm ARM A64 encodings).
 * System calls take x8 (number) and x0..x5, return in x0 and preserve every other register, so
 * x19 and x20 hold `op` and `saved`. x9 is the scratch register for comparisons and stores.
 */
import {
  type Assembler,
  boundOffset,
  checkByteOffset,
  checkImmediate,
  checkOffset,
  CodeBuffer,
  type Condition,
  type Label,
  type Register,
} from "./assembler.ts";

/** ELF e_machine for aarch64. */
export const EM_AARCH64 = 183;

const X9 = 9;
const XZR = 31;
const SP = 31;
const REGISTERS: Record<Register, number> = {
  nr: 8,
  result: 0,
  arg0: 0,
  arg1: 1,
  arg2: 2,
  arg3: 3,
  arg4: 4,
  arg5: 5,
  op: 19,
  saved: 20,
};

// B.cond condition field.
const CONDITION_CODES: Record<Condition, number> = {
  equal: 0x0, // EQ
  notEqual: 0x1, // NE
  aboveOrEqual: 0x2, // HS (CS): unsigned higher or same
};

/** Encodes aarch64 machine code for program.ts. */
export class Aarch64Assembler implements Assembler {
  readonly machine = EM_AARCH64;
  #code = new CodeBuffer();
  #labels: Label[] = [];

  loadImmediate(reg: Register, value: bigint | number): void {
    this.#loadImmediate(REGISTERS[reg], BigInt(value));
  }

  move(to: Register, from: Register): void {
    const dst = REGISTERS[to];
    const src = REGISTERS[from];
    if (dst === src) return;
    this.#code.u32(0xaa0003e0 | (src << 16) | dst); // orr xd, xzr, xm (mov)
  }

  systemCall(): void {
    this.#code.u32(0xd4000001); // svc #0
  }

  branchIf(condition: Condition, value: bigint, target: Label): void {
    this.#loadImmediate(X9, value);
    // subs xzr, x0, x9 (cmp x0, x9)
    this.#code.u32(0xeb000000 | (X9 << 16) | (REGISTERS.result << 5) | XZR);
    this.#branch(target, "cond");
    this.#code.u32(0x54000000 | CONDITION_CODES[condition]); // b.cond
  }

  jump(target: Label): void {
    this.#branch(target, "b");
    this.#code.u32(0x14000000); // b
  }

  negateResult(): void {
    const x0 = REGISTERS.result;
    this.#code.u32(0xcb000000 | (x0 << 16) | (XZR << 5) | x0); // sub x0, xzr, x0 (neg)
  }

  store32(address: bigint, reg: Register): void {
    this.#loadImmediate(X9, address);
    this.#code.u32(0xb9000000 | (X9 << 5) | REGISTERS[reg]); // str wt, [x9]
  }

  load32(address: bigint): void {
    this.#loadImmediate(X9, address);
    this.#code.u32(0xb9400000 | (X9 << 5) | REGISTERS.result); // ldr wt, [x9]
  }

  stackPointer(reg: Register): void {
    // add xd, sp, #0 (mov xd, sp): register 31 is sp in ADD (immediate), xzr in ORR.
    this.#code.u32(0x91000000 | (SP << 5) | REGISTERS[reg]);
  }

  addImmediate(reg: Register, value: number): void {
    checkImmediate(value);
    const r = REGISTERS[reg];
    // add xd, xn, #imm12 or sub xd, xn, #imm12.
    const opcode = value < 0 ? 0xd1000000 : 0x91000000;
    this.#code.u32(opcode | (Math.abs(value) << 10) | (r << 5) | r);
  }

  load64(to: Register, base: Register, offset: number): void {
    checkOffset(offset);
    // ldur xt, [xn, #simm9]
    this.#code.u32(0xf8400000 | ((offset & 0x1ff) << 12) | (REGISTERS[base] << 5) | REGISTERS[to]);
  }

  store64(base: Register, offset: number, from: Register): void {
    checkOffset(offset);
    // stur xt, [xn, #simm9]
    this.#code.u32(
      0xf8000000 | ((offset & 0x1ff) << 12) | (REGISTERS[base] << 5) | REGISTERS[from],
    );
  }

  load8(to: Register, base: Register, offset: number): void {
    checkByteOffset(offset);
    // ldurb wt, [xn, #simm9]: writing wt clears the upper half of xt.
    this.#code.u32(0x38400000 | ((offset & 0x1ff) << 12) | (REGISTERS[base] << 5) | REGISTERS[to]);
  }

  bind(label: Label): void {
    if (label.offset !== undefined) throw new Error(`trampoline label ${label.name} bound twice`);
    label.offset = this.#code.length;
  }

  finish(): Uint8Array<ArrayBuffer> {
    for (const label of this.#labels) {
      const target = boundOffset(label);
      for (const use of label.uses) {
        const words = (target - use.at) / 4;
        const word = this.#code.getU32(use.at);
        if (use.kind === "b") {
          this.#code.setU32(use.at, word | (words & 0x3ffffff));
        } else {
          this.#code.setU32(use.at, word | ((words & 0x7ffff) << 5));
        }
      }
    }
    return this.#code.result();
  }

  // movz for the low 16 bits, then movk for each non-zero higher 16-bit chunk.
  #loadImmediate(reg: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    this.#code.u32(0xd2800000 | (Number(v & 0xffffn) << 5) | reg); // movz xd, #imm16
    for (let hw = 1; hw < 4; hw++) {
      const chunk = Number((v >> BigInt(16 * hw)) & 0xffffn);
      if (chunk !== 0) this.#code.u32(0xf2800000 | (hw << 21) | (chunk << 5) | reg); // movk
    }
  }

  // Records a reference at the instruction about to be written.
  #branch(target: Label, kind: "b" | "cond"): void {
    if (!this.#labels.includes(target)) this.#labels.push(target);
    target.uses.push({ at: this.#code.length, kind });
  }
}
