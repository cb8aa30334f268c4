/**
 * A small tar writer (ustar + PAX, or GNU 'L'/'K' long names) for fixtures and tests. It writes
 * names exactly as given, so tests can build hostile archives ("../x", "/etc/x").
 */
import type { TarEntryType, TarTime } from "./tar.ts";

/** One entry to write; `type` defaults to "file". */
export interface TarWriterEntry {
  name: string;
  type?: Exclude<TarEntryType, "unsupported">;
  /** Overrides the typeflag character (to write entry types the reader does not support). */
  typeflag?: string;
  data?: Uint8Array | string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: number | TarTime;
  atime?: TarTime;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Uint8Array | string>;
}

/** How long names and extra attributes are written. */
export interface TarWriterOptions {
  /** Use GNU 'L'/'K' entries for long names instead of PAX records (xattrs still need PAX). */
  gnuLongNames?: boolean;
}

const BLOCK = 512;
const encoder = new TextEncoder();

const TYPEFLAGS: Record<Exclude<TarEntryType, "unsupported">, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  chardev: "3",
  blockdev: "4",
  directory: "5",
  fifo: "6",
};

function bytes(data: Uint8Array | string | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return typeof data === "string" ? encoder.encode(data) : data;
}

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  const b = encoder.encode(value);
  block.set(b.subarray(0, length), offset);
}

function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  const text = value.toString(8).padStart(length - 1, "0");
  if (text.length > length - 1) {
    // GNU base-256 for values that do not fit in octal.
    let v = BigInt(value);
    for (let i = length - 1; i > 0; i--) {
      block[offset + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    block[offset] = 0x80;
    return;
  }
  putString(block, offset, length - 1, text);
}

function header(
  name: string,
  typeflag: string,
  size: number,
  e: Partial<TarWriterEntry>,
  linkname: string,
): Uint8Array {
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, name);
  putOctal(block, 100, 8, e.mode ?? (e.type === "directory" ? 0o755 : 0o644));
  putOctal(block, 108, 8, e.uid ?? 0);
  putOctal(block, 116, 8, e.gid ?? 0);
  putOctal(block, 124, 12, size);
  const mtime = typeof e.mtime === "object" ? e.mtime.sec : (e.mtime ?? 1_700_000_000);
  putOctal(block, 136, 12, mtime);
  block.fill(0x20, 148, 156);
  block[156] = typeflag.charCodeAt(0);
  putString(block, 157, 100, linkname);
  putString(block, 257, 6, "ustar\0");
  putString(block, 263, 2, "00");
  putString(block, 265, 32, e.uname ?? "");
  putString(block, 297, 32, e.gname ?? "");
  putOctal(block, 329, 8, e.devmajor ?? 0);
  putOctal(block, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const b of block) sum += b;
  putString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const k = encoder.encode(key);
  // "LEN KEY=VALUE\n" where LEN counts itself.
  const rest = 1 + k.length + 1 + value.length + 1;
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  const out = new Uint8Array(len);
  const head = encoder.encode(`${len} ${key}=`);
  out.set(head);
  out.set(value, head.length);
  out[len - 1] = 0x0a;
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Yields the blocks of one entry (meta headers, header, body, padding). */
export function* tarEntryBlocks(
  e: TarWriterEntry,
  options: TarWriterOptions = {},
): Generator<Uint8Array> {
  const type = e.type ?? "file";
  const typeflag = e.typeflag ?? TYPEFLAGS[type];
  const data = bytes(e.data);
  const linkname = e.linkname ?? "";
  const records: Uint8Array[] = [];
  let name = e.name;
  let link = linkname;
  const longName = encoder.encode(e.name).length > 100;
  const longLink = encoder.encode(linkname).length > 100;
  if (options.gnuLongNames) {
    for (const [flag, value] of [["L", longName ? e.name : ""], ["K", longLink ? linkname : ""]]) {
      if (!value) continue;
      const body = concat([encoder.encode(value), new Uint8Array(1)]);
      yield header("././@LongLink", flag, body.length, {}, "");
      yield body;
      yield padding(body.length);
    }
    name = e.name.slice(0, 100);
    link = linkname.slice(0, 100);
  } else {
    if (longName) {
      records.push(paxRecord("path", encoder.encode(e.name)));
      name = e.name.slice(0, 100);
    }
    if (longLink) {
      records.push(paxRecord("linkpath", encoder.encode(linkname)));
      link = linkname.slice(0, 100);
    }
  }
  if (typeof e.mtime === "object" && e.mtime.nsec !== 0) {
    const frac = String(e.mtime.nsec).padStart(9, "0");
    records.push(paxRecord("mtime", encoder.encode(`${e.mtime.sec}.${frac}`)));
  }
  if (e.atime) {
    const frac = String(e.atime.nsec).padStart(9, "0");
    records.push(paxRecord("atime", encoder.encode(`${e.atime.sec}.${frac}`)));
  }
  for (const [key, value] of Object.entries(e.xattrs ?? {})) {
    records.push(paxRecord(`SCHILY.xattr.${key}`, bytes(value)));
  }
  if (records.length > 0) {
    const body = concat(records);
    yield header(`PaxHeaders/${name.slice(0, 80)}`, "x", body.length, {}, "");
    yield body;
    yield padding(body.length);
  }
  yield header(name, typeflag, data.length, { ...e, type }, link);
  if (data.length > 0) {
    yield data;
    yield padding(data.length);
  }
}

/** Builds a whole archive in memory, ending with the two zero blocks. */
export function writeTar(entries: TarWriterEntry[], options: TarWriterOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) parts.push(...tarEntryBlocks(e, options));
  parts.push(new Uint8Array(BLOCK * 2));
  return concat(parts);
}
