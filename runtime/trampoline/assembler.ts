/**
 * The few machine instructions a trampoline needs, as one interface that each architecture's
 * encoder (x86_64.ts, aarch64.ts) implements. program.ts writes the program once against it.
 *
 * Registers are named by role, not by hardware name, so the program does not know the ABI:
 * `nr` holds the system call number, `arg0`..`arg5` its arguments, `result` its return value.
 * `op` (the index of the op that runs, for the error record) and `saved` (an fd kept across a
 * call) are registers the kernel preserves across system calls on both architectures.
 */

/** A register by its role in the program. */
export type Register =
  | "nr"
  | "arg0"
  | "arg1"
  | "arg2"
  | "arg3"
  | "arg4"
  | "arg5"
  | "result"
  | "op"
  | "saved";

/** How `result` compares with a value, unsigned, for a conditional branch. */
export type Condition = "equal" | "notEqual" | "aboveOrEqual";

/** A position in the code; bound once, referenced any number of times before or after. */
export class Label {
  /** Code offset once bound. */
  offset: number | undefined = undefined;
  /** Where the label is referenced, for the encoder to patch in finish(). */
  readonly uses: { at: number; kind: string }[] = [];
  constructor(readonly name: string) {}
}

/** One architecture's encoder: each method appends one short instruction sequence. */
export interface Assembler {
  /** ELF e_machine of this architecture (EM_X86_64, EM_AARCH64). */
  readonly machine: number;
  /**
   * Loads a 64-bit constant (two's complement for negative values) into `reg`; a number must be a
   * safe integer (most are: syscall numbers, fds, flags), which spares a BigInt per argument.
   */
  loadImmediate(reg: Register, value: bigint | number): void;
  /** Copies `from` into `to`. */
  move(to: Register, from: Register): void;
  /** Traps into the kernel: system call `nr` with `arg0`..`arg5`, return value in `result`. */
  systemCall(): void;
  /** Jumps to `target` when `result` compared with `value` (unsigned) meets `condition`. */
  branchIf(condition: Condition, value: bigint, target: Label): void;
  /** Jumps to `target`. */
  jump(target: Label): void;
  /** result = -result. */
  negateResult(): void;
  /** Stores the low 32 bits of `reg` at the absolute address `address`. */
  store32(address: bigint, reg: Register): void;
  /** Loads the 32-bit value at the absolute address `address` into `result`, zero-extended. */
  load32(address: bigint): void;
  /** Copies the stack pointer into `reg` (at the entry point it holds the address of argc). */
  stackPointer(reg: Register): void;
  /** reg += value, for a value within ±IMMEDIATE_MAX. */
  addImmediate(reg: Register, value: number): void;
  /** Loads the 64-bit value at `base` + `offset` into `to` (offset: a multiple of 8 within ±OFFSET_MAX). */
  load64(to: Register, base: Register, offset: number): void;
  /** Stores `from` as a 64-bit value at `base` + `offset` (offset as for load64). */
  store64(base: Register, offset: number, from: Register): void;
  /**
   * Loads the byte at `base` + `offset` into `to`, zero-extended (offset: any integer within
   * -OFFSET_MAX-1..OFFSET_MAX): the launcher reads its arguments' characters with it.
   */
  load8(to: Register, base: Register, offset: number): void;
  /** Binds `label` to the current position. */
  bind(label: Label): void;
  /** Resolves every label reference and returns the code. */
  finish(): Uint8Array<ArrayBuffer>;
}

/** A growable little-endian byte buffer for the encoders. */
export class CodeBuffer {
  #bytes: Uint8Array<ArrayBuffer>;
  // One view for every write (a new DataView per u32/u64 was most of a build's allocations).
  #view: DataView<ArrayBuffer>;
  #length = 0;

