/**
 * The cgroup part of `skiff features`: v1 (legacy and hybrid hosts) and v2 are implemented
 * (runtime/cgroups/v1.ts, v2.ts); so is the systemd driver (systemd.ts, `--systemd-cgroup`) for
 * the system instance on cgroup v2 hosts (on v1/hybrid hosts it is refused with an error naming
 * the layout). The user instance (rootless) is not reported: it is written but untested
 * (docs/cgroups.md). rdma limits map to rdma.max.
 */
export const CGROUP_FEATURES = {
  v1: true,
  v2: true,
  systemd: true,
  systemdUser: false,
  rdma: true,
} as const;
