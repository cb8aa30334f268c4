import {
  MS_BIND,
  MS_DIRSYNC,
  MS_LAZYTIME,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_NOSYMFOLLOW,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_SHARED,
  MS_SILENT,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
} from "../../ffi/constants.ts";

/** mount(8) options: name -> [clear?, flag]. */
const FLAGS: Record<string, [boolean, number]> = {
  async: [true, MS_SYNCHRONOUS],
  atime: [true, MS_NOATIME],
  bind: [false, MS_BIND],
  defaults: [false, 0],
  dev: [true, MS_NODEV],
  diratime: [true, MS_NODIRATIME],
  dirsync: [false, MS_DIRSYNC],
  exec: [true, MS_NOEXEC],
  lazytime: [false, MS_LAZYTIME],
  loud: [true, MS_SILENT],
  mand: [false, MS_MANDLOCK],
  noatime: [false, MS_NOATIME],
  nodev: [false, MS_NODEV],
  nodiratime: [false, MS_NODIRATIME],
  noexec: [false, MS_NOEXEC],
  nolazytime: [true, MS_LAZYTIME],
  nomand: [true, MS_MANDLOCK],
  norelatime: [true, MS_RELATIME],
  nostrictatime: [true, MS_STRICTATIME],
  nosuid: [false, MS_NOSUID],
  nosymfollow: [false, MS_NOSYMFOLLOW],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, MS_RELATIME],
  remount: [false, MS_REMOUNT],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  silent: [false, MS_SILENT],
  strictatime: [false, MS_STRICTATIME],
  suid: [true, MS_NOSUID],
  symfollow: [true, MS_NOSYMFOLLOW],
  sync: [false, MS_SYNCHRONOUS],
};

const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

// mount_setattr(2) attributes for the recursive options (linux/mount.h).
const MOUNT_ATTR_RDONLY = 0x1;
const MOUNT_ATTR_NOSUID = 0x2;
const MOUNT_ATTR_NODEV = 0x4;
const MOUNT_ATTR_NOEXEC = 0x8;
const MOUNT_ATTR__ATIME = 0x70;
const MOUNT_ATTR_RELATIME = 0x0;
const MOUNT_ATTR_NOATIME = 0x10;
const MOUNT_ATTR_STRICTATIME = 0x20;
const MOUNT_ATTR_NODIRATIME = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

/** Recursive options: name -> [set, clear] attribute bits for mount_setattr(AT_RECURSIVE). */
const RECURSIVE: Record<string, [number, number]> = {
  rro: [MOUNT_ATTR_RDONLY, 0],
  rrw: [0, MOUNT_ATTR_RDONLY],
  rnosuid: [MOUNT_ATTR_NOSUID, 0],
  rsuid: [0, MOUNT_ATTR_NOSUID],
  rnodev: [MOUNT_ATTR_NODEV, 0],
  rdev: [0, MOUNT_ATTR_NODEV],
  rnoexec: [MOUNT_ATTR_NOEXEC, 0],
  rexec: [0, MOUNT_ATTR_NOEXEC],
  rnodiratime: [MOUNT_ATTR_NODIRATIME, 0],
  rdiratime: [0, MOUNT_ATTR_NODIRATIME],
  rrelatime: [MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME],
  rnorelatime: [0, MOUNT_ATTR__ATIME],
  rnoatime: [MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME],
  ratime: [0, MOUNT_ATTR_NOATIME],
  rstrictatime: [MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME],
  rnostrictatime: [0, MOUNT_ATTR_STRICTATIME],
  rnosymfollow: [MOUNT_ATTR_NOSYMFOLLOW, 0],
  rsymfollow: [0, MOUNT_ATTR_NOSYMFOLLOW],
};

/** What a mount's `options` mean for mount(2) and mount_setattr(2). */
export interface ParsedMountOptions {
  /** Flags for the mount(2) call. */
  flags: number;
  /** Propagation changes, each applied by its own mount(2) call after the mount. */
  propagation: number[];
  /** mount_setattr(AT_RECURSIVE) attributes to set and clear; both 0 when none. */
  recursiveSet: number;
  recursiveClear: number;
  /** Options the kernel flags do not cover: passed to the filesystem as data. */
  data: string[];
}

/**
 * Idmapped mounts (config.md): never passed to mount(2); the CLI makes such a mount itself
 * (container/idmapped_mounts.ts) and the init attaches it (mounts.ts).
 */
const IDMAP = new Set(["idmap", "ridmap"]);

/**
 * Names of every option the tables above hold, sorted; `features` lists mount_option_names.ts's
 * copy, which mount_options_test.ts compares with this (a function: nothing else needs it, and a
 * create need not build it at load).
 */
export function parsedOptionNames(): string[] {
  return [...Object.keys(FLAGS), ...Object.keys(PROPAGATION), ...Object.keys(RECURSIVE), ...IDMAP]
    .sort();
}

/** Splits mount(8)-style options into flags, propagation, recursive attributes and fs data. */
export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  const out: ParsedMountOptions = {
    flags: 0,
    propagation: [],
    recursiveSet: 0,
    recursiveClear: 0,
    data: [],
  };
  for (const option of options) {
    const flag = FLAGS[option];
    if (flag) {
      const [clear, bit] = flag;
      out.flags = clear ? out.flags & ~bit : out.flags | bit;
      continue;
    }
    const propagation = PROPAGATION[option];
    if (propagation !== undefined) {
      out.propagation.push(propagation);
      continue;
    }
    const recursive = RECURSIVE[option];
    if (recursive) {
      out.recursiveSet = (out.recursiveSet & ~recursive[1]) | recursive[0];
      out.recursiveClear = (out.recursiveClear & ~recursive[0]) | recursive[1];
      continue;
    }
    if (!IDMAP.has(option)) out.data.push(option);
  }
  return out;
}

/** Propagation flags for linux.rootfsPropagation values (runc's table). */
export function rootfsPropagationFlags(value: string | undefined): number {
  if (!value) return 0;
  return PROPAGATION[value] ?? 0;
}

/** Filesystems that take no SELinux `context=` option (runc mounts them without the label). */
const UNLABELLED = new Set(["proc", "sysfs", "mqueue", "cgroup", "cgroup2", "bind"]);

/**
 * Adds linux.mountLabel to a mount's data as SELinux's `context="<label>"` option, as runc does
 * for every mount but binds, proc, sysfs, mqueue and cgroups (pure; `label` empty: unchanged).
 */
export function withMountLabel(type: string, data: string[], label: string | undefined): string[] {
  if (!label || UNLABELLED.has(type) || data.some((d) => d.startsWith("context="))) return data;
  return [...data, `context="${label}"`];
}
