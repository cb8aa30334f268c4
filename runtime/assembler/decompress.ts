/**
 * Layer decompression and digests while streaming: the blob digest over the compressed bytes and
 * the diffID over the uncompressed tar (OCI image spec, config.md "rootfs.diff_ids").
 */
import type { Hash } from "node:crypto";
import { loadNodeBuiltins, nodeCrypto, nodeZlib } from "./node_builtins.ts";

/** How a layer blob is compressed. */
export type Compression = "gzip" | "zstd" | "none";

/** Layer media types by their compression (OCI image spec media-types.md, Docker v2 schema 2). */
const LAYER_MEDIA_TYPES: Record<string, Compression> = {
  "application/vnd.oci.image.layer.v1.tar": "none",
  "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
  "application/vnd.docker.image.rootfs.diff.tar": "none",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
  "application/vnd.docker.image.rootfs.diff.tar.zstd": "zstd",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
};

/** Returns the compression a layer media type declares, or undefined for a non-layer type. */
export function compressionForMediaType(mediaType: string): Compression | undefined {
  return LAYER_MEDIA_TYPES[mediaType];
}

/** Detects the compression from the first bytes of a blob (gzip 1f 8b, zstd 28 b5 2f fd). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (
    head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f &&
    head[3] === 0xfd
  ) return "zstd";
  return "none";
}

/** A digest computed while bytes stream through; read `digest` only after the stream ended. */
export class DigestTransform extends TransformStream<Uint8Array, Uint8Array> {
  #result: { digest: string; size: number } | undefined;
  /** The algorithm name in digest form, e.g. "sha256". */
  readonly algorithm: string;

  constructor(algorithm = "sha256") {
    const hash: Hash = nodeCrypto().createHash(algorithm);
    let size = 0;
    super({
      transform: (chunk, controller): void => {
        hash.update(chunk);
        size += chunk.length;
        controller.enqueue(chunk);
      },
      flush: (): void => {
        this.#result = { digest: `${algorithm}:${hash.digest("hex")}`, size };
      },
    });
    this.algorithm = algorithm;
  }

  /** True once the whole stream went through. */
  get done(): boolean {
    return this.#result !== undefined;
  }

  /** "sha256:<hex>" of everything that went through; throws if the stream has not ended. */
  get digest(): string {
    if (!this.#result) throw new Error("digest read before the stream ended");
    return this.#result.digest;
  }

  /** Bytes that went through. */
  get size(): number {
    if (!this.#result) throw new Error("size read before the stream ended");
    return this.#result.size;
  }
}

/** Checks a stream against an expected digest and size; the stream errors on a mismatch. */
export function verifyingStream(
  input: ReadableStream<Uint8Array>,
  expected: { digest: string; size?: number },
  what: string,
): ReadableStream<Uint8Array> {
  const algorithm = expected.digest.split(":", 1)[0];
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new Error(`${what}: unsupported digest algorithm in "${expected.digest}"`);
  }
  const hash = nodeCrypto().createHash(algorithm);
  let size = 0;
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller): void {
        size += chunk.length;
        if (expected.size !== undefined && size > expected.size) {
          throw new Error(`${what}: blob is larger than its descriptor's size ${expected.size}`);
        }
        hash.update(chunk);
        controller.enqueue(chunk);
      },
      flush(): void {
        if (expected.size !== undefined && size !== expected.size) {
          throw new Error(
            `${what}: size mismatch: descriptor says ${expected.size}, blob has ${size}`,
          );
        }
        const actual = `${algorithm}:${hash.digest("hex")}`;
        if (actual !== expected.digest) {
          throw new Error(`${what}: digest mismatch: expected ${expected.digest}, got ${actual}`);
        }
      },
    }),
  );
}

/** Reads the first `n` bytes (or fewer at end) and returns them with a stream that still has them. */
export async function peekStream(
  input: ReadableStream<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = input.getReader();
  const taken: Uint8Array[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const { value, done } = await reader.read();
    if (done) {
      ended = true;
      break;
    }
    taken.push(value);
    have += value.length;
  }
  const head = new Uint8Array(Math.min(n, have));
  let offset = 0;
  for (const c of taken) {
    if (offset >= head.length) break;
    const part = c.subarray(0, head.length - offset);
    head.set(part, offset);
    offset += part.length;
  }
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      const next = taken.shift();
      if (next) {
        controller.enqueue(next);
        return;
      }
      if (ended) {
        controller.close();
        return;
      }
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason): Promise<void> {
      return reader.cancel(reason);
    },
  });
  return { head, stream };
}

