/**
 * Whiteouts: how a layer deletes what lower layers have (OCI image spec layer.md "Whiteouts"),
 * and their overlayfs form (kernel Documentation/filesystems/overlayfs.rst "whiteouts and opaque
 * directories"), in which stored layers are kept so that each is directly an overlay lowerdir.
 *
 * Pure: no file system access. unpack.ts applies the actions; snapshot.ts reads them back.
 */

/** The prefix that marks a whiteout entry in a layer tar. */
export const WHITEOUT_PREFIX = ".wh.";
/** The entry that marks its directory opaque in a layer tar. */
export const OPAQUE_WHITEOUT = ".wh..wh..opq";
/** The xattr overlayfs reads to treat a directory as opaque. */
export const OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";
/** The xattr namespace reserved to overlayfs; never taken from a layer tar. */
export const OVERLAY_XATTR_PREFIX = "trusted.overlay.";

/** What a (normalized) tar entry path means for whiteout handling. */
export type WhiteoutKind =
  /** An ordinary entry: unpack it. */
  | { kind: "entry" }
  /** `dir/.wh.NAME`: `dir/NAME` of lower layers is deleted. */
  | { kind: "whiteout"; dir: string; name: string; path: string }
  /** `dir/.wh..wh..opq`: lower layers' contents of `dir` are hidden. */
  | { kind: "opaque"; dir: string }
  /** `.wh..wh.*` other than the opaque marker: AUFS bookkeeping, skipped (as containerd does). */
  | { kind: "ignore" };

/** An action on the layer directory, in overlayfs form. */
export type OverlayAction =
  /** Create a char device 0:0 at `path` (after removing whatever is there). */
  | { op: "mknod-whiteout"; path: string }
  /** Set `name`=`value` on directory `path` (creating the directory if needed). */
  | { op: "set-xattr"; path: string; name: string; value: string };

function split(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf("/");
  return slash < 0
    ? { dir: "", base: path }
    : { dir: path.slice(0, slash), base: path.slice(slash + 1) };
}

/**
 * Classifies a normalized entry path ("a/b/.wh.c", no leading "/" or "./").
 * @throws Error for a whiteout with an empty name (".wh.").
 */
export function classifyWhiteout(path: string): WhiteoutKind {
  const { dir, base } = split(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: "entry" };
  if (base === OPAQUE_WHITEOUT) return { kind: "opaque", dir };
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return { kind: "ignore" };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === "" || name === "." || name === "..") {
    throw new Error(`whiteout entry "${path}" names no file`);
  }
  return { kind: "whiteout", dir, name, path: dir ? `${dir}/${name}` : name };
}

/** Returns the overlayfs-form action for a whiteout kind, or undefined for other entries. */
export function overlayAction(kind: WhiteoutKind): OverlayAction | undefined {
  switch (kind.kind) {
    case "whiteout":
      return { op: "mknod-whiteout", path: kind.path };
    case "opaque":
      return { op: "set-xattr", path: kind.dir, name: OVERLAY_OPAQUE_XATTR, value: "y" };
    default:
      return undefined;
  }
}

/** True for an overlayfs whiteout: a char device with device number 0:0. */
export function isOverlayWhiteout(mode: number, rdevMajor: number, rdevMinor: number): boolean {
  return (mode & 0o170000) === 0o020000 && rdevMajor === 0 && rdevMinor === 0;
}

/** True when an overlay opaque xattr value marks the directory opaque ("y"). */
export function isOpaqueValue(value: Uint8Array | undefined): boolean {
  return value !== undefined && value.length === 1 && value[0] === 0x79;
}

/** True for an xattr a layer tar must not set (overlayfs's own namespace). */
export function isReservedXattr(name: string): boolean {
  return name.startsWith(OVERLAY_XATTR_PREFIX);
}
