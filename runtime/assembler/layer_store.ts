/**
 * The layer store: each layer unpacked once, keyed by its diffID, shared by every image and
 * container that uses it (docs/assembler.md "Store layout").
 *
 *   <root>/store.lock                 flock(2) held by every change to the store
 *   <root>/layers/sha256/<hex>/       an unpacked layer in overlayfs form: directly a lowerdir
 *   <root>/images/<hex>.json          an image: names, config, diffIDs (hex = config digest)
 *   <root>/containers/<id>.json       a container's use of an image's layers (for gc)
 *   <root>/layerinfo/sha256/<hex>.json  a layer's tree digest (what check() verifies it against)
 *   <root>/tmp/                       layers being unpacked or removed
 *
 * A layer directory exists under layers/ only once it is complete and its diffID verified: it is
 * unpacked in tmp/, its tree digest recorded in layerinfo/, and it is renamed into place
 * (rename(2) is atomic). A layer is removed the other way round: renamed into tmp/ first, then
 * deleted, so that a kill half-way never leaves a half-deleted layer under its diffID. Whatever is
 * in tmp/ while the lock is held is left over from a killed import or gc, and is removed. Image
 * and container records are written to a temp file and renamed. check() verifies all of this
 * (docs/assembler.md "Checking the store").
 */
import {
  type ImageSource,
  openImage,
  type OpenImageOptions,
  parseImageSource,
  type ResolvedImage,
} from "./image_layout.ts";
import { openLayer } from "./decompress.ts";
import { unpackLayer } from "./unpack.ts";
import type { ImageConfig, Platform } from "../../spec/image.ts";
import { close, openat, statxIfExists, syncfs } from "../../ffi/file_attrs.ts";
import { loadNodeBuiltins } from "./node_builtins.ts";
import { lgetxattr } from "../../ffi/xattr.ts";
import { isOpaqueValue, isOverlayWhiteout, OVERLAY_OPAQUE_XATTR } from "./whiteout.ts";
import { AT_FDCWD, O_CLOEXEC, O_DIRECTORY, O_RDONLY } from "../../ffi/constants.ts";
import { layerTreeDigest } from "./tree_digest.ts";
import { trace } from "../log.ts";

/** The store's default root. */
export const DEFAULT_STORE_ROOT = "/var/lib/skiff";

/** An image recorded in the store. */
export interface StoredImage {
  /** Hex of the config digest. */
  id: string;
  /** Ref names and tags this image is known by. */
  names: string[];
  configDigest: string;
  manifestDigest?: string;
  /** Layer diffIDs, bottom layer first. */
  diffIds: string[];
  config: ImageConfig;
  /** Where it was imported from. */
  source: string;
  /** When it was imported (ISO 8601). */
  imported: string;
}

/** A container's record of the layers it uses. */
export interface ContainerRecord {
  id: string;
  imageId: string;
  diffIds: string[];
}

/** Progress of importImage(), for a display. */
export type ImportProgress =
  | { kind: "resolved"; imageId: string; layers: number; totalBytes: number; sizes: number[] }
  | { kind: "layer-start"; index: number; diffId: string; size: number; stored: boolean }
  | { kind: "layer-bytes"; index: number; bytes: number; size: number }
  | { kind: "layer-done"; index: number; diffId: string; stored: boolean }
  | { kind: "done"; imageId: string };

/** Options of importImage(). */
export interface ImportOptions {
  /** The ref name / tag to select (overrides one parsed from a source string). */
  ref?: string;
  /** The platform to select from an index; default the host's. */
  platform?: Platform;
  /** Called as layers are unpacked. */
  onProgress?: (event: ImportProgress) => void;
  /** How many layers are unpacked at once (default 1). */
  concurrency?: number;
}

/** Options of a LayerStore. */
export interface LayerStoreOptions {
  /** syncfs(2) each layer before renaming it into place (default true). */
  durable?: boolean;
}