/** Wraps node:zlib's zstd decompressor (Web DecompressionStream has no zstd in Deno 2.9). */
function zstdDecompressStream(): TransformStream<Uint8Array, Uint8Array> {
  const z = nodeZlib().createZstdDecompress();
  let failure: Error | undefined;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller): void {
      z.on("data", (chunk: Uint8Array) => {
        try {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        } catch (err) {
          // The reader went away (the tar reader stopped at a bad entry and cancelled): this
          // event handler's throw would be uncaught and end the process with a stack trace.
          failure ??= err as Error;
          z.destroy();
        }
      });
      z.on("error", (err: Error) => {
        failure = err;
      });
    },
    transform(chunk): Promise<void> {
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        z.write(chunk, (err?: Error | null) => (err ? reject(err) : resolve()));
      });
    },
    flush(): Promise<void> {
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        z.once("end", () => resolve());
        z.once("error", reject);
        z.end();
      });
    },
  });
}

/**
 * Passes `input` through, turning its error into one that says what was being read. The
 * decompressors fail with a bare TypeError ("corrupt gzip stream does not have a matching
 * checksum"), which would reach the user as if Skiff had a bug (tests/fuzz/tar_fuzz_test.ts).
 */
function namingErrors(
  input: ReadableStream<Uint8Array>,
  what: string,
): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(
          new Error(`${what} is corrupt or truncated: ${(err as Error)?.message ?? err}`, {
            cause: err,
          }),
        );
      }
    },
    cancel(reason): Promise<void> {
      return reader.cancel(reason);
    },
  });
}

/** Returns the decompressed form of `input`. */
export function decompressStream(
  input: ReadableStream<Uint8Array>,
  compression: Compression,
): ReadableStream<Uint8Array> {
  switch (compression) {
    case "none":
      return input;
    case "gzip":
      return namingErrors(
        input.pipeThrough(
          new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
        ),
        "the gzip data",
      );
    case "zstd":
      return namingErrors(input.pipeThrough(zstdDecompressStream()), "the zstd data");
  }
}

/** A layer opened for unpacking: the tar stream and the two digests computed along the way. */
export interface OpenedLayer {
  /** The uncompressed tar. */
  tar: ReadableStream<Uint8Array>;
  /** The compression that was applied. */
  compression: Compression;
  /** Digest and size of the compressed blob (valid after `tar` ended). */
  blob: DigestTransform;
  /** Digest and size of the uncompressed tar: the diffID (valid after `tar` ended). */
  diff: DigestTransform;
}

/**
 * Opens a layer blob for unpacking: picks the decompressor from `mediaType` and checks it
 * against the magic bytes; without a media type (docker-archive) the magic bytes decide.
 * @param what names the blob in errors, e.g. the descriptor.
 */
export async function openLayer(
  blob: ReadableStream<Uint8Array>,
  mediaType: string | undefined,
  what: string,
): Promise<OpenedLayer> {
  await loadNodeBuiltins();
  const { head, stream } = await peekStream(blob, 4);
  const detected = detectCompression(head);
  let compression = detected;
  if (mediaType !== undefined) {
    const declared = compressionForMediaType(mediaType);
    if (declared === undefined) {
      await stream.cancel();
      throw new Error(`${what}: unknown layer media type "${mediaType}"`);
    }
    if (declared !== detected) {
      await stream.cancel();
      throw new Error(
        `${what}: media type "${mediaType}" says ${declared} but the blob starts like ${detected}`,
      );
    }
    compression = declared;
  }
  const blobDigest = new DigestTransform();
  const diffDigest = new DigestTransform();
  const tar = decompressStream(stream.pipeThrough(blobDigest), compression).pipeThrough(diffDigest);
  return { tar, compression, blob: blobDigest, diff: diffDigest };
}
