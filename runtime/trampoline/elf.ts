/**
 * A minimal static ELF64 executable (System V gABI, "Program Header"): an ELF header, three
 * program headers and no sections. The file is laid out as
 *
 *   [ELF header][PT_LOAD code r-x][PT_LOAD data rw-][PT_GNU_STACK rw-][data][code]
 *
 * Each PT_LOAD maps its part of the file at a fixed address (ET_EXEC, not position independent):
 * code at CODE_BASE + file offset, data at DATA_BASE + file offset. Adding the file offset keeps
 * p_vaddr ≡ p_offset modulo any page size up to 2 MiB (aarch64 kernels may use 64 KiB pages), so
 * no padding is needed; the two mappings may share a file page, each with its own protection.
 * The data comes first so its addresses are known before the code that refers to them is written.
 */

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const PHDR_COUNT = 3;
/** Bytes before the data: the ELF header and the program headers. */
export const HEADERS_SIZE = EHDR_SIZE + PHDR_SIZE * PHDR_COUNT;

const CODE_BASE = 0x400000n;
const DATA_BASE = 0x600000n;
const SEGMENT_ALIGN = 0x10000n;

const PT_LOAD = 1;
const PT_GNU_STACK = 0x6474e551;
const PF_X = 1;
const PF_W = 2;
const PF_R = 4;
const ET_EXEC = 2;

/** The run-time address of byte `offset` of the data segment. */
export function dataAddress(offset: number): bigint {
  return DATA_BASE + BigInt(HEADERS_SIZE + offset);
}

/** Returns a static ELF64 little-endian executable for `machine` that starts at code[0]. */
export function buildElf(
  machine: number,
  code: Uint8Array,
  data: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const dataOffset = HEADERS_SIZE;
  const codeOffset = (dataOffset + data.length + 15) & ~15;
  const file = new Uint8Array(codeOffset + code.length);
  const view = new DataView(file.buffer);
  const entry = CODE_BASE + BigInt(codeOffset);

  // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE.
  file.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  view.setUint16(16, ET_EXEC, true);
  view.setUint16(18, machine, true);
  view.setUint32(20, 1, true); // e_version
  view.setBigUint64(24, entry, true);
  view.setBigUint64(32, BigInt(EHDR_SIZE), true); // e_phoff
  view.setBigUint64(40, 0n, true); // e_shoff: no sections
  view.setUint32(48, 0, true); // e_flags
  view.setUint16(52, EHDR_SIZE, true);
  view.setUint16(54, PHDR_SIZE, true);
  view.setUint16(56, PHDR_COUNT, true);
  view.setUint16(58, 0, true); // e_shentsize
  view.setUint16(60, 0, true); // e_shnum
  view.setUint16(62, 0, true); // e_shstrndx

  const programHeader = (
    index: number,
    type: number,
    flags: number,
    offset: number,
    base: bigint,
    size: number,
  ): void => {
    const at = EHDR_SIZE + index * PHDR_SIZE;
    view.setUint32(at, type, true);
    view.setUint32(at + 4, flags, true);
    view.setBigUint64(at + 8, BigInt(offset), true);
    view.setBigUint64(at + 16, base + BigInt(offset), true); // p_vaddr
    view.setBigUint64(at + 24, base + BigInt(offset), true); // p_paddr
    view.setBigUint64(at + 32, BigInt(size), true); // p_filesz
    view.setBigUint64(at + 40, BigInt(size), true); // p_memsz
    view.setBigUint64(at + 48, type === PT_LOAD ? SEGMENT_ALIGN : 16n, true);
  };
  // PT_LOAD entries in ascending p_vaddr order, as the gABI asks.
  programHeader(0, PT_LOAD, PF_R | PF_X, codeOffset, CODE_BASE, code.length);
  programHeader(1, PT_LOAD, PF_R | PF_W, dataOffset, DATA_BASE, data.length);
  // A non-executable stack, whatever the kernel's default for files without this header.
  programHeader(2, PT_GNU_STACK, PF_R | PF_W, 0, 0n, 0);

  file.set(data, dataOffset);
  file.set(code, codeOffset);
  return file;
}
