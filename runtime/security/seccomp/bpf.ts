/**
 * Classic BPF as the seccomp filter mode uses it: the instruction encoding (linux/filter.h,
 * linux/bpf_common.h), the SECCOMP_RET_* return values (linux/seccomp.h) and the layout of
 * struct seccomp_data that the program reads.
 */

/** One classic BPF instruction: struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }. */
export interface SockFilter {
  /** Opcode: class | size | mode, or class | op | source. */
  code: number;
  /** Forward offset when the condition holds (0..255). */
  jt: number;
  /** Forward offset when it does not (0..255). */
  jf: number;
  /** The 32-bit constant: offset, immediate, jump distance or return value. */
  k: number;
}

// Instruction classes.
/** BPF_LD: load into the accumulator. */
export const BPF_LD = 0x00;
/** BPF_LDX: load into the index register. */
export const BPF_LDX = 0x01;
/** BPF_ST: store the accumulator into scratch memory. */
export const BPF_ST = 0x02;
/** BPF_STX: store the index register into scratch memory. */
export const BPF_STX = 0x03;
/** BPF_ALU: arithmetic on the accumulator. */
export const BPF_ALU = 0x04;
/** BPF_JMP: jumps. */
export const BPF_JMP = 0x05;
/** BPF_RET: return. */
export const BPF_RET = 0x06;
/** BPF_MISC: register transfers. */
export const BPF_MISC = 0x07;

// Load sizes and modes.
/** BPF_W: 32-bit word. */
export const BPF_W = 0x00;
/** BPF_H: 16-bit half word. */
export const BPF_H = 0x08;
/** BPF_B: byte. */
export const BPF_B = 0x10;
/** BPF_IMM: immediate. */
export const BPF_IMM = 0x00;
/** BPF_ABS: absolute offset into the input (seccomp_data). */
export const BPF_ABS = 0x20;
/** BPF_IND: offset relative to X. */
export const BPF_IND = 0x40;
/** BPF_MEM: scratch memory slot. */
export const BPF_MEM = 0x60;
/** BPF_LEN: length of the input. */
export const BPF_LEN = 0x80;
/** BPF_MSH: IP header length (not valid in seccomp). */
export const BPF_MSH = 0xa0;

// ALU and jump operations.
/** BPF_ADD. */
export const BPF_ADD = 0x00;
/** BPF_SUB. */
export const BPF_SUB = 0x10;
/** BPF_MUL. */
export const BPF_MUL = 0x20;
/** BPF_DIV. */
export const BPF_DIV = 0x30;
/** BPF_OR. */
export const BPF_OR = 0x40;
/** BPF_AND. */
export const BPF_AND = 0x50;
/** BPF_LSH. */
export const BPF_LSH = 0x60;
/** BPF_RSH. */
export const BPF_RSH = 0x70;
/** BPF_NEG. */
export const BPF_NEG = 0x80;
/** BPF_MOD. */
export const BPF_MOD = 0x90;
/** BPF_XOR. */
export const BPF_XOR = 0xa0;
/** BPF_JA: unconditional jump by k (32-bit). */
export const BPF_JA = 0x00;
/** BPF_JEQ: A == operand. */
export const BPF_JEQ = 0x10;
/** BPF_JGT: A > operand (unsigned). */
export const BPF_JGT = 0x20;
/** BPF_JGE: A >= operand (unsigned). */
export const BPF_JGE = 0x30;
/** BPF_JSET: A & operand != 0. */
export const BPF_JSET = 0x40;
/** BPF_K: the operand is k. */
export const BPF_K = 0x00;
/** BPF_X: the operand is X. */
export const BPF_X = 0x08;
/** BPF_A: return the accumulator. */
export const BPF_A = 0x10;
/** BPF_TAX: X = A. */
export const BPF_TAX = 0x00;
/** BPF_TXA: A = X. */
export const BPF_TXA = 0x80;

/** BPF_MAXINSNS: the kernel's limit on the length of one classic BPF program. */
export const BPF_MAXINSNS = 4096;
/** BPF_MEMWORDS: scratch memory slots. */
export const BPF_MEMWORDS = 16;

