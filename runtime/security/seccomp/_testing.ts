import { DOCKER_DEFAULT_CAPABILITIES } from "../../../spec/capabilities.ts";
/**
 * Test and benchmark helpers: a Docker/Podman profile (seccomp.json with archMap, includes and
 * excludes) turned into the `linux.seccomp` that Docker or Podman would put in config.json, and a
 * reference model of what a profile requires for one system call, written straight from the
 * semantics in compile.ts (no segments, no search tree) so the two can be compared.
 */
import type { Seccomp, SeccompSyscall } from "../../../spec/config.ts";
import {
  type ArchInfo,
  ARCHS,
  AUDIT_ARCH_X86_64,
  type NativeArch,
  nativeScmpArch,
  X32_SYSCALL_BIT,
} from "./archs.ts";
import {
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
} from "./bpf.ts";

/** Where Debian's golang-github-containers-common puts Podman's default profile. */
export const PODMAN_PROFILE_PATH = "/usr/share/containers/seccomp.json";

/** Podman's default capability set (containers.conf default_capabilities). */
export const PODMAN_DEFAULT_CAPS: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_NET_BIND_SERVICE",
  "CAP_SETFCAP",
  "CAP_SETGID",
  "CAP_SETPCAP",
  "CAP_SETUID",
  "CAP_SYS_CHROOT",
];

/** Docker's default capability set, which decides the profile's includes/excludes by caps. */
export const DOCKER_DEFAULT_CAPS: readonly string[] = DOCKER_DEFAULT_CAPABILITIES;

interface DockerFilter {
  arches?: string[];
  caps?: string[];
}

interface DockerSyscall extends SeccompSyscall {
  name?: string;
  includes?: DockerFilter;
  excludes?: DockerFilter;
}

interface DockerProfile {
  defaultAction: Seccomp["defaultAction"];
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] }>;
  syscalls?: DockerSyscall[];
  flags?: string[];
}

/** Reads Podman's default profile, or returns undefined when the file is missing. */
export function readPodmanProfile(): DockerProfile | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(PODMAN_PROFILE_PATH)) as DockerProfile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Returns the linux.seccomp that Docker/Podman generate from `profile` on `native`. */
export function dockerProfileToSeccomp(
  profile: DockerProfile,
  native: NativeArch,
  caps: readonly string[] = PODMAN_DEFAULT_CAPS,
): Seccomp {
  const goArch = native === "aarch64" ? "arm64" : "amd64";
  const scmp = nativeScmpArch(native);
  const architectures = profile.architectures ?? [];
  for (const entry of profile.archMap ?? []) {
    if (entry.architecture === scmp) architectures.push(scmp, ...(entry.subArchitectures ?? []));
  }
  const syscalls: SeccompSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    const inc = call.includes ?? {};
    const exc = call.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(goArch)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => caps.includes(c))) continue;
    if (exc.arches?.length && exc.arches.includes(goArch)) continue;
    if (exc.caps?.length && exc.caps.some((c) => caps.includes(c))) continue;
    const names = call.names ?? (call.name ? [call.name] : []);
    const out: SeccompSyscall = { names, action: call.action };
    if (call.errnoRet !== undefined) out.errnoRet = call.errnoRet;
    if (call.args?.length) out.args = call.args;
    syscalls.push(out);
  }
  const seccomp: Seccomp = { defaultAction: profile.defaultAction, architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined) seccomp.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.flags) seccomp.flags = profile.flags;
  return seccomp;
}

const BASE: Record<string, number> = {
  SCMP_ACT_KILL: SECCOMP_RET_KILL_THREAD,
  SCMP_ACT_KILL_THREAD: SECCOMP_RET_KILL_THREAD,
  SCMP_ACT_KILL_PROCESS: SECCOMP_RET_KILL_PROCESS,
  SCMP_ACT_TRAP: SECCOMP_RET_TRAP,
  SCMP_ACT_ERRNO: SECCOMP_RET_ERRNO,
  SCMP_ACT_TRACE: SECCOMP_RET_TRACE,
  SCMP_ACT_ALLOW: SECCOMP_RET_ALLOW,
  SCMP_ACT_LOG: SECCOMP_RET_LOG,
  SCMP_ACT_NOTIFY: SECCOMP_RET_USER_NOTIF,
};

