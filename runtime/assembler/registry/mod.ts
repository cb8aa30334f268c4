/**
 * Pulling images from registries into the layer store (docs/assembler.md "Pulling from a
 * registry"): the manifest and config first, then only the layers whose diffID the store lacks,
 * a few at a time, each streamed from the registry through digest verification and
 * decompression into the unpacker.
 */
import type { ImportProgress, LayerStore, StoredImage } from "../layer_store.ts";
import type { Platform } from "../../../spec/image.ts";
import { resolveRegistryImage } from "./pull.ts";
import { formatReference, parseReference } from "./reference.ts";
import { RegistryClient } from "./client.ts";
import {
  type Credentials,
  loadRegistriesConfig,
  type RegistriesConfig,
  saveCredentials,
} from "./config.ts";

export { parsePlatform } from "./pull.ts";
export { formatReference, looksLikeRegistryReference, parseReference } from "./reference.ts";

/** Layers downloaded at once. */
export const PULL_CONCURRENCY = 3;

/** Options of pullImage(). */
export interface PullImageOptions {
  platform?: Platform;
  onProgress?: (event: ImportProgress) => void;
  concurrency?: number;
  /** The registry configuration (default: read the file, see config.ts). */
  config?: RegistriesConfig;
  /** Credentials to use instead of the stored ones. */
  credentials?: Credentials;
}

/**
 * Pulls `reference` into `store`.
 * @returns the stored image, named by its canonical reference when it was given a tag.
 */
export function pullImage(
  store: LayerStore,
  reference: string,
  options: PullImageOptions = {},
): Promise<StoredImage> {
  const ref = parseReference(reference);
  return store.importResolved(
    () =>
      resolveRegistryImage(ref, {
        platform: options.platform,
        config: options.config,
        credentials: options.credentials,
      }),
    { onProgress: options.onProgress, concurrency: options.concurrency ?? PULL_CONCURRENCY },
  ).catch((err) => {
    throw new Error(`Cannot pull ${formatReference(ref)}`, { cause: err });
  });
}

/**
 * Checks `creds` against `registry` (GET /v2/, answering its challenge) and stores them.
 * @returns the auth file written.
 */
export async function login(registry: string, creds: Credentials): Promise<string> {
  const host = parseReference(`${registry}/x`).registry;
  const client = await RegistryClient.create(host, "", {
    config: await loadRegistriesConfig(),
    credentials: creds,
    retries: 1,
  });
  try {
    await client.ping();
  } finally {
    client.close();
  }
  return await saveCredentials(host, creds);
}
