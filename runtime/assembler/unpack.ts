/**
 * Unpacks a layer tar into a directory, in overlayfs form (see whiteout.ts), so that the result is
 * directly an overlay lowerdir.
 *
 * Safety rules (docs/assembler.md):
 * - Entry names are normalized: a leading "/" is stripped (what GNU tar does by default), "." and
 *   empty components are dropped, and any ".." component is refused, even one that would stay
 *   inside the layer (GNU tar refuses those members too).
 * - Nothing is ever resolved through a symlink: every parent directory is opened with
 *   openat(O_PATH|O_DIRECTORY|O_NOFOLLOW) one component at a time from the layer root, and every
 *   change is made with an *at call relative to that parent fd (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW,
 *   O_EXCL). An entry whose parent is a symlink is refused.
 * - Hardlink targets are resolved the same way inside the layer; linkat(2) without
 *   AT_SYMLINK_FOLLOW links a symlink itself, never what it points to.
 * - An existing entry is replaced (unlinked, or removed recursively) unless both are directories.
 * A refused or failing entry throws; the caller removes the partial layer directory.
 */
import { readTar, type TarEntry, type TarHeader, type TarTime } from "./tar.ts";
import { classifyWhiteout, isReservedXattr, OVERLAY_OPAQUE_XATTR } from "./whiteout.ts";
import {
  close,
  fchmod,
  fchmodat,
  fchown,
  fchownat,
  futimens,
  linkat,
  mkdirat,
  mknodat,
  openat,
  statxIfExists,
  symlinkat,
  type Timespec,
  unlinkat,
  utimensat,
  writeAll,
} from "../../ffi/file_attrs.ts";
import { fsetxattr, lsetxattr } from "../../ffi/xattr.ts";
import { isErrno } from "../../ffi/errno.ts";
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_WRONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
} from "../../ffi/constants.ts";

const S_IFMT = 0o170000;

/** A layer entry refused for safety; names the entry. */
export class UnsafeEntryError extends Error {
  /** The entry name as stored in the tar. */
  readonly entry: string;
  constructor(entry: string, reason: string) {
    super(`refusing layer entry "${entry}": ${reason}`);
    this.name = "UnsafeEntryError";
    this.entry = entry;
  }
}

/**
 * Normalizes a tar member name to a path relative to the layer root ("" is the root itself).
 * @throws UnsafeEntryError for a ".." component or a NUL byte.
 */
export function normalizeEntryPath(name: string): string {
  if (name.includes("\0")) throw new UnsafeEntryError(name, "name contains a NUL byte");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new UnsafeEntryError(name, 'name contains a ".." component');
  return parts.join("/");
}

function splitPath(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf("/");
  return slash < 0
    ? { dir: "", base: path }
    : { dir: path.slice(0, slash), base: path.slice(slash + 1) };
}

/** A path naming `name` in the directory `dirfd` for the calls that have no *at form. */
function procPath(dirfd: number, name: string): string {
  return `/proc/self/fd/${dirfd}/${name}`;
}

/** Keeps a few hundred directory fds open; a bigger cache would only cost fds. */
const FD_CACHE_LIMIT = 512;

/**
 * A directory tree that is changed only through *at calls relative to O_PATH directory fds,
 * reached from the root without following any symlink.
 */
export class SafeTree {
  /** The tree's root directory on the host. */
  readonly root: string;
  /** O_PATH fd of the root. */
  readonly rootFd: number;
  #cache = new Map<string, number>();

