import { join, normalize } from "../path.ts";
import { secureJoin } from "./secure_join.ts";
import type { Mount } from "../../spec/config.ts";
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_NOFOLLOW,
  O_PATH,
  PROC_SUPER_MAGIC,
  RESOLVE_NO_SYMLINKS,
  S_IFDIR,
  S_IFLNK,
  SYSFS_MAGIC,
} from "../../ffi/constants.ts";
import { close, fstatfsType } from "../../ffi/fs.ts";
import { isErrno } from "../../ffi/errno.ts";
import { readlinkat } from "../../ffi/file_attrs.ts";
import { mount, mountSetattrRecursive, moveMountFd } from "../../ffi/mount.ts";
import { parseMountOptions, withMountLabel } from "./mount_options.ts";
import { fdPathOr } from "../procfs.ts";
import {
  ensureFileAt,
  fdPath,
  fileTypeOf,
  haveOpenat2,
  isDirectoryFd,
  mkdirAllAt,
  openInRoot,
  type RootHandle,
  withRoot,
} from "./open_in_root.ts";
import { mountTmpfsCopyUp } from "./tmpcopyup.ts";

/** Where a mount goes: an O_PATH fd of its target, and whether the image had something there. */
interface Mountpoint {
  fd: number;
  existed: boolean;
}

/**
 * Opens the mount point of `m` inside the rootfs, creating it when missing (a directory, or an
 * empty file for a file bind mount). Symlinks on the way are resolved inside the rootfs, as the
 * container sees them (runc does the same); magic links are refused (openInRoot). What is made is
 * made with mkdirat(2) or openat(2) with O_CREAT|O_EXCL|O_NOFOLLOW in its parent's fd, so a file
 * that is there is never opened for writing, let alone truncated. The mount then goes onto the fd
 * (via /proc/self/fd), so nothing can swap the target between this check and the mount.
 */
function openMountpoint(root: RootHandle, m: Mount, sourceIsDir: boolean): Mountpoint {
  let fd: number | undefined;
  try {
    fd = openInRoot(root, m.destination, O_PATH);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  let existed = fd !== undefined;
  if (fd === undefined) {
    if (sourceIsDir) {
      fd = mkdirAllAt(root, m.destination);
    } else {
      fd = createFileInRoot(root, m.destination);
      existed = false;
    }
  }
  try {
    if (!sourceIsDir && isDirectoryFd(fd) && (m.type === "bind" || isBind(m))) {
      // A file bind-mounted onto a directory is refused by the kernel; say so clearly.
      throw new Error(`cannot bind-mount file ${m.source} onto directory ${m.destination}`);
    }
    checkNotRedirectedIntoPseudoFs(root, fd, m);
  } catch (err) {
    close(fd);
    throw err;
  }
  return { fd, existed };
}

const MAX_SYMLINKS = 40;

/**
 * Creates the empty file `path` inside `root` for a file bind mount and returns an O_PATH fd of
 * it. The file is made with O_CREAT|O_EXCL|O_NOFOLLOW in its parent's fd; where a symlink to a
 * missing file sits there, its target is made instead, resolved inside the rootfs as the
 * container would see it (runc does the same), never followed as the host sees it.
 */
function createFileInRoot(root: RootHandle, path: string): number {
  let dest = normalize(path);
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    const slash = dest.lastIndexOf("/");
    const parent = dest.slice(0, slash) || "/";
    const name = dest.slice(slash + 1);
    const dirfd = mkdirAllAt(root, parent);
    try {
      const fd = ensureFileAt(dirfd, name);
      if (fileTypeOf(fd) !== S_IFLNK) return fd;
      close(fd);
      const target = readlinkat(dirfd, name);
      dest = normalize(target.startsWith("/") ? target : `${parent}/${target}`);
    } finally {
      close(dirfd);
    }
  }
  throw new Error(`${path}: too many levels of symbolic links in the rootfs`);
}

/**
 * runc's checkProcMount, by fd: a destination that a symlink in the image sends onto procfs or
 * sysfs (the container's /proc and /sys, mounted by then) is refused. A mount there could cover
 * a masked or read-only path, or hand the container a writable kernel file (runc CVE-2025-52565).
 * A destination written under /proc or /sys (lxcfs's /proc/cpuinfo, cgroups), or one reached
 * without any symlink (under a procfs the config itself mounted elsewhere), stays allowed.
 */
function checkNotRedirectedIntoPseudoFs(root: RootHandle, fd: number, m: Mount): void {
  const type = fstatfsType(fd);
  const dest = normalize(m.destination);
  const area = type === PROC_SUPER_MAGIC ? "/proc" : type === SYSFS_MAGIC ? "/sys" : undefined;
  if (area === undefined || dest === area || dest.startsWith(`${area}/`)) return;
  if (!throughSymlink(root, dest)) return;
  throw new Error(
    `destination ${m.destination} resolves into ${area} (${
      area === "/proc" ? "procfs" : "sysfs"
    }) through a symlink in the rootfs: refused`,
  );
}

