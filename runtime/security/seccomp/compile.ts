/**
 * Compiles `linux.seccomp` into a classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER), with
 * no libseccomp. docs/seccomp.md explains the program layout; in short:
 *
 *   ld [arch]; jeq AUDIT_ARCH_<native> … (one jeq per listed architecture); ret <bad arch = KILL>
 *   per architecture: ld [nr]; a binary search over ranges of syscall numbers, whose leaves
 *   are `ret <action>` or, for rules with argument conditions, the conditions then `ret`.
 */
import type { Seccomp, SeccompAction, SeccompOperator } from "../../../spec/config.ts";
import { SECCOMP_FILTER_FLAGS } from "../../../ffi/seccomp.ts";
import { show, SpecError } from "../../../spec/errors.ts";
import { SECCOMP_FEATURES, SECCOMP_OPERATORS } from "./features.ts";
import {
  type ArchInfo,
  ARCHS,
  AUDIT_ARCH_X86_64,
  type NativeArch,
  nativeScmpArch,
  type SeccompArch,
  UNSUPPORTED_ARCHS,
  X32_SYSCALL_BIT,
} from "./archs.ts";
import {
  argHighOffset,
  argLowOffset,
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_MAXINSNS,
  BPF_RET,
  BPF_W,
  encodeFilter,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_DATA,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
  type SockFilter,
} from "./bpf.ts";

/** The action part of each runtime-spec action; ERRNO and TRACE add errnoRet in the low 16 bits. */
const ACTIONS: Readonly<Record<SeccompAction, number>> = {
  // libseccomp: SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD.
  SCMP_ACT_KILL: SECCOMP_RET_KILL_THREAD,
  SCMP_ACT_KILL_PROCESS: SECCOMP_RET_KILL_PROCESS,
  SCMP_ACT_KILL_THREAD: SECCOMP_RET_KILL_THREAD,
  SCMP_ACT_TRAP: SECCOMP_RET_TRAP,
  SCMP_ACT_ERRNO: SECCOMP_RET_ERRNO,
  SCMP_ACT_TRACE: SECCOMP_RET_TRACE,
  SCMP_ACT_ALLOW: SECCOMP_RET_ALLOW,
  SCMP_ACT_LOG: SECCOMP_RET_LOG,
  SCMP_ACT_NOTIFY: SECCOMP_RET_USER_NOTIF,
};

const OPERATORS: readonly SeccompOperator[] = SECCOMP_OPERATORS;

/** SECCOMP_FILTER_FLAG_* values (linux/seccomp.h), shared with the loader. */
export { SECCOMP_FILTER_FLAGS };

/** What the compiler supports (features.ts, which `skiff features` loads without the compiler). */
export { SECCOMP_FEATURES };

/** Options of compileSeccomp(). */
export interface CompileOptions {
  /** The machine the filter is for; its architecture is always in the filter. Default: Deno.build.arch. */
  arch?: NativeArch;
  /** Called for each syscall name that one architecture does not have; the rule skips it there. */
  onUnknownSyscall?: (name: string, arch: SeccompArch) => void;
  /**
   * Return ENOSYS for syscall numbers above the highest one the profile names (per architecture),
   * unless the default action allows (ALLOW, LOG, TRACE): runc's patchbpf does this so that new
   * syscalls fail like on an older kernel and libc falls back. Default: true.
   */
  enosysForNewerSyscalls?: boolean;
}

/** A compiled filter: the program and the flags for seccomp(SECCOMP_SET_MODE_FILTER). */
export interface CompiledFilter {
  /** The classic BPF program. */
  readonly instructions: readonly SockFilter[];
  /** SECCOMP_FILTER_FLAG_* bits to pass to seccomp(2). */
  readonly flags: number;
  /** The names of the bits in `flags`. */
  readonly flagNames: readonly string[];
  /** Whether `flags` asks for a user-notification listener fd (SECCOMP_FILTER_FLAG_NEW_LISTENER). */
  readonly newListener: boolean;
  /** The architectures the filter accepts, native first. */
  readonly archs: readonly SeccompArch[];
  /** The program as an array of struct sock_filter (8 bytes each, little-endian). */
  bytes(): Uint8Array<ArrayBuffer>;
}

/** ENOSYS, for the runc-compatible "newer syscall" return. */
const ENOSYS = 38;
/** EPERM: runc's errno for ERRNO and TRACE without errnoRet. */
const EPERM = 1;

