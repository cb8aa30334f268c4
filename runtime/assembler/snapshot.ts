/**
 * Container roots from stored layers: an overlayfs mount (the stored layers as lowerdirs, a
 * per-container upperdir and workdir), or, where overlayfs cannot be used, a copy that merges the
 * layers the way overlayfs would (whiteouts delete, opaque directories hide lower contents).
 *
 * Layer lists are bottom layer first everywhere in this module (the order of rootfs.diff_ids);
 * overlayfs wants the top layer first in lowerdir=, which mountOverlayRoot() takes care of.
 */
import { mount, umount } from "../../ffi/mount.ts";
import { chdir } from "../../ffi/fs.ts";
import {
  close,
  copyFileRange,
  ficlone,
  linkat,
  mkdirat,
  mknodat,
  openat,
  readInto,
  readlinkat,
  statx,
  statxIfExists,
  type StatxResult,
  symlinkat,
  type Timespec,
  utimensat,
  writeAll,
} from "../../ffi/file_attrs.ts";
import { lgetxattr, llistxattr } from "../../ffi/xattr.ts";
import { isErrno } from "../../ffi/errno.ts";
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_CREAT,
  O_EXCL,
  O_NOFOLLOW,
  O_RDONLY,
  O_WRONLY,
} from "../../ffi/constants.ts";
import { type EntryAttrs, forgetSubtree, SafeTree, setAttrsAt, setAttrsOfFd } from "./unpack.ts";
import {
  isOpaqueValue,
  isOverlayWhiteout,
  isReservedXattr,
  OVERLAY_OPAQUE_XATTR,
} from "./whiteout.ts";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** mount(2) copies at most one page of options (PAGE_SIZE - 1 bytes with the NUL). */
const MAX_MOUNT_DATA = 4095;

function checkOverlayPath(path: string, what: string): void {
  // overlayfs splits lowerdir= at ":" and the options at ",".
  if (/[:,\\]/.test(path)) {
    throw new Error(`Cannot use "${path}" as an overlay ${what}: it contains ":", "," or "\\"`);
  }
}

function commonParent(paths: string[]): string | undefined {
  const parents = new Set(paths.map((p) => p.slice(0, p.lastIndexOf("/"))));
  return parents.size === 1 ? [...parents][0] : undefined;
}

/**
 * Mounts an overlay at `target` with `lowerdirs` (bottom layer first) read-only below a writable
 * `upperdir` (`workdir` must be an empty dir on the same filesystem as `upperdir`).
 * @throws SyscallError naming mount(2)'s arguments.
 */
export function mountOverlayRoot(
  lowerdirs: string[],
  upperdir: string,
  workdir: string,
  target: string,
): void {
  if (lowerdirs.length === 0) throw new Error("Cannot mount an overlay root without layers");
  lowerdirs.forEach((d) => checkOverlayPath(d, "lowerdir"));
  checkOverlayPath(upperdir, "upperdir");
  checkOverlayPath(workdir, "workdir");
  const top = [...lowerdirs].reverse();
  const data = `lowerdir=${top.join(":")},upperdir=${upperdir},workdir=${workdir}`;
  if (data.length <= MAX_MOUNT_DATA) {
    mount("overlay", target, "overlay", 0, data);
    return;
  }
  // Too many layers for one page of options: name the layers relative to their common parent
  // (the store's layers/sha256) and mount from there, as containerd does. chdir is process-wide,
  // so return to the previous directory at once; nothing else runs on this thread meanwhile.
  const parent = commonParent(lowerdirs);
  const short = parent === undefined
    ? undefined
    : `lowerdir=${
      top.map((d) => d.slice(parent.length + 1)).join(":")
    },upperdir=${upperdir},workdir=${workdir}`;
  if (parent === undefined || short === undefined || short.length > MAX_MOUNT_DATA) {
    throw new Error(
      `Cannot mount an overlay root at ${target}: ${lowerdirs.length} layers do not fit in mount options`,
    );
  }
  const cwd = Deno.cwd();
  chdir(parent);
  try {
    mount("overlay", target, "overlay", 0, short);
  } finally {
    chdir(cwd);
  }
}

/** Paths of a container root made by prepareOverlayRoot(). */
export interface OverlayRoot {
  /** The merged root (mount point). */
  rootfs: string;
  /** The container's read/write layer. */
  upper: string;
  work: string;
}

/**
 * Creates `dir`/{upper,work,rootfs} and mounts the overlay of `lowerdirs` on `dir`/rootfs.
 * @returns the paths; release with releaseOverlayRoot(dir).
 */
