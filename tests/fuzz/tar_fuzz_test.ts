/**
 * Seeded fuzzing of layer unpacking (issue 15, "Fuzzing, seeded, in CI": the tar part). Each case
 * is a layer tarball built here, entry by entry and header byte by header byte, hostile on purpose:
 * ".." and absolute names, a symlink and then a file through it, hardlinks to outside, to missing
 * and to themselves, devices and fifos, setuid bits, huge and negative sizes, bad checksums,
 * truncated archives, PAX and GNU long names, whiteouts and opaque markers in odd places,
 * duplicate entries, a file replacing a directory and the reverse. The tar is then left plain or
 * compressed with gzip or zstd, and sometimes the compressed bytes are cut short.
 *
 * The oracle for each case (run through openLayer() + unpackLayer(), as the store does):
 * - it succeeds, or fails with an Error whose chain holds no TypeError, RangeError or
 *   ReferenceError that no reader of ours wrapped (those are bugs: a property of undefined...);
 * - it ends within TIME_BOUND_MS;
 * - nothing outside the layer directory changed: the canary directory beside it is unchanged, its
 *   parent holds only the two, and no escape marker appeared at "/" or in /tmp.
 * Every CLI_EVERY-th case also goes through the real CLI: `skiff --log-format json image import`
 * of an OCI layout holding the layer. There the oracle is exit 0 with the image ID on stdout, or
 * a non-zero exit with exactly one JSON error line on stderr and no stack trace, and the store is
 * consistent afterwards (LayerStore.check() finds nothing, and a failed import left no layer).
 *
 * A failing seed is printed; `FUZZ_SEED=N FUZZ_COUNT=1` replays it. REGRESSION_SEEDS are seeds
 * that once failed, run on every run. FUZZ_CLI_EVERY=N sends every Nth case through the CLI (10);
 * FUZZ_VERBOSE=1 prints why each refused case was refused (to see what the generator reaches).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import { prng } from "../differential/generator.ts";
import { openLayer } from "../../runtime/assembler/decompress.ts";
import { unpackLayer } from "../../runtime/assembler/unpack.ts";
import { LayerStore } from "../../runtime/assembler/layer_store.ts";
import { loadNodeBuiltins } from "../../runtime/assembler/node_builtins.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import { MEDIA_TYPES, REF_NAME_ANNOTATION } from "../../spec/image.ts";

const COUNT = Number(Deno.env.get("FUZZ_COUNT") ?? "500");
const FIRST_SEED = Number(Deno.env.get("FUZZ_SEED") ?? "20261130");
/** One case in CLI_EVERY also runs through `skiff image import` (a process start each). */
const CLI_EVERY = Number(Deno.env.get("FUZZ_CLI_EVERY") ?? "10");
const TIME_BOUND_MS = 10_000;
/**
 * Seeds that once found a bug, kept as regression cases (they hold for this generator; a change
 * to the generator makes them other cases, so keep the comment of what each found).
 * - 20261144: a zstd layer whose tar reader stopped early: the decompressor's "data" handler
 *   threw "Readable stream is unavailable", uncaught (a stack trace from the CLI).
 * - 20261323: a truncated gzip layer failed with a bare TypeError ("corrupt gzip stream").
 */
const REGRESSION_SEEDS: number[] = [20261144, 20261323];

const ESCAPE_MARKERS = ["/skiff-tar-fuzz-escape", "/tmp/skiff-tar-fuzz-escape"];

type Random = () => number;
const encoder = new TextEncoder();

function pick<T>(random: Random, xs: readonly T[]): T {
  return xs[Math.floor(random() * xs.length)];
}

// ---------------------------------------------------------------------------------------------
// The generator: entries.

