/**
 * Resolves a registry reference to one image manifest and its config, as a ResolvedImage whose
 * layers stream from the registry (LayerStore.importResolved() then downloads only the layers it
 * does not have). The manifest and the config are fetched first and verified: a manifest asked
 * for by digest must have that digest; one reached from an index must have the index's; the
 * config and each layer must match their descriptors (OCI image spec descriptor.md).
 */
import {
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  MEDIA_TYPES,
  type Platform,
} from "../../../spec/image.ts";
import {
  checkConfig,
  hostPlatform,
  type ImageLayer,
  platformMatches,
  type ResolvedImage,
} from "../image_layout.ts";
import { compressionForMediaType, verifyingStream } from "../decompress.ts";
import { loadNodeBuiltins, nodeCrypto } from "../node_builtins.ts";
import { formatReference, type ImageReference, parseReference } from "./reference.ts";
import { RegistryClient, type RegistryClientOptions } from "./client.ts";
import { loadRegistriesConfig } from "./config.ts";
import { trace } from "../../log.ts";

/** Options of resolveRegistryImage(). */
export interface PullOptions extends RegistryClientOptions {
  /** The platform to choose from an index; default the host's. */
  platform?: Platform;
}

const MAX_JSON_SIZE = 8 << 20;
const ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.dockerManifest,
];
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

/** Parses "OS/ARCH[/VARIANT]" (the --platform flag). */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new TypeError(`--platform must be OS/ARCH[/VARIANT], e.g. linux/arm64/v8: got "${text}"`);
  }
  return { os: parts[0], architecture: parts[1], variant: parts[2] };
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${nodeCrypto().createHash("sha256").update(bytes).digest("hex")}`;
}

function parseJson<T>(bytes: Uint8Array, what: string): T {
  if (bytes.length > MAX_JSON_SIZE) {
    throw new Error(`${what} is larger than ${MAX_JSON_SIZE} bytes`);
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (err) {
    throw new SyntaxError(`${what} is not valid JSON`, { cause: err });
  }
}

function platformName(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

async function readBlob(client: RegistryClient, d: Descriptor, what: string): Promise<Uint8Array> {
  if (d.size > MAX_JSON_SIZE) throw new Error(`${what}: ${d.size} bytes is too large for JSON`);
  const stream = verifyingStream(
    client.blob(d.digest, d.size),
    { digest: d.digest, size: d.size },
    what,
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Fetches the manifest `ref` names (choosing `platform` from an index) and its config.
 * @returns a ResolvedImage; close() releases the HTTP clients.
 * @throws RegistryError / Error naming the registry, the repository and what did not match.
 */
export async function resolveRegistryImage(
  reference: string | ImageReference,
  options: PullOptions = {},
): Promise<ResolvedImage> {
  await loadNodeBuiltins();
  const ref = typeof reference === "string" ? parseReference(reference) : reference;
  const name = formatReference(ref);
  const config = options.config ?? await loadRegistriesConfig();
  const client = await RegistryClient.create(ref.registry, ref.repository, { ...options, config });
  try {
    const platform = options.platform ?? hostPlatform();
    let wanted = ref.digest ?? ref.tag!;
    let expected = ref.digest;
    let what = `${name}: manifest`;
    let manifest: ImageManifest | undefined;
    let manifestDigest = "";
    let mediaType = "";
    for (let depth = 0; manifest === undefined; depth++) {
      if (depth > 2) throw new Error(`${name}: image indexes nested too deeply`);
      const got = await client.manifest(wanted, ACCEPT);
      trace(`image pull: manifest ${wanted} fetched`);
      const digest = sha256(got.bytes);
      if (expected !== undefined && digest !== expected) {
        throw new Error(`${what}: digest mismatch: expected ${expected}, got ${digest}`);
      }
      const doc = parseJson<ImageIndex & ImageManifest>(got.bytes, what);
      mediaType = doc.mediaType ?? got.mediaType;
      if (INDEX_TYPES.has(mediaType) || (mediaType === "" && Array.isArray(doc.manifests))) {
        if (!Array.isArray(doc.manifests)) throw new Error(`${what}: "manifests" is not a list`);
        const match = doc.manifests.find((d) =>
          d.platform && platformMatches(platform, d.platform)
        );
        if (!match) {
          const offered = doc.manifests.filter((d) => d.platform).map((d) =>
            platformName(d.platform!)
          );
          throw new Error(
            `${name}: no image for platform ${platformName(platform)} (the index offers ${
              offered.join(", ") || "none"
            })`,
          );
        }
        wanted = expected = match.digest;
        what = `${name}: manifest ${match.digest} (${platformName(match.platform!)})`;
      } else if (MANIFEST_TYPES.has(mediaType)) {
        manifest = doc;
        manifestDigest = digest;
      } else {
        throw new Error(
          `${what}: unsupported media type "${mediaType}" (Docker schema 1 is not pulled)`,
        );
      }
    }
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new Error(`${what}: missing "config" or "layers"`);
    }
    const cwhat = `${name}: config ${manifest.config.digest}`;
    const imageConfig = parseJson<ImageConfig>(
      await readBlob(client, manifest.config, cwhat),
      cwhat,
    );
    checkConfig(imageConfig, manifest.layers.length, cwhat);
    trace("image pull: config fetched");
    const have = {
      os: imageConfig.os,
      architecture: imageConfig.architecture,
      variant: imageConfig.variant,
    };
    if (!platformMatches(platform, have)) {
      throw new Error(
        `${cwhat}: image is for ${platformName(have)}, not ${platformName(platform)}`,
      );
    }
    const layers = manifest.layers.map((d, i): ImageLayer => {
      const lwhat = `${name}: layer ${i} (${d.digest}, ${d.mediaType}, ${d.size} bytes)`;
      if (compressionForMediaType(d.mediaType) === undefined) {
        throw new Error(`${lwhat}: unknown layer media type "${d.mediaType}"`);
      }
      if (!/^sha256:[a-f0-9]{64}$/.test(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0) {
        throw new Error(`${lwhat}: invalid digest or size`);
      }
      return {
        descriptor: d,
        diffId: imageConfig.rootfs.diff_ids[i],
        what: lwhat,
        open: (signal?: AbortSignal) =>
          Promise.resolve(
            verifyingStream(
              client.blob(d.digest, d.size, signal),
              { digest: d.digest, size: d.size },
              lwhat,
            ),
          ),
      };
    });
    return {
      source: `docker://${name}`,
      manifestDigest,
      manifest,
      config: imageConfig,
      configDigest: manifest.config.digest,
      layers,
      names: ref.tag ? [`${ref.registry}/${ref.repository}:${ref.tag}`] : [],
      close: () => client.close(),
    };
  } catch (err) {
    client.close();
    throw err;
  }
}
