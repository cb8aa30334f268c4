/**
 * The cgroup part of `skiff features`: v1 (legacy and hybrid hosts) and v2 are implemented
 * (runtime/cgroups/v1.ts, v2.ts); the systemd driver is not (it needs D-Bus; `--systemd-cgroup`
 * is refused with a clear error), and rdma limits map to rdma.max.
 */
export const CGROUP_FEATURES = {
  v1: true,
  v2: true,
  systemd: false,
  systemdUser: false,
  rdma: true,
} as const;
