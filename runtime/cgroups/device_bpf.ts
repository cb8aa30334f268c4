/**
 * Compiles device rules (device_rules.ts) into an eBPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE, the cgroup v2 replacement for devices.allow/deny.
 *
 * The kernel runs the program with a pointer to struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h):
 *
 *     u32 access_type;  // low 16 bits: BPF_DEVCG_DEV_BLOCK 1 / CHAR 2; high 16: ACC_MKNOD 1, READ 2, WRITE 4
 *     u32 major;
 *     u32 minor;
 *
 * and allows the access when it returns 1. Registers: r2 = device type, r3 = access bits not yet
 * allowed, r4 = major, r5 = minor, r1 = scratch once the context is read. The rules are emitted
 * last to first; each matching rule either allows the bits it names (clearing them from r3; all
 * clear -> return 1) or denies when it names a bit still in r3 (return 0). Falling off the end
 * denies. This is the per-bit "last matching rule wins" of device_rules.ts deviceAllowed().
 *
 * runc (opencontainers/cgroups devices/devicefilter.go) first reduces the rules with its cgroup v1
 * emulator and then matches whole access masks; the result is the same for the rule sets engines
 * write (deny-all first, then allows), and per-bit matching is also exact for partial denies.
 */
import type { DeviceRule } from "./device_rules.ts";

/** One eBPF instruction (struct bpf_insn). */
export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

// Instruction classes and fields (include/uapi/linux/bpf_common.h, bpf.h).
/** BPF_LDX class. */
export const BPF_LDX = 0x01;
/** BPF_ALU class (32-bit). */
export const BPF_ALU = 0x04;
/** BPF_JMP class (64-bit compares). */
export const BPF_JMP = 0x05;
/** BPF_ALU64 class. */
export const BPF_ALU64 = 0x07;
/** Size field: 32-bit word. */
export const BPF_W = 0x00;
/** Mode field: memory. */
export const BPF_MEM = 0x60;
/** Source: immediate. */
export const BPF_K = 0x00;
/** Source: register. */
export const BPF_X = 0x08;
/** ALU op: and. */
export const BPF_AND = 0x50;
/** ALU op: or. */
export const BPF_OR = 0x40;
/** ALU op: right shift. */
export const BPF_RSH = 0x70;
/** ALU op: left shift. */
export const BPF_LSH = 0x60;
/** ALU op: add. */
export const BPF_ADD = 0x00;
/** ALU op: move. */
export const BPF_MOV = 0xb0;
/** JMP op: always. */
export const BPF_JA = 0x00;
/** JMP op: equal. */
export const BPF_JEQ = 0x10;
/** JMP op: not equal. */
export const BPF_JNE = 0x50;
/** JMP op: bit test. */
export const BPF_JSET = 0x40;
/** JMP op: return r0. */
export const BPF_EXIT = 0x90;

/** bpf_cgroup_dev_ctx access_type: block device. */
export const BPF_DEVCG_DEV_BLOCK = 1;
/** bpf_cgroup_dev_ctx access_type: character device. */
export const BPF_DEVCG_DEV_CHAR = 2;
/** Access bit: mknod. */
export const BPF_DEVCG_ACC_MKNOD = 1;
/** Access bit: read. */
export const BPF_DEVCG_ACC_READ = 2;
/** Access bit: write. */
export const BPF_DEVCG_ACC_WRITE = 4;
/** The license the program is loaded with (like runc). */
export const DEVICE_PROGRAM_LICENSE = "Apache";

const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

/** The access bits of "rwm"-style text. */
export function accessBits(access: string): number {
  let bits = 0;
  if (access.includes("r")) bits |= BPF_DEVCG_ACC_READ;
  if (access.includes("w")) bits |= BPF_DEVCG_ACC_WRITE;
  if (access.includes("m")) bits |= BPF_DEVCG_ACC_MKNOD;
  return bits;
}

const ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

const insn = (code: number, dst: number, src: number, off: number, imm: number): BpfInsn => ({
  code,
  dst,
  src,
  off,
  imm,
});
const ldxw = (dst: number, src: number, off: number): BpfInsn =>
  insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
const alu32Imm = (op: number, dst: number, imm: number): BpfInsn =>
  insn(BPF_ALU | BPF_K | op, dst, 0, 0, imm | 0);
const mov32Reg = (dst: number, src: number): BpfInsn =>
  insn(BPF_ALU | BPF_X | BPF_MOV, dst, src, 0, 0);
/** A jump whose target is a label resolved later. */
interface PendingJump {
  at: number;
  label: "next" | "end";
}