  constructor(root: string) {
    this.root = root;
    this.rootFd = openat(AT_FDCWD, root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }

  /**
   * Returns an O_PATH fd of directory `rel` ("" is the root), walking one component at a time
   * with O_NOFOLLOW. Missing directories are created (0755, root-owned) when `create` is set.
   * The fd stays owned by the tree.
   * @throws UnsafeEntryError naming `entry` when a component is a symlink or not a directory.
   */
  dirFd(rel: string, create: boolean, entry: string): number {
    if (rel === "") return this.rootFd;
    const cached = this.#cache.get(rel);
    if (cached !== undefined) return cached;
    const { dir, base } = splitPath(rel);
    const parent = this.dirFd(dir, create, entry);
    let fd: number;
    try {
      fd = openat(parent, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } catch (err) {
      if (create && isErrno(err, "ENOENT")) {
        mkdirat(parent, base, 0o755);
        fd = openat(parent, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      } else if (isErrno(err, "ENOTDIR", "ELOOP")) {
        const st = statxIfExists(parent, base);
        const what = st && (st.mode & S_IFMT) === 0o120000 ? "a symlink" : "not a directory";
        throw new UnsafeEntryError(entry, `parent "${rel}" is ${what}`);
      } else {
        throw err;
      }
    }
    this.#cache.set(rel, fd);
    return fd;
  }

  /** A path naming `name` in the directory `dirfd` for the calls that have no *at form. */
  procPath(dirfd: number, name: string): string {
    return procPath(dirfd, name);
  }

  /** Forgets cached fds of `rel` and everything below it (it is about to be replaced). */
  forget(rel: string): void {
    for (const [key, fd] of this.#cache) {
      if (key === rel || key.startsWith(rel + "/")) {
        close(fd);
        this.#cache.delete(key);
      }
    }
  }

  /** Removes `name` in `dirfd` (recursively for a directory), never following symlinks. */
  remove(dirfd: number, name: string, rel: string): void {
    const st = statxIfExists(dirfd, name);
    if (!st) return;
    this.forget(rel);
    if ((st.mode & S_IFMT) === S_IFDIR) {
      // Rust's remove_dir_all walks with openat(O_NOFOLLOW) and unlinks symlinks themselves.
      Deno.removeSync(this.procPath(dirfd, name), { recursive: true });
    } else {
      unlinkat(dirfd, name, 0);
    }
  }

  /**
   * Closes the cached fds when there are many. Call it only between entries: an fd handed out by
   * dirFd() stays valid until then (closing it early could let its number be reused).
   */
  trim(): void {
    if (this.#cache.size >= FD_CACHE_LIMIT) this.#dropAll();
  }

  #dropAll(): void {
    for (const fd of this.#cache.values()) close(fd);
    this.#cache.clear();
  }

  /** Closes every fd. */
  close(): void {
    this.#dropAll();
    close(this.rootFd);
  }
}

/** An entry's owner, permission bits, xattrs and times (setAttrsAt(), setAttrsOfFd()). */
export interface EntryAttrs {
  uid: number;
  gid: number;
  /** Permission bits; undefined for a symlink (Linux has no lchmod). */
  mode?: number;
  /** Calls `set` for each xattr to apply. */
  xattrs: (set: (name: string, value: Uint8Array) => void) => void;
  /** Undefined leaves the times for later (a directory's change while it is filled). */
  times?: { atime: Timespec; mtime: Timespec };
}

// The order matters: chown clears setuid/setgid and security.capability, so chown, then chmod,
// then xattrs; times last, as each of the others may change them.

/** Sets `attrs` on `name` in the directory `parent`, never following a symlink. */
export function setAttrsAt(parent: number, name: string, attrs: EntryAttrs): void {
  fchownat(parent, name, attrs.uid, attrs.gid, AT_SYMLINK_NOFOLLOW);
  if (attrs.mode !== undefined) fchmodat(parent, name, attrs.mode);
  attrs.xattrs((n, v) => lsetxattr(procPath(parent, name), n, v));
  if (attrs.times) {
    utimensat(parent, name, attrs.times.atime, attrs.times.mtime, AT_SYMLINK_NOFOLLOW);
  }
}

/** Sets `attrs` on the open file `fd`. */
export function setAttrsOfFd(fd: number, attrs: EntryAttrs): void {
  fchown(fd, attrs.uid, attrs.gid);
  if (attrs.mode !== undefined) fchmod(fd, attrs.mode);
  attrs.xattrs((n, v) => fsetxattr(fd, n, v));
  if (attrs.times) futimens(fd, attrs.times.atime, attrs.times.mtime);
}

/** What unpackLayer() did. */
export interface UnpackStats {
  /** Tar entries applied (including whiteouts). */
  entries: number;
  /** Regular file bytes written. */
  bytes: number;
  /** Whiteouts and opaque markers applied. */
  whiteouts: number;
  /** trusted.overlay.* xattrs found in the tar and not applied. */
  skippedXattrs: number;
}

/** Options of unpackLayer(). */
export interface UnpackOptions {
  /** Called after each entry is applied. */
  onEntry?: (header: TarHeader) => void;
}

interface DirTimes {
  atime: TarTime;
  mtime: TarTime;
}

const encoder = new TextEncoder();

/** Drops the entries of `map` for `rel` and everything under it (pending directory times). */
export function forgetSubtree<V>(map: Map<string, V>, rel: string): void {
  for (const key of map.keys()) {
    if (key === rel || key.startsWith(rel + "/")) map.delete(key);
  }
}

class Unpacker {
  #tree: SafeTree;
  #dirTimes = new Map<string, DirTimes>();
  stats: UnpackStats = { entries: 0, bytes: 0, whiteouts: 0, skippedXattrs: 0 };

  constructor(tree: SafeTree) {
    this.#tree = tree;
  }

  /** Removes what is at `rel` and forgets its pending directory times. */
  #clear(parent: number, name: string, rel: string): void {
    this.#tree.remove(parent, name, rel);
    forgetSubtree(this.#dirTimes, rel);
  }

  /** Runs `create`; on EEXIST clears the old entry (unless `keep` says to keep it) and retries. */
  #createReplacing(
    parent: number,
    name: string,
    rel: string,
    create: () => void,
    keep?: (mode: number) => boolean,
  ): boolean {
    try {
      create();
      return true;
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
    }
    const st = statxIfExists(parent, name);
    if (st && keep?.(st.mode)) return false;
    this.#clear(parent, name, rel);
    create();
    return true;
  }

  #xattrs(header: TarHeader, set: (name: string, value: Uint8Array) => void): void {
    for (const [name, value] of header.xattrs) {
      if (isReservedXattr(name)) {
        this.stats.skippedXattrs++;
        continue;
      }
      set(name, value);
    }
  }

  /**
   * Links `name` in `parent` (the entry `rel`) to an earlier entry of this layer. The target must
   * be a non-directory already unpacked here, reached without following symlinks.
   */
  #hardlink(h: TarHeader, rel: string, parent: number, name: string): void {
    let target: string;
    try {
      target = normalizeEntryPath(h.linkname);
    } catch (err) {
      throw new UnsafeEntryError(
        h.name,
        `hardlink target "${h.linkname}": ${
          (err as UnsafeEntryError).message.replace(/^.*": /, "")
        }`,
      );
    }
    if (target === "") throw new UnsafeEntryError(h.name, "hardlink to the layer root");
    if (target === rel || target.startsWith(rel + "/")) {
      // Replacing `rel` would remove the target (and close its directory's fd) first.
      throw new UnsafeEntryError(h.name, "hardlink to itself or to a path below itself");
    }
    const notInLayer = () =>
      new UnsafeEntryError(h.name, `hardlink target "${h.linkname}" is not in this layer`);
    const t = splitPath(target);
    let tparent: number;
    try {
      tparent = this.#tree.dirFd(t.dir, false, h.name);
    } catch (err) {
      throw isErrno(err, "ENOENT") ? notInLayer() : err;
    }
    const st = statxIfExists(tparent, t.base);
    if (!st) throw notInLayer();
    if ((st.mode & S_IFMT) === S_IFDIR) {
      throw new UnsafeEntryError(h.name, `hardlink target "${h.linkname}" is a directory`);
    }
    this.#createReplacing(parent, name, rel, () => linkat(tparent, t.base, parent, name, 0));
  }

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header;
    const rel = normalizeEntryPath(h.name);
    const kind = rel === "" ? { kind: "entry" as const } : classifyWhiteout(rel);
    if (kind.kind === "ignore") return;
    if (kind.kind === "whiteout") {
      const parent = this.#tree.dirFd(kind.dir, true, h.name);
      this.#clear(parent, kind.name, kind.path);
      mknodat(parent, kind.name, S_IFCHR, 0, 0);
      this.stats.whiteouts++;
      return;
    }
    if (kind.kind === "opaque") {
      const fd = this.#tree.dirFd(kind.dir, true, h.name);
      lsetxattr(this.#tree.procPath(fd, "."), OVERLAY_OPAQUE_XATTR, encoder.encode("y"));
      this.stats.whiteouts++;
      return;
    }

    const { dir, base } = splitPath(rel);
    const isRoot = rel === "";
    if (isRoot && h.type !== "directory") {
      throw new UnsafeEntryError(h.name, `names the layer root but is a ${h.type}`);
    }
    const parent = isRoot ? this.#tree.rootFd : this.#tree.dirFd(dir, true, h.name);
    const name = isRoot ? "." : base;
    const mode = h.mode & 0o7777;
    const times = { atime: h.atime ?? h.mtime, mtime: h.mtime };
    const xattrs = (set: (name: string, value: Uint8Array) => void) => this.#xattrs(h, set);

    switch (h.type) {
      case "directory": {
        if (!isRoot) {
          this.#createReplacing(
            parent,
            name,
            rel,
            () => mkdirat(parent, name, 0o700),
            (m) => (m & S_IFMT) === S_IFDIR,
          );
        }
        setAttrsAt(parent, name, { uid: h.uid, gid: h.gid, mode, xattrs });
        this.#dirTimes.set(rel, times);
        break;
      }
      case "file": {
        const flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
        let fd = -1;
        this.#createReplacing(parent, name, rel, () => {
          fd = openat(parent, name, flags, 0o600);
        });
        try {
          for await (const chunk of entry.body) {
            writeAll(fd, chunk);
            this.stats.bytes += chunk.length;
          }
          setAttrsOfFd(fd, { uid: h.uid, gid: h.gid, mode, xattrs, times });
        } finally {
          close(fd);
        }
        break;
      }
      case "symlink": {
        this.#createReplacing(parent, name, rel, () => symlinkat(h.linkname, parent, name));
        setAttrsAt(parent, name, { uid: h.uid, gid: h.gid, xattrs, times });
        break;
      }
      case "hardlink":
        this.#hardlink(h, rel, parent, name);
        break;
      case "chardev":
      case "blockdev":
      case "fifo": {
        const type = h.type === "chardev" ? S_IFCHR : h.type === "blockdev" ? S_IFBLK : S_IFIFO;
        const [major, minor] = h.type === "fifo" ? [0, 0] : [h.devmajor, h.devminor];
        this.#createReplacing(
          parent,
          name,
          rel,
          () => mknodat(parent, name, type | 0o600, major, minor),
        );
        setAttrsAt(parent, name, { uid: h.uid, gid: h.gid, mode, xattrs, times });
        break;
      }
      default:
        throw new UnsafeEntryError(h.name, `unsupported entry type '${h.typeflag}'`);
    }
    this.stats.entries++;
  }

  /** Sets directory times last: creating entries inside a directory changes its mtime. */
  finishDirectories(): void {
    for (const [rel, t] of this.#dirTimes) {
      if (rel === "") {
        utimensat(this.#tree.rootFd, ".", t.atime, t.mtime, 0);
        continue;
      }
      this.#tree.trim();
      const { dir, base } = splitPath(rel);
      const parent = this.#tree.dirFd(dir, false, rel);
      utimensat(parent, base, t.atime, t.mtime, AT_SYMLINK_NOFOLLOW);
    }
  }
}

/**
 * Unpacks the layer tar `tar` into the existing directory `dir` (normally empty).
 * @returns what was applied.
 * @throws UnsafeEntryError for an entry that would write outside `dir`; other errors name the
 *   entry and wrap the cause. `dir` is left partially filled: the caller removes it.
 */
export async function unpackLayer(
  tar: ReadableStream<Uint8Array>,
  dir: string,
  options: UnpackOptions = {},
): Promise<UnpackStats> {
  const tree = new SafeTree(dir);
  try {
    const unpacker = new Unpacker(tree);
    for await (const entry of readTar(tar)) {
      tree.trim();
      try {
        await unpacker.apply(entry);
      } catch (err) {
        if (err instanceof UnsafeEntryError) throw err;
        throw new Error(`Cannot unpack layer entry "${entry.header.name}" into ${dir}`, {
          cause: err,
        });
      }
      options.onEntry?.(entry.header);
    }
    unpacker.finishDirectories();
    return unpacker.stats;
  } finally {
    tree.close();
  }
}