const U32 = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

interface Condition {
  index: number;
  op: SeccompOperator;
  value: bigint;
  valueTwo: bigint;
}

interface Rule {
  ret: number;
  conditions: Condition[];
}

type Target =
  | { kind: "ret"; ret: number }
  | { kind: "rules"; rules: Rule[]; fallback: number };

interface Segment {
  lo: number;
  hi: number;
  target: Target;
}

interface ParsedRule {
  names: string[];
  ret: number;
  conditions: Condition[];
}

/** What one architecture's syscall numbers lead to. */
interface AbiPlan {
  info: ArchInfo;
  points: Map<number, Target>;
  /** The highest syscall number the profile names on this architecture. */
  highest: number | undefined;
}

const SECCOMP_PATH = "linux.seccomp";

/**
 * Compiles `seccomp` into a classic BPF program and the flags to load it with.
 * @param seccomp the `linux.seccomp` object of config.json.
 * @param options the machine architecture, a reporter for unknown syscall names.
 * @returns the program (≤ 4096 instructions) and seccomp(2) flags; throws SpecError on bad input.
 */
export function compileSeccomp(seccomp: Seccomp, options: CompileOptions = {}): CompiledFilter {
  if (typeof seccomp !== "object" || seccomp === null) {
    throw new SpecError(SECCOMP_PATH, `must be an object: current value is ${show(seccomp)}`);
  }
  const native = options.arch ?? (Deno.build.arch as NativeArch);
  const defaultRet = actionValue(
    seccomp.defaultAction,
    seccomp.defaultErrnoRet,
    `${SECCOMP_PATH}.defaultAction`,
    `${SECCOMP_PATH}.defaultErrnoRet`,
  );
  if (seccomp.defaultAction === "SCMP_ACT_NOTIFY") {
    // As runc: the process could not even report its listener fd once every syscall is notified.
    throw new SpecError(
      `${SECCOMP_PATH}.defaultAction`,
      "SCMP_ACT_NOTIFY cannot be the default action",
    );
  }
  const archs = parseArchs(seccomp.architectures, native);
  const rules = parseRules(seccomp.syscalls);
  const { flags, flagNames } = parseFlags(seccomp, rules);

  const allowsByDefault = ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"].includes(
    seccomp.defaultAction,
  );
  const enosys = options.enosysForNewerSyscalls !== false && !allowsByDefault;
  // runc's patchbpf builds its ENOSYS stub only for the architectures the profile lists: the
  // native one that libseccomp adds on its own gets none (a profile without `architectures`
  // has no stub at all).
  const listed = new Set(Array.isArray(seccomp.architectures) ? seccomp.architectures : []);
  const plans = new Map<SeccompArch, AbiPlan>();
  for (const info of archs) {
    const plan = planAbi(info, rules, defaultRet, options.onUnknownSyscall);
    // runc skips the stub where the highest number is 0 (a profile naming only read on x86_64).
    if (!listed.has(info.scmpName) || plan.highest === 0) plan.highest = undefined;
    plans.set(info.arch, plan);
  }

  const asm = new Assembler();
  asm.ld(SECCOMP_DATA_ARCH);
  const blocks: Array<{ auditArch: number; label: Label; segments: Segment[] }> = [];
  for (const info of archs) {
    if (blocks.some((b) => b.auditArch === info.auditArch)) continue;
    const segments = info.auditArch === AUDIT_ARCH_X86_64
      ? x86_64Segments(plans.get("x86_64"), plans.get("x32"), defaultRet, enosys)
      : fill(0, U32, plans.get(info.arch), defaultRet, enosys);
    const label = asm.label();
    blocks.push({ auditArch: info.auditArch, label, segments: merge(segments) });
    const next = asm.label();
    asm.jump(BPF_JEQ, info.auditArch, label, next);
    asm.place(next);
  }
  // libseccomp's default "bad arch" action: SCMP_ACT_KILL (kill the thread).
  asm.ret(SECCOMP_RET_KILL_THREAD);
  for (const block of blocks) {
    asm.place(block.label);
    asm.ld(SECCOMP_DATA_NR);
    emitSearch(asm, block.segments, 0, block.segments.length, archOf(block.auditArch, archs));
  }
  const instructions = asm.assemble();
  if (instructions.length > BPF_MAXINSNS) {
    throw new SpecError(
      SECCOMP_PATH,
      `the profile compiles to ${instructions.length} BPF instructions, more than the kernel's limit of ${BPF_MAXINSNS}`,
    );
  }
  return {
    instructions,
    flags,
    flagNames,
    newListener: (flags & SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_NEW_LISTENER) !== 0,
    archs: archs.map((a) => a.arch),
    bytes: () => encodeFilter(instructions),
  };
}

