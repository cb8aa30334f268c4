/**
 * A classic BPF interpreter for seccomp programs, used by the tests and the benchmark to run a
 * compiled filter against synthetic struct seccomp_data. It checks the program the way the kernel's
 * seccomp_check_filter() and bpf_check_classic() do before running it, so a program that runs
 * here also loads.
 */
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_DIV,
  BPF_IMM,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MAXINSNS,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
  BPF_MOD,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  SECCOMP_DATA_SIZE,
  type SockFilter,
} from "./bpf.ts";

/** struct seccomp_data as the kernel fills it in for one system call. */
export interface SeccompData {
  /** The system call number (seccomp_data.nr; x32 numbers include 0x40000000). */
  nr: number;
  /** The AUDIT_ARCH_* value. */
  arch: number;
  /** The instruction pointer; 0 when not given. */
  instructionPointer?: bigint;
  /** Up to six 64-bit arguments; missing ones are 0. */
  args?: readonly bigint[];
}

/** The outcome of running a filter. */
export interface BpfResult {
  /** The 32-bit SECCOMP_RET_* value the program returned. */
  value: number;
  /** How many instructions ran, the `ret` included. */
  executed: number;
}

/** Returns the 64-byte little-endian struct seccomp_data for `data`. */
export function encodeSeccompData(data: SeccompData): DataView {
  const view = new DataView(new ArrayBuffer(SECCOMP_DATA_SIZE));
  view.setUint32(0, data.nr >>> 0, true);
  view.setUint32(4, data.arch >>> 0, true);
  view.setBigUint64(8, BigInt.asUintN(64, data.instructionPointer ?? 0n), true);
  for (let i = 0; i < 6; i++) {
    view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, data.args?.[i] ?? 0n), true);
  }
  return view;
}

/** Throws a TypeError naming the first instruction the kernel would refuse in a seccomp filter. */
export function checkSeccompProgram(program: readonly SockFilter[]): void {
  if (program.length === 0 || program.length > BPF_MAXINSNS) {
    throw new TypeError(`BPF program has ${program.length} instructions (1..${BPF_MAXINSNS})`);
  }
  program.forEach((insn, pc) => {
    const cls = insn.code & 0x07;
    const fail = (why: string): never => {
      throw new TypeError(`BPF instruction ${pc} (code 0x${insn.code.toString(16)}): ${why}`);
    };
    switch (cls) {
      case BPF_LD:
        if (insn.code === (BPF_LD | BPF_W | BPF_ABS)) {
          if (insn.k % 4 !== 0 || insn.k >= SECCOMP_DATA_SIZE) {
            fail(`bad seccomp_data offset ${insn.k}`);
          }
        } else if (
          insn.code !== (BPF_LD | BPF_W | BPF_LEN) && insn.code !== (BPF_LD | BPF_IMM) &&
          insn.code !== (BPF_LD | BPF_MEM)
        ) fail("load mode not allowed in seccomp");
        break;
      case BPF_LDX:
        if (
          insn.code !== (BPF_LDX | BPF_W | BPF_LEN) && insn.code !== (BPF_LDX | BPF_IMM) &&
          insn.code !== (BPF_LDX | BPF_MEM)
        ) fail("load mode not allowed in seccomp");
        break;
      case BPF_JMP: {
        const op = insn.code & 0xf0;
        if (op === BPF_JA) {
          if (pc + 1 + insn.k >= program.length) fail("ja beyond the end");
        } else {
          if (![BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].includes(op)) fail("unknown jump");
          if (insn.jt > 255 || insn.jf > 255) fail("jt/jf must fit 8 bits");
          if (pc + 1 + Math.max(insn.jt, insn.jf) >= program.length) fail("jump beyond the end");
        }
        break;
      }
      case BPF_ST:
      case BPF_STX:
        if (insn.k >= BPF_MEMWORDS) fail("scratch slot out of range");
        break;
      case BPF_ALU:
        if (
          ((insn.code & 0xf0) === BPF_DIV || (insn.code & 0xf0) === BPF_MOD) &&
          !(insn.code & BPF_X) && insn.k === 0
        ) {
          fail("division by constant 0");
        }
        break;
    }
  });
  const last = program[program.length - 1];
  if ((last.code & 0x07) !== BPF_RET) throw new TypeError("BPF program does not end with ret");
}

