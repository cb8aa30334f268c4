/**
 * /proc/<pid>/mountinfo (proc(5)): one parser for the rootfs, cgroup and resctrl code, with the
 * octal escapes (\040 for a space) of its path fields decoded.
 */

/** One line of mountinfo. */
export interface MountinfoEntry {
  /** The path inside the filesystem that is mounted here ("/" for a whole filesystem). */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, nosuid, ...). */
  options: string[];
  /** The optional fields: shared:N, master:N, propagate_from:N, unbindable. */
  optional: string[];
  fstype: string;
  source: string;
  /** Per-superblock options (for cgroup v1, the controllers among them). */
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescape(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Parses a mountinfo text; lines without the " - " separator are skipped. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const entries: MountinfoEntry[] = [];
  for (const line of text.split("\n")) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super
    const dash = line.indexOf(" - ");
    if (dash < 0) continue;
    const before = line.slice(0, dash).split(" ");
    const after = line.slice(dash + 3).split(" ");
    entries.push({
      root: unescape(before[3] ?? ""),
      mountPoint: unescape(before[4] ?? ""),
      options: (before[5] ?? "").split(","),
      optional: before.slice(6),
      fstype: after[0] ?? "",
      source: unescape(after[1] ?? ""),
      superOptions: (after[2] ?? "").split(","),
    });
  }
  return entries;
}

/** The calling process's mount table. */
export function readMountinfo(): MountinfoEntry[] {
  return parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo"));
}