/** The width used for argument comparisons in one audit-arch block (x86_64 and x32 are both 64). */
function archOf(auditArch: number, archs: ArchInfo[]): ArchInfo {
  return archs.find((a) => a.auditArch === auditArch)!;
}

function actionValue(
  action: unknown,
  errnoRet: unknown,
  actionPath: string,
  errnoPath: string,
): number {
  if (typeof action !== "string" || !Object.hasOwn(ACTIONS, action)) {
    throw new SpecError(
      actionPath,
      `${show(action)} is not one of ${Object.keys(ACTIONS).join(", ")}`,
    );
  }
  const base = ACTIONS[action as SeccompAction];
  if (action !== "SCMP_ACT_ERRNO" && action !== "SCMP_ACT_TRACE") return base;
  if (errnoRet === undefined || errnoRet === null) return (base | EPERM) >>> 0;
  if (typeof errnoRet !== "number" || !Number.isInteger(errnoRet) || errnoRet < 0) {
    throw new SpecError(
      errnoPath,
      `must be a non-negative integer: current value is ${show(errnoRet)}`,
    );
  }
  if (errnoRet > SECCOMP_RET_DATA) {
    throw new SpecError(
      errnoPath,
      `must fit SECCOMP_RET_DATA (at most ${SECCOMP_RET_DATA}): current value is ${errnoRet}`,
    );
  }
  return (base | errnoRet) >>> 0;
}

function parseArchs(architectures: unknown, native: NativeArch): ArchInfo[] {
  const path = `${SECCOMP_PATH}.architectures`;
  const names = [nativeScmpArch(native)];
  if (architectures !== undefined && architectures !== null) {
    if (!Array.isArray(architectures)) {
      throw new SpecError(path, `must be an array: current value is ${show(architectures)}`);
    }
    architectures.forEach((name: unknown, i: number) => {
      if (typeof name === "string" && Object.hasOwn(ARCHS, name)) {
        if (!names.includes(name)) names.push(name);
        return;
      }
      const supported = Object.keys(ARCHS).join(", ");
      if (typeof name === "string" && UNSUPPORTED_ARCHS.includes(name)) {
        throw new SpecError(
          `${path}[${i}]`,
          `"${name}" is not supported by Skiff's seccomp compiler (supported: ${supported})`,
        );
      }
      throw new SpecError(`${path}[${i}]`, `${show(name)} is not one of ${supported}`);
    });
  }
  return names.map((name) => ARCHS[name]);
}

function parseRules(syscalls: unknown): ParsedRule[] {
  if (syscalls === undefined || syscalls === null) return [];
  const path = `${SECCOMP_PATH}.syscalls`;
  if (!Array.isArray(syscalls)) {
    throw new SpecError(path, `must be an array: current value is ${show(syscalls)}`);
  }
  return syscalls.map((raw: unknown, i: number): ParsedRule => {
    const at = `${path}[${i}]`;
    if (typeof raw !== "object" || raw === null) {
      throw new SpecError(at, `must be an object: current value is ${show(raw)}`);
    }
    const rule = raw as Record<string, unknown>;
    if (!Array.isArray(rule.names)) {
      throw new SpecError(
        `${at}.names`,
        `must be an array of strings: current value is ${show(rule.names)}`,
      );
    }
    rule.names.forEach((name: unknown, j: number) => {
      if (typeof name !== "string" || name === "") {
        throw new SpecError(
          `${at}.names[${j}]`,
          `must be a syscall name: current value is ${show(name)}`,
        );
      }
    });
    const ret = actionValue(rule.action, rule.errnoRet, `${at}.action`, `${at}.errnoRet`);
    const args = rule.args ?? [];
    if (!Array.isArray(args)) {
      throw new SpecError(`${at}.args`, `must be an array: current value is ${show(args)}`);
    }
    const conditions = args.map((arg: unknown, j: number) =>
      parseCondition(arg, `${at}.args[${j}]`)
    );
    return { names: rule.names as string[], ret, conditions };
  });
}

