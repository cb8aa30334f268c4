/**
 * A small eBPF interpreter for BPF_PROG_TYPE_CGROUP_DEVICE programs, used by the tests to run a
 * compiled device filter against (type, major, minor, access) requests. Before running, it checks
 * what the kernel verifier would reject for such a program: jumps out of range or backwards,
 * unreachable instructions, reads of unset registers, context reads other than the three u32
 * fields, and an exit with r0 unset. It supports the instructions device_bpf.ts emits and a few more.
 */
import {
  BPF_ADD,
  BPF_ALU,
  BPF_ALU64,
  BPF_AND,
  BPF_DEVCG_DEV_BLOCK,
  BPF_DEVCG_DEV_CHAR,
  BPF_EXIT,
  BPF_JA,
  BPF_JEQ,
  BPF_JMP,
  BPF_JNE,
  BPF_JSET,
  BPF_LDX,
  BPF_LSH,
  BPF_MEM,
  BPF_MOV,
  BPF_OR,
  BPF_RSH,
  BPF_W,
  BPF_X,
  type BpfInsn,
} from "./device_bpf.ts";
import { accessBits } from "./device_bpf.ts";

/** One device access as the kernel presents it to the program. */
export interface DeviceRequest {
  kind: "c" | "b";
  major: number;
  minor: number;
  /** A subset of "rwm". */
  access: string;
}

const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;
const JGT = 0x20;
const JGE = 0x30;

/** Throws when the kernel verifier would reject `program` for the reasons this file checks. */
export function verifyDeviceProgram(program: readonly BpfInsn[]): void {
  if (program.length === 0 || program.length > 4096) {
    throw new Error(`eBPF program has ${program.length} instructions`);
  }
  const reachable = new Array<boolean>(program.length).fill(false);
  reachable[0] = true;
  for (let pc = 0; pc < program.length; pc++) {
    if (!reachable[pc]) throw new Error(`unreachable insn ${pc}`);
    const ins = program[pc];
    const cls = ins.code & 0x07;
    if (cls === BPF_JMP) {
      const op = ins.code & 0xf0;
      if (op === BPF_EXIT) continue;
      const target = pc + 1 + ins.off;
      if (ins.off < 0) throw new Error(`back-edge from insn ${pc} to ${target}`);
      if (target >= program.length) {
        throw new Error(`jump out of range from insn ${pc} to ${target}`);
      }
      reachable[target] = true;
      if (op !== BPF_JA) mark(reachable, pc + 1, pc);
    } else {
      mark(reachable, pc + 1, pc);
    }
  }
}

function mark(reachable: boolean[], next: number, pc: number): void {
  if (next >= reachable.length) throw new Error(`insn ${pc} falls off the end of the program`);
  reachable[next] = true;
}

/**
 * Runs a verified device program for one request.
 * @returns the program's r0: 1 allows the access, 0 denies it.
 */
export function runDeviceProgram(program: readonly BpfInsn[], request: DeviceRequest): number {
  const type = request.kind === "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
  const ctx = [(accessBits(request.access) << 16) | type, request.major, request.minor];
  const regs: (bigint | undefined)[] = new Array(11).fill(undefined);
  const CTX = -1n; // r1 holds the context pointer, marked by this sentinel until overwritten
  regs[1] = CTX;
  let ctxReg: number | undefined = 1;
  const read = (r: number, pc: number): bigint => {
    const v = regs[r];
    if (v === undefined) throw new Error(`insn ${pc}: R${r} !read_ok`);
    if (r === ctxReg) throw new Error(`insn ${pc}: arithmetic on the context pointer R${r}`);
    return v;
  };
  for (let pc = 0, steps = 0; pc < program.length; pc++, steps++) {
    if (steps > 100_000) throw new Error("eBPF program did not terminate");
    const ins = program[pc];
    const cls = ins.code & 0x07;
    if (cls === BPF_LDX) {
      if (ins.code !== (BPF_LDX | BPF_MEM | BPF_W)) throw new Error(`insn ${pc}: unsupported load`);
      if (ins.src !== ctxReg) throw new Error(`insn ${pc}: load from R${ins.src}, not the context`);
      if (ins.off < 0 || ins.off > 8 || ins.off % 4 !== 0) {
        throw new Error(`insn ${pc}: invalid bpf_context access off=${ins.off} size=4`);
      }
      regs[ins.dst] = BigInt(ctx[ins.off / 4] >>> 0);
      if (ins.dst === ctxReg) ctxReg = undefined;
      continue;
    }
    if (cls === BPF_ALU || cls === BPF_ALU64) {
      const op = ins.code & 0xf0;
      const wide = cls === BPF_ALU64;
      const src = (ins.code & BPF_X) ? read(ins.src, pc) : BigInt(ins.imm) & MASK64;
      const mask = wide ? MASK64 : MASK32;
      let value: bigint;
      if (op === BPF_MOV) {
        value = src & mask;
      } else {
        const dst = read(ins.dst, pc) & mask;
        const s = src & mask;
        if (op === BPF_AND) value = dst & s;
        else if (op === BPF_OR) value = dst | s;
        else if (op === BPF_ADD) value = (dst + s) & mask;
        else if (op === BPF_RSH) value = dst >> (s & (wide ? 63n : 31n));
        else if (op === BPF_LSH) value = (dst << (s & (wide ? 63n : 31n))) & mask;
        else throw new Error(`insn ${pc}: unsupported ALU op 0x${op.toString(16)}`);
      }
      regs[ins.dst] = value;
      if (ins.dst === ctxReg) ctxReg = undefined;
      continue;
    }
    if (cls === BPF_JMP) {
      const op = ins.code & 0xf0;
      if (op === BPF_EXIT) {
        const r0 = regs[0];
        if (r0 === undefined) throw new Error(`insn ${pc}: R0 !read_ok at exit`);
        return Number(r0 & MASK32);
      }
      if (op === BPF_JA) {
        pc += ins.off;
        continue;
      }
      const a = read(ins.dst, pc);
      const b = (ins.code & BPF_X) ? read(ins.src, pc) : BigInt(ins.imm) & MASK64;
      let taken: boolean;
      if (op === BPF_JEQ) taken = a === b;
      else if (op === BPF_JNE) taken = a !== b;
      else if (op === BPF_JSET) taken = (a & b) !== 0n;
      else if (op === JGT) taken = a > b;
      else if (op === JGE) taken = a >= b;
      else throw new Error(`insn ${pc}: unsupported jump op 0x${op.toString(16)}`);
      if (taken) pc += ins.off;
      continue;
    }
    throw new Error(`insn ${pc}: unsupported instruction class ${cls}`);
  }
  throw new Error("eBPF program fell off its end");
}
