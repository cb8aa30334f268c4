/**
 * Image sources: an OCI image layout directory, an OCI archive (a tar of such a layout) and a
 * docker-archive (`docker save` / `podman save` default format). Resolves a ref name and the
 * platform to one image manifest and its config; every blob is verified against its descriptor's
 * digest and size as it is read (OCI image spec image-layout.md, image-index.md, descriptor.md).
 *
 * Archives are not extracted: their tar is indexed once with seeks over the member bodies, and
 * blobs are streamed from their offsets.
 */
import {
  type Descriptor,
  type DockerArchiveManifestEntry,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  MEDIA_TYPES,
  type Platform,
  REF_NAME_ANNOTATION,
} from "../../spec/image.ts";
import { compressionForMediaType, verifyingStream } from "./decompress.ts";
import { paddedSize, type TarHeader, TarHeaderDecoder } from "./tar.ts";
import { loadNodeBuiltins, nodeCrypto } from "./node_builtins.ts";

/** The kinds of image source. */
export type ImageSourceKind = "oci" | "oci-archive" | "docker-archive";

/** Where an image comes from; `kind` is detected when absent. */
export interface ImageSource {
  kind?: ImageSourceKind;
  path: string;
  /** A ref name (OCI) or a repo:tag (docker-archive). */
  ref?: string;
}

/** A layer of a resolved image. */
export interface ImageLayer {
  /** The layer's descriptor; docker-archive layers get one with the media type undefined. */
  descriptor: Descriptor | { mediaType: undefined; digest: undefined; size: number };
  /** The uncompressed digest the config lists for this layer. */
  diffId: string;
  /** Names the layer in errors, e.g. "layer 2 (sha256:ab.., application/...)". */
  what: string;
  /**
   * Opens the blob; the stream errors at its end if digest or size do not match. `signal` stops a
   * download (sources that read local files ignore it).
   */
  open(signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

/** A manifest resolved from a source, with its config parsed and its layers ready to open. */
export interface ResolvedImage {
  /** Describes the source, e.g. "oci-archive:/tmp/img.tar". */
  source: string;
  /** The manifest's digest (undefined for a docker-archive, which has no manifest blob). */
  manifestDigest?: string;
  manifest: ImageManifest;
  config: ImageConfig;
  /** "sha256:<hex>" of the config: the image ID. */
  configDigest: string;
  layers: ImageLayer[];
  /** Names the source gives this image (ref names, RepoTags). */
  names: string[];
  /** Releases open files. */
  close(): void;
}

/** Options of openImage(). */
export interface OpenImageOptions {
  /** The platform to select from an index; default the host's. */
  platform?: Platform;
}

const MAX_JSON_SIZE = 8 << 20;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);
const CONFIG_TYPES = new Set<string>([MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig]);

/** The host platform in OCI terms (GOARCH names). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };
  return { os: "linux", architecture: arch[Deno.build.arch] ?? Deno.build.arch };
}

function normalizeVariant(architecture: string, variant: string | undefined): string {
  if (architecture === "arm64" && (variant === undefined || variant === "")) return "v8";
  return variant ?? "";
}

/** True when `have` can run where `want` is asked for (os, architecture and, if asked, variant). */
export function platformMatches(want: Platform, have: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  if (want.variant === undefined) return true;
  return normalizeVariant(want.architecture, want.variant) ===
    normalizeVariant(have.architecture, have.variant);
}

function describe(d: Descriptor): string {
  return `${d.mediaType} ${d.digest} (${d.size} bytes)`;
}

/**
 * Parses "oci:DIR[:REF]", "oci-archive:FILE[:REF]", "docker-archive:FILE[:REF]" or "PATH[:REF]"
 * (skopeo's transport names). The path is the shortest prefix before a ":" that exists, so both
 * paths and refs may contain ":" ("img.tar:repo/app:v1").
 */
export function parseImageSource(text: string): ImageSource {
  const m = /^(oci|oci-archive|docker-archive):(.*)$/.exec(text);
  const kind = m ? (m[1] as ImageSourceKind) : undefined;
  const rest = m ? m[2] : text;
  const existsPath = (p: string): boolean => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = rest.indexOf(":"); i > 0; i = rest.indexOf(":", i + 1)) {
    if (existsPath(rest.slice(0, i))) {
      return { kind, path: rest.slice(0, i), ref: rest.slice(i + 1) || undefined };
    }
  }
  return { kind, path: rest };
}