// Return values (linux/seccomp.h); the low 16 bits (SECCOMP_RET_DATA) carry errno or a message.
/** Kill the whole process. */
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
/** Kill the calling thread (SECCOMP_RET_KILL). */
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
/** Send SIGSYS. */
export const SECCOMP_RET_TRAP = 0x00030000;
/** Fail the call with errno = data. */
export const SECCOMP_RET_ERRNO = 0x00050000;
/** Hand the call to the user-space listener. */
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
/** Notify a ptrace tracer with data as the message. */
export const SECCOMP_RET_TRACE = 0x7ff00000;
/** Allow after logging. */
export const SECCOMP_RET_LOG = 0x7ffc0000;
/** Allow. */
export const SECCOMP_RET_ALLOW = 0x7fff0000;
/** The action part of a return value. */
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
/** The data part of a return value. */
export const SECCOMP_RET_DATA = 0x0000ffff;

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
/** Offset of seccomp_data.nr. */
export const SECCOMP_DATA_NR = 0;
/** Offset of seccomp_data.arch. */
export const SECCOMP_DATA_ARCH = 4;
/** Offset of seccomp_data.instruction_pointer. */
export const SECCOMP_DATA_IP = 8;
/** Offset of seccomp_data.args[0]. */
export const SECCOMP_DATA_ARGS = 16;
/** sizeof(struct seccomp_data). */
export const SECCOMP_DATA_SIZE = 64;

/** Offset of the low 32 bits of args[index] (all supported architectures are little-endian). */
export function argLowOffset(index: number): number {
  return SECCOMP_DATA_ARGS + 8 * index;
}

/** Offset of the high 32 bits of args[index]. */
export function argHighOffset(index: number): number {
  return SECCOMP_DATA_ARGS + 8 * index + 4;
}

/** Returns `program` as an array of struct sock_filter, 8 bytes each, little-endian. */
export function encodeFilter(program: readonly SockFilter[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, insn.jt);
    view.setUint8(i * 8 + 3, insn.jf);
    view.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return bytes;
}

/** Decodes struct sock_filter bytes back into instructions. */
export function decodeFilter(bytes: Uint8Array): SockFilter[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const program: SockFilter[] = [];
  for (let i = 0; i + 8 <= bytes.byteLength; i += 8) {
    program.push({
      code: view.getUint16(i, true),
      jt: view.getUint8(i + 2),
      jf: view.getUint8(i + 3),
      k: view.getUint32(i + 4, true),
    });
  }
  return program;
}

/** Returns a one-line disassembly of `insn` at position `pc`, for --debug output and tests. */
export function disassemble(insn: SockFilter, pc: number): string {
  const k = `0x${(insn.k >>> 0).toString(16)}`;
  const cls = insn.code & 0x07;
  const at = (offset: number): number => pc + 1 + offset;
  switch (cls) {
    case BPF_LD:
      if ((insn.code & 0xe0) === BPF_ABS) return `ld [${insn.k}]`;
      if ((insn.code & 0xe0) === BPF_IMM) return `ld #${k}`;
      if ((insn.code & 0xe0) === BPF_MEM) return `ld M[${insn.k}]`;
      return `ld len`;
    case BPF_ALU: {
      const names: Record<number, string> = {
        [BPF_ADD]: "add",
        [BPF_SUB]: "sub",
        [BPF_MUL]: "mul",
        [BPF_DIV]: "div",
        [BPF_OR]: "or",
        [BPF_AND]: "and",
        [BPF_LSH]: "lsh",
        [BPF_RSH]: "rsh",
        [BPF_NEG]: "neg",
        [BPF_MOD]: "mod",
        [BPF_XOR]: "xor",
      };
      return `${names[insn.code & 0xf0] ?? "alu?"} ${(insn.code & BPF_X) ? "x" : `#${k}`}`;
    }
    case BPF_JMP: {
      const op = insn.code & 0xf0;
      if (op === BPF_JA) return `ja ${at(insn.k)}`;
      const names: Record<number, string> = {
        [BPF_JEQ]: "jeq",
        [BPF_JGT]: "jgt",
        [BPF_JGE]: "jge",
        [BPF_JSET]: "jset",
      };
      const operand = (insn.code & BPF_X) ? "x" : `#${k}`;
      return `${names[op] ?? "j?"} ${operand} ${at(insn.jt)} ${at(insn.jf)}`;
    }
    case BPF_RET:
      return (insn.code & BPF_A) ? "ret a" : `ret #${k}`;
    default:
      return `code=0x${insn.code.toString(16)} k=${k}`;
  }
}
