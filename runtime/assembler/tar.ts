/**
 * A streaming tar reader: ustar, GNU long names ('L'/'K') and PAX headers ('x'/'g').
 *
 * Entries are yielded one at a time with their body as an async iterable of chunks taken straight
 * from the input stream, so a layer is never held in memory. A body the consumer does not read is
 * skipped when the next entry is requested. After the end-of-archive blocks the rest of the input
 * is drained, so a digest computed over the stream (diffID) covers every byte.
 *
 * Formats: POSIX.1-1988 ustar, POSIX.1-2001 pax (IEEE Std 1003.1, "pax Interchange Format"), GNU
 * tar's 'L'/'K' long names and base-256 numbers (GNU tar manual, "Basic Tar Format").
 */

/** The kind of a tar entry, after the meta entries ('x', 'g', 'L', 'K') are folded in. */
export type TarEntryType =
  | "file"
  | "hardlink"
  | "symlink"
  | "chardev"
  | "blockdev"
  | "directory"
  | "fifo"
  | "unsupported";

/** Seconds and nanoseconds since the epoch. */
export interface TarTime {
  sec: number;
  nsec: number;
}

/** One tar entry's metadata, with PAX and GNU overrides applied. */
export interface TarHeader {
  /** The member name as stored (not normalized: may start with "/" or "./", or contain ".."). */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character, e.g. "0", "5", "S". */
  typeflag: string;
  /** Permission bits incl. setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Body size in bytes. */
  size: number;
  mtime: TarTime;
  /** PAX atime when present. */
  atime?: TarTime;
  /** Hardlink or symlink target. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX SCHILY.xattr.* (and LIBARCHIVE.xattr.*) records. */
  xattrs: Map<string, Uint8Array>;
}

/** A tar entry; read `body` before asking for the next entry, or it is skipped. */
export interface TarEntry {
  header: TarHeader;
  body: AsyncIterable<Uint8Array>;
}

/** A malformed tar stream; `offset` is the byte offset of the offending header. */
export class TarFormatError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`${message} (at byte ${offset})`, options);
    this.name = "TarFormatError";
    this.offset = offset;
  }
}

const BLOCK = 512;
/** Meta entries (PAX, GNU long names) above this size are refused rather than buffered. */
const MAX_META_SIZE = 1 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder();

/** Buffered exact reads over a ReadableStream, handing out the stream's own chunks. */
class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #done = false;
  /** Bytes consumed so far. */
  offset = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    while (this.#pos >= this.#chunk.length) {
      if (this.#done) return false;
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#done = true;
        return false;
      }
      this.#chunk = value;
      this.#pos = 0;
    }
    return true;
  }

  /** Reads exactly `n` bytes; null at a clean end of stream; throws on a short read. */
  async readExact(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    if (this.#chunk.length - this.#pos >= n) {
      const out = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      this.offset += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (!(await this.#fill())) {
        throw new TarFormatError(`unexpected end of archive (wanted ${n} bytes)`, this.offset);
      }
      const take = Math.min(n - got, this.#chunk.length - this.#pos);
      out.set(this.#chunk.subarray(this.#pos, this.#pos + take), got);
      this.#pos += take;
      got += take;
      this.offset += take;
    }
    return out;
  }

  /** Yields up to `n` bytes as the stream's chunks (zero-copy); throws on a short stream. */
  async *chunks(n: number, onConsumed: (bytes: number) => void): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) {
        throw new TarFormatError(`unexpected end of archive (${left} bytes missing)`, this.offset);
      }
      const take = Math.min(left, this.#chunk.length - this.#pos);
      const out = this.#chunk.subarray(this.#pos, this.#pos + take);
      this.#pos += take;
      this.offset += take;
      left -= take;
      onConsumed(take);
      yield out;
    }
  }

  /** Skips `n` bytes. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) {
        throw new TarFormatError(`unexpected end of archive (${left} bytes missing)`, this.offset);
      }
      const take = Math.min(left, this.#chunk.length - this.#pos);
      this.#pos += take;
      this.offset += take;
      left -= take;
    }
  }

  /** Reads and discards everything left in the stream. */
  async drain(): Promise<void> {
    while (await this.#fill()) {
      this.offset += this.#chunk.length - this.#pos;
      this.#pos = this.#chunk.length;
    }
  }

  /** Cancels the underlying stream (on error). */
  async cancel(reason: unknown): Promise<void> {
    try {
      await this.#reader.cancel(reason);
    } catch {
      // The stream is already errored: nothing to release.
    }
  }
}

