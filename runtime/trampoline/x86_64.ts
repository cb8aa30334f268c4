/**
 * The x86_64 encoder: just the instructions a trampoline uses (Intel SDM vol. 2 encodings).
 * System calls take rax (number) and rdi, rsi, rdx, r10, r8, r9, return in rax, and clobber rcx
 * and r11; rbx and r12 survive them, so they hold `op` and `saved`. rcx is the scratch register
 * for comparisons and stores, which happen between system calls.
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

/** ELF e_machine for x86_64. */
export const EM_X86_64 = 62;

const RAX = 0;
const RCX = 1;
const RSP = 4;
const REGISTERS: Record<Register, number> = {
  nr: RAX,
  result: RAX,
  arg0: 7, // rdi
  arg1: 6, // rsi
  arg2: 2, // rdx
  arg3: 10, // r10
  arg4: 8, // r8
  arg5: 9, // r9
  op: 3, // rbx
  saved: 12, // r12
};

// Jcc rel32 is 0F 80+cc.
const CONDITION_CODES: Record<Condition, number> = {
  equal: 0x84, // je
  notEqual: 0x85, // jne
  aboveOrEqual: 0x83, // jae
};

/** Encodes x86_64 machine code for program.ts. */
export class X86_64Assembler implements Assembler {
  readonly machine = EM_X86_64;
  #code = new CodeBuffer();
  #labels: Label[] = [];

  loadImmediate(reg: Register, value: bigint | number): void {
    this.#movabs(REGISTERS[reg], value);
  }

  move(to: Register, from: Register): void {
    const dst = REGISTERS[to];
    const src = REGISTERS[from];
    if (dst === src) return;
    // REX.W 89 /r: mov r/m64, r64.
    this.#code.bytes(0x48 | (src >= 8 ? 4 : 0) | (dst >= 8 ? 1 : 0), 0x89);
    this.#code.bytes(0xc0 | ((src & 7) << 3) | (dst & 7));
  }

  systemCall(): void {
    this.#code.bytes(0x0f, 0x05);
  }

  branchIf(condition: Condition, value: bigint, target: Label): void {
    this.#movabs(RCX, value);
    this.#code.bytes(0x48, 0x39, 0xc8); // cmp rax, rcx
    this.#code.bytes(0x0f, CONDITION_CODES[condition]);
    this.#rel32(target);
  }

  jump(target: Label): void {
    this.#code.bytes(0xe9);
    this.#rel32(target);
  }

  negateResult(): void {
    this.#code.bytes(0x48, 0xf7, 0xd8); // neg rax
  }

  store32(address: bigint, reg: Register): void {
    const src = REGISTERS[reg];
    this.#movabs(RCX, address);
    // 89 /r with mod=00, rm=rcx: mov dword [rcx], r32.
    if (src >= 8) this.#code.bytes(0x44);
    this.#code.bytes(0x89, ((src & 7) << 3) | RCX);
  }

  load32(address: bigint): void {
    this.#movabs(RCX, address);
    this.#code.bytes(0x8b, (REGISTERS.result << 3) | RCX); // mov eax, dword [rcx]
  }

  stackPointer(reg: Register): void {
    const dst = REGISTERS[reg];
    // REX.W 89 /r: mov r/m64, rsp.
    this.#code.bytes(0x48 | (dst >= 8 ? 1 : 0), 0x89, 0xc0 | (RSP << 3) | (dst & 7));
  }

  addImmediate(reg: Register, value: number): void {
    checkImmediate(value);
    const dst = REGISTERS[reg];
    // REX.W 81 /0 id: add r/m64, imm32 (sign-extended).
    this.#code.bytes(0x48 | (dst >= 8 ? 1 : 0), 0x81, 0xc0 | (dst & 7));
    this.#code.u32(value);
  }

  load64(to: Register, base: Register, offset: number): void {
    checkOffset(offset);
    this.#memory([0x8b], REGISTERS[to], REGISTERS[base], offset); // mov r64, [base + disp32]
  }

  store64(base: Register, offset: number, from: Register): void {
    checkOffset(offset);
    this.#memory([0x89], REGISTERS[from], REGISTERS[base], offset); // mov [base + disp32], r64
  }

  load8(to: Register, base: Register, offset: number): void {
    checkByteOffset(offset);
    this.#memory([0x0f, 0xb6], REGISTERS[to], REGISTERS[base], offset); // movzx r64, byte [base + disp32]
  }

  bind(label: Label): void {
    if (label.offset !== undefined) throw new Error(`trampoline label ${label.name} bound twice`);
    label.offset = this.#code.length;
  }

  finish(): Uint8Array<ArrayBuffer> {
    for (const label of this.#labels) {
      const offset = boundOffset(label);
      for (const use of label.uses) this.#code.setU32(use.at, offset - (use.at + 4));
    }
    return this.#code.result();
  }

  // REX.W opcode /r with mod=10 (disp32); rsp and r12 as the base need a SIB byte (no index).
  #memory(opcode: number[], reg: number, base: number, offset: number): void {
    this.#code.bytes(0x48 | (reg >= 8 ? 4 : 0) | (base >= 8 ? 1 : 0), ...opcode);
    this.#code.bytes(0x80 | ((reg & 7) << 3) | (base & 7));
    if ((base & 7) === RSP) this.#code.bytes(0x24);
    this.#code.u32(offset);
  }

  // REX.W B8+r io: movabs r64, imm64.
  #movabs(reg: number, value: bigint | number): void {
    this.#code.bytes(0x48 | (reg >= 8 ? 1 : 0), 0xb8 + (reg & 7));
    this.#code.u64(value);
  }

  #rel32(target: Label): void {
    if (!this.#labels.includes(target)) this.#labels.push(target);
    target.uses.push({ at: this.#code.length, kind: "rel32" });
    this.#code.u32(0);
  }
}
