/** Kernel constants, spelled as in the kernel headers (x86_64 and aarch64 share these values). */

// sched.h: namespace flags for unshare(2), setns(2), clone(2).
export const CLONE_FS = 0x00000200;
export const CLONE_NEWTIME = 0x00000080;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

// mount.h: mount(2) flags.
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_SYNCHRONOUS = 0x10;
export const MS_REMOUNT = 0x20;
export const MS_MANDLOCK = 0x40;
export const MS_DIRSYNC = 0x80;
export const MS_NOSYMFOLLOW = 0x100;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_SILENT = 0x8000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_STRICTATIME = 0x1000000;
export const MS_LAZYTIME = 0x2000000;

// umount2(2) flags.
export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;
export const UMOUNT_NOFOLLOW = 0x8;

// fcntl.h: open(2) flags.
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
// O_DIRECTORY and O_NOFOLLOW are the two open(2) flags whose values differ on aarch64.
export const O_DIRECTORY = Deno.build.arch === "aarch64" ? 0o40000 : 0o200000;
export const O_NOFOLLOW = Deno.build.arch === "aarch64" ? 0o100000 : 0o400000;
export const O_CLOEXEC = 0o2000000;
/** socket(2) and accept4(2): the same bit as O_CLOEXEC. */
export const SOCK_CLOEXEC = O_CLOEXEC;
export const O_PATH = 0o10000000;

// fcntl.h: the *at(2) family's dirfd and flags.
/** Use the current working directory as dirfd (paths are then resolved as by open(2)). */
export const AT_FDCWD = -100;
/** faccessat(2): check with the effective ids instead of the real ones. */
export const AT_EACCESS = 0x200;
/** access(2) mode: write permission. */
export const W_OK = 2;
/** Do not follow a symlink in the last path component. */
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** unlinkat(2) removes a directory. */
export const AT_REMOVEDIR = 0x200;
/** linkat(2) follows a symlink in oldpath. */
export const AT_SYMLINK_FOLLOW = 0x400;
/** An empty path names dirfd itself. */
export const AT_EMPTY_PATH = 0x1000;
/** mount_setattr(2): apply to the whole mount tree. */
export const AT_RECURSIVE = 0x8000;

// linux/mount.h: the new mount API.
/** open_tree(2): a detached copy of the mount (tree) instead of an O_PATH fd. */
export const OPEN_TREE_CLONE = 1;
/** move_mount(2): the source is the fd itself (empty from_path). */
export const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
/** move_mount(2): the target is to_dirfd itself. */
export const MOVE_MOUNT_T_EMPTY_PATH = 0x40;
/** mount_setattr(2): give the mount the id mapping of attr.userns_fd. */
export const MOUNT_ATTR_IDMAP = 0x100000;

// fcntl(2) commands.
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;

// flock(2) operations.
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

// stat.h: file types for mknod(2).
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFDIR = 0o040000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
/** The file-type bits of st_mode. */
export const S_IFMT = 0o170000;

// prctl.h
export const PR_SET_PDEATHSIG = 1;
export const PR_SET_DUMPABLE = 4;
export const PR_SET_KEEPCAPS = 8;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_CHILD_SUBREAPER = 36;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

// close_range(2) flags.
export const CLOSE_RANGE_CLOEXEC = 1 << 2;

// poll(2) events.
export const POLLIN = 0x1;
export const POLLHUP = 0x10;

/** Names the bits of `flags` that appear in `table`, e.g. "MS_BIND|MS_REC". */
export function flagNames(flags: number, table: Record<string, number>): string {
  const names: string[] = [];
  let rest = flags;
  for (const [name, bit] of Object.entries(table)) {
    if (bit !== 0 && (flags & bit) === bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join("|") : "0";
}

/** mount(2) flags by kernel name, for error messages. */
export const MOUNT_FLAG_NAMES: Record<string, number> = {
  MS_RDONLY,
  MS_NOSUID,
  MS_NODEV,
  MS_NOEXEC,
  MS_SYNCHRONOUS,
  MS_REMOUNT,
  MS_MANDLOCK,
  MS_DIRSYNC,
  MS_NOSYMFOLLOW,
  MS_NOATIME,
  MS_NODIRATIME,
  MS_BIND,
  MS_MOVE,
  MS_REC,
  MS_SILENT,
  MS_UNBINDABLE,
  MS_PRIVATE,
  MS_SLAVE,
  MS_SHARED,
  MS_RELATIME,
  MS_STRICTATIME,
  MS_LAZYTIME,
};

/** Namespace clone flags by kernel name, for error messages. */
export const CLONE_FLAG_NAMES: Record<string, number> = {
  CLONE_NEWTIME,
  CLONE_NEWNS,
  CLONE_NEWCGROUP,
  CLONE_NEWUTS,
  CLONE_NEWIPC,
  CLONE_NEWUSER,
  CLONE_NEWPID,
  CLONE_NEWNET,
};

// linux/magic.h: statfs(2) f_type of the filesystems the runtime writes into.
/** procfs. */
export const PROC_SUPER_MAGIC = 0x9fa0;
/** sysfs. */
export const SYSFS_MAGIC = 0x62656572;
/** devpts. */
export const DEVPTS_SUPER_MAGIC = 0x1cd1;

// linux/openat2.h: struct open_how's resolve flags.
/** Refuse to cross a mount point (bind mounts included). */
export const RESOLVE_NO_XDEV = 0x01;
/** Refuse procfs magic links (/proc/PID/fd/N, /proc/PID/root, /proc/PID/exe). */
export const RESOLVE_NO_MAGICLINKS = 0x02;
/** Refuse every symlink. */
export const RESOLVE_NO_SYMLINKS = 0x04;
/** Refuse to leave dirfd (an absolute path or ".." above it is EXDEV). */
export const RESOLVE_BENEATH = 0x08;
/** Resolve as if dirfd were "/": absolute symlinks and ".." stay inside it. */
export const RESOLVE_IN_ROOT = 0x10;
