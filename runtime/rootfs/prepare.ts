import type { Spec } from "../../spec/config.ts";
import {
  MS_BIND,
  MS_PRIVATE,
  MS_REC,
  MS_SHARED,
  MS_SLAVE,
  MS_UNBINDABLE,
  O_PATH,
} from "../../ffi/constants.ts";
import { chdir, chroot, close } from "../../ffi/fs.ts";
import { mount, umount } from "../../ffi/mount.ts";
import { mountEntry, remountReadonlyLate } from "./mounts.ts";
import { readMountinfo } from "../mountinfo.ts";
import { createDevice, createDevSymlinks, DEFAULT_DEVICES } from "./devices.ts";
import { moveRoot, pivotRoot } from "./pivot_root.ts";
import { maskPaths, readonlyPaths, readonlyRoot } from "./masked_paths.ts";
import { parseMountOptions, rootfsPropagationFlags } from "./mount_options.ts";
import { mkdirAllAt, openInRoot, type RootHandle, withRoot } from "./open_in_root.ts";
import { fdPathOr } from "../procfs.ts";

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
  /**
   * No `mount` in linux.namespaces: the container inherits the runtime's mount namespace
   * (config-linux.md). Its mounts are then made under a private bind of the rootfs on the host,
   * and the init chroots into it (runc does the same, but first turns the host's "/" into an
   * rslave mount; Skiff leaves the host's propagation alone). delete detaches the bind.
   */
  hostMountNamespace?: boolean;
  /** Idmapped mounts the CLI made: mounts[] index -> detached mount fd (Bootstrap.mountFds). */
  mountFds?: Record<number, number>;
  /** mounts[] indexes already mounted (the trampoline init's PID 1 mounts its own /proc). */
  premounted?: readonly number[];
  /**
   * The rootfs bind is made already (the trampoline init's PID 1 binds it before it mounts its
   * /proc on it, so that there is one proc mount, not a second one under the bind).
   */
  rootfsBound?: boolean;
  /**
   * The container's id of kind `kind` as a host id: set when the mounts are made from outside the
   * container's user namespace (the trampoline init's CLI), for uid= and gid= mount options.
   */
  hostId?: (kind: "uid" | "gid", id: number) => number;
  /** Devices are bind-mounted from the host, never made with mknod (a user namespace's rootfs). */
  bindDevices?: boolean;
}

/**
 * Builds the container's root filesystem in the calling process's (new) mount namespace, up to
 * the root switch: makes the host mounts slaves, binds the rootfs, mounts config.json's mounts in
 * order, creates /dev. The order follows runc's prepareRootfs; createContainer hooks run between
 * this and switchRoot().
 */
export function mountRootfs(spec: Spec, options: RootfsOptions): void {
  const { rootfs } = options;
  if (options.hostMountNamespace) {
    // The host's namespace: only the rootfs bind itself is new there, and nothing below it may
    // propagate to the host's mounts.
    mount(rootfs, rootfs, "", MS_BIND | MS_REC);
    mount("", rootfs, "", MS_PRIVATE | MS_REC);
  } else {
    // Nothing done in this namespace may propagate back to the host. A shared root would send the
    // mounts below to the host's peers, and an unbindable one refuses the rootfs bind (EINVAL):
    // both wait for switchRoot(), after pivot_root (runc#4724).
    const propagation = rootfsPropagationFlags(spec.linux?.rootfsPropagation);
    const deferred = propagation & (MS_SHARED | MS_UNBINDABLE);
    mount("", "/", "", deferred || !propagation ? MS_SLAVE | MS_REC : propagation);
    if (!options.rootfsBound) {
      // pivot_root needs the new root to be a mount point whose parent mount is not shared
      // (with the bind made earlier, after "/" turned rslave, nothing is shared).
      makeParentMountPrivate(rootfs);
      mount(rootfs, rootfs, "", MS_BIND | MS_REC);
    }
  }

  // Opened after the rootfs bind: every path below resolves inside this mount, by fd.
  withRoot(rootfs, (root) => {
    buildInRoot(spec, options, root);
  });
}

function buildInRoot(spec: Spec, options: RootfsOptions, root: RootHandle): void {
  const mounts = spec.mounts ?? [];
  mounts.forEach((m, i) => {
    if (options.premounted?.includes(i)) return;
    mountEntry(root, options.bundle, m, i, options.cgroupDirs, spec.linux?.mountLabel, {
      mountFd: options.mountFds?.[i],
      hostId: options.hostId,
    });
  });

  const devMount = mounts.find((m) => m.destination.replace(/\/+$/, "") === "/dev");
  const devIsBind = devMount !== undefined &&
    (devMount.type === "bind" || (devMount.options ?? []).some((o) => o.endsWith("bind")));
  const devices = spec.linux?.devices ?? [];
  if (!devIsBind) {
    close(mkdirAllAt(root, "/dev"));
    // A default device that linux.devices lists too is made once, as linux.devices says (runc).
    const defaults = DEFAULT_DEVICES.filter((d) => !devices.some((s) => s.path === d.path));
    for (const device of [...defaults, ...devices]) {
      createDevice(root, device, options.bindDevices);
    }
    // After the devices, so that a /dev/ptmx in linux.devices becomes the pts/ptmx link (runc).
    createDevSymlinks(root);
  } else {
    for (const device of devices) createDevice(root, device, options.bindDevices);
  }

  if (spec.process?.cwd) close(mkdirAllAt(root, spec.process.cwd));
}