  /** A buffer with room for `capacity` bytes before it first grows. */
  constructor(capacity = 256) {
    this.#bytes = new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** The number of bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends bytes. */
  bytes(...values: number[]): void {
    this.#reserve(values.length);
    for (const v of values) this.#bytes[this.#length++] = v & 0xff;
  }

  /** Appends a little-endian 32-bit value. */
  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value >>> 0, true);
    this.#length += 4;
  }

  /** Appends a little-endian 64-bit value (two's complement for negative ones). */
  u64(value: bigint | number): void {
    this.#reserve(8);
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
      // A safe integer as two halves: the high one is floor(value / 2^32), -1 for -2^32..-1.
      this.#view.setUint32(this.#length, value >>> 0, true);
      this.#view.setUint32(this.#length + 4, Math.floor(value / 0x100000000) >>> 0, true);
    } else {
      this.#view.setBigUint64(this.#length, BigInt.asUintN(64, value), true);
    }
    this.#length += 8;
  }

  /** Appends the bytes of `values`. */
  append(values: Uint8Array): void {
    this.#reserve(values.length);
    this.#bytes.set(values, this.#length);
    this.#length += values.length;
  }

  /** Appends `n` zero bytes. */
  zeros(n: number): void {
    this.#reserve(n);
    this.#bytes.fill(0, this.#length, this.#length + n);
    this.#length += n;
  }

  /** Appends zero bytes up to a multiple of `n`. */
  align(n: number): void {
    this.zeros((n - (this.#length % n)) % n);
  }

  /** Appends `s` as UTF-8 and a NUL. */
  utf8z(s: string, encoder: TextEncoder): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.#reserve(s.length * 3 + 1);
    this.#length += encoder.encodeInto(s, this.#bytes.subarray(this.#length)).written;
    this.#bytes[this.#length++] = 0;
  }

  /** Reads the 32-bit value at `offset`. */
  getU32(offset: number): number {
    return this.#view.getUint32(offset, true);
  }

  /** Overwrites the 32-bit value at `offset`. */
  setU32(offset: number, value: number): void {
    this.#view.setUint32(offset, value >>> 0, true);
  }

  /** A copy of the bytes written. */
  result(): Uint8Array<ArrayBuffer> {
    return this.#bytes.slice(0, this.#length);
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#bytes.length) return;
    const next = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + n));
    next.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = next;
    this.#view = new DataView(next.buffer);
  }
}

/** The largest |value| of addImmediate: aarch64's ADD/SUB immediate has 12 bits. */
export const IMMEDIATE_MAX = 4095;
/** The offsets of load64/store64 lie in -OFFSET_MAX-1..OFFSET_MAX: aarch64's LDUR/STUR have 9 signed bits. */
export const OFFSET_MAX = 255;

/** Throws unless `value` fits addImmediate. */
export function checkImmediate(value: number): void {
  if (!Number.isInteger(value) || Math.abs(value) > IMMEDIATE_MAX) {
    throw new RangeError(
      `trampoline addImmediate: ${value} is not an integer within ±${IMMEDIATE_MAX}`,
    );
  }
}

/** Throws unless `offset` fits load64/store64. */
export function checkOffset(offset: number): void {
  if (
    !Number.isInteger(offset) || offset % 8 !== 0 || offset < -OFFSET_MAX - 1 || offset > OFFSET_MAX
  ) {
    throw new RangeError(
      `trampoline load64/store64: offset ${offset} is not a multiple of 8 from ${
        -OFFSET_MAX - 1
      } to ${OFFSET_MAX}`,
    );
  }
}

/** Throws unless `offset` fits load8 (aarch64's LDURB has the 9 signed bits of LDUR, unscaled). */
export function checkByteOffset(offset: number): void {
  if (!Number.isInteger(offset) || offset < -OFFSET_MAX - 1 || offset > OFFSET_MAX) {
    throw new RangeError(
      `trampoline load8: offset ${offset} is not an integer from ${
        -OFFSET_MAX - 1
      } to ${OFFSET_MAX}`,
    );
  }
}

/** Throws when a label was referenced but never bound. */
export function boundOffset(label: Label): number {
  if (label.offset === undefined) throw new Error(`trampoline label ${label.name} is never bound`);
  return label.offset;
}
