/**
 * What the seccomp compiler supports, for `skiff features` (runtime-spec features.md), without the
 * compiler: compile.ts and the syscall tables it needs are ~63 KB of code, which `features` loaded
 * for these few names (issue 11). compile.ts takes its operators from here, and compile_test.ts
 * checks the rest against the compiler.
 * @module
 */
import type { SeccompAction, SeccompOperator } from "../../../spec/config.ts";
import { SECCOMP_FILTER_FLAGS } from "../../../ffi/seccomp.ts";

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