function parseCondition(raw: unknown, at: string): Condition {
  if (typeof raw !== "object" || raw === null) {
    throw new SpecError(at, `must be an object: current value is ${show(raw)}`);
  }
  const arg = raw as Record<string, unknown>;
  if (
    typeof arg.index !== "number" || !Number.isInteger(arg.index) || arg.index < 0 || arg.index > 5
  ) {
    throw new SpecError(
      `${at}.index`,
      `must be an integer from 0 to 5: current value is ${show(arg.index)}`,
    );
  }
  if (typeof arg.op !== "string" || !OPERATORS.includes(arg.op as SeccompOperator)) {
    throw new SpecError(`${at}.op`, `${show(arg.op)} is not one of ${OPERATORS.join(", ")}`);
  }
  return {
    index: arg.index,
    op: arg.op as SeccompOperator,
    value: u64(arg.value, `${at}.value`, true),
    valueTwo: u64(arg.valueTwo, `${at}.valueTwo`, false),
  };
}

/** A 64-bit argument value; JSON numbers above 2^53 arrive rounded, 2^64 is read as 2^64 - 1. */
function u64(value: unknown, path: string, required: boolean): bigint {
  if (value === undefined || value === null) {
    if (required) throw new SpecError(path, "is required");
    return 0n;
  }
  if (typeof value === "bigint") {
    if (value >= 0n && value <= U64_MAX) return value;
  } else if (typeof value === "number" && Number.isInteger(value) && value >= 0) {
    const big = BigInt(value);
    return big > U64_MAX ? U64_MAX : big;
  }
  throw new SpecError(path, `must be an unsigned 64-bit integer: current value is ${show(value)}`);
}

function parseFlags(seccomp: Seccomp, rules: ParsedRule[]): { flags: number; flagNames: string[] } {
  const path = `${SECCOMP_PATH}.flags`;
  let flags = 0;
  const raw: unknown = seccomp.flags ?? [];
  if (!Array.isArray(raw)) {
    throw new SpecError(path, `must be an array: current value is ${show(raw)}`);
  }
  raw.forEach((name: unknown, i: number) => {
    if (typeof name !== "string" || !Object.hasOwn(SECCOMP_FILTER_FLAGS, name)) {
      throw new SpecError(
        `${path}[${i}]`,
        `${show(name)} is not one of ${Object.keys(SECCOMP_FILTER_FLAGS).join(", ")}`,
      );
    }
    flags |= SECCOMP_FILTER_FLAGS[name];
  });
  const F = SECCOMP_FILTER_FLAGS;
  const notify = rules.some((r) => (r.ret & 0xffff0000) === SECCOMP_RET_USER_NOTIF);
  if (notify || (typeof seccomp.listenerPath === "string" && seccomp.listenerPath !== "")) {
    flags |= F.SECCOMP_FILTER_FLAG_NEW_LISTENER;
  }
  if ((flags & F.SECCOMP_FILTER_FLAG_NEW_LISTENER) === 0) {
    // seccomp(2) rejects WAIT_KILLABLE_RECV without a listener (EINVAL); it has no meaning there.
    flags &= ~F.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  } else if (flags & F.SECCOMP_FILTER_FLAG_TSYNC) {
    // seccomp(2): TSYNC with NEW_LISTENER is EINVAL unless TSYNC_ESRCH says how to report a failed sync.
    flags |= F.SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  }
  const flagNames = Object.entries(F).filter(([, bit]) => flags & bit).map(([name]) => name);
  return { flags, flagNames };
}

/**
 * Decides what each syscall number of one architecture leads to. Semantics follow runc +
 * libseccomp: rules whose action equals the default are dropped (runc skips them), an
 * unconditional rule for a syscall overrides every conditional rule for it (the first
 * unconditional one wins), and conditional rules are tried in profile order, the first whose
 * conditions all hold deciding (libseccomp orders its tree by argument instead; the two agree
 * unless rules with different actions overlap).
 */