function cstring(block: Uint8Array, start: number, length: number): Uint8Array {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return end < 0 ? field : field.subarray(0, end);
}

function parseNumber(
  block: Uint8Array,
  start: number,
  length: number,
  what: string,
  offset: number,
): number {
  const field = block.subarray(start, start + length);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian two's complement in the remaining bits.
    if (field[0] === 0xff) throw new TarFormatError(`negative ${what} in header`, offset);
    let value = BigInt(field[0] & 0x7f);
    for (let i = 1; i < field.length; i++) value = (value << 8n) | BigInt(field[i]);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TarFormatError(`${what} too large in header`, offset);
    }
    return Number(value);
  }
  const text = lossy.decode(cstring(block, start, length)).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new TarFormatError(`invalid octal ${what} "${text}" in header`, offset);
  }
  return parseInt(text, 8);
}

function decodeName(bytes: Uint8Array, what: string, offset: number): string {
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new TarFormatError(`${what} is not valid UTF-8`, offset, { cause: err });
  }
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function verifyChecksum(block: Uint8Array, offset: number): void {
  const stored = parseNumber(block, 148, 8, "checksum", offset);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new TarFormatError(
      `header checksum mismatch: stored ${stored}, computed ${unsigned}`,
      offset,
    );
  }
}

/** Parses a PAX time value such as "1700000000.123456789". */
export function parsePaxTime(value: string): TarTime {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(value.trim());
  if (!m) throw new Error(`invalid PAX time "${value}"`);
  const sec = parseInt(m[2], 10) * (m[1] ? -1 : 1);
  const nsec = parseInt(((m[3] ?? "") + "000000000").slice(0, 9), 10);
  if (m[1] && nsec > 0) return { sec: sec - 1, nsec: 1_000_000_000 - nsec };
  return { sec, nsec };
}

/** A PAX record: the key as text, the value as raw bytes (xattr values may be binary). */
interface PaxRecord {
  key: string;
  value: Uint8Array;
}

/** Parses the body of a PAX 'x' or 'g' header: records "LEN KEY=VALUE\n". */
export function parsePaxRecords(body: Uint8Array): PaxRecord[] {
  const records: PaxRecord[] = [];
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) break; // NUL padding after the last record
    const space = body.indexOf(0x20, pos);
    if (space < 0) throw new Error(`PAX record at ${pos} has no length`);
    const lenText = lossy.decode(body.subarray(pos, space));
    if (!/^\d+$/.test(lenText)) throw new Error(`PAX record at ${pos} has bad length "${lenText}"`);
    const len = parseInt(lenText, 10);
    const end = pos + len;
    if (len <= space - pos + 1 || end > body.length || body[end - 1] !== 0x0a) {
      throw new Error(`PAX record at ${pos} has bad length ${len}`);
    }
    const eq = body.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end) throw new Error(`PAX record at ${pos} has no "="`);
    records.push({
      key: utf8.decode(body.subarray(space + 1, eq)),
      value: body.subarray(eq + 1, end - 1),
    });
    pos = end;
  }
  return records;
}

