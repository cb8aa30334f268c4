/**
 * The cgroup part of `skiff features`: v1 (legacy and hybrid hosts) and v2 are implemented
 * (runtime/cgroups/v1.ts, v2.ts); rdma limits map to rdma.max. The systemd driver (systemd.ts,
 * `--systemd-cgroup`) serves the system instance (`systemd`: wherever systemd is PID 1, i.e.
 * /run/systemd/system exists, on any layout) and, for a caller who is not root, the caller's user
 * instance (`systemdUser`: the same, on cgroup v2 only, since v1 cannot be delegated). Elsewhere
 * the flag is refused with an error, so claiming it would be false. runc reports what it was
 * built with instead.
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
  const systemd = systemdRunning();
  const systemdUser = systemd && detectCgroups().layout === "unified";
  return { v1: true, v2: true, systemd, systemdUser, rdma: true };
}
