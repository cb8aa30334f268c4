import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
} from "../../ffi/constants.ts";
import { mount } from "../../ffi/mount.ts";
import { isNullDevice } from "./devices.ts";
import { parseMountinfo } from "../mountinfo.ts";

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/**
 * Hides each of `paths` (after pivot_root): directories get an empty read-only tmpfs, files get
 * /dev/null bound over them. /dev/null is checked to be the real char 1:3 first, so a container
 * image cannot redirect the mask (CVE-2025-31133). Missing paths are skipped.
 */
export function maskPaths(paths: readonly string[]): void {
  for (const path of paths) {
    const info = lstatOrUndefined(path);
    if (!info || info.isSymlink) continue;
    if (info.isDirectory) {
      mount("tmpfs", path, "tmpfs", MS_RDONLY);
      continue;
    }
    if (!isNullDevice("/dev/null")) {
      throw new Error(`cannot mask ${path}: /dev/null is not the null device (char 1:3)`);
    }
    mount("/dev/null", path, "", MS_BIND);
  }
}

/**
 * The nosuid/nodev/noexec flags of the mount at exactly `path` (the last one stacked there), from
 * `mountinfo`'s per-mount options; 0 when no mount is there.
 */
export function lockedFlagsAt(mountinfo: string, path: string): number {
  let flags = 0;
  for (const { mountPoint, options } of parseMountinfo(mountinfo)) {
    if (mountPoint !== path) continue;
    flags = (options.includes("nosuid") ? MS_NOSUID : 0) |
      (options.includes("nodev") ? MS_NODEV : 0) |
      (options.includes("noexec") ? MS_NOEXEC : 0);
  }
  return flags;
}

/**
 * Makes each of `paths` read-only with a recursive bind remount (after pivot_root); skips missing
 * ones. The remount keeps the nosuid/nodev/noexec the path already had and adds none (runc's
 * readonlyPath): a read-only /usr must still run its programs.
 */
export function readonlyPaths(paths: readonly string[]): void {
  for (const path of paths) {
    const info = lstatOrUndefined(path);
    if (!info || info.isSymlink) continue;
    mount(path, path, "", MS_BIND | MS_REC);
    const kept = lockedFlagsAt(Deno.readTextFileSync("/proc/self/mountinfo"), path);
    mount(path, path, "", MS_BIND | MS_REMOUNT | MS_RDONLY | kept);
  }
}

/** Remounts "/" read-only (root.readonly), keeping nosuid/nodev/noexec as they are. */
export function readonlyRoot(): void {
  mount("/", "/", "", MS_BIND | MS_REMOUNT | MS_RDONLY);
}
