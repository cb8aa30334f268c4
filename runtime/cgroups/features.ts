/**
 * The cgroup part of `skiff features`: v1 (legacy and hybrid hosts) and v2 are implemented
 * (runtime/cgroups/v1.ts, v2.ts); rdma limits map to rdma.max. The systemd driver (systemd.ts,
 * `--systemd-cgroup`) serves the system instance (`systemd`) and, for a caller who is not root,
 * the caller's user instance (`systemdUser`); both are reported only where the driver can run:
 * systemd is PID 1 (/run/systemd/system) and the host is cgroup v2. Elsewhere the flag is refused
 * (no systemd, or a v1/hybrid layout: docs/cgroups.md), so claiming it would be false. runc
 * reports what it was built with instead.
 */
import { detectCgroups, systemdRunning } from "./detect.ts";

/** The `linux.cgroup` object of `skiff features` on this host. */
export function cgroupFeatures(): {
  v1: boolean;
  v2: boolean;
  systemd: boolean;
  systemdUser: boolean;
  rdma: boolean;
} {
  const systemd = systemdRunning() && detectCgroups().layout === "unified";
  return { v1: true, v2: true, systemd, systemdUser: systemd, rdma: true };
}