/** One entry as the generator means it; encode() turns it into header and body bytes. */
interface FuzzEntry {
  name: string;
  typeflag: string;
  mode: number;
  data: Uint8Array;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** How a long (or any) name is carried: in the header, a PAX record or a GNU 'L'/'K' entry. */
  longNames: "header" | "pax" | "gnu";
  xattrs: [string, string][];
  /** A raw size field, overriding the body length (the body is still data). */
  sizeField?: Uint8Array;
  /** A PAX size record, overriding the body length. */
  paxSize?: string;
  /** Leave the checksum wrong. */
  badChecksum?: boolean;
}

function names(canary: string): string[] {
  return [
    "a",
    "a/b",
    "a/b/c",
    "a/",
    "d",
    "d/e",
    "d/e/f",
    "link",
    "link/f",
    "link/sub/f",
    "link/.wh.x",
    "link/.wh..wh..opq",
    "hl",
    "hl2",
    "dev",
    "fifo",
    ".wh.a",
    ".wh.d",
    "a/.wh.b",
    "a/.wh..wh..opq",
    ".wh..wh..opq",
    ".wh..wh.plnk.1",
    ".wh.",
    ".wh..",
    ".wh.link",
    "../escape",
    "../canary/pwned",
    "a/../../escape",
    "./a/../b",
    "/abs",
    "/",
    ".",
    "./",
    "",
    "//a//b//",
    "a\\b",
    "ü-ütf8",
    `${canary}/pwned`,
    ...ESCAPE_MARKERS,
    `../../../../../../..${ESCAPE_MARKERS[1]}`,
    "x".repeat(99),
    "x".repeat(100),
    "y".repeat(101),
    `${"long-dir-name/".repeat(12)}f`,
    "z".repeat(300),
  ];
}

function linkTargets(canary: string): string[] {
  return [
    canary,
    `${canary}/file`,
    "../canary",
    "../canary/file",
    "../../",
    "..",
    "/",
    "/tmp",
    ".",
    "",
    "a",
    "a/b",
    "link",
    "link/f",
    "hl",
    "missing",
    "/missing",
    "d/e",
    "../escape",
    "q".repeat(200),
  ];
}

const PLAIN_NAMES = ["a", "a/b", "a/b/c", "d", "d/e", "hl", "hl2", "dev", "fifo", "f", "d/g"];

const TYPEFLAGS = [
  "0",
  "0",
  "0",
  "5",
  "5",
  "2",
  "2",
  "1",
  "1",
  "3",
  "4",
  "6",
  "7",
  "\0",
  "S",
  "V",
  "M",
  "D",
  "Z",
  "g",
  "x",
  "L",
];

const MODES = [0o644, 0o755, 0o4755, 0o2755, 0o6777, 0o1777, 0, 0o7777, 0o100644];

function randomEntry(random: Random, canary: string): FuzzEntry {
  const typeflag = pick(random, TYPEFLAGS);
  const size = random() < 0.9 ? Math.floor(random() * 40) : Math.floor(random() * 3000);
  const data = new Uint8Array(typeflag === "0" || random() < 0.1 ? size : 0);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  const entry: FuzzEntry = {
    // Half the names are plain ones, so that cases get past the first hostile entry.
    name: random() < 0.5 ? pick(random, PLAIN_NAMES) : pick(random, names(canary)),
    typeflag,
    mode: pick(random, MODES),
    data,
    linkname: typeflag === "1" || typeflag === "2" || random() < 0.05
      ? pick(random, linkTargets(canary))
      : "",
    devmajor: pick(random, [0, 1, 8, 4095, 0o7777777]),
    devminor: pick(random, [0, 3, 5, 255, 0o7777777]),
    longNames: pick(random, ["header", "header", "pax", "gnu"] as const),
    xattrs: [],
  };
  const r = random();
  if (r < 0.04) {
    entry.xattrs.push([
      pick(random, ["user.x", "trusted.overlay.opaque", "security.capability"]),
      "y",
    ]);
  } else if (r < 0.07) {
    // Sizes a writer should never produce: larger than the body, 8 GiB, GNU base-256 negative.
    entry.sizeField = pick(random, [
      octalField(data.length + 1 + Math.floor(random() * 2000), 12),
      octalField(0o77777777777, 12),
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]),
      new Uint8Array([0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      encoder.encode("9999999999\0"),
      encoder.encode("-1         "),
    ]);
  } else if (r < 0.09) {
    entry.paxSize = pick(random, ["99999999999999999999999", "-5", "1e9", "", "12x"]);
  } else if (r < 0.11) {
    entry.badChecksum = true;
  }
  return entry;
}

