/**
 * What a container in a user namespace, or one created by a user that is not root, cannot have,
 * refused before anything exists with the JSON path of the field (docs/rootless.md). The kernel
 * would refuse each of these later with a bare EPERM from deep inside the init:
 *
 * - mounts of filesystem types a user namespace may not mount (only FS_USERNS_MOUNT types);
 * - linux.devices without a host node to bind: in a user namespace mknod(2) is EPERM, so device
 *   nodes are bind-mounted from the host, as runc does;
 * - namespace paths the caller cannot open;
 * - rlimits above the caller's hard limit (raising one needs CAP_SYS_RESOURCE in the host's user
 *   namespace);
 * - uid/gid mappings a user may not write: beyond its own id only ranges /etc/subuid and
 *   /etc/subgid delegate to it (newuidmap(1) checks the same).
 *
 * checkUserNamespaceConfig() is pure: the facts about the caller and the host come in as
 * arguments; hostFacts() reads them.
 */
import type { IdMapping, Spec } from "../../spec/config.ts";
import { SpecError } from "../../spec/errors.ts";
import { RLIMITS } from "../../spec/rlimits.ts";
import { geteuid } from "../../ffi/process.ts";
import { inUserNamespace } from "../rootless.ts";

/**
 * Filesystem types the kernel lets a user namespace mount (FS_USERNS_MOUNT in Linux 6.x), plus
 * "cgroup", which Skiff binds from the host rather than mounts, and "bind"/"none" for binds.
 */
export const USERNS_MOUNT_TYPES: ReadonlySet<string> = new Set([
  "proc",
  "sysfs",
  "tmpfs",
  "devpts",
  "mqueue",
  "cgroup",
  "cgroup2",
  "ramfs",
  "overlay",
  "fuse",
  "bind",
  "none",
]);

/** A range of host ids delegated to the caller (/etc/subuid or /etc/subgid). */
export interface IdRange {
  start: number;
  count: number;
}

/** A device node on the host. */
export interface HostDevice {
  type: "c" | "b" | "p";
  major: number;
  minor: number;
}

/** What the checks need to know about the caller and the host. */
export interface HostFacts {
  /** Not root, or root only inside a user namespace. */
  rootless: boolean;
  /** The caller's effective uid and gid (a user's own ids need no subordinate range). */
  uid: number;
  gid: number;
  /** The caller's hard rlimits, by RLIMIT_* number (Infinity: unlimited). */
  hardLimits: readonly number[];
  /** The caller's ranges in /etc/subuid and /etc/subgid. */
  subuid: readonly IdRange[];
  subgid: readonly IdRange[];
  /** undefined when the caller can open `path`, else why not. */
  openError(path: string): string | undefined;
  /** The device node at `path` on the host, or undefined when there is none. */
  hostDevice(path: string): HostDevice | undefined;
}

function isBind(type: string | undefined, options: readonly string[] | undefined): boolean {
  return type === "bind" || (options ?? []).some((o) => o === "bind" || o === "rbind");
}

function covered(mapping: IdMapping, own: number, ranges: readonly IdRange[]): boolean {
  const first = mapping.hostID;
  const last = mapping.hostID + mapping.size - 1;
  if (first === own && last === own) return true;
  return ranges.some((r) => first >= r.start && last < r.start + r.count);
}

/**
 * Throws a SpecError for the first field a container with these facts cannot have (see the
 * module comment); returns when there is none.
 */
