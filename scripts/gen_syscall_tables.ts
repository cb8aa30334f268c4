/**
 * Generates runtime/security/seccomp/syscall_tables.ts: system call name → number, per seccomp
 * architecture (x86_64, x86, x32, aarch64, arm EABI). The output is committed; run this again only
 * to follow a newer kernel:
 *
 *   apt-get install -y gcc linux-libc-dev linux-libc-dev-arm64-cross linux-libc-dev-armhf-cross
 *   deno run -A scripts/gen_syscall_tables.ts
 *
 * Source of truth: the kernel's UAPI headers, which the kernel build generates from its syscall
 * tables (arch/x86/entry/syscalls/syscall_{64,32}.tbl, arch/arm/tools/syscall.tbl and, for arm64,
 * include/uapi/asm-generic/unistd.h / scripts/syscall.tbl). `cpp -dM` expands the headers with the
 * same defines the kernel's own arch header sets (e.g. __ARCH_WANT_RENAMEAT on arm64, __ARM_EABI__),
 * and this script folds the `__NR_x (__NR_SYSCALL_BASE + n)` style macros itself.
 *
 * Debian bookworm ships Linux 6.1 headers, so the calls added in 6.2 .. 6.18 are appended from
 * NEWER_SYSCALLS below, transcribed from the kernel's syscall tables (Linux 6.18, `listns` = 470).
 */

const OUTPUT = new URL("../runtime/security/seccomp/syscall_tables.ts", import.meta.url);

/** The bit that marks an x32 system call number (arch/x86/include/uapi/asm/unistd.h). */
const X32_SYSCALL_BIT = 0x40000000;

interface HeaderSource {
  /** Seccomp arch name as used by runtime/security/seccomp (x86_64, x86, x32, aarch64, arm). */
  arch: "x86_64" | "x86" | "x32" | "aarch64" | "arm";
  /** The header to expand. */
  header: string;
  /** Include directory for `cpp -I`. */
  include: string;
  /** Extra `-D` defines, as the kernel's arch headers or the compiler would set them. */
  defines: string[];
  /** The macro prefixes that name system calls, and the prefix a name gets in the table. */
  prefixes: Array<[string, string]>;
}

const SOURCES: HeaderSource[] = [
  {
    arch: "x86_64",
    header: "asm/unistd_64.h",
    include: "/usr/include/x86_64-linux-gnu",
    defines: [],
    prefixes: [["__NR_", ""]],
  },
  {
    arch: "x86",
    header: "asm/unistd_32.h",
    include: "/usr/include/x86_64-linux-gnu",
    defines: [],
    prefixes: [["__NR_", ""]],
  },
  {
    arch: "x32",
    header: "asm/unistd_x32.h",
    include: "/usr/include/x86_64-linux-gnu",
    defines: [`__X32_SYSCALL_BIT=${X32_SYSCALL_BIT}`],
    prefixes: [["__NR_", ""]],
  },
  {
    arch: "aarch64",
    header: "asm/unistd.h",
    include: "/usr/aarch64-linux-gnu/include",
    defines: ["__aarch64__"],
    prefixes: [["__NR_", ""]],
  },
  {
    arch: "arm",
    header: "asm/unistd.h",
    include: "/usr/arm-linux-gnueabihf/include",
    // EABI numbering; the ARM private calls (__ARM_NR_*) keep their kernel names, as libseccomp does.
    defines: ["__ARM_EABI__", "__arm__"],
    prefixes: [["__NR_", ""], ["__ARM_NR_", ""]],
  },
];

/** Macros that share the __NR_ prefix but are not system calls. */
const NOT_SYSCALLS = new Set(["syscalls", "SYSCALL_BASE", "OABI_SYSCALL_BASE", "BASE"]);

/**
 * Calls added after Linux 6.1, from the kernel's syscall tables up to Linux 6.18. Numbers from 424
 * on are shared by every architecture (x32 adds X32_SYSCALL_BIT); "only" limits a call to the
 * tables that list it: map_shadow_stack is "64" in syscall_64.tbl (not x32) and in the generic
 * table, uretprobe is x86_64 "common" (x86_64 and x32).
 */
const NEWER_SYSCALLS: Array<{ nr: number; name: string; only?: HeaderSource["arch"][] }> = [
  { nr: 335, name: "uretprobe", only: ["x86_64", "x32"] },
  { nr: 451, name: "cachestat" },
  { nr: 452, name: "fchmodat2" },
  { nr: 453, name: "map_shadow_stack", only: ["x86_64", "aarch64"] },
  { nr: 454, name: "futex_wake" },
  { nr: 455, name: "futex_wait" },
  { nr: 456, name: "futex_requeue" },
  { nr: 457, name: "statmount" },
  { nr: 458, name: "listmount" },
  { nr: 459, name: "lsm_get_self_attr" },
  { nr: 460, name: "lsm_set_self_attr" },
  { nr: 461, name: "lsm_list_modules" },
  { nr: 462, name: "mseal" },
  { nr: 463, name: "setxattrat" },
  { nr: 464, name: "getxattrat" },
  { nr: 465, name: "listxattrat" },
  { nr: 466, name: "removexattrat" },
  { nr: 467, name: "open_tree_attr" },
  { nr: 468, name: "file_getattr" },
  { nr: 469, name: "file_setattr" },
  { nr: 470, name: "listns" },
];