/** The generator's shapes: random entries, plus sequences that target known hazards. */
function generateEntries(random: Random, canary: string): FuzzEntry[] {
  const base = (name: string, typeflag: string, extra: Partial<FuzzEntry> = {}): FuzzEntry => ({
    name,
    typeflag,
    mode: 0o755,
    data: typeflag === "0" ? encoder.encode(`data of ${name}\n`) : new Uint8Array(0),
    linkname: "",
    devmajor: 0,
    devminor: 0,
    longNames: "header",
    xattrs: [],
    ...extra,
  });
  const out: FuzzEntry[] = [];
  const shape = random();
  if (shape < 0.15) {
    // A symlink, then entries through it.
    const target = pick(random, [canary, "../canary", `${canary}/sub`, "/tmp", "."]);
    out.push(base("link", "2", { linkname: target }));
    out.push(
      base(
        pick(random, ["link/f", "link/sub/f", "link/.wh.file", "link/.wh..wh..opq"]),
        pick(random, ["0", "5", "2", "1", "6"]),
        { linkname: "a" },
      ),
    );
  } else if (shape < 0.25) {
    // A file replacing a directory with contents, or the reverse.
    out.push(
      base("d", "5"),
      base("d/e", "0"),
      base("d", pick(random, ["0", "2", "6", "1"]), { linkname: "d/e" }),
    );
    if (random() < 0.5) out.push(base("d/e", "0"), base("d", "5"));
  } else if (shape < 0.33) {
    // Hardlinks: to an earlier file, outside, missing, a directory, itself, through a symlink.
    out.push(base("a", "0"), base("link", "2", { linkname: canary }));
    out.push(base("hl", "1", { linkname: pick(random, linkTargets(canary)) }));
    if (random() < 0.5) out.push(base("hl", "0"), base("hl2", "1", { linkname: "hl" }));
  } else if (shape < 0.4) {
    // Whiteouts of what came before, of the root, through odd paths.
    out.push(base("a", "5"), base("a/b", "0"));
    out.push(
      base(
        pick(random, [
          ".wh.a",
          "a/.wh.b",
          "a/.wh..wh..opq",
          ".wh..",
          ".wh.",
          "a/b/.wh.c",
          ".wh.a/x",
        ]),
        "0",
      ),
    );
  } else if (shape < 0.45) {
    // Duplicates of one name with every type.
    const name = pick(random, ["a", "d/e", "link"]);
    for (let i = 0; i < 4; i++) {
      out.push(
        base(name, pick(random, ["0", "5", "2", "1", "3", "6"]), {
          linkname: pick(random, ["a", canary, "missing"]),
          devmajor: 1,
          devminor: 3,
        }),
      );
    }
  }
  const more = Math.floor(random() * 8) + (out.length === 0 ? 1 : 0);
  for (let i = 0; i < more; i++) out.push(randomEntry(random, canary));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding: headers written here, so that they can be wrong.

function octalField(value: number, length: number): Uint8Array {
  const field = new Uint8Array(length);
  const text = value.toString(8).padStart(length - 1, "0");
  field.set(encoder.encode(text.slice(-(length - 1))));
  return field;
}

function putField(block: Uint8Array, offset: number, length: number, value: Uint8Array): void {
  block.set(value.subarray(0, length), offset);
}

function setChecksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.set(encoder.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

function headerBlock(
  name: Uint8Array,
  typeflag: string,
  size: Uint8Array,
  e: Pick<FuzzEntry, "mode" | "devmajor" | "devminor"> & { linkname: Uint8Array },
): Uint8Array {
  const block = new Uint8Array(512);
  putField(block, 0, 100, name);
  putField(block, 100, 8, octalField(e.mode, 8));
  putField(block, 108, 8, octalField(0, 8));
  putField(block, 116, 8, octalField(0, 8));
  putField(block, 124, 12, size);
  putField(block, 136, 12, octalField(1_700_000_000, 12));
  block[156] = typeflag.charCodeAt(0);
  putField(block, 157, 100, e.linkname);
  block.set(encoder.encode("ustar\x0000"), 257);
  putField(block, 329, 8, octalField(e.devmajor, 8));
  putField(block, 337, 8, octalField(e.devminor, 8));
  setChecksum(block);
  return block;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return `${len}${body}`;
}

function encodeEntry(e: FuzzEntry): Uint8Array[] {
  const out: Uint8Array[] = [];
  const nameBytes = encoder.encode(e.name);
  const linkBytes = encoder.encode(e.linkname);
  const meta = { mode: e.mode, devmajor: e.devmajor, devminor: e.devminor };
  const pax: string[] = [];
  if (e.longNames === "pax" || (e.longNames === "header" && nameBytes.length > 100)) {
    pax.push(paxRecord("path", e.name));
  }
  if (e.longNames === "pax" && linkBytes.length > 0) pax.push(paxRecord("linkpath", e.linkname));
  if (e.paxSize !== undefined) pax.push(paxRecord("size", e.paxSize));
  for (const [k, v] of e.xattrs) pax.push(paxRecord(`SCHILY.xattr.${k}`, v));
  if (pax.length > 0) {
    const body = encoder.encode(pax.join(""));
    out.push(
      headerBlock(encoder.encode("PaxHeader"), "x", octalField(body.length, 12), {
        ...meta,
        linkname: new Uint8Array(0),
      }),
      padded(body),
    );
  }
  if (e.longNames === "gnu") {
    for (const [flag, bytes] of [["L", nameBytes], ["K", linkBytes]] as const) {
      if (bytes.length === 0) continue;
      const body = new Uint8Array(bytes.length + 1);
      body.set(bytes);
      out.push(
        headerBlock(encoder.encode("././@LongLink"), flag, octalField(body.length, 12), {
          ...meta,
          linkname: new Uint8Array(0),
        }),
        padded(body),
      );
    }
  }
  const header = headerBlock(
    nameBytes,
    e.typeflag,
    e.sizeField ?? octalField(e.data.length, 12),
    { ...meta, linkname: linkBytes },
  );
  if (e.badChecksum) header[148] = header[148] === 0x30 ? 0x31 : 0x30;
  out.push(header, padded(e.data));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mutators on the bytes.

function mutateBytes(tar: Uint8Array, random: Random): Uint8Array {
  const r = random();
  if (r < 0.08) return tar.subarray(0, Math.floor(random() * tar.length)); // truncated
  if (r < 0.14) {
    // Bytes of a header flipped, its checksum fixed or not.
    const out = tar.slice();
    const block = Math.floor(random() * (out.length / 512)) * 512;
    for (let i = 0; i < 1 + random() * 6; i++) {
      out[block + Math.floor(random() * 512)] = Math.floor(random() * 256);
    }
    if (random() < 0.7) setChecksum(out.subarray(block, block + 512));
    return out;
  }
  if (r < 0.17) return concat([tar, new Uint8Array(1 + Math.floor(random() * 700)).fill(0x41)]);
  if (r < 0.2) return tar.subarray(0, Math.max(0, tar.length - 1024)); // no end-of-archive blocks
  if (r < 0.23) {
    // A header block duplicated (its body then misreads as headers).
    const block = Math.floor(random() * (tar.length / 512)) * 512;
    return concat([tar.subarray(0, block), tar.subarray(block, block + 512), tar.subarray(block)]);
  }
  return tar;
}

/** A case: the layer blob and what it is. */
interface FuzzCase {
  seed: number;
  entries: FuzzEntry[];
  compression: "none" | "gzip" | "zstd";
  /** The uncompressed tar (after the byte mutators): its digest is the diffID. */
  tar: Uint8Array;
  blob: Uint8Array;
}

function makeCase(seed: number, canary: string): FuzzCase {
  const random = prng(seed);
  const entries = generateEntries(random, canary);
  const parts = entries.flatMap(encodeEntry);
  parts.push(new Uint8Array(1024));
  const tar = mutateBytes(concat(parts), random);
  const compression = pick(random, ["none", "none", "gzip", "zstd"] as const);
  let blob = compression === "gzip"
    ? new Uint8Array(zlib.gzipSync(tar))
    : compression === "zstd"
    ? new Uint8Array(zlib.zstdCompressSync(tar))
    : tar;
  if (compression !== "none" && random() < 0.05) {
    blob = blob.subarray(0, Math.floor(random() * blob.length));
  }
  return { seed, entries, compression, tar, blob };
}

function describeCase(c: FuzzCase): string {
  const list = c.entries.map((e) =>
    `${JSON.stringify(e.typeflag)} ${JSON.stringify(e.name.slice(0, 80))}` +
    (e.linkname ? ` -> ${JSON.stringify(e.linkname.slice(0, 80))}` : "") +
    (e.sizeField || e.paxSize !== undefined ? " (bad size)" : "") +
    (e.badChecksum ? " (bad checksum)" : "")
  );
  return `${c.compression}, ${c.tar.length} tar bytes, entries:\n  ${list.join("\n  ")}`;
}

// ---------------------------------------------------------------------------------------------
// The oracle.

/** Errors that are bugs when nothing of ours wrapped them. */
function isBugError(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError;
}

/** The first error in `err`'s chain that is a bug, or undefined when the chain is clean. */
function bugInChain(err: unknown): unknown {
  if (!(err instanceof Error)) return err; // a thrown non-Error is a bug
  if (isBugError(err)) return err;
  // A TarFormatError or one of our wrappers may carry the TypeError it explains (TextDecoder).
  return undefined;
}

/** Everything under `dir` as "path mode size mtime sha" lines, for before/after comparison. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(`${dir}/${rel}`)) entries.push(e);
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const st = await Deno.lstat(`${dir}/${p}`);
      let sum = "";
      if (st.isFile) {
        sum = createHash("sha256").update(await Deno.readFile(`${dir}/${p}`)).digest("hex");
      }
      out.push(`${p} ${st.mode} ${st.size} ${st.mtime?.getTime()} ${st.nlink} ${sum}`);
      if (st.isDirectory) await walk(p);
    }
  };
  await walk("");
  return out;
}

async function makeCanary(canary: string): Promise<void> {
  await Deno.mkdir(`${canary}/sub`, { recursive: true });
  await Deno.writeTextFile(`${canary}/file`, "canary\n");
  await Deno.writeTextFile(`${canary}/sub/file`, "canary sub\n");
  await Deno.symlink("file", `${canary}/sym`);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`HANG: ${what} did not end within ${TIME_BOUND_MS} ms`)),
      TIME_BOUND_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function blobStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  // Uneven chunks, as a file or a decompressor hands them out.
  let pos = 0;
  let size = 1;
  return new ReadableStream({
    pull(controller): void {
      if (pos >= bytes.length) return controller.close();
      size = size * 7 % 4093 + 1;
      controller.enqueue(bytes.slice(pos, pos + size));
      pos += size;
    },
  });
}

function mediaType(c: FuzzCase): string {
  return c.compression === "none"
    ? "application/vnd.oci.image.layer.v1.tar"
    : `application/vnd.oci.image.layer.v1.tar+${c.compression}`;
}

/** Unpacks a case in-process; returns "ok" or the error. */
async function unpackCase(c: FuzzCase, layer: string): Promise<"ok" | unknown> {
  try {
    const opened = await openLayer(blobStream(c.blob), mediaType(c), "fuzz layer");
    await unpackLayer(opened.tar, layer);
    return "ok";
  } catch (err) {
    return err;
  }
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Writes an OCI layout with one image whose only layer is the case's blob. */
async function writeLayout(dir: string, c: FuzzCase): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  const put = async (bytes: Uint8Array): Promise<string> => {
    const digest = sha256(bytes);
    await Deno.writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, bytes);
    return digest;
  };
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  const config = encoder.encode(JSON.stringify({
    architecture: arch,
    os: "linux",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: [sha256(c.tar)] },
  }));
  const manifest = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: await put(config), size: config.length },
    layers: [{ mediaType: mediaType(c), digest: await put(c.blob), size: c.blob.length }],
  }));
  const manifestDigest = await put(manifest);
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [{
        mediaType: MEDIA_TYPES.ociManifest,
        digest: manifestDigest,
        size: manifest.length,
        annotations: { [REF_NAME_ANNOTATION]: "fuzz" },
      }],
    }),
  );
}

