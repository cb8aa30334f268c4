import {
  SYSCALLS_AARCH64,
  SYSCALLS_ARM,
  SYSCALLS_X32,
  SYSCALLS_X86,
  SYSCALLS_X86_64,
  type SyscallTable,
} from "./syscall_tables.ts";

/** The seccomp architectures Skiff compiles filters for. */
export type SeccompArch = "x86_64" | "x86" | "x32" | "aarch64" | "arm";

/** The machine architectures Skiff itself runs on (Deno.build.arch). */
export type NativeArch = "x86_64" | "aarch64";

// linux/audit.h: EM_* | __AUDIT_ARCH_64BIT (0x80000000) | __AUDIT_ARCH_LE (0x40000000).
/** AUDIT_ARCH_X86_64 (EM_X86_64 = 62, 64-bit, little-endian); x32 reports it too. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** AUDIT_ARCH_I386 (EM_386 = 3, little-endian). */
export const AUDIT_ARCH_I386 = 0x40000003;
/** AUDIT_ARCH_AARCH64 (EM_AARCH64 = 183, 64-bit, little-endian). */
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;
/** AUDIT_ARCH_ARM (EM_ARM = 40, little-endian). */
export const AUDIT_ARCH_ARM = 0x40000028;

/** arch/x86/include/uapi/asm/unistd.h: x32 system call numbers have this bit set. */
export const X32_SYSCALL_BIT = 0x40000000;

/** What the compiler needs to know about one seccomp architecture. */
export interface ArchInfo {
  /** Skiff's name, as in syscall_tables.ts. */
  arch: SeccompArch;
  /** The runtime-spec (libseccomp) name. */
  scmpName: string;
  /** The value the kernel puts in seccomp_data.arch. */
  auditArch: number;
  /** Whether system call arguments are 64 bits wide (else only the low 32 bits are compared). */
  is64Bit: boolean;
  /** System call name → number. */
  syscalls: SyscallTable;
}

/** The supported architectures by runtime-spec name. */
export const ARCHS: Readonly<Record<string, ArchInfo>> = {
  SCMP_ARCH_X86_64: {
    arch: "x86_64",
    scmpName: "SCMP_ARCH_X86_64",
    auditArch: AUDIT_ARCH_X86_64,
    is64Bit: true,
    syscalls: SYSCALLS_X86_64,
  },
  SCMP_ARCH_X86: {
    arch: "x86",
    scmpName: "SCMP_ARCH_X86",
    auditArch: AUDIT_ARCH_I386,
    is64Bit: false,
    syscalls: SYSCALLS_X86,
  },
  SCMP_ARCH_X32: {
    arch: "x32",
    scmpName: "SCMP_ARCH_X32",
    auditArch: AUDIT_ARCH_X86_64,
    // x32 passes 64-bit registers to the kernel, and libseccomp treats its arguments as 64-bit.
    is64Bit: true,
    syscalls: SYSCALLS_X32,
  },
  SCMP_ARCH_AARCH64: {
    arch: "aarch64",
    scmpName: "SCMP_ARCH_AARCH64",
    auditArch: AUDIT_ARCH_AARCH64,
    is64Bit: true,
    syscalls: SYSCALLS_AARCH64,
  },
  SCMP_ARCH_ARM: {
    arch: "arm",
    scmpName: "SCMP_ARCH_ARM",
    auditArch: AUDIT_ARCH_ARM,
    is64Bit: false,
    syscalls: SYSCALLS_ARM,
  },
};

/** Architectures libseccomp (and so the runtime-spec) knows but Skiff does not compile for. */
export const UNSUPPORTED_ARCHS: readonly string[] = [
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
];

/** Returns the runtime-spec name of a machine architecture, e.g. SCMP_ARCH_X86_64. */
export function nativeScmpArch(arch: NativeArch): string {
  return arch === "aarch64" ? "SCMP_ARCH_AARCH64" : "SCMP_ARCH_X86_64";
}