export function checkUserNamespaceConfig(
  spec: Spec,
  facts: HostFacts,
  configFile?: string,
): void {
  const namespaces = spec.linux?.namespaces ?? [];
  const userns = namespaces.some((ns) => ns.type === "user");
  if (!userns && !facts.rootless) return;
  const fail = (path: string, detail: string): never => {
    throw new SpecError(path, detail, configFile);
  };
  if (facts.rootless) {
    namespaces.forEach((ns, i) => {
      if (ns.path === undefined) return;
      const why = facts.openError(ns.path);
      if (why) {
        fail(
          `linux.namespaces[${i}].path`,
          `${ns.path} cannot be opened by uid ${facts.uid}: ${why}`,
        );
      }
    });
    (spec.process?.rlimits ?? []).forEach((limit, i) => {
      const current = facts.hardLimits[RLIMITS[limit.type]];
      if (current === undefined || limit.hard <= current) return;
      fail(
        `process.rlimits[${i}].hard`,
        `${limit.hard} is above the caller's hard limit ${current} for ${limit.type}; ` +
          "raising it needs CAP_SYS_RESOURCE in the host's user namespace, which a rootless " +
          "container does not have",
      );
    });
  }
  if (facts.rootless && facts.uid !== 0) {
    for (
      const [field, own, ranges, file] of [
        ["uidMappings", facts.uid, facts.subuid, "/etc/subuid"],
        ["gidMappings", facts.gid, facts.subgid, "/etc/subgid"],
      ] as const
    ) {
      (spec.linux?.[field] ?? []).forEach((m, i) => {
        if (covered(m, own, ranges)) return;
        fail(
          `linux.${field}[${i}]`,
          `host ids ${m.hostID}-${m.hostID + m.size - 1} are neither the caller's own id ${own} ` +
            `nor in its ${file} ranges (${
              ranges.map((r) => `${r.start}-${r.start + r.count - 1}`).join(", ") || "none"
            })`,
        );
      });
    }
  }
  if (!userns) return;
  (spec.mounts ?? []).forEach((m, i) => {
    if (isBind(m.type, m.options)) return;
    const type = m.type ?? "";
    if (USERNS_MOUNT_TYPES.has(type) || type.startsWith("fuse.")) return;
    fail(
      `mounts[${i}].type`,
      `${JSON.stringify(type)} cannot be mounted in a user namespace (the kernel allows ${
        [...USERNS_MOUNT_TYPES].filter((t) => t !== "bind" && t !== "none").join(", ")
      }, fuse.*); mount it on the host and bind-mount it into the container instead`,
    );
  });
  (spec.linux?.devices ?? []).forEach((device, i) => {
    const host = facts.hostDevice(device.path);
    const why = "in a user namespace device nodes cannot be created (mknod is EPERM) and are " +
      "bind-mounted from the host";
    if (!host) {
      fail(`linux.devices[${i}].path`, `${device.path} is not a device on the host; ${why}`);
    }
    const type = device.type === "u" ? "c" : device.type;
    if (
      host!.type !== type ||
      (type !== "p" && (host!.major !== device.major || host!.minor !== device.minor))
    ) {
      fail(
        `linux.devices[${i}]`,
        `${device.path} on the host is ${host!.type} ${host!.major}:${host!.minor}, not ` +
          `${device.type} ${device.major}:${device.minor}; ${why}`,
      );
    }
  });
}

/** Parses /proc/self/limits into hard limits by RLIMIT_* number (its rows are in that order). */
export function parseHardLimits(text: string): number[] {
  return text.split("\n").slice(1).filter((line) => line.trim() !== "").map((line) => {
    const hard = line.slice(47, 68).trim();
    return hard === "unlimited" ? Infinity : Number(hard);
  });
}

/** The caller's ranges in a subordinate id file (lines name:start:count, by name or by id). */
export function parseSubids(text: string, name: string | undefined, id: number): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if (owner !== name && owner !== String(id)) continue;
    if (!Number.isInteger(Number(start)) || !Number.isInteger(Number(count))) continue;
    out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

function readOr(path: string, fallback = ""): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

/** The user name of `uid` from /etc/passwd. */
function userName(uid: number): string | undefined {
  for (const line of readOr("/etc/passwd").split("\n")) {
    const fields = line.split(":");
    if (fields.length > 2 && Number(fields[2]) === uid) return fields[0];
  }
  return undefined;
}

/** The facts about this process and host that checkUserNamespaceConfig() needs. */
export function hostFacts(): HostFacts {
  // Each fact is read on first use: a root caller with no user namespace in the config needs only
  // `rootless` (checkUserNamespaceConfig returns early), and reading /etc/passwd, /etc/subuid,
  // /etc/subgid, /proc/self/limits and /proc/self/status cost every create ~1 ms (issue 11).
  const uid = once(() => geteuid());
  const name = once(() => userName(uid()));
  const rootless = once(() => uid() !== 0 || inUserNamespace());
  const gid = once(() =>
    Number(/^Gid:\s+\d+\s+(\d+)/m.exec(readOr("/proc/self/status"))?.[1] ?? 0)
  );
  const hardLimits = once(() => parseHardLimits(readOr("/proc/self/limits")));
  const subuid = once(() => parseSubids(readOr("/etc/subuid"), name(), uid()));
  const subgid = once(() => parseSubids(readOr("/etc/subgid"), name(), uid()));
  return {
    get rootless() {
      return rootless();
    },
    get uid() {
      return uid();
    },
    get gid() {
      return gid();
    },
    get hardLimits() {
      return hardLimits();
    },
    get subuid() {
      return subuid();
    },
    get subgid() {
      return subgid();
    },
    openError(path) {
      try {
        Deno.openSync(path, { read: true }).close();
        return undefined;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
    hostDevice(path) {
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(path);
      } catch {
        return undefined;
      }
      const type = info.isCharDevice ? "c" : info.isBlockDevice ? "b" : info.isFifo ? "p" : "";
      if (!type || info.rdev === null) return undefined;
      const rdev = info.rdev;
      // glibc's gnu_dev_major/minor for the 64-bit dev_t.
      const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
      const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
      return { type, major, minor };
    },
  };
}

/** `read` called at most once: its value is kept for later calls. */
function once<T>(read: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: read() }).v;
}