// ---------------------------------------------------------------------------------------------
// Reading files from a directory or from a tar archive.

/** Read access to the files of a layout directory or an archive. */
interface FileSource {
  describe: string;
  has(path: string): boolean;
  size(path: string): number;
  open(path: string): Promise<ReadableStream<Uint8Array>>;
  close(): void;
}

class DirSource implements FileSource {
  readonly describe: string;
  #root: string;
  constructor(root: string, kind: string) {
    this.#root = root;
    this.describe = `${kind}:${root}`;
  }
  has(path: string): boolean {
    try {
      return Deno.statSync(`${this.#root}/${path}`).isFile;
    } catch {
      return false;
    }
  }
  size(path: string): number {
    return Deno.statSync(`${this.#root}/${path}`).size;
  }
  async open(path: string): Promise<ReadableStream<Uint8Array>> {
    const file = await Deno.open(`${this.#root}/${path}`);
    return file.readable;
  }
  close(): void {}
}

interface TarMember {
  offset: number;
  size: number;
}

function cleanArchivePath(name: string): string {
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/");
}

/** Reads members of an uncompressed tar file at their offsets. */
class TarFileSource implements FileSource {
  readonly describe: string;
  #path: string;
  #members = new Map<string, TarMember>();

  private constructor(path: string, kind: string) {
    this.#path = path;
    this.describe = `${kind}:${path}`;
  }

  /** Indexes `path` by reading its headers and seeking over bodies. */
  static async index(path: string, kind: string): Promise<TarFileSource> {
    const source = new TarFileSource(path, kind);
    const file = await Deno.open(path);
    const links: [string, TarHeader][] = [];
    try {
      const decoder = new TarHeaderDecoder();
      const block = new Uint8Array(512);
      let pos = 0;
      const readAt = async (offset: number, buf: Uint8Array): Promise<boolean> => {
        await file.seek(offset, Deno.SeekMode.Start);
        let got = 0;
        while (got < buf.length) {
          const n = await file.read(buf.subarray(got));
          if (n === null) {
            return got === 0 ? false : (() => {
              throw new Error(`${path}: archive ends inside a header at byte ${offset}`);
            })();
          }
          got += n;
        }
        return true;
      };
      for (;;) {
        if (!(await readAt(pos, block))) break;
        const decoded = decoder.decode(block, pos);
        if (decoded.kind === "end") break;
        if (decoded.kind === "meta") {
          const body = new Uint8Array(decoded.size);
          if (decoded.size > 0 && !(await readAt(pos + 512, body))) {
            throw new Error(`${path}: archive ends inside a meta entry at byte ${pos}`);
          }
          decoder.meta(decoded.typeflag, body, pos);
          pos += 512 + paddedSize(decoded.size);
          continue;
        }
        const { header, bodySize } = decoded;
        const name = cleanArchivePath(header.name);
        if (header.type === "file") {
          source.#members.set(name, { offset: pos + 512, size: bodySize });
        } else if (header.type === "symlink" || header.type === "hardlink") {
          links.push([name, header]);
        }
        pos += 512 + paddedSize(bodySize);
      }
    } catch (err) {
      throw new Error(`Cannot read archive ${path}`, { cause: err });
    } finally {
      file.close();
    }
    // docker save links identical layers ("<id>/layer.tar -> ../<id2>/layer.tar").
    for (const [name, header] of links) {
      const dir = name.includes("/") ? name.slice(0, name.lastIndexOf("/")) : "";
      const target = header.type === "symlink" && !header.linkname.startsWith("/")
        ? cleanArchivePath(`${dir}/${header.linkname}`)
        : cleanArchivePath(header.linkname);
      const member = source.#members.get(target);
      if (member) source.#members.set(name, member);
    }
    return source;
  }