/** After mountRootfs(): pivot_root (or MS_MOVE + chroot) into the rootfs. */
export function switchRoot(spec: Spec, options: RootfsOptions): void {
  const { rootfs } = options;
  const propagation = rootfsPropagationFlags(spec.linux?.rootfsPropagation);
  if (options.hostMountNamespace) {
    // pivot_root or MS_MOVE would change the host's root: chroot is all there is (runc's chroot()).
    chdir(rootfs);
    chroot(".");
    chdir("/");
    return;
  }
  if (options.noPivot) {
    moveRoot(rootfs);
  } else {
    pivotRoot(rootfs);
  }
  if (propagation) mount("", "/", "", propagation);
  if (propagation & MS_REC) reapplyMountPropagation(spec);
}

/**
 * A recursive rootfsPropagation has just reached every mount under "/": give back the mounts that
 * asked for their own propagation (a bind with "shared" under "rprivate"). Under runc the mount's
 * own option wins too.
 */
function reapplyMountPropagation(spec: Spec): void {
  withRoot("/", (root) => {
    for (const m of spec.mounts ?? []) {
      const { propagation } = parseMountOptions(m.options);
      if (propagation.length === 0) continue;
      const fd = openInRoot(root, m.destination, O_PATH);
      try {
        const target = fdPathOr(fd, m.destination);
        for (const flag of propagation) mount("", target, "", flag);
      } finally {
        close(fd);
      }
    }
  });
}

/**
 * The trampoline init's part of switchRoot() that must happen in PID 1 after its root switch: the
 * flags for "/" (linux.rootfsPropagation) and, when they are recursive, each mount's own
 * propagation to give back, with its target resolved now (in the container's mount namespace,
 * before the switch) as a path inside `rootfs`.
 */
export function rootPropagationAfterSwitch(
  spec: Spec,
  rootfs: string,
): { root: number; mounts: { target: string; flag: number }[] } {
  const root = rootfsPropagationFlags(spec.linux?.rootfsPropagation);
  const mounts: { target: string; flag: number }[] = [];
  if (!(root & MS_REC)) return { root, mounts };
  withRoot(rootfs, (handle) => {
    for (const m of spec.mounts ?? []) {
      const { propagation } = parseMountOptions(m.options);
      if (propagation.length === 0) continue;
      const fd = openInRoot(handle, m.destination, O_PATH);
      try {
        // The mount point as the namespace's root sees it (the CLI's thread: before the switch).
        const hostPath = Deno.readLinkSync(`/proc/thread-self/fd/${fd}`);
        const inside = hostPath === rootfs ? "/" : hostPath.slice(rootfs.length);
        if (!hostPath.startsWith(`${rootfs}/`) && hostPath !== rootfs) {
          throw new Error(`mounts: ${m.destination} resolves outside the rootfs (${hostPath})`);
        }
        for (const flag of propagation) mounts.push({ target: inside, flag });
      } finally {
        close(fd);
      }
    }
  });
  return { root, mounts };
}

/**
 * Makes the mount that holds `rootfs` private when it is shared: pivot_root(2) refuses a new root
 * whose parent mount is shared (runc's rootfsParentMountPrivate). The rootfs itself keeps the
 * propagation that rootfsPropagation asked for.
 */
function makeParentMountPrivate(rootfs: string): void {
  let best: { point: string; shared: boolean } | undefined;
  for (const { mountPoint: point, optional } of readMountinfo()) {
    const inside = point === "/" || rootfs === point || rootfs.startsWith(point + "/");
    if (inside && (!best || point.length >= best.point.length)) {
      best = { point, shared: optional.some((o) => o.startsWith("shared:")) };
    }
  }
  if (best?.shared) mount("", best.point, "", MS_PRIVATE);
}

/**
 * The steps that run inside the new root: read-only tmpfs and /dev mounts, read-only root,
 * masked and read-only paths. `rootPath` is "/" after the root switch, or the rootfs before it
 * (the trampoline init: the CLI does these steps in the container's mount namespace, and PID 1
 * switches root afterwards); every path is resolved inside it.
 */
export function finishRootfs(spec: Spec, rootPath = "/"): void {
  remountReadonlyLate(spec.mounts ?? [], rootPath);
  if (spec.root?.readonly) readonlyRoot(rootPath);
  readonlyPaths(spec.linux?.readonlyPaths ?? [], rootPath);
  maskPaths(spec.linux?.maskedPaths ?? [], rootPath);
}

/** How many mounts sit on `path` in the calling process's mount namespace. */
export function mountsAt(path: string): number {
  return readMountinfo().filter((m) => m.mountPoint === path).length;
}

/**
 * Undoes mountRootfs() of a container that shares the host's mount namespace: detaches the rootfs
 * binds (and everything mounted below them) until `keep` mounts are left on `rootfs`.
 */
export function releaseHostRootfs(rootfs: string, keep: number): void {
  for (let left = mountsAt(rootfs); left > keep; left--) umount(rootfs);
}