/** Imports a case through the CLI; returns a failure description or undefined. */
async function cliCase(c: FuzzCase, work: string): Promise<string | undefined> {
  const layout = `${work}/layout`;
  const store = `${work}/store`;
  try {
    await writeLayout(layout, c);
    const r = await withTimeout(
      runSkiff(["--log-format", "json", "image", "import", "--store", store, layout]),
      "skiff image import",
    );
    if (/^\s+at /m.test(r.stderr) || /Uncaught|TypeError|RangeError/.test(r.stderr)) {
      return `a stack trace or an uncaught error on stderr:\n${r.stderr}`;
    }
    if (r.code === 0) {
      if (!/^[a-f0-9]{64}\n$/.test(r.stdout)) {
        return `exit 0 but stdout is ${JSON.stringify(r.stdout)}`;
      }
      if (r.stderr !== "") return `exit 0 but stderr is ${JSON.stringify(r.stderr)}`;
    } else {
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      if (lines.length !== 1) {
        return `exit ${r.code} with ${lines.length} stderr lines:\n${r.stderr}`;
      }
      let line: { level?: string; msg?: string };
      try {
        line = JSON.parse(lines[0]);
      } catch {
        return `exit ${r.code}, the error line is not JSON: ${lines[0]}`;
      }
      if (line.level !== "error" || typeof line.msg !== "string" || line.msg === "") {
        return `exit ${r.code}, the error line is not a JSON error: ${lines[0]}`;
      }
      if (r.stdout !== "") return `exit ${r.code} but stdout is ${JSON.stringify(r.stdout)}`;
      const layers = exists(`${store}/layers/sha256`)
        ? [...Deno.readDirSync(`${store}/layers/sha256`)]
        : [];
      if (layers.length > 0) return `a failed import left layers ${layers.map((l) => l.name)}`;
    }
    const report = await new LayerStore(store, { durable: false }).check();
    if (report.problems.length > 0) {
      return `the store is inconsistent: ${report.problems.map((p) => p.message).join("; ")}`;
    }
    return undefined;
  } finally {
    await Deno.remove(layout, { recursive: true }).catch(() => {});
    await Deno.remove(store, { recursive: true }).catch(() => {});
  }
}

