/**
 * From an image to a runnable bundle: the image's stored layers as overlayfs lowerdirs under a
 * per-container read/write layer (or a copy where overlayfs cannot be used), and config.json from
 * the image config.
 */
import { join, resolve } from "../path.ts";
import { LayerStore, type StoredImage } from "./layer_store.ts";
import { copyRoot, prepareOverlayRoot, releaseOverlayRoot } from "./snapshot.ts";
import { generateConfig } from "./generate_config.ts";
import { progressDisplay, pullProgressDisplay } from "./progress.ts";
import { debug } from "../log.ts";

/** The default layer store: $SKIFF_STORE or /var/lib/skiff. */
export function defaultStoreRoot(): string {
  return Deno.env.get("SKIFF_STORE") ?? "/var/lib/skiff";
}

/** When `skiff run --image` pulls from a registry (Podman's --pull). */
export type PullPolicy = "missing" | "always" | "never";

function isLocalSource(source: string): boolean {
  if (/^(oci|oci-archive|docker-archive):/.test(source)) return true;
  const path = source.replace(/:[^/:]*$/, "");
  for (const p of [source, path]) {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      // Not a path: a stored name or a registry reference.
    }
  }
  return false;
}

/**
 * Finds `source` among the stored images (by name or ID), imports it (an OCI layout, OCI archive
 * or docker-archive path, optionally `:REF`) or pulls it from a registry (per `pull`), with a
 * progress display on a terminal.
 */
export async function resolveImage(
  store: LayerStore,
  source: string,
  pull: PullPolicy = "missing",
): Promise<StoredImage> {
  if (!isLocalSource(source)) {
    const registry = await import("./registry/mod.ts");
    if (registry.looksLikeRegistryReference(source)) {
      const name = registry.formatReference(registry.parseReference(source));
      if (pull !== "always") {
        const stored = await store.getImage(source).catch(() => undefined) ??
          await store.getImage(name).catch(() => undefined);
        if (stored) return stored;
        if (pull === "never") {
          throw new Error(`image ${JSON.stringify(source)} is not stored and --pull is never`);
        }
      }
      using display = pullProgressDisplay(name);
      const image = await registry.pullImage(store, source, { onProgress: display.onProgress });
      display.close();
      return image;
    }
  }
  const stored = await store.getImage(source).catch(() => undefined);
  if (stored) return stored;
  try {
    return await store.importImage(source, { onProgress: progressDisplay() });
  } catch (err) {
    throw new Error(`cannot import image ${JSON.stringify(source)}`, { cause: err });
  }
}

/** Options of assembleBundle(). */
export interface AssembleOptions {
  /** Who uses the layers (a container ID), recorded in the store so gc keeps them. */
  owner: string;
  /** Replaces the image's Cmd. */
  args?: string[];
  /** Use the copying fallback even where overlayfs works. */
  copy?: boolean;
}

/** What assembleBundle() made. */
export interface AssembledBundle {
  dir: string;
  rootfs: string;
  kind: "overlay" | "copy";
}

/**
 * Makes `dir` a bundle of `image`: dir/rootfs (overlay of the stored layers with dir/upper and
 * dir/work, or a copy) and dir/config.json. On failure nothing is left: no mount, no directory.
 */
export async function assembleBundle(
  store: LayerStore,
  image: StoredImage,
  dir: string,
  options: AssembleOptions,
): Promise<AssembledBundle> {
  dir = resolve(dir);
  try {
    if ([...Deno.readDirSync(dir)].length > 0) {
      throw new Error(`cannot assemble a bundle in ${dir}: the directory is not empty`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const spec = generateConfig(image.config, {
    args: options.args?.length ? options.args : undefined,
    passwd: await store.readImageFile(image, "etc/passwd"),
    group: await store.readImageFile(image, "etc/group"),
  });
  await store.registerContainer(options.owner, image.id);
  const lowerdirs = store.layerDirs(image);
  let kind: AssembledBundle["kind"] = "overlay";
  try {
    if (options.copy) throw new Error("copy requested");
    await prepareOverlayRoot(lowerdirs, dir);
  } catch (err) {
    debug(`overlay root unavailable (${(err as Error).message}): copying the layers`);
    kind = "copy";
    await releaseOverlayRoot(dir).catch(() => {});
    try {
      await Deno.mkdir(join(dir, "rootfs"), { recursive: true, mode: 0o755 });
      copyRoot(lowerdirs, join(dir, "rootfs"));
    } catch (copyErr) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await store.unregisterContainer(options.owner).catch(() => {});
      throw new Error(`cannot make the root filesystem of ${dir}`, { cause: copyErr });
    }
  }
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(spec, null, 2) + "\n");
  return { dir, rootfs: join(dir, "rootfs"), kind };
}

/** Undoes assembleBundle(): unmounts the root, removes `dir` with its read/write layer, unregisters. */
export async function releaseBundle(storeRoot: string, dir: string, owner: string): Promise<void> {
  await releaseOverlayRoot(resolve(dir));
  await new LayerStore(storeRoot).unregisterContainer(owner);
}

/** The layer-store owner name of a bundle made by `skiff bundle create` (no container ID yet). */
export function bundleOwner(dir: string): string {
  // FNV-1a 64: a stable name, not a security boundary.
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(resolve(dir))) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return `bundle-${hash.toString(16).padStart(16, "0")}`;
}