/** What layerinfo/<alg>/<hex>.json records of a stored layer. */
export interface LayerInfo {
  diffId: string;
  /** layerTreeDigest() of the layer directory right after it was unpacked. */
  tree: string;
}

/** One thing check() found wrong in the store. */
export interface StoreProblem {
  /** The path concerned, relative to the store root. */
  path: string;
  /** What is wrong. */
  message: string;
  /** What repair does (or would do) about it; undefined when it cannot be repaired. */
  repair?: string;
  /** True once repaired. */
  repaired: boolean;
}

/** What check() found. */
export interface CheckReport {
  problems: StoreProblem[];
  /** Layers whose content was verified. */
  layers: number;
  images: number;
  containers: number;
}

/** What gc() removed. */
export interface GcResult {
  removedLayers: string[];
  removedTemp: string[];
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

function digestParts(digest: string): [string, string] {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new Error(`invalid digest "${digest}"`);
  return [m[1], m[2]];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n", { mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot write ${path}`, { cause: err });
  }
}

async function readJson<T>(path: string): Promise<T> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new SyntaxError(`${path} is not valid JSON`, { cause: err });
  }
}

function countingStream(
  onBytes: (bytes: number) => void,
): TransformStream<Uint8Array, Uint8Array> {
  let total = 0;
  let reported = 0;
  return new TransformStream({
    transform(chunk, controller): void {
      total += chunk.length;
      if (total - reported >= 1 << 20) {
        reported = total;
        onBytes(total);
      }
      controller.enqueue(chunk);
    },
    flush(): void {
      if (total !== reported) onBytes(total);
    },
  });
}

/** Serializes store changes inside this process; flock(2) does it between processes. */
const inProcess = new Map<string, Promise<unknown>>();

/** A layer store rooted at a directory. */
export class LayerStore {
  /** The store's root directory. */
  readonly root: string;
  #durable: boolean;

  constructor(root: string = DEFAULT_STORE_ROOT, options: LayerStoreOptions = {}) {
    this.root = root.replace(/\/+$/, "") || "/";
    this.#durable = options.durable ?? true;
  }

