import type { Spec } from "../../spec/config.ts";
import { mount, MS_BIND, MS_PRIVATE, MS_REC, MS_SLAVE } from "../../ffi/mod.ts";
import { mountEntry, remountReadonlyLate } from "./mounts.ts";
import { createDevice, createDevSymlinks, DEFAULT_DEVICES } from "./devices.ts";
import { moveRoot, pivotRoot } from "./pivot_root.ts";
import { maskPaths, readonlyPaths, readonlyRoot } from "./masked_paths.ts";
import { rootfsPropagationFlags } from "./mount_options.ts";
import { mkdirAllInRoot } from "./secure_join.ts";

/** Where the root filesystem comes from and how to switch to it. */
export interface RootfsOptions {
  /** Absolute host path of the root filesystem. */
  rootfs: string;
  /** Absolute bundle directory (relative bind sources resolve against it). */
  bundle: string;
  /** `--no-pivot`: MS_MOVE + chroot instead of pivot_root. */
  noPivot: boolean;
  /** The container's cgroup directories: a cgroup mount shows these (see mounts.ts). */
  cgroupDirs: Record<string, string>;
}

/**
 * Builds the container's root filesystem in the calling process's (new) mount namespace, up to
 * the root switch: makes the host mounts slaves, binds the rootfs, mounts config.json's mounts in
 * order, creates /dev. The order follows runc's prepareRootfs; createContainer hooks run between
 * this and switchRoot().
 */
export function mountRootfs(spec: Spec, options: RootfsOptions): void {
  const { rootfs } = options;
  // Nothing done in this namespace may propagate back to the host.
  const propagation = rootfsPropagationFlags(spec.linux?.rootfsPropagation);
  mount("", "/", "", propagation || MS_SLAVE | MS_REC);
  // pivot_root needs the new root to be a mount point whose parent mount is not shared.
  makeParentMountPrivate(rootfs);
  mount(rootfs, rootfs, "", MS_BIND | MS_REC);

  const mounts = spec.mounts ?? [];
  mounts.forEach((m, i) => mountEntry(rootfs, options.bundle, m, i, options.cgroupDirs));

  const devMount = mounts.find((m) => m.destination.replace(/\/+$/, "") === "/dev");
  const devIsBind = devMount !== undefined &&
    (devMount.type === "bind" || (devMount.options ?? []).some((o) => o.endsWith("bind")));
  const devices = spec.linux?.devices ?? [];
  if (!devIsBind) {
    mkdirAllInRoot(rootfs, "/dev");
    // A default device that linux.devices lists too is made once, as linux.devices says (runc).
    const defaults = DEFAULT_DEVICES.filter((d) => !devices.some((s) => s.path === d.path));
    for (const device of [...defaults, ...devices]) createDevice(rootfs, device);
    // After the devices, so that a /dev/ptmx in linux.devices becomes the pts/ptmx link (runc).
    createDevSymlinks(rootfs);
  } else {
    for (const device of devices) createDevice(rootfs, device);
  }

  if (spec.process?.cwd) mkdirAllInRoot(rootfs, spec.process.cwd);
}

/** After mountRootfs(): pivot_root (or MS_MOVE + chroot) into the rootfs. */
export function switchRoot(spec: Spec, options: RootfsOptions): void {
  const { rootfs } = options;
  const propagation = rootfsPropagationFlags(spec.linux?.rootfsPropagation);
  if (options.noPivot) {
    moveRoot(rootfs);
  } else {
    pivotRoot(rootfs);
  }
  if (propagation) mount("", "/", "", propagation);
}

/**
 * Makes the mount that holds `rootfs` private when it is shared: pivot_root(2) refuses a new root
 * whose parent mount is shared (runc's rootfsParentMountPrivate). The rootfs itself keeps the
 * propagation that rootfsPropagation asked for.
 */
function makeParentMountPrivate(rootfs: string): void {
  let best: { point: string; shared: boolean } | undefined;
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const fields = line.split(" ");
    const point = fields[4];
    if (!point) continue;
    const inside = point === "/" || rootfs === point || rootfs.startsWith(point + "/");
    if (inside && (!best || point.length >= best.point.length)) {
      const optional = fields.slice(6, fields.indexOf("-"));
      best = { point, shared: optional.some((o) => o.startsWith("shared:")) };
    }
  }
  if (best?.shared) mount("", best.point, "", MS_PRIVATE);
}

/**
 * The steps that run inside the new root: read-only tmpfs and /dev mounts, read-only root,
 * masked and read-only paths.
 */
export function finishRootfs(spec: Spec): void {
  remountReadonlyLate(spec.mounts ?? []);
  if (spec.root?.readonly) readonlyRoot();
  readonlyPaths(spec.linux?.readonlyPaths ?? []);
  maskPaths(spec.linux?.maskedPaths ?? []);
}