function planAbi(
  info: ArchInfo,
  rules: ParsedRule[],
  defaultRet: number,
  onUnknown: CompileOptions["onUnknownSyscall"],
): AbiPlan {
  const unconditional = new Map<number, number>();
  const conditional = new Map<number, Rule[]>();
  const reported = new Set<string>();
  let highest: number | undefined;
  for (const rule of rules) {
    for (const name of rule.names) {
      if (!Object.hasOwn(info.syscalls, name)) {
        if (!reported.has(name)) onUnknown?.(name, info.arch);
        reported.add(name);
        continue;
      }
      const nr = info.syscalls[name];
      if (highest === undefined || nr > highest) highest = nr;
      if (rule.ret === defaultRet) continue;
      if (rule.conditions.length === 0) {
        if (!unconditional.has(nr)) unconditional.set(nr, rule.ret);
        continue;
      }
      const list = conditional.get(nr) ?? [];
      list.push({ ret: rule.ret, conditions: rule.conditions });
      conditional.set(nr, list);
    }
  }
  const points = new Map<number, Target>();
  for (const [nr, ret] of unconditional) points.set(nr, { kind: "ret", ret });
  for (const [nr, list] of conditional) {
    if (!points.has(nr)) points.set(nr, { kind: "rules", rules: list, fallback: defaultRet });
  }
  return { info, points, highest };
}

/** Segments covering lo..hi for one architecture's numbers; a missing architecture is "bad arch". */
function fill(
  lo: number,
  hi: number,
  plan: AbiPlan | undefined,
  defaultRet: number,
  enosys: boolean,
): Segment[] {
  if (plan === undefined) {
    return [{ lo, hi, target: { kind: "ret", ret: SECCOMP_RET_KILL_THREAD } }];
  }
  const enosysRet = (SECCOMP_RET_ERRNO | ENOSYS) >>> 0;
  const gapRet = (nr: number): number =>
    enosys && plan.highest !== undefined && nr > plan.highest ? enosysRet : defaultRet;
  const segments: Segment[] = [];
  const gap = (from: number, to: number): void => {
    if (from > to) return;
    // A gap may straddle the highest named syscall: split it there.
    const split = plan.highest !== undefined && enosys ? plan.highest + 1 : undefined;
    if (split !== undefined && from < split && split <= to) {
      segments.push({ lo: from, hi: split - 1, target: { kind: "ret", ret: gapRet(from) } });
      segments.push({ lo: split, hi: to, target: { kind: "ret", ret: gapRet(split) } });
    } else {
      segments.push({ lo: from, hi: to, target: { kind: "ret", ret: gapRet(from) } });
    }
  };
  let next = lo;
  const numbers = [...plan.points.keys()].filter((nr) => nr >= lo && nr <= hi).sort((a, b) =>
    a - b
  );
  for (const nr of numbers) {
    gap(next, nr - 1);
    segments.push({ lo: nr, hi: nr, target: plan.points.get(nr)! });
    next = nr + 1;
  }
  gap(next, hi);
  return segments;
}

/**
 * x86_64 and x32 share AUDIT_ARCH_X86_64; x32 numbers carry X32_SYSCALL_BIT. As libseccomp does,
 * an x32 number on a filter without SCMP_ARCH_X32 (and an x86_64 number on one without
 * SCMP_ARCH_X86_64) gets the bad-arch action, except nr == -1 (0xffffffff), which tracers use to
 * skip a syscall and seccomp sees again since Linux 4.8: it gets the default action. runc's ENOSYS
 * stub sees -1 as an x32 number above the profile's highest, so with an x32 stub it is ENOSYS.
 */
function x86_64Segments(
  x86_64: AbiPlan | undefined,
  x32: AbiPlan | undefined,
  defaultRet: number,
  enosys: boolean,
): Segment[] {
  const low = fill(0, X32_SYSCALL_BIT - 1, x86_64, defaultRet, enosys);
  if (x32 === undefined) {
    return [
      ...low,
      ...fill(X32_SYSCALL_BIT, U32 - 1, x32, defaultRet, enosys),
      { lo: U32, hi: U32, target: { kind: "ret", ret: defaultRet } },
    ];
  }
  return [...low, ...fill(X32_SYSCALL_BIT, U32, x32, defaultRet, enosys)];
}

/** Joins neighbouring segments that return the same value, so runs of allowed syscalls collapse. */
function merge(segments: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const seg of segments) {
    const last = out.at(-1);
    if (
      last && last.target.kind === "ret" && seg.target.kind === "ret" &&
      last.target.ret === seg.target.ret && last.hi + 1 === seg.lo
    ) {
      last.hi = seg.hi;
    } else {
      out.push({ ...seg });
    }
  }
  return out;
}