  #infoPath(diffId: string): string {
    const [alg, hex] = digestParts(diffId);
    return `${this.root}/layerinfo/${alg}/${hex}.json`;
  }

  /**
   * Removes a stored layer: renamed into tmp/ first (one atomic step: the layer is gone from
   * layers/), then its record, then the files. A kill half-way leaves a temp dir, never a
   * half-removed layer under its diffID.
   */
  async #removeLayer(diffId: string): Promise<void> {
    const [alg, hex] = digestParts(diffId);
    const doomed = `${this.root}/tmp/removing-${alg}-${hex}`;
    try {
      await Deno.rename(this.layerPath(diffId), doomed);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    trace(`image store: layer ${diffId} moved out`);
    await Deno.remove(this.#infoPath(diffId)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    await Deno.remove(doomed, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  /** The directory of the stored layer with this diffID (it may not exist). */
  layerPath(diffId: string): string {
    const [alg, hex] = digestParts(diffId);
    return `${this.root}/layers/${alg}/${hex}`;
  }

  /** The layer directories of an image, bottom layer first (reverse them for overlay lowerdir=). */
  layerDirs(image: StoredImage): string[] {
    return image.diffIds.map((d) => this.layerPath(d));
  }

  async #ensureDirs(): Promise<void> {
    for (const d of ["", "/layers", "/layers/sha256", "/layerinfo", "/images", "/containers"]) {
      await Deno.mkdir(`${this.root}${d}`, { recursive: true, mode: 0o711 });
    }
    await Deno.mkdir(`${this.root}/tmp`, { recursive: true, mode: 0o700 });
  }

  /** Runs `fn` holding the store lock (in this process and, by flock, across processes). */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const previous = inProcess.get(this.root) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(async () => {
      await this.#ensureDirs();
      const lock = await Deno.open(`${this.root}/store.lock`, {
        create: true,
        write: true,
        mode: 0o600,
      });
      try {
        await lock.lock(true);
        return await fn();
      } finally {
        lock.close();
      }
    });
    inProcess.set(this.root, run);
    try {
      return await run;
    } finally {
      if (inProcess.get(this.root) === run) inProcess.delete(this.root);
    }
  }

  /** Removes what a killed import left in tmp/ (call with the lock held). */
  async #cleanTemp(): Promise<string[]> {
    const removed: string[] = [];
    for await (const e of Deno.readDir(`${this.root}/tmp`)) {
      await Deno.remove(`${this.root}/tmp/${e.name}`, { recursive: true });
      removed.push(e.name);
    }
    return removed;
  }

  async #unpackOne(
    image: ResolvedImage,
    index: number,
    onProgress: ((event: ImportProgress) => void) | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const layer = image.layers[index];
    const dest = this.layerPath(layer.diffId);
    const [alg] = digestParts(layer.diffId);
    await Deno.mkdir(`${this.root}/layers/${alg}`, { recursive: true, mode: 0o711 });
    const tmp = await Deno.makeTempDir({ dir: `${this.root}/tmp`, prefix: "layer-" });
    try {
      await Deno.chmod(tmp, 0o755);
      const blob = (await layer.open(signal)).pipeThrough(
        countingStream((bytes) =>
          onProgress?.({ kind: "layer-bytes", index, bytes, size: layer.descriptor.size })
        ),
      );
      const opened = await openLayer(blob, layer.descriptor.mediaType, layer.what);
      trace(`image import: layer ${index} opened`);
      await unpackLayer(opened.tar, tmp);
      if (opened.diff.digest !== layer.diffId) {
        throw new Error(
          `${layer.what}: diffID mismatch: the config says ${layer.diffId}, the layer is ${opened.diff.digest}`,
        );
      }
      trace(`image import: layer ${index} unpacked`);
      const info: LayerInfo = { diffId: layer.diffId, tree: await layerTreeDigest(tmp) };
      await Deno.mkdir(`${this.root}/layerinfo/${alg}`, { recursive: true, mode: 0o700 });
      await writeJsonAtomic(this.#infoPath(layer.diffId), info);
      trace(`image import: layer ${index} recorded`);
      if (this.#durable) {
        const fd = openat(AT_FDCWD, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        try {
          syncfs(fd);
        } finally {
          close(fd);
        }
      }
      await Deno.rename(tmp, dest);
      trace(`image import: layer ${index} stored`);
    } catch (err) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw new Error(`Cannot import ${layer.what} from ${image.source}`, { cause: err });
    }
  }

  /**
   * Imports an image: unpacks the layers not stored yet and records the image.
   * @param source a source string ("oci-archive:/x.tar:name") or a parsed ImageSource.
   * @returns the stored image record.
   * @throws Error naming the source and the layer; nothing of a failed import stays in the store.
   */
  importImage(source: ImageSource | string, options: ImportOptions = {}): Promise<StoredImage> {
    const openOptions: OpenImageOptions = { platform: options.platform };
    let src = source;
    if (options.ref !== undefined) {
      src = {
        ...(typeof source === "string" ? parseImageSource(source) : source),
        ref: options.ref,
      };
    }
    return this.importResolved(() => openImage(src, openOptions), options);
  }

  /**
   * Imports the image `resolve` yields (called holding the store lock; a registry pull passes
   * one whose layers stream from the registry): the layers not stored yet are unpacked,
   * `options.concurrency` at a time, each streamed straight from its source into the unpacker.
   * @throws Error naming the source and the layer; nothing of a failed import stays in the store.
   */
  importResolved(
    resolve: () => Promise<ResolvedImage>,
    options: ImportOptions = {},
  ): Promise<StoredImage> {
    return this.#locked(async () => {
      await loadNodeBuiltins();
      await this.#cleanTemp();
      const image = await resolve();
      const added: string[] = [];
      try {
        const id = digestParts(image.configDigest)[1];
        options.onProgress?.({
          kind: "resolved",
          imageId: id,
          layers: image.layers.length,
          totalBytes: image.layers.reduce((n, l) => n + l.descriptor.size, 0),
          sizes: image.layers.map((l) => l.descriptor.size),
        });
        // One unpack per diffID: an image may list the same layer twice.
        const unpacking = new Map<string, Promise<void>>();
        const one = async (i: number): Promise<void> => {
          const layer = image.layers[i];
          const pending = unpacking.get(layer.diffId);
          const stored = pending === undefined && await exists(this.layerPath(layer.diffId));
          options.onProgress?.({
            kind: "layer-start",
            index: i,
            diffId: layer.diffId,
            size: layer.descriptor.size,
            stored: stored || pending !== undefined,
          });
          if (pending) {
            await pending;
          } else if (!stored) {
            const run = this.#unpackOne(image, i, options.onProgress, stop.signal);
            unpacking.set(layer.diffId, run);
            await run;
            added.push(layer.diffId);
          }
          options.onProgress?.({
            kind: "layer-done",
            index: i,
            diffId: layer.diffId,
            stored: stored || pending !== undefined,
          });
        };
        // A bounded pool: each worker takes the next layer; the first failure stops the taking,
        // and all workers finish before the added layers are removed again.
        let next = 0;
        let failure: { error: unknown } | undefined;
        // The first failure also stops the downloads under way.
        const stop = new AbortController();
        const worker = async (): Promise<void> => {
          while (failure === undefined && next < image.layers.length) {
            const i = next++;
            try {
              await one(i);
            } catch (err) {
              failure ??= { error: err };
              stop.abort();
            }
          }
        };
        const width = Math.max(1, Math.min(options.concurrency ?? 1, image.layers.length));
        await Promise.all(Array.from({ length: width }, worker));
        if (failure) throw failure.error;
        const record = await this.#recordImage(image, id);
        options.onProgress?.({ kind: "done", imageId: id });
        return record;
      } catch (err) {
        for (const diffId of added) await this.#removeLayer(diffId).catch(() => {});
        throw err;
      } finally {
        image.close();
      }
    });
  }

  async #recordImage(image: ResolvedImage, id: string): Promise<StoredImage> {
    const path = `${this.root}/images/${id}.json`;
    const previous = (await exists(path)) ? await readJson<StoredImage>(path) : undefined;
    const names = [...new Set([...(previous?.names ?? []), ...image.names])];
    // A name belongs to one image: take it away from any other.
    for (const other of await this.#readImages()) {
      if (other.id === id) continue;
      const kept = other.names.filter((n) => !image.names.includes(n));
      if (kept.length !== other.names.length) {
        await writeJsonAtomic(`${this.root}/images/${other.id}.json`, { ...other, names: kept });
      }
    }
    const record: StoredImage = {
      id,
      names,
      configDigest: image.configDigest,
      manifestDigest: image.manifestDigest,
      diffIds: image.config.rootfs.diff_ids,
      config: image.config,
      source: image.source,
      imported: new Date().toISOString(),
    };
    await writeJsonAtomic(path, record);
    trace("image import: image recorded");
    return record;
  }

  async #readImages(): Promise<StoredImage[]> {
    const out: StoredImage[] = [];
    try {
      for await (const e of Deno.readDir(`${this.root}/images`)) {
        if (!e.name.endsWith(".json")) continue;
        out.push(await readJson<StoredImage>(`${this.root}/images/${e.name}`));
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    // Plain comparison: localeCompare loads ICU collation data (~20 ms on first use).
    return out.sort((a, b) => (a.imported < b.imported ? -1 : a.imported > b.imported ? 1 : 0));
  }

  async #readContainers(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    try {
      for await (const e of Deno.readDir(`${this.root}/containers`)) {
        if (!e.name.endsWith(".json")) continue;
        out.push(await readJson<ContainerRecord>(`${this.root}/containers/${e.name}`));
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return out;
  }

  /** Lists the stored images, oldest import first. */
  listImages(): Promise<StoredImage[]> {
    return this.#readImages();
  }

  /** Finds an image by ID (full, "sha256:" form, or a unique prefix of 4+ chars) or by name. */
  async getImage(idOrName: string): Promise<StoredImage | undefined> {
    const images = await this.#readImages();
    const key = idOrName.replace(/^sha256:/, "");
    const byName = images.find((i) =>
      i.names.includes(idOrName) ||
      (!/:[^/]+$/.test(idOrName) && i.names.includes(`${idOrName}:latest`))
    );
    if (byName) return byName;
    const exact = images.find((i) => i.id === key);
    if (exact) return exact;
    if (/^[a-f0-9]{4,}$/.test(key)) {
      const matches = images.filter((i) => i.id.startsWith(key));
      if (matches.length > 1) throw new Error(`Image ID prefix "${idOrName}" is ambiguous`);
      return matches[0];
    }
    return undefined;
  }

  /**
   * Removes an image record (its layers stay until gc()).
   * @throws Error when a registered container uses it, unless `force`.
   */
  removeImage(idOrName: string, options: { force?: boolean } = {}): Promise<StoredImage> {
    return this.#locked(async () => {
      const image = await this.getImage(idOrName);
      if (!image) throw new Error(`Cannot remove image "${idOrName}": no such image`);
      const users = (await this.#readContainers()).filter((c) => c.imageId === image.id);
      if (users.length > 0 && !options.force) {
        throw new Error(
          `Cannot remove image "${idOrName}": used by container(s) ${
            users.map((c) => c.id).join(", ")
          }`,
        );
      }
      await Deno.remove(`${this.root}/images/${image.id}.json`);
      return image;
    });
  }

  /** Records that container `id` uses the layers of image `imageId` (so gc keeps them). */
  registerContainer(id: string, imageId: string): Promise<ContainerRecord> {
    if (!ID_RE.test(id)) return Promise.reject(new Error(`Invalid container ID "${id}"`));
    return this.#locked(async () => {
      const image = await this.getImage(imageId);
      if (!image) throw new Error(`Cannot register container "${id}": no image "${imageId}"`);
      const record: ContainerRecord = { id, imageId: image.id, diffIds: image.diffIds };
      await writeJsonAtomic(`${this.root}/containers/${id}.json`, record);
      return record;
    });
  }

  /** Forgets container `id`'s use of layers (no error if it was not registered). */
  unregisterContainer(id: string): Promise<void> {
    if (!ID_RE.test(id)) return Promise.reject(new Error(`Invalid container ID "${id}"`));
    return this.#locked(async () => {
      await Deno.remove(`${this.root}/containers/${id}.json`).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
    });
  }

  /**
   * Reads a small regular file of an image (e.g. etc/passwd) through its stored layers, top
   * first, as the merged root would show it: whiteouts and opaque directories hide lower layers.
   * Symlinks are not followed (the file is then reported missing).
   * @returns the text, or undefined when the image has no such regular file.
   */
  async readImageFile(
    image: StoredImage,
    path: string,
    limit = 1 << 20,
  ): Promise<string | undefined> {
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.length === 0 || parts.includes("..")) throw new Error(`Invalid image path "${path}"`);
    const layers = this.layerDirs(image).reverse();
    for (const layer of layers) {
      let hidden = false;
      for (let i = 1; i <= parts.length; i++) {
        const p = `${layer}/${parts.slice(0, i).join("/")}`;
        const st = statxIfExists(AT_FDCWD, p);
        if (!st) break;
        if (isOverlayWhiteout(st.mode, st.rdevMajor, st.rdevMinor)) return undefined;
        const type = st.mode & 0o170000;
        if (i === parts.length) {
          if (type !== 0o100000) return undefined;
          if (st.size > limit) throw new Error(`${p} is larger than ${limit} bytes`);
          return await Deno.readTextFile(p);
        }
        if (type !== 0o040000) return undefined;
        if (isOpaqueValue(lgetxattr(p, OVERLAY_OPAQUE_XATTR))) hidden = true;
      }
      if (hidden) return undefined;
    }
    return undefined;
  }

  /**
   * Verifies the store, holding its lock: leftover temp dirs and partial record files, each
   * layer's content against the tree digest recorded when it was imported, layer records without
   * a layer, image and container records that do not parse or name missing layers.
   * @param options.repair removes what is wrong: temp dirs, partial files, stray and corrupt
   *   layers, and the records of images that lost a layer (import them again to restore them).
   * @returns every problem found, each marked repaired or not.
   */
  check(options: { repair?: boolean } = {}): Promise<CheckReport> {
    return this.#locked(async () => {
      const problems: StoreProblem[] = [];
      const repair = options.repair === true;
      const found = async (
        path: string,
        message: string,
        fix?: { what: string; run: () => Promise<void> },
      ): Promise<void> => {
        const problem: StoreProblem = { path, message, repair: fix?.what, repaired: false };
        if (repair && fix) {
          await fix.run();
          problem.repaired = true;
        }
        problems.push(problem);
      };
      const removeTree = (rel: string) => ({
        what: "remove it",
        run: () => Deno.remove(`${this.root}/${rel}`, { recursive: true }),
      });
      const list = async (rel: string): Promise<Deno.DirEntry[]> => {
        const out: Deno.DirEntry[] = [];
        try {
          for await (const e of Deno.readDir(`${this.root}/${rel}`)) out.push(e);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
        return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      };

      for (const e of await list("tmp")) {
        await found(`tmp/${e.name}`, "left by a killed import or gc", removeTree(`tmp/${e.name}`));
      }
      for (const dir of ["images", "containers"]) {
        for (const e of await list(dir)) {
          if (e.isFile && e.name.endsWith(".json")) continue;
          await found(
            `${dir}/${e.name}`,
            e.name.endsWith(".tmp") ? "a record a killed write left half-made" : "not a record",
            removeTree(`${dir}/${e.name}`),
          );
        }
      }

      // Layers: each verified against its record. A layer a container uses is never removed: it
      // may be a lowerdir of a mounted root (overlayfs: changing a lowerdir under a mount is
      // undefined); the container must be deleted first.
      const inUse = new Map<string, string>();
      for (const e of await list("containers")) {
        if (!e.isFile || !e.name.endsWith(".json")) continue;
        const c = await readJson<ContainerRecord>(`${this.root}/containers/${e.name}`)
          .catch(() => undefined);
        if (Array.isArray(c?.diffIds)) { for (const d of c.diffIds) inUse.set(String(d), c.id); }
      }
      const layers = new Set<string>();
      let verified = 0;
      for (const alg of await list("layers")) {
        for (const e of await list(`layers/${alg.name}`)) {
          const rel = `layers/${alg.name}/${e.name}`;
          const diffId = `${alg.name}:${e.name}`;
          if (!e.isDirectory || !DIGEST_RE.test(diffId)) {
            await found(rel, "not a layer directory", removeTree(rel));
            continue;
          }
          const info = await readJson<LayerInfo>(this.#infoPath(diffId)).catch(() => undefined);
          const user = inUse.get(diffId);
          const remove = user === undefined
            ? { what: "remove the layer", run: () => this.#removeLayer(diffId) }
            : undefined;
          const note = user === undefined ? "" : ` (used by container "${user}": delete it first)`;
          if (!info || info.diffId !== diffId || typeof info.tree !== "string") {
            await found(
              rel,
              `no record of its content (layerinfo/), so it cannot be verified${note}`,
              remove,
            );
            if (!repair || remove === undefined) layers.add(diffId);
            continue;
          }
          const tree = await layerTreeDigest(`${this.root}/${rel}`);
          verified++;
          if (tree !== info.tree) {
            await found(
              rel,
              `content changed: tree digest ${tree}, recorded ${info.tree}${note}`,
              remove,
            );
            if (!repair || remove === undefined) layers.add(diffId);
            continue;
          }
          layers.add(diffId);
        }
      }
      for (const alg of await list("layerinfo")) {
        for (const e of await list(`layerinfo/${alg.name}`)) {
          const rel = `layerinfo/${alg.name}/${e.name}`;
          const m = /^([a-f0-9]+)\.json$/.exec(e.name);
          if (m && layers.has(`${alg.name}:${m[1]}`)) continue;
          if (m && !repair && await exists(`${this.root}/layers/${alg.name}/${m[1]}`)) continue;
          await found(
            rel,
            m
              ? "records a layer that is not stored"
              : e.name.endsWith(".tmp")
              ? "a record a killed write left half-made"
              : "not a layer record",
            removeTree(rel),
          );
        }
      }

      // Records: they parse, and the layers they name are stored.
      let images = 0;
      for (const e of await list("images")) {
        if (!e.isFile || !e.name.endsWith(".json")) continue;
        const rel = `images/${e.name}`;
        const drop = {
          ...removeTree(rel),
          what: "remove the image record (import the image again)",
        };
        const image = await readJson<StoredImage>(`${this.root}/${rel}`).catch(() => undefined);
        if (
          !image || typeof image !== "object" || `${image.id}.json` !== e.name ||
          image.configDigest !== `sha256:${image.id}` || !Array.isArray(image.diffIds) ||
          !image.diffIds.every((d) => typeof d === "string" && DIGEST_RE.test(d)) ||
          !Array.isArray(image.names)
        ) {
          await found(rel, "not a valid image record", drop);
          continue;
        }
        images++;
        const missing = image.diffIds.filter((d) => !layers.has(d));
        if (missing.length > 0) {
          await found(
            rel,
            `names layers that are not stored or not intact: ${missing.join(", ")}`,
            drop,
          );
        }
      }
      let containers = 0;
      for (const e of await list("containers")) {
        if (!e.isFile || !e.name.endsWith(".json")) continue;
        const rel = `containers/${e.name}`;
        const record = await readJson<ContainerRecord>(`${this.root}/${rel}`).catch(() =>
          undefined
        );
        if (
          !record || typeof record !== "object" || `${record.id}.json` !== e.name ||
          !Array.isArray(record.diffIds) ||
          !record.diffIds.every((d) => typeof d === "string" && DIGEST_RE.test(d))
        ) {
          await found(rel, "not a valid container record", removeTree(rel));
          continue;
        }
        containers++;
        const missing = record.diffIds.filter((d) => !layers.has(d));
        if (missing.length > 0) {
          // No repair: the container's root is made of these layers; delete the container.
          await found(
            rel,
            `container "${record.id}" uses layers that are not stored or not intact: ${
              missing.join(", ")
            }`,
          );
        }
      }
      return { problems, layers: verified, images, containers };
    });
  }

  /** Removes layers that no image and no registered container uses, and leftover temp dirs. */
  gc(): Promise<GcResult> {
    return this.#locked(async () => {
      const removedTemp = await this.#cleanTemp();
      const used = new Set<string>();
      for (const i of await this.#readImages()) i.diffIds.forEach((d) => used.add(d));
      for (const c of await this.#readContainers()) c.diffIds.forEach((d) => used.add(d));
      const removedLayers: string[] = [];
      for await (const alg of Deno.readDir(`${this.root}/layers`)) {
        if (!alg.isDirectory) continue;
        for await (const e of Deno.readDir(`${this.root}/layers/${alg.name}`)) {
          const diffId = `${alg.name}:${e.name}`;
          if (used.has(diffId) || !DIGEST_RE.test(diffId)) continue;
          trace(`image gc: removing layer ${diffId}`);
          await this.#removeLayer(diffId);
          removedLayers.push(diffId);
        }
      }
      return { removedLayers, removedTemp };
    });
  }
}
