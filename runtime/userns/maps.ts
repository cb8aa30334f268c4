/**
 * Writing a new user namespace's id maps (/proc/PID/uid_map, gid_map), the step the trampoline
 * waits for after unshare(CLONE_NEWUSER).
 *
 * - As root (euid 0) the maps are written directly: any ranges, and setgroups stays "allow".
 * - Otherwise through shadow's newuidmap/newgidmap (setuid helpers that check /etc/subuid and
 *   /etc/subgid), like runc and crun. When they are missing or refuse, a single mapping of the
 *   caller's own uid/gid is still possible by a direct write, after writing "deny" to
 *   /proc/PID/setgroups for the gid map (user_namespaces(7)); anything more is an error.
 */
import type { IdMapping } from "../../spec/config.ts";
import { writeProcFile } from "../procfs.ts";

export interface WriteMapsOptions {
  /** Write "deny" to setgroups before the gid map even when root (a container asking for it). */
  setgroupsDeny?: boolean;
  /** The calling user (defaults to this process's effective ids). */
  euid?: number;
  egid?: number;
}

/** What writeIdMaps did, for the init (setgroups(2) fails after "deny"). */
export interface MapsWritten {
  setgroupsDenied: boolean;
}

/** The text of a uid_map/gid_map file: one "inside outside count" line per mapping. */
export function formatIdMap(mappings: readonly IdMapping[]): string {
  return mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

/** Writes the maps of the user namespace that process `pid` has just unshared. */
export function writeIdMaps(
  pid: number,
  uidMappings: readonly IdMapping[],
  gidMappings: readonly IdMapping[],
  options: WriteMapsOptions = {},
): MapsWritten {
  const euid = options.euid ?? Deno.uid() ?? 0;
  const egid = options.egid ?? Deno.gid() ?? 0;
  if (euid === 0) {
    if (options.setgroupsDeny) writeProc(pid, "setgroups", "deny");
    // gid_map first, as crun does: nothing depends on the order when root.
    writeProc(pid, "gid_map", formatIdMap(gidMappings));
    writeProc(pid, "uid_map", formatIdMap(uidMappings));
    return { setgroupsDenied: options.setgroupsDeny ?? false };
  }
  let viaHelpers = tryHelper("newgidmap", pid, gidMappings);
  if (viaHelpers.ok) viaHelpers = tryHelper("newuidmap", pid, uidMappings);
  if (viaHelpers.ok) return { setgroupsDenied: options.setgroupsDeny ?? false };
  // The kernel lets an unprivileged process map exactly its own id, and its own gid only once
  // setgroups is denied.
  if (isOwnSingle(uidMappings, euid) && isOwnSingle(gidMappings, egid)) {
    writeProc(pid, "setgroups", "deny");
    writeProc(pid, "gid_map", formatIdMap(gidMappings));
    writeProc(pid, "uid_map", formatIdMap(uidMappings));
    return { setgroupsDenied: true };
  }
  throw new Error(
    `linux.uidMappings: cannot map these ids as uid ${euid}: ${viaHelpers.why}; ` +
      `a non-root user needs newuidmap/newgidmap (package uidmap) and ranges in /etc/subuid and ` +
      `/etc/subgid, or a single mapping of its own uid ${euid} and gid ${egid}`,
  );
}

function isOwnSingle(mappings: readonly IdMapping[], id: number): boolean {
  return mappings.length === 1 && mappings[0].hostID === id && mappings[0].size === 1;
}

type HelperResult = { ok: true } | { ok: false; why: string };

function tryHelper(
  helper: "newuidmap" | "newgidmap",
  pid: number,
  mappings: readonly IdMapping[],
): HelperResult {
  const args = [String(pid)];
  for (const m of mappings) args.push(String(m.containerID), String(m.hostID), String(m.size));
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(helper, { args, stdin: "null", stdout: "null", stderr: "piped" })
      .outputSync();
  } catch (err) {
    return { ok: false, why: `${helper} is not available (${(err as Error).message})` };
  }
  if (out.success) return { ok: true };
  const stderr = new TextDecoder().decode(out.stderr).trim();
  return { ok: false, why: `${helper} ${args.join(" ")} failed: ${stderr || `exit ${out.code}`}` };
}

/** Writes the host's /proc/PID/<file>, checked to be procfs like every runtime write into /proc. */
function writeProc(pid: number, file: string, text: string): void {
  const path = `/proc/${pid}/${file}`;
  try {
    // One write(2) of the whole text: uid_map and gid_map take exactly one.
    writeProcFile(path, text);
  } catch (err) {
    throw new Error(`cannot write ${path} (${JSON.stringify(text.trim())})`, { cause: err });
  }
}

/**
 * The host uid and gid that uid 0 and gid 0 of process `pid`'s user namespace map to, read from
 * its uid_map and gid_map; undefined when it is in this process's own user namespace or 0 is not
 * mapped. Host files the container's init must open as that root (exec.fifo, a console socket of
 * ours) are given to it.
 */
export function hostRootOf(pid: number): { uid: number; gid: number } | undefined {
  if (Deno.readLinkSync(`/proc/${pid}/ns/user`) === Deno.readLinkSync("/proc/self/ns/user")) {
    return undefined;
  }
  const uid = hostIdOf(Deno.readTextFileSync(`/proc/${pid}/uid_map`), 0);
  const gid = hostIdOf(Deno.readTextFileSync(`/proc/${pid}/gid_map`), 0);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** The outside id of inside id `id` in a uid_map/gid_map text, or undefined when it is unmapped. */
export function hostIdOf(map: string, id: number): number | undefined {
  for (const line of map.split("\n")) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (id >= inside && id < inside + count) return outside + (id - inside);
  }
  return undefined;
}