function base64Decode(text: string): Uint8Array {
  const bin = atob(
    text.replace(/=+$/, "") + "=".repeat((4 - (text.replace(/=+$/, "").length % 4)) % 4),
  );
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function typeOf(typeflag: string, name: string): TarEntryType {
  switch (typeflag) {
    case "0":
    case "\0":
    case "7":
      // Pre-POSIX archives mark directories with a trailing slash on a regular entry.
      return name.endsWith("/") ? "directory" : "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "chardev";
    case "4":
      return "blockdev";
    case "5":
      return "directory";
    case "6":
      return "fifo";
    default:
      return "unsupported";
  }
}

/** Overrides collected from meta entries, applied to the next real entry. */
interface Overrides {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: TarTime;
  atime?: TarTime;
  xattrs: Map<string, Uint8Array>;
}

function applyPax(target: Overrides, records: PaxRecord[], offset: number): void {
  for (const { key, value } of records) {
    const text = (): string => decodeName(value, `PAX ${key}`, offset);
    const int = (): number => {
      const t = text();
      const n = /^\d+$/.test(t) ? parseInt(t, 10) : NaN;
      // Above 2^53 a size is not exact; a uid or gid of 2^32-1 or more is no id (chown's -1).
      const max = key === "size" ? Number.MAX_SAFE_INTEGER : 0xfffffffe;
      if (!(n <= max)) throw new TarFormatError(`invalid PAX ${key} "${t}"`, offset);
      return n;
    };
    if (key === "path") target.path = text();
    else if (key === "linkpath") target.linkpath = text();
    else if (key === "size") target.size = int();
    else if (key === "uid") target.uid = int();
    else if (key === "gid") target.gid = int();
    else if (key === "uname") target.uname = text();
    else if (key === "gname") target.gname = text();
    else if (key === "mtime") target.mtime = parsePaxTime(text());
    else if (key === "atime") target.atime = parsePaxTime(text());
    else if (key.startsWith("SCHILY.xattr.")) {
      target.xattrs.set(key.slice("SCHILY.xattr.".length), new Uint8Array(value));
    } else if (key.startsWith("LIBARCHIVE.xattr.")) {
      // libarchive: URL-encoded name, base64 value.
      const name = decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length));
      target.xattrs.set(name, base64Decode(text()));
    } else if (key.startsWith("GNU.sparse.")) {
      throw new TarFormatError(`GNU sparse files are not supported (PAX ${key})`, offset);
    }
    // Other keywords (ctime, comment, charset, SCHILY.dev/ino/nlink, ...) carry nothing we apply.
  }
}

/** What a header block turned out to be. */
export type DecodedBlock =
  /** A zero block: the end of the archive. */
  | { kind: "end" }
  /** A meta entry ('x', 'g', 'L', 'K'): pass its `size`-byte body to `meta()`. */
  | { kind: "meta"; typeflag: string; size: number }
  /** A real entry, followed by `bodySize` bytes of data (padded to 512). */
  | { kind: "entry"; header: TarHeader; bodySize: number };