export async function prepareOverlayRoot(lowerdirs: string[], dir: string): Promise<OverlayRoot> {
  const root: OverlayRoot = { rootfs: `${dir}/rootfs`, upper: `${dir}/upper`, work: `${dir}/work` };
  for (const d of [dir, root.upper, root.work, root.rootfs]) {
    await Deno.mkdir(d, { recursive: true, mode: 0o755 });
  }
  try {
    mountOverlayRoot(lowerdirs, root.upper, root.work, root.rootfs);
  } catch (err) {
    throw new Error(`Cannot mount the container root ${root.rootfs}`, { cause: err });
  }
  return root;
}

/** Unmounts `dir`/rootfs if mounted and removes `dir` (the container's read/write layer with it). */
export async function releaseOverlayRoot(dir: string): Promise<void> {
  try {
    umount(`${dir}/rootfs`, 0);
  } catch (err) {
    // EINVAL: not a mount point (already unmounted); ENOENT: never created.
    if (!isErrno(err, "EINVAL", "ENOENT")) {
      throw new Error(`Cannot unmount the container root ${dir}/rootfs`, { cause: err });
    }
  }
  await Deno.remove(dir, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}

/** What copyRoot() did. */
export interface CopyStats {
  files: number;
  bytes: number;
  /** Files whose data was shared with a reflink (FICLONE). */
  reflinked: number;
  whiteouts: number;
}

class RootCopier {
  #tree: SafeTree;
  #dirTimes = new Map<string, { atime: Timespec; mtime: Timespec }>();
  #buf = new Uint8Array(1 << 20);
  #canClone = true;
  #canCopyRange = true;
  stats: CopyStats = { files: 0, bytes: 0, reflinked: 0, whiteouts: 0 };

  constructor(tree: SafeTree) {
    this.#tree = tree;
  }

  #remove(parent: number, name: string, rel: string): void {
    this.#tree.remove(parent, name, rel);
    forgetSubtree(this.#dirTimes, rel);
  }

  #xattrs(src: string, set: (name: string, value: Uint8Array) => void): void {
    for (const name of llistxattr(src)) {
      if (isReservedXattr(name)) continue;
      const value = lgetxattr(src, name);
      if (value !== undefined) set(name, value);
    }
  }

  #copyData(srcFd: number, dstFd: number, size: number): void {
    if (this.#canClone && size > 0) {
      try {
        ficlone(dstFd, srcFd);
        this.stats.reflinked++;
        return;
      } catch (err) {
        // ext4 and most filesystems cannot reflink; do not ask again.
        if (!isErrno(err, "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOTTY", "EBADF")) throw err;
        this.#canClone = false;
      }
    }
    let left = size;
    if (this.#canCopyRange) {
      try {
        while (left > 0) {
          const n = copyFileRange(srcFd, dstFd, Math.min(left, 1 << 30));
          if (n === 0) break;
          left -= n;
        }
        return;
      } catch (err) {
        if (!isErrno(err, "EXDEV", "ENOSYS", "EINVAL", "EOPNOTSUPP") || left !== size) throw err;
        this.#canCopyRange = false;
      }
    }
    for (;;) {
      const n = readInto(srcFd, this.#buf);
      if (n === 0) break;
      writeAll(dstFd, this.#buf.subarray(0, n));
    }
  }

  /** Merges one stored layer into the target. */
  layer(srcRoot: string): void {
    const links = new Map<string, string>();
    const walk = (rel: string): void => {
      const entries = [...Deno.readDirSync(rel ? `${srcRoot}/${rel}` : srcRoot)].map((e) => e.name)
        .sort();
      for (const name of entries) {
        const srel = rel ? `${rel}/${name}` : name;
        const src = `${srcRoot}/${srel}`;
        try {
          const st = statx(AT_FDCWD, src);
          this.#entry(src, srel, rel, name, st, links, walk);
        } catch (err) {
          if (err instanceof Error && err.message.startsWith("Cannot copy")) throw err;
          throw new Error(`Cannot copy ${src} into ${this.#tree.root}/${srel}`, { cause: err });
        }
      }
    };
    // The layer root's own attributes apply to the target root.
    const rootSt = statx(AT_FDCWD, srcRoot);
    setAttrsAt(this.#tree.rootFd, ".", this.#attrsOf(srcRoot, rootSt, false));
    this.#dirTimes.set("", { atime: rootSt.atime, mtime: rootSt.mtime });
    walk("");
  }

  /** The attributes of `src` to copy; its times only when `withTimes` (directories' come last). */
  #attrsOf(src: string, st: StatxResult, withTimes: boolean): EntryAttrs {
    return {
      uid: st.uid,
      gid: st.gid,
      mode: (st.mode & S_IFMT) === S_IFLNK ? undefined : st.mode & 0o7777,
      xattrs: (set) => this.#xattrs(src, set),
      times: withTimes ? { atime: st.atime, mtime: st.mtime } : undefined,
    };
  }

  #entry(
    src: string,
    srel: string,
    rel: string,
    name: string,
    st: StatxResult,
    links: Map<string, string>,
    walk: (rel: string) => void,
  ): void {
    this.#tree.trim();
    const parent = this.#tree.dirFd(rel, true, srel);
    const type = st.mode & S_IFMT;
    if (isOverlayWhiteout(st.mode, st.rdevMajor, st.rdevMinor)) {
      this.#remove(parent, name, srel);
      this.stats.whiteouts++;
      return;
    }
    const existing = statxIfExists(parent, name);
    if (type === S_IFDIR) {
      const opaque = isOpaqueValue(lgetxattr(src, OVERLAY_OPAQUE_XATTR));
      if (existing && ((existing.mode & S_IFMT) !== S_IFDIR || opaque)) {
        this.#remove(parent, name, srel);
        if (opaque) this.stats.whiteouts++;
      }
      if (!existing || (existing.mode & S_IFMT) !== S_IFDIR || opaque) mkdirat(parent, name, 0o700);
      setAttrsAt(parent, name, this.#attrsOf(src, st, false));
      this.#dirTimes.set(srel, { atime: st.atime, mtime: st.mtime });
      walk(srel);
      return;
    }
    if (existing) this.#remove(parent, name, srel);
    const key = `${st.devMajor}:${st.devMinor}:${st.ino}`;
    const first = st.nlink > 1 ? links.get(key) : undefined;
    if (first !== undefined) {
      const slash = first.lastIndexOf("/");
      const fparent = this.#tree.dirFd(slash < 0 ? "" : first.slice(0, slash), false, srel);
      linkat(fparent, first.slice(slash + 1), parent, name, 0);
      return;
    }
    if (st.nlink > 1) links.set(key, srel);
    switch (type) {
      case S_IFREG: {
        const srcFd = openat(AT_FDCWD, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        try {
          const dstFd = openat(
            parent,
            name,
            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
            0o600,
          );
          try {
            this.#copyData(srcFd, dstFd, st.size);
            setAttrsOfFd(dstFd, this.#attrsOf(src, st, true));
          } finally {
            close(dstFd);
          }
        } finally {
          close(srcFd);
        }
        this.stats.files++;
        this.stats.bytes += st.size;
        return;
      }
      case S_IFLNK:
        symlinkat(readlinkat(AT_FDCWD, src), parent, name);
        break;
      case S_IFCHR:
      case S_IFBLK:
      case S_IFIFO:
        mknodat(parent, name, type | 0o600, st.rdevMajor, st.rdevMinor);
        break;
      default:
        return; // sockets are not part of an image
    }
    setAttrsAt(parent, name, this.#attrsOf(src, st, true));
    this.stats.files++;
  }

  finishDirectories(): void {
    for (const [rel, t] of this.#dirTimes) {
      if (rel === "") {
        utimensat(this.#tree.rootFd, ".", t.atime, t.mtime, 0);
        continue;
      }
      this.#tree.trim();
      const slash = rel.lastIndexOf("/");
      const parent = this.#tree.dirFd(slash < 0 ? "" : rel.slice(0, slash), false, rel);
      utimensat(parent, rel.slice(slash + 1), t.atime, t.mtime, AT_SYMLINK_NOFOLLOW);
    }
  }
}

/**
 * Copies stored layers (bottom layer first) into the existing directory `target`, applying
 * whiteouts and opaque directories, and preserving owners, modes, times, xattrs, hardlinks,
 * devices and fifos. File data is reflinked where the filesystem can, else copy_file_range(2).
 * Nothing is written outside `target` (see unpack.ts SafeTree).
 */
export function copyRoot(lowerdirs: string[], target: string): CopyStats {
  const tree = new SafeTree(target);
  try {
    const copier = new RootCopier(tree);
    for (const dir of lowerdirs) copier.layer(dir);
    copier.finishDirectories();
    return copier.stats;
  } finally {
    tree.close();
  }
}
