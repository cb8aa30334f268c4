/**
 * Kernel flag tables by name, which `skiff features` lists: apart from constants.ts, whose ~5 KB
 * of other constants it need not load (issue 11). No libc.
 * @module
 */

// linux/seccomp.h: seccomp(SECCOMP_SET_MODE_FILTER) flags.
/** The flags seccomp(2) may accept, by name (linux/seccomp.h). */
export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1 << 0,
  SECCOMP_FILTER_FLAG_LOG: 1 << 1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1 << 2,
  SECCOMP_FILTER_FLAG_NEW_LISTENER: 1 << 3,
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: 1 << 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1 << 5,
};

// mempolicy.h
/** Memory policy modes of set_mempolicy(2) (include/uapi/linux/mempolicy.h). */
export const MPOL_MODES: Record<string, number> = {
  MPOL_DEFAULT: 0,
  MPOL_PREFERRED: 1,
  MPOL_BIND: 2,
  MPOL_INTERLEAVE: 3,
  MPOL_LOCAL: 4,
  MPOL_PREFERRED_MANY: 5,
  MPOL_WEIGHTED_INTERLEAVE: 6,
};

/** Mode flags of set_mempolicy(2), or-ed into the mode. */
export const MPOL_FLAGS: Record<string, number> = {
  MPOL_F_NUMA_BALANCING: 1 << 13,
  MPOL_F_RELATIVE_NODES: 1 << 14,
  MPOL_F_STATIC_NODES: 1 << 15,
};