/** Rounds `n` up to whole 512-byte blocks. */
export function paddedSize(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/**
 * Decodes header blocks, folding PAX and GNU meta entries into the next real entry. Used by
 * readTar() on a stream and by image_layout.ts to index an archive file with seeks.
 */
export class TarHeaderDecoder {
  #global: Overrides = { xattrs: new Map() };
  #local: Overrides = { xattrs: new Map() };
  #gnuName: string | undefined;
  #gnuLink: string | undefined;

  /** Decodes the 512-byte header `block` found at byte `offset`. */
  decode(block: Uint8Array, offset: number): DecodedBlock {
    if (isZeroBlock(block)) return { kind: "end" };
    verifyChecksum(block, offset);
    const typeflag = String.fromCharCode(block[156] || 0);
    const rawSize = parseNumber(block, 124, 12, "size", offset);
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      if (rawSize > MAX_META_SIZE) {
        throw new TarFormatError(
          `meta entry '${typeflag}' of ${rawSize} bytes is too large`,
          offset,
        );
      }
      return { kind: "meta", typeflag, size: rawSize };
    }
    const local = this.#local;
    const global = this.#global;
    const magic = lossy.decode(block.subarray(257, 263));
    const rawName = decodeName(cstring(block, 0, 100), "entry name", offset);
    const prefix = magic === "ustar\0"
      ? decodeName(cstring(block, 345, 155), "entry name prefix", offset)
      : "";
    const headerName = prefix ? `${prefix}/${rawName}` : rawName;
    const pick = <K extends keyof Overrides>(key: K): Overrides[K] => local[key] ?? global[key];
    const name = pick("path") ?? this.#gnuName ?? headerName;
    const linkname = pick("linkpath") ?? this.#gnuLink ??
      decodeName(cstring(block, 157, 100), "link name", offset);
    const size = pick("size") ?? rawSize;
    const header: TarHeader = {
      name,
      typeflag,
      type: typeOf(typeflag, name),
      mode: parseNumber(block, 100, 8, "mode", offset) & 0o7777,
      uid: pick("uid") ?? parseNumber(block, 108, 8, "uid", offset),
      gid: pick("gid") ?? parseNumber(block, 116, 8, "gid", offset),
      uname: pick("uname") ?? lossy.decode(cstring(block, 265, 32)),
      gname: pick("gname") ?? lossy.decode(cstring(block, 297, 32)),
      size,
      mtime: pick("mtime") ?? { sec: parseNumber(block, 136, 12, "mtime", offset), nsec: 0 },
      atime: pick("atime"),
      linkname,
      devmajor: parseNumber(block, 329, 8, "devmajor", offset),
      devminor: parseNumber(block, 337, 8, "devminor", offset),
      xattrs: new Map([...global.xattrs, ...local.xattrs]),
    };
    this.#local = { xattrs: new Map() };
    this.#gnuName = undefined;
    this.#gnuLink = undefined;
    // Hardlinks, symlinks, devices, fifos and directories carry no data even if a writer filled
    // in size (Go's archive/tar treats them as header-only too); only files have a body.
    const bodySize = header.type === "file" || header.type === "unsupported" ? size : 0;
    return { kind: "entry", header, bodySize };
  }

  /** Takes the body of the meta entry announced by decode() (without its padding). */
  meta(typeflag: string, body: Uint8Array, offset: number): void {
    if (typeflag === "x" || typeflag === "g") {
      let records: PaxRecord[];
      try {
        records = parsePaxRecords(body);
      } catch (err) {
        throw new TarFormatError(`malformed PAX header: ${(err as Error).message}`, offset, {
          cause: err,
        });
      }
      applyPax(typeflag === "x" ? this.#local : this.#global, records, offset);
    } else {
      const text = decodeName(cstring(body, 0, body.length), "GNU long name", offset);
      if (typeflag === "L") this.#gnuName = text;
      else this.#gnuLink = text;
    }
  }
}

/**
 * Reads a tar stream entry by entry.
 * @param stream the uncompressed tar bytes.
 * @returns an async generator of entries; each body must be consumed before the next `next()`.
 */
export async function* readTar(stream: ReadableStream<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(stream);
  const decoder = new TarHeaderDecoder();
  let finished = false;
  try {
    for (;;) {
      const headerOffset = reader.offset;
      const block = await reader.readExact(BLOCK);
      if (block === null) break; // no end-of-archive blocks: tolerated, like GNU tar
      const decoded = decoder.decode(block, headerOffset);
      if (decoded.kind === "end") break;
      if (decoded.kind === "meta") {
        const body = decoded.size > 0
          ? await reader.readExact(paddedSize(decoded.size))
          : new Uint8Array(0);
        if (body === null) {
          throw new TarFormatError(
            `archive ends after meta header '${decoded.typeflag}'`,
            headerOffset,
          );
        }
        decoder.meta(decoded.typeflag, body.subarray(0, decoded.size), headerOffset);
        continue;
      }
      const { header, bodySize } = decoded;
      let remaining = bodySize;
      const body = reader.chunks(bodySize, (n) => {
        remaining -= n;
      });
      yield { header, body };
      if (remaining > 0) await reader.skip(remaining);
      await reader.skip(paddedSize(bodySize) - bodySize);
    }
    await reader.drain();
    finished = true;
  } finally {
    // An error here or in the consumer (which ends the generator early): release the input.
    if (!finished) await reader.cancel(new Error("tar reading stopped early"));
  }
}