/** True when resolving `dest` inside `root` goes through a symlink. */
function throughSymlink(root: RootHandle, dest: string): boolean {
  if (haveOpenat2()) {
    try {
      close(openInRoot(root, dest, O_PATH, 0, RESOLVE_NO_SYMLINKS));
      return false;
    } catch (err) {
      if (isErrno(err, "ELOOP")) return true;
      throw err;
    }
  }
  return secureJoin(root.path, dest) !== join(root.path, dest);
}

/**
 * Runs `fn` with the mount now at `m.destination` (the top one), opened afresh, as a path
 * (`pathOf`: /proc/self/fd/N by default).
 */
function atTopMount(
  root: RootHandle,
  m: Mount,
  fn: (target: string) => void,
  pathOf: (fd: number) => string = fdPath,
): void {
  const fd = openInRoot(root, m.destination, O_PATH);
  try {
    fn(pathOf(fd));
  } finally {
    close(fd);
  }
}

function isBind(m: Mount): boolean {
  return (m.options ?? []).some((o) => o === "bind" || o === "rbind");
}

/**
 * True for the mounts runc first mounts read-write and remounts read-only only at the end
 * (remountReadonlyLate): every tmpfs and a non-bind /dev, because files are made in them after
 * the mount (device nodes, /dev/pts, nested mount points, the console).
 */
function delaysReadonly(m: Mount): boolean {
  if (isBind(m) || m.type === "bind") return false;
  return m.type === "tmpfs" || normalize(m.destination) === "/dev";
}

/**
 * After the root switch: remounts read-only the mounts mountEntry() kept writable for a while
 * (delaysReadonly), with MS_REMOUNT|MS_BIND so only the per-mount flags change (runc's
 * finalizeRootfs).
 */
export function remountReadonlyLate(mounts: readonly Mount[], rootPath = "/"): void {
  const late = mounts.filter((m) =>
    (parseMountOptions(m.options).flags & MS_RDONLY) !== 0 && delaysReadonly(m)
  );
  if (late.length === 0) return;
  withRoot(rootPath, (root) => {
    mounts.forEach((m, index) => {
      if (!late.includes(m)) return;
      const opts = parseMountOptions(m.options);
      try {
        atTopMount(
          root,
          m,
          (target) => mount("", target, "", opts.flags | MS_REMOUNT | MS_BIND | MS_RDONLY),
          (fd) => fdPathOr(fd, m.destination),
        );
      } catch (err) {
        throw new Error(`mounts[${index}]: cannot make ${m.destination} read-only`, {
          cause: err,
        });
      }
    });
  });
}

/**
 * procfs and sysfs go on an ordinary directory only: a symlink (or a file) at the destination
 * could send them anywhere, so it is refused as runc does. The last component is opened without
 * following it.
 */