/**
 * Compiles `rules` (normalised, in spec order) into eBPF instructions.
 * @returns the program; it always ends in an exit and has no unreachable instructions.
 */
export function compileDeviceFilter(rules: readonly DeviceRule[]): BpfInsn[] {
  const out: BpfInsn[] = [
    // r2 = ctx->access_type & 0xffff (device type)
    ldxw(R2, R1, 0),
    alu32Imm(BPF_AND, R2, 0xffff),
    // r3 = ctx->access_type >> 16 (access bits)
    ldxw(R3, R1, 0),
    alu32Imm(BPF_RSH, R3, 16),
    // r4 = ctx->major, r5 = ctx->minor
    ldxw(R4, R1, 4),
    ldxw(R5, R1, 8),
  ];
  const endJumps: number[] = [];
  // An empty request is denied (the kernel never sends one).
  endJumps.push(out.length);
  out.push(insn(BPF_JMP | BPF_K | BPF_JEQ, R3, 0, 0, 0));
  let terminated = false;
  for (let i = rules.length - 1; i >= 0 && !terminated; i--) {
    const rule = rules[i];
    const bits = accessBits(rule.access);
    const nextJumps: PendingJump[] = [];
    const jumpToNext = (code: number, dst: number, imm: number): void => {
      nextJumps.push({ at: out.length, label: "next" });
      out.push(insn(code, dst, 0, 0, imm));
    };
    if (rule.type !== "a") {
      jumpToNext(
        BPF_JMP | BPF_K | BPF_JNE,
        R2,
        rule.type === "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK,
      );
    }
    if (rule.major >= 0) jumpToNext(BPF_JMP | BPF_K | BPF_JNE, R4, rule.major);
    if (rule.minor >= 0) jumpToNext(BPF_JMP | BPF_K | BPF_JNE, R5, rule.minor);
    const unconditional = nextJumps.length === 0 && bits === ALL_ACCESS;
    if (rule.allow) {
      if (!unconditional) {
        // r3 &= ~bits; if r3 != 0 the other bits are decided by earlier rules
        out.push(alu32Imm(BPF_AND, R3, ~bits));
        jumpToNext(BPF_JMP | BPF_K | BPF_JNE, R3, 0);
      }
      out.push(alu32Imm(BPF_MOV, R0, 1), insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    } else {
      if (!unconditional) {
        // if (r3 & bits) == 0 this rule says nothing about the bits still open
        out.push(mov32Reg(R1, R3), alu32Imm(BPF_AND, R1, bits));
        jumpToNext(BPF_JMP | BPF_K | BPF_JEQ, R1, 0);
      }
      out.push(alu32Imm(BPF_MOV, R0, 0), insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    }
    for (const jump of nextJumps) out[jump.at].off = offset(jump.at, out.length);
    // Everything emitted after an unconditional rule (earlier rules) could never run, and the
    // verifier rejects unreachable instructions.
    terminated = unconditional;
  }
  // Default deny; also the target of the empty-request guard, so it is always reachable.
  const end = out.length;
  out.push(alu32Imm(BPF_MOV, R0, 0), insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  for (const at of endJumps) out[at].off = offset(at, end);
  return out;
}

function offset(from: number, to: number): number {
  const off = to - (from + 1);
  if (off > 0x7fff) {
    throw new Error(
      `linux.resources.devices: too many rules for one eBPF program (jump of ${off})`,
    );
  }
  return off;
}

/** Encodes instructions as struct bpf_insn[] (8 bytes each, little-endian as on x86_64/aarch64). */
export function encodeBpf(program: readonly BpfInsn[]): Uint8Array {
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((ins, i) => {
    view.setUint8(i * 8, ins.code);
    view.setUint8(i * 8 + 1, (ins.dst & 0xf) | ((ins.src & 0xf) << 4));
    view.setInt16(i * 8 + 2, ins.off, true);
    view.setInt32(i * 8 + 4, ins.imm, true);
  });
  return bytes;
}

/** Decodes struct bpf_insn[] bytes. */
export function decodeBpf(bytes: Uint8Array): BpfInsn[] {
  if (bytes.byteLength % 8 !== 0) throw new TypeError(`eBPF program of ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: BpfInsn[] = [];
  for (let i = 0; i < bytes.byteLength; i += 8) {
    const regs = view.getUint8(i + 1);
    out.push({
      code: view.getUint8(i),
      dst: regs & 0xf,
      src: regs >> 4,
      off: view.getInt16(i + 2, true),
      imm: view.getInt32(i + 4, true),
    });
  }
  return out;
}