/** Emits a binary search over segments[start, end): each node is one `jge`, each leaf a `ret` or rules. */
function emitSearch(
  asm: Assembler,
  segments: Segment[],
  start: number,
  end: number,
  arch: ArchInfo,
): void {
  if (end - start === 1) {
    const target = segments[start].target;
    if (target.kind === "ret") asm.ret(target.ret);
    else emitRules(asm, target.rules, target.fallback, arch);
    return;
  }
  const mid = start + Math.ceil((end - start) / 2);
  const left = asm.label();
  const right = asm.label();
  asm.jump(BPF_JGE, segments[mid].lo, right, left);
  asm.place(left);
  emitSearch(asm, segments, start, mid, arch);
  asm.place(right);
  emitSearch(asm, segments, mid, end, arch);
}

/** Rules for one syscall: each rule's conditions ANDed, rules tried in order, then `fallback`. */
function emitRules(asm: Assembler, rules: Rule[], fallback: number, arch: ArchInfo): void {
  for (const rule of rules) {
    const nextRule = asm.label();
    for (const condition of rule.conditions) {
      const pass = asm.label();
      emitCondition(asm, condition, arch.is64Bit, pass, nextRule);
      asm.place(pass);
    }
    asm.ret(rule.ret);
    asm.place(nextRule);
  }
  asm.ret(fallback);
}

/**
 * Jumps to `pass` when the condition holds, else to `fail`. Arguments are 64-bit: the high words
 * decide unless equal, then the low words (unsigned, as libseccomp compares). On 32-bit
 * architectures only the low word exists and the value is truncated to it, as libseccomp does.
 */
function emitCondition(
  asm: Assembler,
  c: Condition,
  is64Bit: boolean,
  pass: Label,
  fail: Label,
): void {
  const hi = Number(c.value >> 32n) >>> 0;
  const lo = Number(c.value & 0xffffffffn) >>> 0;
  const loOff = argLowOffset(c.index);
  const hiOff = argHighOffset(c.index);
  if (c.op === "SCMP_CMP_MASKED_EQ") {
    const maskHi = hi;
    const maskLo = lo;
    const dataHi = Number(c.valueTwo >> 32n) >>> 0;
    const dataLo = Number(c.valueTwo & 0xffffffffn) >>> 0;
    if (is64Bit) maskedWord(asm, hiOff, maskHi, dataHi, undefined, fail);
    maskedWord(asm, loOff, maskLo, dataLo, pass, fail);
    return;
  }
  if (is64Bit) {
    const low = asm.label();
    asm.ld(hiOff);
    switch (c.op) {
      case "SCMP_CMP_EQ":
        asm.jump(BPF_JEQ, hi, low, fail);
        break;
      case "SCMP_CMP_NE":
        asm.jump(BPF_JEQ, hi, low, pass);
        break;
      case "SCMP_CMP_GT":
      case "SCMP_CMP_GE":
        // A > hi: holds; A == hi: look at the low word; A < hi: fails.
        upperWord(asm, hi, pass, fail, low);
        break;
      case "SCMP_CMP_LT":
      case "SCMP_CMP_LE":
        upperWord(asm, hi, fail, pass, low);
        break;
    }
    asm.place(low);
  }
  asm.ld(loOff);
  switch (c.op) {
    case "SCMP_CMP_EQ":
      asm.jump(BPF_JEQ, lo, pass, fail);
      break;
    case "SCMP_CMP_NE":
      asm.jump(BPF_JEQ, lo, fail, pass);
      break;
    case "SCMP_CMP_GT":
      asm.jump(BPF_JGT, lo, pass, fail);
      break;
    case "SCMP_CMP_GE":
      asm.jump(BPF_JGE, lo, pass, fail);
      break;
    case "SCMP_CMP_LT":
      asm.jump(BPF_JGE, lo, fail, pass);
      break;
    case "SCMP_CMP_LE":
      asm.jump(BPF_JGT, lo, fail, pass);
      break;
  }
}

/** With the high word in A: A > hi → `above`; A < hi → `below`; A == hi → `equal`. */
function upperWord(asm: Assembler, hi: number, above: Label, below: Label, equal: Label): void {
  if (hi === 0) {
    // Not above 0 means equal to 0.
    asm.jump(BPF_JGT, hi, above, equal);
    return;
  }
  const notAbove = asm.label();
  asm.jump(BPF_JGT, hi, above, notAbove);
  asm.place(notAbove);
  asm.jump(BPF_JEQ, hi, equal, below);
}