function checkPseudoFsTarget(root: RootHandle, m: Mount, type: string): void {
  if (type !== "proc" && type !== "sysfs") return;
  let fd: number;
  try {
    fd = openInRoot(root, m.destination, O_PATH | O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  try {
    const kind = fileTypeOf(fd);
    if (kind !== S_IFDIR) {
      throw new Error(
        `filesystem "${type}" must be mounted on an ordinary directory: ${m.destination} is ${
          kind === S_IFLNK ? "a symlink" : "not a directory"
        } in the rootfs`,
      );
    }
  } finally {
    close(fd);
  }
}

/**
 * Mounts one config.json `mounts[]` entry inside the rootfs `root` (before pivot_root).
 * @param bundle the bundle directory, against which relative bind sources resolve.
 * @param made.mountFd a detached mount the CLI made for this entry (an idmapped mount): attached
 *   with move_mount() instead of a bind mount, then given the entry's other options.
 */
export function mountEntry(
  root: RootHandle,
  bundle: string,
  m: Mount,
  index: number,
  cgroupDirs: Record<string, string>,
  mountLabel?: string,
  made: { mountFd?: number; hostId?: (kind: "uid" | "gid", id: number) => number } = {},
): void {
  const opts = parseMountOptions(m.options);
  if (made.hostId) {
    // The kernel reads uid= and gid= (tmpfs, devpts) in the mounter's user namespace: a mounter
    // outside the container's (the trampoline init's CLI) passes their host ids.
    const hostId = made.hostId;
    opts.data = opts.data.map((d) => {
      const id = /^(uid|gid)=(\d+)$/.exec(d);
      return id ? `${id[1]}=${hostId(id[1] as "uid" | "gid", Number(id[2]))}` : d;
    });
  }
  const type = m.type ?? (isBind(m) ? "bind" : "");
  opts.data = withMountLabel(type, opts.data, mountLabel);
  try {
    if (type === "bind" || isBind(m)) {
      let source = m.source ?? "";
      if (!source.startsWith("/")) source = `${bundle}/${source}`;
      // A mount the CLI made is looked at through its fd: in a user namespace the source's path
      // may not be searchable by the container's root.
      const info = Deno.statSync(
        made.mountFd !== undefined ? `/proc/self/fd/${made.mountFd}` : source,
      );
      const point = openMountpoint(root, m, info.isDirectory);
      try {
        if (made.mountFd !== undefined) {
          // The CLI's open_tree() copy, idmapped; it goes away with its fd if never attached.
          moveMountFd(made.mountFd, point.fd);
          close(made.mountFd);
        } else {
          mount(source, fdPath(point.fd), "", MS_BIND | (opts.flags & MS_REC));
        }
      } finally {
        close(point.fd);
      }
      const extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
      atTopMount(root, m, (target) => {
        if (extra !== 0) {
          // Bind mounts ignore other flags on the first call: remount to apply them (mount(8)
          // does too).
          mount(source, target, "", MS_REMOUNT | MS_BIND | extra);
        }
        applyAfter(target, opts);
      });
      return;
    }
    if (type === "cgroup" || type === "cgroup2") {
      bindContainerCgroup(root, m, opts.flags, cgroupDirs);
      return;
    }
    checkPseudoFsTarget(root, m, type);
    const point = openMountpoint(root, m, true);
    // Read-only comes later for tmpfs and /dev (remountReadonlyLate).
    const flags = delaysReadonly(m) ? opts.flags & ~MS_RDONLY : opts.flags;
    try {
      if (type === "tmpfs" && opts.data.includes("tmpcopyup")) {
        const data = opts.data.filter((d) => d !== "tmpcopyup").join(",");
        mountTmpfsCopyUp(m.source ?? "tmpfs", point.fd, flags, data, point.existed);
      } else {
        mount(m.source ?? type, fdPath(point.fd), type, flags, opts.data.join(","));
      }
    } finally {
      close(point.fd);
    }
    atTopMount(root, m, (target) => applyAfter(target, opts));
  } catch (err) {
    throw new Error(
      `mounts[${index}]: cannot mount ${m.source ?? type} on ${m.destination} (type ${
        type || "none"
      })`,
      { cause: err },
    );
  }
}

function applyAfter(target: string, opts: ReturnType<typeof parseMountOptions>): void {
  for (const propagation of opts.propagation) mount("", target, "", propagation);
  if (opts.recursiveSet !== 0 || opts.recursiveClear !== 0) {
    mountSetattrRecursive(target, opts.recursiveSet, opts.recursiveClear);
  }
}

const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * Mounts the container's own cgroup at `m.destination`: bind mounts of its cgroup directories
 * (`dirs`, from the cgroup manager), so the container sees its cgroup as the root of each
 * hierarchy, with or without a cgroup namespace (what runc does on v1). On a unified host that is
 * one bind; on a hybrid or v1 host a tmpfs with one bind per hierarchy, plus the host's symlinks
 * (cpu -> cpu,cpuacct). Read-only when the mount asks for it.
 */
function bindContainerCgroup(
  root: RootHandle,
  m: Mount,
  flags: number,
  dirs: Record<string, string>,
): void {
  const baseFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  const readonly = flags & MS_RDONLY;
  const bind = (dir: string, at: string) => {
    mount(dir, at, "", MS_BIND | MS_REC);
    mount("", at, "", MS_REMOUNT | MS_BIND | baseFlags | readonly);
  };
  const point = openMountpoint(root, m, true);
  try {
    if ("" in dirs) {
      mount(dirs[""], fdPath(point.fd), "", MS_BIND | MS_REC);
    } else {
      mount("tmpfs", fdPath(point.fd), "tmpfs", baseFlags, "mode=755");
    }
  } finally {
    close(point.fd);
  }
  // From here on, the new mount (a bind of the container's cgroup, or a fresh tmpfs that only the
  // runtime has written to) is reached through an fd of it.
  atTopMount(root, m, (target) => {
    if ("" in dirs) {
      mount("", target, "", MS_REMOUNT | MS_BIND | baseFlags | readonly);
      return;
    }
    const done = new Set<string>();
    for (const dir of Object.values(dirs)) {
      if (!dir.startsWith(`${CGROUP_ROOT}/`)) continue;
      const name = dir.slice(CGROUP_ROOT.length + 1).split("/")[0];
      if (done.has(name)) continue;
      done.add(name);
      Deno.mkdirSync(`${target}/${name}`, { recursive: true });
      bind(dir, `${target}/${name}`);
    }
    for (const entry of Deno.readDirSync(CGROUP_ROOT)) {
      if (!entry.isSymlink || !done.has(Deno.readLinkSync(`${CGROUP_ROOT}/${entry.name}`))) {
        continue;
      }
      Deno.symlinkSync(
        Deno.readLinkSync(`${CGROUP_ROOT}/${entry.name}`),
        `${target}/${entry.name}`,
      );
    }
    if (readonly) mount("", target, "", MS_REMOUNT | MS_RDONLY | baseFlags, "mode=755");
  });
}