  has(path: string): boolean {
    return this.#members.has(cleanArchivePath(path));
  }
  size(path: string): number {
    const m = this.#members.get(cleanArchivePath(path));
    if (!m) throw new Error(`${this.describe}: no member "${path}"`);
    return m.size;
  }
  async open(path: string): Promise<ReadableStream<Uint8Array>> {
    const m = this.#members.get(cleanArchivePath(path));
    if (!m) throw new Error(`${this.describe}: no member "${path}"`);
    const file = await Deno.open(this.#path);
    await file.seek(m.offset, Deno.SeekMode.Start);
    let left = m.size;
    return new ReadableStream<Uint8Array>({
      async pull(controller): Promise<void> {
        if (left === 0) {
          file.close();
          controller.close();
          return;
        }
        const buf = new Uint8Array(Math.min(left, 1 << 20));
        const n = await file.read(buf);
        if (n === null) {
          file.close();
          controller.error(new Error(`${path}: archive member is truncated`));
          return;
        }
        left -= n;
        controller.enqueue(buf.subarray(0, n));
      },
      cancel(): void {
        file.close();
      },
    });
  }
  close(): void {}
}

async function readAllBytes(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  what: string,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > limit) throw new Error(`${what} is larger than ${limit} bytes`);
    parts.push(chunk);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (err) {
    throw new SyntaxError(`${what} is not valid JSON`, { cause: err });
  }
}

function blobPath(d: Descriptor, what: string): string {
  if (typeof d.digest !== "string" || !DIGEST_RE.test(d.digest)) {
    throw new Error(`${what}: invalid digest "${d.digest}"`);
  }
  if (!Number.isSafeInteger(d.size) || d.size < 0) {
    throw new Error(`${what}: invalid size ${d.size}`);
  }
  const [alg, hex] = d.digest.split(":");
  return `blobs/${alg}/${hex}`;
}

// ---------------------------------------------------------------------------------------------
// OCI layouts.

class OciReader {
  #src: FileSource;
  constructor(src: FileSource) {
    this.#src = src;
  }