/**
 * Runs `program` against `data` as the kernel would.
 * @returns the 32-bit return value and the number of instructions executed.
 */
export function runBpf(program: readonly SockFilter[], data: SeccompData): BpfResult {
  const input = encodeSeccompData(data);
  const mem = new Uint32Array(BPF_MEMWORDS);
  let a = 0;
  let x = 0;
  let pc = 0;
  let executed = 0;
  for (;;) {
    if (pc >= program.length) throw new TypeError(`BPF program ran past its end at ${pc}`);
    const insn = program[pc++];
    executed++;
    const k = insn.k >>> 0;
    const cls = insn.code & 0x07;
    switch (cls) {
      case BPF_LD:
      case BPF_LDX: {
        const mode = insn.code & 0xe0;
        let value: number;
        if (mode === BPF_ABS) {
          if (k % 4 !== 0 || k + 4 > SECCOMP_DATA_SIZE) {
            throw new TypeError(`BPF load of seccomp_data offset ${k}`);
          }
          value = input.getUint32(k, true);
        } else if (mode === BPF_LEN) value = SECCOMP_DATA_SIZE;
        else if (mode === BPF_IMM) value = k;
        else if (mode === BPF_MEM) value = mem[k];
        else throw new TypeError(`BPF load mode 0x${mode.toString(16)} not allowed in seccomp`);
        if (cls === BPF_LD) a = value >>> 0;
        else x = value >>> 0;
        break;
      }
      case BPF_ST:
        mem[k] = a;
        break;
      case BPF_STX:
        mem[k] = x;
        break;
      case BPF_ALU: {
        const operand = (insn.code & BPF_X) ? x : k;
        const op = insn.code & 0xf0;
        // Classic BPF: dividing by a zero X ends the program with return value 0.
        if ((op === BPF_DIV || op === BPF_MOD) && operand === 0) return { value: 0, executed };
        a = alu(op, a, operand);
        break;
      }
      case BPF_JMP: {
        const op = insn.code & 0xf0;
        if (op === BPF_JA) {
          pc += k;
          break;
        }
        const operand = (insn.code & BPF_X) ? x : k;
        let taken: boolean;
        if (op === BPF_JEQ) taken = a === operand;
        else if (op === BPF_JGT) taken = a > operand;
        else if (op === BPF_JGE) taken = a >= operand;
        else if (op === BPF_JSET) taken = (a & operand) !== 0;
        else throw new TypeError(`BPF jump op 0x${op.toString(16)}`);
        pc += taken ? insn.jt : insn.jf;
        break;
      }
      case BPF_RET:
        return { value: ((insn.code & BPF_A) ? a : k) >>> 0, executed };
      case BPF_MISC:
        if ((insn.code & 0xf8) === BPF_TAX) x = a;
        else if ((insn.code & 0xf8) === BPF_TXA) a = x;
        break;
    }
  }
}

function alu(op: number, a: number, b: number): number {
  switch (op) {
    case BPF_ADD:
      return (a + b) >>> 0;
    case BPF_SUB:
      return (a - b) >>> 0;
    case BPF_MUL:
      return Number((BigInt(a) * BigInt(b)) & 0xffffffffn);
    case BPF_DIV:
      return b === 0 ? 0 : Math.floor(a / b) >>> 0;
    case BPF_MOD:
      return b === 0 ? 0 : (a % b) >>> 0;
    case BPF_OR:
      return (a | b) >>> 0;
    case BPF_AND:
      return (a & b) >>> 0;
    case BPF_XOR:
      return (a ^ b) >>> 0;
    case BPF_LSH:
      return b >= 32 ? 0 : (a << b) >>> 0;
    case BPF_RSH:
      return b >= 32 ? 0 : a >>> b;
    case BPF_NEG:
      return (-a) >>> 0;
    default:
      throw new TypeError(`BPF ALU op 0x${op.toString(16)}`);
  }
}
