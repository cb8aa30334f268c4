/**
 * linux.cgroupsPath semantics, as runc's cgroupfs drivers have them (opencontainers/cgroups
 * fs/paths.go subsysPath, fs2/defaultpath.go):
 *
 * - absolute ("/a/b"): under each hierarchy's mount point: /sys/fs/cgroup/memory/a/b on v1,
 *   /sys/fs/cgroup/a/b on v2;
 * - relative ("a/b"): v1: under the runtime's own cgroup in each hierarchy (/proc/self/cgroup);
 *   v2: under the PARENT of the runtime's own cgroup (its own one usually has processes, so
 *   controllers could not be enabled below it);
 * - none: the container ID as a relative path (runc: c.Name = id, c.Path = "");
 * - with --systemd-cgroup: "slice:prefix:name" names the scope "prefix-name.scope" in the slice,
 *   which systemd makes (systemd.ts); its directory is where systemd puts the unit (under the
 *   user instance's user@UID.service for a rootless caller).
 *
 * Unlike runc, which cleans ".." away silently, a ".." that would leave the hierarchy (or the
 * base of a relative path) is an error.
 */
import { dirname, join } from "../path.ts";
import { SpecError } from "../../spec/errors.ts";
import { type CgroupMount, hostDir } from "./detect.ts";

/** The cgroup of a container, before it is placed in a hierarchy. */
export interface InnerCgroupPath {
  /** "/a/b" or "a/b": cleaned, never empty, never "/". */
  path: string;
  absolute: boolean;
}

/** How the container's cgroup was asked for. */
export interface CgroupPathOptions {
  /** The container ID (the default relative path). */
  id: string;
  /** linux.cgroupsPath, if any. */
  cgroupsPath?: string;
  /** --systemd-cgroup was given. */
  systemd?: boolean;
}

/** The prefix of scopes Skiff names when --systemd-cgroup is given without a cgroupsPath. */
export const DEFAULT_SCOPE_PREFIX = "skiff";

/**
 * Cleans a cgroup path lexically ("a//b/./c" -> "a/b/c"); throws when a ".." would leave the
 * hierarchy root (absolute) or the base directory (relative).
 */
export function cleanCgroupPath(path: string, field = "linux.cgroupsPath"): InnerCgroupPath {
  const absolute = path.startsWith("/");
  const parts: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (parts.length === 0) {
        throw new SpecError(
          field,
          `${JSON.stringify(path)} must not use ".." to leave the ${
            absolute ? "cgroup hierarchy" : "runtime's cgroup"
          }`,
        );
      }
      parts.pop();
      continue;
    }
    if (segment.includes("\0")) throw new SpecError(field, "must not contain NUL bytes");
    parts.push(segment);
  }
  if (parts.length === 0) {
    throw new SpecError(
      field,
      `${JSON.stringify(path)} must name a cgroup below the hierarchy root, not the root itself`,
    );
  }
  const joined = parts.join("/");
  return { path: absolute ? `/${joined}` : joined, absolute };
}

/**
 * Expands a systemd slice name into its cgroup path as systemd lays it out:
 * "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" (the root slice) -> "".
 */
export function expandSlice(slice: string, field = "linux.cgroupsPath"): string {
  if (!slice.endsWith(".slice") || slice.includes("/")) {
    throw new SpecError(field, `${JSON.stringify(slice)} is not a systemd slice name (x.slice)`);
  }
  if (slice === "-.slice") return "";
  const name = slice.slice(0, -".slice".length);
  if (name === "" || name.startsWith("-") || name.endsWith("-") || name.includes("--")) {
    throw new SpecError(field, `${JSON.stringify(slice)} is not a valid systemd slice name`);
  }
  let path = "";
  let prefix = "";
  for (const component of name.split("-")) {
    prefix = prefix ? `${prefix}-${component}` : component;
    path += `/${prefix}.slice`;
  }
  return path;
}

/**
 * Parses a systemd "slice:prefix:name" cgroupsPath into the cgroup path of its unit
 * ("system.slice:docker:abc" -> "/system.slice/docker-abc.scope").
 */
export function systemdCgroupPath(
  cgroupsPath: string | undefined,
  id: string,
  user = false,
): string {
  const field = "linux.cgroupsPath";
  // runc: the user instance's units live below its own service's cgroup, default slice user.slice.
  const uid = user ? Deno.uid() : 0;
  const base = user ? `/user.slice/user-${uid}.slice/user@${uid}.service` : "";
  const defaultSlice = user ? "user.slice" : "system.slice";
  if (!cgroupsPath) {
    return `${base}${expandSlice(defaultSlice)}/${DEFAULT_SCOPE_PREFIX}-${id}.scope`;
  }
  const parts = cgroupsPath.split(":");
  if (parts.length !== 3) {
    throw new SpecError(
      field,
      `expected "slice:prefix:name" with --systemd-cgroup, got ${JSON.stringify(cgroupsPath)}`,
    );
  }
  const [slice, prefix, name] = parts;
  if (name === "" || name.includes("/")) {
    throw new SpecError(
      field,
      `the unit name in ${JSON.stringify(cgroupsPath)} is empty or has a "/"`,
    );
  }
  // runc getUnitName(): a name that is itself a slice is used as is.
  const unit = name.endsWith(".slice")
    ? name
    : prefix
    ? `${prefix}-${name}.scope`
    : `${name}.scope`;
  return `${base}${expandSlice(slice || defaultSlice, field)}/${unit}`;
}

/**
 * The container's cgroup path before placement in a hierarchy.
 * @param running whether systemd runs on this host (detect.ts systemdRunning()).
 */
export function innerCgroupPath(
  options: CgroupPathOptions,
  running: boolean,
  user = false,
): InnerCgroupPath {
  if (options.systemd) {
    if (!running) {
      throw new SpecError(
        "linux.cgroupsPath",
        `--systemd-cgroup cannot place the container in ${
          JSON.stringify(options.cgroupsPath ?? "")
        }: systemd is not running on this host (/run/systemd/system does not exist), and the ` +
          "systemd driver makes the container's cgroup a systemd unit; " +
          "run without --systemd-cgroup to use cgroupfs paths",
      );
    }
    return cleanCgroupPath(systemdCgroupPath(options.cgroupsPath, options.id, user));
  }
  if (!options.cgroupsPath) return cleanCgroupPath(options.id, "id");
  return cleanCgroupPath(options.cgroupsPath);
}

/**
 * The host directory of the container's cgroup in one hierarchy.
 * @param mount the hierarchy's mount.
 * @param own the runtime's own cgroup path in that hierarchy (from /proc/self/cgroup).
 * @param v2 true for a cgroup2 hierarchy (relative paths start at the parent of `own`).
 */
export function cgroupDir(
  mount: CgroupMount,
  own: string | undefined,
  inner: InnerCgroupPath,
  v2: boolean,
): string {
  let dir: string;
  if (inner.absolute) {
    dir = join(mount.mountPoint, inner.path);
  } else {
    const base = own ?? "/";
    dir = join(hostDir(mount, v2 ? dirname(base) : base), inner.path);
  }
  if (!dir.startsWith(`${mount.mountPoint}/`)) {
    throw new Error(`cgroup directory ${dir} is outside the hierarchy at ${mount.mountPoint}`);
  }
  return dir;
}
