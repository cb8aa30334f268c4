/**
 * Id mappings (config-linux.md "User namespace mappings") and idmapped mounts (config.md
 * `uidMappings`/`gidMappings` and the `idmap`/`ridmap` options of a mount).
 */
import type { IdMapping, Mount } from "./config.ts";
import { SpecError } from "./errors.ts";
import { array, integer, object } from "./json.ts";

/** What an idmapped mount asks for; the mappings are absent when the option came alone. */
export interface MountIdmap {
  /** `ridmap`: every mount of an rbind tree gets the mapping, not only the top one. */
  recursive: boolean;
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

/**
 * The idmapping of mount `m`, or undefined when it has none. Mappings without an `idmap` or
 * `ridmap` option count as `idmap` (config.md only says the option SHOULD be there; runc does the
 * same). Of `idmap` and `ridmap` the last one wins, as with other options.
 */
export function mountIdmap(m: Mount): MountIdmap | undefined {
  const options = m.options ?? [];
  const last = options.findLast((o) => o === "idmap" || o === "ridmap");
  if (last === undefined && m.uidMappings === undefined && m.gidMappings === undefined) {
    return undefined;
  }
  return { recursive: last === "ridmap", uidMappings: m.uidMappings, gidMappings: m.gidMappings };
}

/** The highest id plus one: (uid_t)-1 is no id, and the kernel refuses ranges that reach it. */
const ID_LIMIT = 0xffffffff;
/** The most lines a uid_map or gid_map takes (user_namespaces(7), since Linux 4.15). */
const MAX_EXTENTS = 340;

/**
 * Checks an array of id mappings as the kernel will when they are written to uid_map/gid_map:
 * at least one entry, sizes above 0, no range past 2^32-2, no overlap of two entries' container
 * ranges or host ranges, at most 340 entries. Errors name `path` (e.g. mounts[3].uidMappings[1]).
 */
export function validateIdMappings(v: unknown, path: string): IdMapping[] {
  const list = array(v, path);
  if (list.length === 0) throw new SpecError(path, "must have at least one entry");
  if (list.length > MAX_EXTENTS) {
    throw new SpecError(
      path,
      `has ${list.length} entries: the kernel takes at most ${MAX_EXTENTS}`,
    );
  }
  const out: IdMapping[] = list.map((entry, i) => {
    const at = `${path}[${i}]`;
    const m = object(entry, at);
    const size = integer(m.size, `${at}.size`, 1, ID_LIMIT);
    const mapping: IdMapping = {
      containerID: integer(m.containerID, `${at}.containerID`, 0, ID_LIMIT - 1),
      hostID: integer(m.hostID, `${at}.hostID`, 0, ID_LIMIT - 1),
      size,
    };
    for (const side of ["containerID", "hostID"] as const) {
      if (mapping[side] + size > ID_LIMIT) {
        throw new SpecError(
          at,
          `${side} ${mapping[side]} + size ${size} goes past the last valid id ${ID_LIMIT - 1}`,
        );
      }
    }
    return mapping;
  });
  out.forEach((a, i) => {
    out.slice(0, i).forEach((b, j) => {
      for (const side of ["containerID", "hostID"] as const) {
        if (a[side] < b[side] + b.size && b[side] < a[side] + a.size) {
          throw new SpecError(
            `${path}[${i}]`,
            `its ${side} range overlaps that of ${path}[${j}] (the kernel refuses overlapping ranges)`,
          );
        }
      }
    });
  });
  return out;
}