/** JSON numbers above 2^64 - 1 (2^64 after rounding) mean 2^64 - 1, as in compile.ts. */
function clamp(value: bigint): bigint {
  const max = (1n << 64n) - 1n;
  return value > max ? max : value;
}

function ret(action: string, errnoRet: number | undefined): number {
  const base = BASE[action];
  if (action === "SCMP_ACT_ERRNO" || action === "SCMP_ACT_TRACE") {
    return (base | (errnoRet ?? 1)) >>> 0;
  }
  return base;
}

/** A synthetic system call for the reference model. */
export interface Probe {
  arch: number;
  nr: number;
  args?: readonly bigint[];
}

/**
 * What `seccomp` requires for one system call: the reference the compiled program is compared
 * with. `enosys` mirrors CompileOptions.enosysForNewerSyscalls.
 */
export function referenceReturn(
  seccomp: Seccomp,
  native: NativeArch,
  probe: Probe,
  enosys = true,
): number {
  const def = ret(seccomp.defaultAction, seccomp.defaultErrnoRet);
  const listed = new Set([nativeScmpArch(native), ...(seccomp.architectures ?? [])]);
  const archs = [...listed].map((n) => ARCHS[n]).filter((a): a is ArchInfo => a !== undefined);
  const nr = probe.nr >>> 0;
  const rules = seccomp.syscalls ?? [];
  const allows = ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"].includes(
    seccomp.defaultAction,
  );
  // runc's ENOSYS stub: only for listed architectures, and only where the highest number is not 0.
  const enosysAbove = (arch: ArchInfo | undefined, n: number): boolean => {
    if (!enosys || allows || !arch || !(seccomp.architectures ?? []).includes(arch.scmpName)) {
      return false;
    }
    const table = arch.syscalls;
    const numbers = rules.flatMap((r) => r.names).filter((x) => Object.hasOwn(table, x)).map((
      x,
    ) => table[x]);
    const highest = numbers.length ? Math.max(...numbers) : 0;
    return highest !== 0 && n > highest;
  };
  const enosysRet = (SECCOMP_RET_ERRNO | 38) >>> 0;
  let info: ArchInfo | undefined;
  if (probe.arch >>> 0 === AUDIT_ARCH_X86_64) {
    if (!archs.some((a) => a.auditArch === AUDIT_ARCH_X86_64)) return SECCOMP_RET_KILL_THREAD;
    if (nr === 0xffffffff) {
      return enosysAbove(archs.find((a) => a.arch === "x32"), nr) ? enosysRet : def;
    }
    info = archs.find((a) => a.arch === (nr >= X32_SYSCALL_BIT ? "x32" : "x86_64"));
  } else {
    info = archs.find((a) => a.auditArch === probe.arch >>> 0);
    if (info && nr === 0xffffffff) return enosysAbove(info, nr) ? enosysRet : def;
  }
  if (!info) return SECCOMP_RET_KILL_THREAD;
  const table = info.syscalls;
  const name = Object.keys(table).find((n) => table[n] === nr);
  if (enosysAbove(info, nr)) return enosysRet;
  if (name === undefined) return def;
  const mine = rules.filter((r) => r.names.includes(name) && ret(r.action, r.errnoRet) !== def);
  const plain = mine.find((r) => !r.args?.length);
  if (plain) return ret(plain.action, plain.errnoRet);
  const mask = info.is64Bit ? (1n << 64n) - 1n : 0xffffffffn;
  for (const rule of mine) {
    const holds = (rule.args ?? []).every((c) => {
      const a = (probe.args?.[c.index] ?? 0n) & mask;
      const v = clamp(BigInt(c.value)) & mask;
      const v2 = clamp(BigInt(c.valueTwo ?? 0)) & mask;
      switch (c.op) {
        case "SCMP_CMP_NE":
          return a !== v;
        case "SCMP_CMP_LT":
          return a < v;
        case "SCMP_CMP_LE":
          return a <= v;
        case "SCMP_CMP_EQ":
          return a === v;
        case "SCMP_CMP_GE":
          return a >= v;
        case "SCMP_CMP_GT":
          return a > v;
        case "SCMP_CMP_MASKED_EQ":
          return (a & v) === v2;
      }
    });
    if (holds) return ret(rule.action, rule.errnoRet);
  }
  return def;
}