  async openBlob(d: Descriptor, what: string): Promise<ReadableStream<Uint8Array>> {
    const path = blobPath(d, what);
    if (!this.#src.has(path)) {
      throw new Error(`${what}: blob ${path} is missing from ${this.#src.describe}`);
    }
    return verifyingStream(await this.#src.open(path), { digest: d.digest, size: d.size }, what);
  }

  async readJsonBlob<T>(d: Descriptor, what: string): Promise<T> {
    if (d.size > MAX_JSON_SIZE) throw new Error(`${what}: ${d.size} bytes is too large for JSON`);
    const bytes = await readAllBytes(await this.openBlob(d, what), MAX_JSON_SIZE, what);
    return parseJson<T>(bytes, what);
  }

  async readIndex(): Promise<ImageIndex> {
    const what = `${this.#src.describe}: index.json`;
    if (!this.#src.has("oci-layout")) throw new Error(`${this.#src.describe}: no oci-layout file`);
    const layout = parseJson<{ imageLayoutVersion?: string }>(
      await readAllBytes(await this.#src.open("oci-layout"), 4096, "oci-layout"),
      `${this.#src.describe}: oci-layout`,
    );
    if (layout.imageLayoutVersion !== "1.0.0") {
      throw new Error(
        `${this.#src.describe}: unsupported imageLayoutVersion "${layout.imageLayoutVersion}"`,
      );
    }
    if (!this.#src.has("index.json")) throw new Error(`${this.#src.describe}: no index.json`);
    const index = parseJson<ImageIndex>(
      await readAllBytes(await this.#src.open("index.json"), MAX_JSON_SIZE, what),
      what,
    );
    if (!Array.isArray(index.manifests)) throw new Error(`${what}: "manifests" is not a list`);
    return index;
  }

  /** Expands `candidates` into image manifest descriptors for `platform`, following nested indexes. */
  async selectManifests(
    candidates: Descriptor[],
    platform: Platform,
    where: string,
    depth = 0,
  ): Promise<Descriptor[]> {
    if (depth > 4) throw new Error(`${where}: image indexes nested too deeply`);
    const out: Descriptor[] = [];
    for (const [i, d] of candidates.entries()) {
      const what = `${where} manifests[${i}] (${describe(d)})`;
      if (d.platform && !platformMatches(platform, d.platform)) continue;
      if (INDEX_TYPES.has(d.mediaType)) {
        const nested = await this.readJsonBlob<ImageIndex>(d, what);
        if (!Array.isArray(nested.manifests)) throw new Error(`${what}: "manifests" is not a list`);
        out.push(
          ...await this.selectManifests(nested.manifests, platform, `index ${d.digest}`, depth + 1),
        );
      } else if (MANIFEST_TYPES.has(d.mediaType)) {
        out.push(d);
      } else {
        throw new Error(`${what}: unknown media type "${d.mediaType}"`);
      }
    }
    return out;
  }
}

function refNames(d: Descriptor): string[] {
  const a = d.annotations ?? {};
  return [a[REF_NAME_ANNOTATION], a["io.containerd.image.name"]].filter((n): n is string => !!n);
}

/** The manifest `ref` (or the only image) names for `platform`, and the index entries `ref` matched. */
async function selectOciManifest(
  oci: OciReader,
  src: FileSource,
  ref: string | undefined,
  platform: Platform,
): Promise<{ manifest: Descriptor; candidates: Descriptor[] }> {
  const index = await oci.readIndex();
  let candidates = index.manifests;
  if (ref !== undefined) {
    candidates = candidates.filter((d) => refNames(d).includes(ref));
    if (candidates.length === 0) {
      const known = index.manifests.flatMap(refNames);
      throw new Error(
        `${src.describe}: no image named "${ref}" (names: ${known.join(", ") || "none"})`,
      );
    }
  }
  const manifests = await oci.selectManifests(candidates, platform, `${src.describe}: index.json`);
  const distinct = [...new Map(manifests.map((d) => [d.digest, d])).values()];
  if (distinct.length === 0) {
    throw new Error(
      `${src.describe}: no image for platform ${platform.os}/${platform.architecture}` +
        (ref ? ` named "${ref}"` : ""),
    );
  }
  if (distinct.length > 1) {
    const names = index.manifests.flatMap(refNames);
    throw new Error(
      `${src.describe}: ${distinct.length} images match; choose one by ref name (${
        names.join(", ") || "no names"
      })`,
    );
  }
  return { manifest: distinct[0], candidates };
}

/** Reads the image manifest `md` names and checks its media types and shape. */
async function readOciManifest(oci: OciReader, md: Descriptor): Promise<ImageManifest> {
  const mwhat = `manifest ${md.digest}`;
  const manifest = await oci.readJsonBlob<ImageManifest>(md, mwhat);
  if (manifest.mediaType !== undefined && manifest.mediaType !== md.mediaType) {
    throw new Error(
      `${mwhat}: mediaType "${manifest.mediaType}" differs from its descriptor's "${md.mediaType}"`,
    );
  }
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new Error(`${mwhat}: missing "config" or "layers"`);
  }
  if (!CONFIG_TYPES.has(manifest.config.mediaType)) {
    throw new Error(`${mwhat}: config has unknown media type "${manifest.config.mediaType}"`);
  }
  return manifest;
}

/** Reads the manifest's image config and checks it against the layers and `platform`. */
async function readOciConfig(
  oci: OciReader,
  manifest: ImageManifest,
  platform: Platform,
): Promise<ImageConfig> {
  const cwhat = `config ${manifest.config.digest} (${manifest.config.mediaType})`;
  const config = await oci.readJsonBlob<ImageConfig>(manifest.config, cwhat);
  checkConfig(config, manifest.layers.length, cwhat);
  if (
    !platformMatches(platform, {
      os: config.os,
      architecture: config.architecture,
      variant: config.variant,
    })
  ) {
    throw new Error(
      `${cwhat}: image is for ${config.os}/${config.architecture}, not ${platform.os}/${platform.architecture}`,
    );
  }
  return config;
}

async function resolveOci(
  src: FileSource,
  ref: string | undefined,
  options: OpenImageOptions,
): Promise<ResolvedImage> {
  const oci = new OciReader(src);
  const platform = options.platform ?? hostPlatform();
  const { manifest: md, candidates } = await selectOciManifest(oci, src, ref, platform);
  const manifest = await readOciManifest(oci, md);
  const config = await readOciConfig(oci, manifest, platform);
  const mwhat = `manifest ${md.digest}`;
  const layers = manifest.layers.map((d, i): ImageLayer => {
    const what = `${mwhat} layers[${i}] (${describe(d)})`;
    if (compressionForMediaType(d.mediaType) === undefined) {
      throw new Error(`${what}: unknown layer media type "${d.mediaType}"`);
    }
    blobPath(d, what);
    return {
      descriptor: d,
      diffId: config.rootfs.diff_ids[i],
      what,
      open: () => oci.openBlob(d, what),
    };
  });
  return {
    source: src.describe,
    manifestDigest: md.digest,
    manifest,
    config,
    configDigest: manifest.config.digest,
    layers,
    names: [...new Set([...refNames(md), ...candidates.flatMap(refNames)])].filter((n) =>
      ref === undefined || n === ref || candidates.length === 1
    ),
    close: () => src.close(),
  };
}

export function checkConfig(config: ImageConfig, layerCount: number, what: string): void {
  if (!config.rootfs || !Array.isArray(config.rootfs.diff_ids)) {
    throw new Error(`${what}: missing rootfs.diff_ids`);
  }
  if (config.rootfs.diff_ids.length !== layerCount) {
    throw new Error(
      `${what}: rootfs.diff_ids lists ${config.rootfs.diff_ids.length} layers, the manifest ${layerCount}`,
    );
  }
  for (const id of config.rootfs.diff_ids) {
    if (!DIGEST_RE.test(id)) throw new Error(`${what}: invalid diff_id "${id}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// docker-archive.

function tagMatches(tags: string[], ref: string): boolean {
  const withTag = /:[^/]+$/.test(ref) ? ref : `${ref}:latest`;
  return tags.some((t) =>
    t === ref || t === withTag || t === `docker.io/library/${withTag}` ||
    t === `docker.io/${withTag}` ||
    t === `localhost/${withTag}`
  );
}

async function resolveDocker(src: FileSource, ref: string | undefined): Promise<ResolvedImage> {
  const mwhat = `${src.describe}: manifest.json`;
  const entries = parseJson<DockerArchiveManifestEntry[]>(
    await readAllBytes(await src.open("manifest.json"), MAX_JSON_SIZE, mwhat),
    mwhat,
  );
  if (!Array.isArray(entries)) throw new Error(`${mwhat}: not a list`);
  let chosen = entries;
  if (ref !== undefined) chosen = entries.filter((e) => tagMatches(e.RepoTags ?? [], ref));
  const allTags = entries.flatMap((e) => e.RepoTags ?? []);
  if (chosen.length === 0) {
    throw new Error(`${mwhat}: no image tagged "${ref}" (tags: ${allTags.join(", ") || "none"})`);
  }
  if (chosen.length > 1) {
    throw new Error(`${mwhat}: ${chosen.length} images; choose one by tag (${allTags.join(", ")})`);
  }
  const entry = chosen[0];
  const cwhat = `${src.describe}: config ${entry.Config}`;
  if (!src.has(entry.Config)) throw new Error(`${cwhat}: missing from the archive`);
  const configBytes = await readAllBytes(await src.open(entry.Config), MAX_JSON_SIZE, cwhat);
  const configDigest = `sha256:${
    nodeCrypto().createHash("sha256").update(configBytes).digest("hex")
  }`;
  // The config's file name is its digest ("<hex>.json", or "blobs/sha256/<hex>" since Docker 25).
  const named = /([a-f0-9]{64})(\.json)?$/.exec(entry.Config);
  if (named && `sha256:${named[1]}` !== configDigest) {
    throw new Error(
      `${cwhat}: digest mismatch: file name says sha256:${named[1]}, content is ${configDigest}`,
    );
  }
  const config = parseJson<ImageConfig>(configBytes, cwhat);
  checkConfig(config, entry.Layers.length, cwhat);
  const layers = entry.Layers.map((path, i): ImageLayer => {
    const what = `${src.describe}: layer ${path}`;
    if (!src.has(path)) throw new Error(`${what}: missing from the archive`);
    const size = src.size(path);
    const blob = /^blobs\/(sha256)\/([a-f0-9]{64})$/.exec(path);
    const open = async (): Promise<ReadableStream<Uint8Array>> => {
      const stream = await src.open(path);
      return blob ? verifyingStream(stream, { digest: `sha256:${blob[2]}`, size }, what) : stream;
    };
    return {
      descriptor: { mediaType: undefined, digest: undefined, size },
      diffId: config.rootfs.diff_ids[i],
      what,
      open,
    };
  });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.dockerManifest,
    config: { mediaType: MEDIA_TYPES.dockerConfig, digest: configDigest, size: configBytes.length },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.docker.image.rootfs.diff.tar",
      digest: l.diffId,
      size: l.descriptor.size,
    })),
  };
  return {
    source: src.describe,
    manifest,
    config,
    configDigest,
    layers,
    names: ref !== undefined ? [ref] : (entry.RepoTags ?? []),
    close: () => src.close(),
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Opens an image from a layout directory or an archive and resolves it to one manifest.
 * @param source a parsed source or a string for parseImageSource().
 * @throws Error naming the source and the descriptor for missing, mismatching or unknown blobs.
 */
export async function openImage(
  source: ImageSource | string,
  options: OpenImageOptions = {},
): Promise<ResolvedImage> {
  await loadNodeBuiltins();
  const s = typeof source === "string" ? parseImageSource(source) : source;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(s.path);
  } catch (err) {
    throw new Error(`Cannot open image source "${s.path}"`, { cause: err });
  }
  if (info.isDirectory) {
    if (s.kind !== undefined && s.kind !== "oci") {
      throw new Error(`Image source "${s.path}" is a directory, not a ${s.kind}`);
    }
    return await resolveOci(new DirSource(s.path, "oci"), s.ref, options);
  }
  const head = new Uint8Array(4);
  const f = await Deno.open(s.path);
  try {
    await f.read(head);
  } finally {
    f.close();
  }
  if ((head[0] === 0x1f && head[1] === 0x8b) || (head[0] === 0x28 && head[1] === 0xb5)) {
    throw new Error(`Image archive "${s.path}" is compressed; decompress it first (gunzip/unzstd)`);
  }
  const archive = await TarFileSource.index(s.path, s.kind ?? "archive");
  const hasOci = archive.has("oci-layout");
  const hasDocker = archive.has("manifest.json");
  const kind: ImageSourceKind | undefined = s.kind ??
    (hasOci ? "oci-archive" : hasDocker ? "docker-archive" : undefined);
  if (kind === "oci-archive") {
    try {
      return await resolveOci(archive, s.ref, options);
    } catch (err) {
      // Docker 25+ archives are both; their OCI ref names are bare tags, RepoTags are full names.
      if (s.kind === undefined && hasDocker && s.ref !== undefined) {
        return await resolveDocker(archive, s.ref);
      }
      throw err;
    }
  }
  if (kind === "docker-archive") return await resolveDocker(archive, s.ref);
  throw new Error(`Archive "${s.path}" has neither oci-layout nor manifest.json`);
}
