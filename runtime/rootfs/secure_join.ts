import { join } from "../path.ts";

const MAX_SYMLINKS = 255;

/**
 * Resolves `unsafePath` inside `root` the way the container would see it: symlinks are followed
 * with `root` as "/", and `..` never climbs above `root`. Components that do not exist are kept as
 * they are. The result is a host path under `root`.
 *
 * This is a path walk, not an fd walk: it is safe while nothing else changes the rootfs, which holds
 * during create because no container process runs yet. It is open_in_root.ts's fallback on kernels
 * without openat2 (see docs/reliability.md).
 * @example secureJoin("/b/rootfs", "/etc/../proc") === "/b/rootfs/proc"
 */
export function secureJoin(root: string, unsafePath: string): string {
  const pending = unsafePath.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(candidate);
    } catch {
      info = undefined;
    }
    if (info?.isSymlink) {
      if (++links > MAX_SYMLINKS) {
        throw new Error(
          `secure join of ${unsafePath} in ${root}: too many levels of symbolic links`,
        );
      }
      const target = Deno.readLinkSync(candidate);
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}