async function macros(source: HeaderSource): Promise<Map<string, string>> {
  const args = ["-dM", "-nostdinc", "-I", source.include, ...source.defines.map((d) => `-D${d}`)];
  const command = new Deno.Command("cpp", {
    args: [...args, "-"],
    stdin: "piped",
    stdout: "piped",
  });
  const child = command.spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`#include <${source.header}>\n`));
  await writer.close();
  const { code, stdout } = await child.output();
  if (code !== 0) throw new Error(`cpp failed for ${source.include}/${source.header}`);
  const map = new Map<string, string>();
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const match = /^#define (\w+) (.*)$/.exec(line);
    if (match) map.set(match[1], match[2].trim());
  }
  return map;
}

/** Evaluates `(A + 12)`, `(__NR_SYSCALL_BASE+0x0f0000)` or `__NR3264_fcntl` against `defs`. */
function evaluate(expr: string, defs: Map<string, string>, depth = 0): number {
  if (depth > 16) throw new Error(`macro recursion in ${expr}`);
  let total = 0;
  for (const term of expr.replace(/[()\s]/g, "").split("+")) {
    if (/^(0x[0-9a-f]+|\d+)$/i.test(term)) total += Number(term);
    else if (defs.has(term)) total += evaluate(defs.get(term)!, defs, depth + 1);
    else throw new Error(`cannot evaluate ${term} in ${expr}`);
  }
  return total;
}

async function table(source: HeaderSource): Promise<Map<string, number>> {
  const defs = await macros(source);
  const out = new Map<string, number>();
  for (const [macro, value] of defs) {
    for (const [prefix, namePrefix] of source.prefixes) {
      if (!macro.startsWith(prefix)) continue;
      const name = macro.slice(prefix.length);
      if (NOT_SYSCALLS.has(name)) continue;
      out.set(namePrefix + name, evaluate(value, defs));
    }
  }
  for (const { nr, name, only } of NEWER_SYSCALLS) {
    if (only && !only.includes(source.arch)) continue;
    if (out.has(name)) continue;
    out.set(name, source.arch === "x32" ? (nr | X32_SYSCALL_BIT) >>> 0 : nr);
  }
  return out;
}

function render(tables: Map<HeaderSource["arch"], Map<string, number>>): string {
  const lines = [
    "// Generated by scripts/gen_syscall_tables.ts from the Linux 6.1 UAPI headers plus the calls",
    "// added up to Linux 6.18. Do not edit; run the script again.",
    "",
    "/** A system call table: name → number as seen in seccomp_data.nr. */",
    "export type SyscallTable = Readonly<Record<string, number>>;",
    "",
  ];
  const doc: Record<string, string> = {
    x86_64: "x86_64 (AUDIT_ARCH_X86_64) system call numbers.",
    x86: "i386 (AUDIT_ARCH_I386) system call numbers.",
    x32: "x32 (AUDIT_ARCH_X86_64, numbers carry X32_SYSCALL_BIT 0x40000000) system call numbers.",
    aarch64: "aarch64 (AUDIT_ARCH_AARCH64, asm-generic numbering) system call numbers.",
    arm: "arm EABI (AUDIT_ARCH_ARM) system call numbers, with the ARM private calls at 0x0f0000+.",
  };
  const constName: Record<string, string> = {
    x86_64: "SYSCALLS_X86_64",
    x86: "SYSCALLS_X86",
    x32: "SYSCALLS_X32",
    aarch64: "SYSCALLS_AARCH64",
    arm: "SYSCALLS_ARM",
  };
  for (const [arch, entries] of tables) {
    const sorted = [...entries].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
    lines.push(`/** ${doc[arch]} */`);
    lines.push(`export const ${constName[arch]}: SyscallTable = {`);
    for (const [name, nr] of sorted) {
      const value = arch === "x32"
        ? `0x40000000 + ${nr - X32_SYSCALL_BIT}`
        : nr >= 0x0f0000
        ? `0x${nr.toString(16)}`
        : `${nr}`;
      lines.push(`  ${name}: ${value},`);
    }
    lines.push("};", "");
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const tables = new Map<HeaderSource["arch"], Map<string, number>>();
  for (const source of SOURCES) tables.set(source.arch, await table(source));
  await Deno.writeTextFile(OUTPUT, render(tables));
  const fmt = new Deno.Command(Deno.execPath(), { args: ["fmt", OUTPUT.pathname] });
  await fmt.output();
  for (const [arch, entries] of tables) console.log(`${arch}: ${entries.size} system calls`);
}