/** (word & mask) == data; jumps to `fail` if not, else to `pass` or falls through (pass undefined). */
function maskedWord(
  asm: Assembler,
  offset: number,
  mask: number,
  data: number,
  pass: Label | undefined,
  fail: Label,
): void {
  const onPass = pass ?? asm.label();
  if ((data & ~mask) >>> 0 !== 0) {
    // Bits outside the mask can never equal: the rule cannot match.
    asm.ja(fail);
  } else if (mask === 0) {
    if (pass) asm.ja(pass);
  } else {
    asm.ld(offset);
    if (mask !== U32) asm.and(mask);
    asm.jump(BPF_JEQ, data, onPass, fail);
  }
  if (!pass) asm.place(onPass);
}

/** A jump target; resolved to an instruction index when the program is assembled. */
interface Label {
  readonly id: number;
}

type Item =
  | { kind: "insn"; code: number; k: number; jt?: Label; jf?: Label }
  | { kind: "label"; label: Label };

/**
 * Collects instructions with symbolic forward jumps, then lays them out. Conditional jumps reach
 * at most 255 instructions (jt/jf are 8-bit); a farther target gets a trampoline, `ja` with a
 * 32-bit offset, inserted right after the jump, and layout repeats until every jump fits.
 */
class Assembler {
  #items: Item[] = [];
  #labels = 0;

  label(): Label {
    return { id: this.#labels++ };
  }

  place(label: Label): void {
    this.#items.push({ kind: "label", label });
  }

  ld(offset: number): void {
    this.#items.push({ kind: "insn", code: BPF_LD | BPF_W | BPF_ABS, k: offset });
  }

  and(k: number): void {
    this.#items.push({ kind: "insn", code: BPF_ALU | BPF_AND | BPF_K, k: k >>> 0 });
  }

  ret(k: number): void {
    this.#items.push({ kind: "insn", code: BPF_RET | BPF_K, k: k >>> 0 });
  }

  jump(op: number, k: number, jt: Label, jf: Label): void {
    this.#items.push({ kind: "insn", code: BPF_JMP | op | BPF_K, k: k >>> 0, jt, jf });
  }

  ja(target: Label): void {
    this.#items.push({ kind: "insn", code: BPF_JMP | BPF_JA, k: 0, jt: target });
  }

  assemble(): SockFilter[] {
    for (;;) {
      const { positions, indexOf } = this.#layout();
      let changed = false;
      const items: Item[] = [];
      for (const item of this.#items) {
        items.push(item);
        if (item.kind !== "insn" || item.code === (BPF_JMP | BPF_JA) || !item.jt) continue;
        const pc = indexOf.get(item)!;
        const far = (label: Label | undefined): boolean =>
          label !== undefined && positions.get(label.id)! - pc - 1 > 255;
        for (const branch of ["jt", "jf"] as const) {
          const target = item[branch];
          if (!target || !far(target)) continue;
          const trampoline = this.label();
          items.push({ kind: "label", label: trampoline });
          items.push({ kind: "insn", code: BPF_JMP | BPF_JA, k: 0, jt: target });
          item[branch] = trampoline;
          changed = true;
        }
      }
      this.#items = items;
      if (!changed) return this.#encode(positions, indexOf);
    }
  }

  #layout(): { positions: Map<number, number>; indexOf: Map<Item, number> } {
    const positions = new Map<number, number>();
    const indexOf = new Map<Item, number>();
    let pc = 0;
    for (const item of this.#items) {
      if (item.kind === "label") positions.set(item.label.id, pc);
      else indexOf.set(item, pc++);
    }
    return { positions, indexOf };
  }

  #encode(positions: Map<number, number>, indexOf: Map<Item, number>): SockFilter[] {
    const out: SockFilter[] = [];
    for (const item of this.#items) {
      if (item.kind !== "insn") continue;
      const pc = indexOf.get(item)!;
      const offset = (label: Label): number => {
        const at = positions.get(label.id);
        if (at === undefined || at <= pc) throw new Error(`seccomp compiler: bad jump at ${pc}`);
        return at - pc - 1;
      };
      if (item.code === (BPF_JMP | BPF_JA)) {
        out.push({ code: item.code, jt: 0, jf: 0, k: offset(item.jt!) });
      } else if (item.jt && item.jf) {
        out.push({ code: item.code, jt: offset(item.jt), jf: offset(item.jf), k: item.k });
      } else {
        out.push({ code: item.code, jt: 0, jf: 0, k: item.k });
      }
    }
    return out;
  }
}
