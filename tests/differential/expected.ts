/**
 * Known differences between runc 1.1.5 and Skiff in the differential runs, each with its reason
 * (docs/conformance.md has the same table). Keep this list minimal: an entry hides a difference,
 * so it names the configs, the probe keys and the values on both sides as narrowly as it can.
 * Entries marked "Skiff bug" are real bugs waiting for their fix: remove them once it is merged
 * (the standalone run lists entries that matched nothing).
 */

import type { Spec } from "../../spec/config.ts";

/** A probe key whose value may differ between runc and Skiff for the matching configs. */
export interface ExpectedDifference {
  /** Config names (file name without .json, or gen-SEED-N). */
  configs: RegExp;
  /** Probe keys (the text before "=" in the probe's output; "exit" for the exit status). */
  keys: RegExp;
  /** runc's value must match ("" when the key is absent). */
  runc?: RegExp;
  /** Skiff's value must match ("" when the key is absent). */
  skiff?: RegExp;
  /** runc's stderr must match (for "exit"). */
  runcStderr?: RegExp;
  /** Skiff's stderr must match (for "exit"). */
  skiffStderr?: RegExp;
  /** The config must have this property (for generated configs, whose names say nothing). */
  when?: (config: Spec) => boolean;
  reason: string;
}

function rlimitAtMost(type: string, soft: number): (config: Spec) => boolean {
  return (config) => (config.process?.rlimits ?? []).some((r) => r.type === type && r.soft <= soft);
}

/** A config Skiff must refuse (non-zero exit, no probe output) with an error matching skiffError. */
export interface ExpectedRefusal {
  config: RegExp;
  skiffError: RegExp;
  reason: string;
}

/** None today: `runc spec --rootless`, refused until user namespaces came, now runs. */
export const EXPECTED_REFUSALS: ExpectedRefusal[] = [];

export const EXPECTED_DIFFERENCES: ExpectedDifference[] = [
  {
    configs: /./,
    keys: /^mount\.\/sys\/fs\/cgroup(#\d+)?$/,
    runc: /^tmpfs opts=rw,/,
    skiff: /^tmpfs opts=ro,.* super=ro,/,
    reason: "read-only cgroup mount on a v1/hybrid host: runc leaves the tmpfs over the " +
      "hierarchies read-write (mode 0555); Skiff mounts it read-only, as the mount's ro asks",
  },
  {
    configs: /./,
    keys: /^path\.\/sys\/fs\/cgroup$/,
    runc: /^dir mode=0555 /,
    skiff: /^dir mode=0755 /,
    reason: "the same tmpfs: runc chmods it 0555 (root can still write), Skiff keeps mode=755 " +
      "and makes it read-only",
  },
  {
    configs: /^runc-spec-rootless$/,
    keys: /^path\.\/sys\/fs\/cgroup$/,
    runc: /^dir mode=0755 .*access_w=ok$/,
    skiff: /^dir mode=0755 .*access_w=EROFS$/,
    reason: "the same read-only tmpfs, in a user namespace (where runc leaves the mode at 0755)",
  },
  {
    configs: /./,
    keys: /^mount\.\/sys\/fs\/cgroup\/unified(#\d+)?$/,
    runc: /^$/,
    skiff: /^cgroup2 /,
    reason: "hybrid host: runc 1.1 mounts only the v1 hierarchies; Skiff also binds the " +
      "container's cgroup of the unified (v2) hierarchy, as the host shows it",
  },
  {
    configs: /./,
    keys: /^uts\.domainname$/,
    runc: /^\(none\)$/,
    reason: "runc 1.1.5 ignores the domainname field (runtime-spec 1.1); Skiff sets it",
  },
  {
    configs: /./,
    keys: /^mount\./,
    runc: /^tmpfs opts=ro,.* super=rw/,
    skiff: /^tmpfs opts=ro,.* super=ro/,
    reason: "tmpfs with ro: runc mounts it read-write and remounts the mount read-only; Skiff " +
      "mounts the filesystem read-only. Writes fail under both",
  },
  {
    configs: /./,
    keys: /^path\./,
    runc: /access_w=EACCES$/,
    skiff: /access_w=EROFS$/,
    reason: "the same read-only tmpfs seen by a non-root user: access(2) checks the " +
      "superblock's ro before the permissions, the mount's ro after them",
  },
  {
    configs: /./,
    keys: /^exit$/,
    runc: /^failed$/,
    runcStderr: /too many open files/,
    reason: "runc bug: with a low RLIMIT_NOFILE runc's own seccomp patching fails (pipe2: " +
      "EMFILE) after the limit is set; Skiff loads the filter without new fds",
  },
  {
    configs: /./,
    keys: /^exit$/,
    runc: /^failed$/,
    runcStderr: /seccomp.*cannot allocate memory/,
    reason: "runc bug: with a small RLIMIT_AS runc builds its seccomp filter after the limit is " +
      "set and runs out of memory; Skiff builds it before",
  },
  {
    configs: /./,
    keys: /^exit$/,
    skiff: /^failed$/,
    when: rlimitAtMost("RLIMIT_CPU", 1),
    reason: "RLIMIT_CPU counts the CPU time the init used before execve (the init is the " +
      "container process): a Deno init uses a few hundred ms where runc's uses a few, so a " +
      "limit of 0 or 1 s (the kernel rounds 0 up to 1) can kill it (SIGKILL) on a busy host",
  },
];