Deno.test(`layer unpacking of hostile tarballs: a clear error or a layer, never a crash, hang or write outside (${COUNT} seeded cases)`, async () => {
  await loadNodeBuiltins();
  const work = await Deno.makeTempDir({ prefix: "skiff-tar-fuzz-" });
  const canary = `${work}/canary`;
  const layer = `${work}/layer`;
  let failed = 0;
  let cli = 0;
  const cleanups: (() => void)[] = [];
  const outcomes = { ok: 0, refused: 0 };
  try {
    for (const marker of ESCAPE_MARKERS) {
      assert.ok(!exists(marker), `${marker} exists before the run`);
    }
    await makeCanary(canary);
    const before = await snapshot(canary);
    const seeds = [
      ...new Set([
        ...REGRESSION_SEEDS,
        ...Array.from({ length: COUNT }, (_, i) => FIRST_SEED + i),
      ]),
    ];
    const failures: string[] = [];
    // An exception thrown in an event handler (a decompressor's) would end the test run without
    // naming the seed: catch it and pin it on the case being run.
    let uncaught: unknown[] = [];
    const onError = (e: ErrorEvent): void => {
      e.preventDefault();
      uncaught.push(e.error);
    };
    const onRejection = (e: PromiseRejectionEvent): void => {
      e.preventDefault();
      uncaught.push(e.reason);
    };
    globalThis.addEventListener("error", onError);
    globalThis.addEventListener("unhandledrejection", onRejection);
    cleanups.push(() => {
      globalThis.removeEventListener("error", onError);
      globalThis.removeEventListener("unhandledrejection", onRejection);
    });
    for (const [i, seed] of seeds.entries()) {
      const c = makeCase(seed, canary);
      const replay = `seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_COUNT=1)`;
      const fail = (why: string): void => {
        failed++;
        failures.push(`${replay}: ${why}\n${describeCase(c)}`);
      };
      await Deno.mkdir(layer);
      const result = await withTimeout(unpackCase(c, layer), `unpack of ${replay}`).catch((e) => e);
      if (result === "ok") outcomes.ok++;
      else {
        outcomes.refused++;
        if (Deno.env.get("FUZZ_VERBOSE")) {
          const chain: string[] = [];
          for (let e: unknown = result; e instanceof Error; e = e.cause) chain.push(e.message);
          console.log(`${seed}: ${chain.join(": ")}`);
        }
        const bug = bugInChain(result);
        if (bug !== undefined || (result as Error).message.startsWith("HANG")) {
          fail(`unpack threw ${(bug as Error)?.stack ?? String(result)}`);
        }
      }
      await Deno.remove(layer, { recursive: true });
      await new Promise((resolve) => setTimeout(resolve, 0)); // let stray events fire now
      if (uncaught.length > 0) {
        fail(`uncaught: ${uncaught.map((e) => (e as Error)?.stack ?? String(e)).join("\n")}`);
        uncaught = [];
      }
      if (i % CLI_EVERY === 0) {
        cli++;
        const why = await cliCase(c, work);
        if (why) fail(`through the CLI: ${why}`);
      }
      const after = await snapshot(canary);
      if (JSON.stringify(after) !== JSON.stringify(before)) {
        fail(`the canary beside the layer changed:\n${after.join("\n")}`);
        await Deno.remove(canary, { recursive: true });
        await makeCanary(canary);
      }
      const beside = [...Deno.readDirSync(work)].map((e) => e.name).sort();
      if (JSON.stringify(beside) !== JSON.stringify(["canary"])) {
        fail(`files appeared beside the layer: ${beside}`);
        for (const n of beside) {
          if (n !== "canary") await Deno.remove(`${work}/${n}`, { recursive: true });
        }
      }
      for (const marker of ESCAPE_MARKERS) {
        if (exists(marker)) {
          fail(`${marker} appeared outside the layer`);
          await Deno.remove(marker, { recursive: true });
        }
      }
      if (failures.length >= 5) break;
    }
    assert.equal(failures.length, 0, failures.join("\n\n"));
    // Both outcomes must occur, or the generator tests nothing.
    assert.ok(outcomes.ok > seeds.length / 20, `only ${outcomes.ok} of ${seeds.length} unpacked`);
    assert.ok(outcomes.refused > seeds.length / 20, `only ${outcomes.refused} refused`);
    console.log(`fuzz-count tar ${seeds.length}`);
    console.log(
      `tar fuzz: ${outcomes.ok} unpacked, ${outcomes.refused} refused, ${cli} through the CLI`,
    );
  } finally {
    for (const cleanup of cleanups) cleanup();
    await Deno.remove(work, { recursive: true });
    void failed;
  }
});
