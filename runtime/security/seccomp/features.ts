/**
 * What the seccomp compiler supports, for `skiff features` (runtime-spec features.md), without the
 * compiler: compile.ts and the syscall tables it needs are ~63 KB of code, which `features` loaded
 * for these few names (issue 11). compile.ts takes its operators from here, and compile_test.ts
 * checks the rest against the compiler.
 * @module
 */
import type { SeccompAction, SeccompOperator } from "../../../spec/config.ts";
import { SECCOMP_FILTER_FLAGS } from "../../../ffi/flag_tables.ts";

/** The runtime-spec actions the compiler accepts (the keys of its action table). */
const ACTION_NAMES: readonly SeccompAction[] = [
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
];

/** The argument comparison operators the compiler accepts. */
export const SECCOMP_OPERATORS: readonly SeccompOperator[] = [
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
];

/** The architectures the compiler has syscall tables for (the keys of archs.ts's ARCHS). */
const ARCH_NAMES: readonly string[] = [
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_ARM",
];

/** What the compiler supports, for the `features` command (runtime-spec features.md). */
export const SECCOMP_FEATURES: {
  readonly actions: readonly string[];
  readonly operators: readonly string[];
  readonly archs: readonly string[];
  readonly knownFlags: readonly string[];
  readonly supportedFlags: readonly string[];
} = {
  actions: [...ACTION_NAMES].sort(),
  operators: [...SECCOMP_OPERATORS].sort(),
  archs: [...ARCH_NAMES].sort(),
  knownFlags: Object.keys(SECCOMP_FILTER_FLAGS),
  supportedFlags: Object.keys(SECCOMP_FILTER_FLAGS),
};

/**
 * The kernel release (major, minor) whose seccomp(2) first accepted each filter flag: the commit
 * that added the flag to include/uapi/linux/seccomp.h and SECCOMP_FILTER_FLAG_MASK.
 */
export const SECCOMP_FLAG_SINCE: Readonly<Record<string, readonly [number, number]>> = {
  SECCOMP_FILTER_FLAG_TSYNC: [3, 17], // with seccomp(2) itself
  SECCOMP_FILTER_FLAG_LOG: [4, 14],
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: [4, 17],
  SECCOMP_FILTER_FLAG_NEW_LISTENER: [5, 0],
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: [5, 7],
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: [5, 19],
};

/**
 * The SECCOMP_FILTER_FLAG_* names a kernel of `release` (uname -r, e.g. "6.8.0-45-generic")
 * accepts, by SECCOMP_FLAG_SINCE. `features` used to probe each flag with seccomp(2) through FFI,
 * whose first call costs a process 3-4 ms and 4.4 MiB (docs/benchmarks.md, "Per-call floor").
 * `seccompStatus` is /proc/self/status: a kernel built without seccomp has no `Seccomp:` line
 * there, and accepts no flag. A release that does not parse gets every flag the table knows:
 * flags are checked again when a filter is loaded.
 */
export function supportedSeccompFlags(
  release: string = Deno.osRelease(),
  seccompStatus: () => string = () => Deno.readTextFileSync("/proc/self/status"),
): string[] {
  try {
    if (!/^Seccomp:/m.test(seccompStatus())) return [];
  } catch {
    // No /proc: go by the release alone.
  }
  const match = /^(\d+)\.(\d+)/.exec(release);
  const names = Object.keys(SECCOMP_FILTER_FLAGS);
  if (!match) return names;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return names.filter((name) => {
    const since = SECCOMP_FLAG_SINCE[name];
    return since !== undefined &&
      (major > since[0] || (major === since[0] && minor >= since[1]));
  });
}
