import { dirname, join, normalize } from "../path.ts";
import type { Mount } from "../../spec/config.ts";
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_CLOEXEC,
  O_CREAT,
  O_EXCL,
  O_NOFOLLOW,
  O_WRONLY,
} from "../../ffi/constants.ts";
import { close, open } from "../../ffi/fs.ts";
import { mount, mountSetattrRecursive, moveMountFd } from "../../ffi/mount.ts";
import { parseMountOptions, withMountLabel } from "./mount_options.ts";
import { mkdirAllInRoot, secureJoin } from "./secure_join.ts";
import { mountTmpfsCopyUp } from "./tmpcopyup.ts";

function ensureMountpoint(rootfs: string, m: Mount, sourceIsDir: boolean): string {
  const target = secureJoin(rootfs, m.destination);
  let exists = false;
  try {
    const info = Deno.lstatSync(target);
    exists = true;
    if (!sourceIsDir && info.isDirectory && (m.type === "bind" || isBind(m))) {
      // A file bind-mounted onto a directory is refused by the kernel; say so clearly.
      throw new Error(`cannot bind-mount file ${m.source} onto directory ${m.destination}`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (!exists) {
    if (sourceIsDir) {
      mkdirAllInRoot(rootfs, m.destination);
    } else {
      mkdirAllInRoot(rootfs, dirname(m.destination));
      // O_EXCL|O_NOFOLLOW: a file that appeared since the check, or a symlink, is never opened,
      // let alone truncated.
      close(
        open(
          secureJoin(rootfs, m.destination),
          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
          0o644,
        ),
      );
    }
  }
  return secureJoin(rootfs, m.destination);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
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
export function remountReadonlyLate(mounts: readonly Mount[]): void {
  mounts.forEach((m, index) => {
    const opts = parseMountOptions(m.options);
    if (!(opts.flags & MS_RDONLY) || !delaysReadonly(m)) return;
    try {
      mount("", m.destination, "", opts.flags | MS_REMOUNT | MS_BIND | MS_RDONLY);
    } catch (err) {
      throw new Error(`mounts[${index}]: cannot make ${m.destination} read-only`, { cause: err });
    }
  });
}

/**
 * procfs and sysfs go on an ordinary directory only: a symlink (or a file) at the destination
 * could send them anywhere, so it is refused as runc does. The last component is checked without
 * following it.
 */
function checkPseudoFsTarget(rootfs: string, m: Mount, type: string): void {
  if (type !== "proc" && type !== "sysfs") return;
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(join(rootfs, normalize(m.destination)));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!info.isDirectory) {
    throw new Error(
      `filesystem "${type}" must be mounted on an ordinary directory: ${m.destination} is ${
        info.isSymlink ? "a symlink" : "not a directory"
      } in the rootfs`,
    );
  }
}

/**
 * Mounts one config.json `mounts[]` entry inside `rootfs` (before pivot_root).
 * @param bundle the bundle directory, against which relative bind sources resolve.
 * @param made.mountFd a detached mount the CLI made for this entry (an idmapped mount): attached
 *   with move_mount() instead of a bind mount, then given the entry's other options.
 */
export function mountEntry(
  rootfs: string,
  bundle: string,
  m: Mount,
  index: number,
  cgroupDirs: Record<string, string>,
  mountLabel?: string,
  made: { mountFd?: number } = {},
): void {
  const opts = parseMountOptions(m.options);
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
      const target = ensureMountpoint(rootfs, m, info.isDirectory);
      if (made.mountFd !== undefined) {
        // The CLI's open_tree() copy, idmapped; it goes away with its fd if never attached.
        moveMountFd(made.mountFd, target);
        close(made.mountFd);
      } else {
        mount(source, target, "", MS_BIND | (opts.flags & MS_REC));
      }
      const extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
      if (extra !== 0) {
        // Bind mounts ignore other flags on the first call: remount to apply them (mount(8) does too).
        mount(source, target, "", MS_REMOUNT | MS_BIND | extra);
      }
      applyAfter(target, opts);
      return;
    }
    if (type === "cgroup" || type === "cgroup2") {
      bindContainerCgroup(rootfs, m, opts.flags, cgroupDirs);
      return;
    }
    checkPseudoFsTarget(rootfs, m, type);
    const existed = exists(secureJoin(rootfs, m.destination));
    const target = ensureMountpoint(rootfs, m, true);
    // Read-only comes later for tmpfs and /dev (remountReadonlyLate).
    const flags = delaysReadonly(m) ? opts.flags & ~MS_RDONLY : opts.flags;
    if (type === "tmpfs" && opts.data.includes("tmpcopyup")) {
      const data = opts.data.filter((d) => d !== "tmpcopyup").join(",");
      mountTmpfsCopyUp(m.source ?? "tmpfs", target, flags, data, existed);
    } else {
      mount(m.source ?? type, target, type, flags, opts.data.join(","));
    }
    applyAfter(target, opts);
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
  rootfs: string,
  m: Mount,
  flags: number,
  dirs: Record<string, string>,
): void {
  const target = ensureMountpoint(rootfs, m, true);
  const baseFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  const readonly = flags & MS_RDONLY;
  const bind = (dir: string, at: string) => {
    mount(dir, at, "", MS_BIND | MS_REC);
    mount("", at, "", MS_REMOUNT | MS_BIND | baseFlags | readonly);
  };
  if ("" in dirs) {
    bind(dirs[""], target);
    return;
  }
  mount("tmpfs", target, "tmpfs", baseFlags, "mode=755");
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
    if (!entry.isSymlink || !done.has(Deno.readLinkSync(`${CGROUP_ROOT}/${entry.name}`))) continue;
    Deno.symlinkSync(Deno.readLinkSync(`${CGROUP_ROOT}/${entry.name}`), `${target}/${entry.name}`);
  }
  if (readonly) mount("", target, "", MS_REMOUNT | MS_RDONLY | baseFlags, "mode=755");
}
