/**
 * A small D-Bus client: the wire protocol of the D-Bus specification ("Message Protocol",
 * "Authentication Protocol"), only as much as the systemd cgroup driver needs (systemd.ts).
 *
 * - Transport: a unix socket (`unix:path=` addresses; `unix:abstract=` is not supported).
 * - Authentication: SASL EXTERNAL with the caller's uid (the kernel vouches for it through
 *   SO_PEERCRED), then BEGIN. No unix fd passing.
 * - Marshalling: little-endian, the types y b n q i u x t d s o g a ( ) { } v. Values are plain JS:
 *   numbers (bigint for x and t beyond 2^53), strings, arrays, tuples as arrays, dicts as arrays
 *   of [key, value], variants as `Variant`.
 * - Messages: method calls with replies (serial matched, errors thrown as DBusError), and signals
 *   delivered to listeners (`onSignal`).
 *
 * Why not an npm package: docs/cgroups.md ("The D-Bus client").
 */

/** A variant value: its signature and value. */
export class Variant {
  constructor(readonly signature: string, readonly value: unknown) {}
}

/** An error reply (`org.freedesktop.DBus.Error.*`, `org.freedesktop.systemd1.*`). */
export class DBusError extends Error {
  constructor(readonly errorName: string, message: string, options?: ErrorOptions) {
    super(`${errorName}: ${message}`, options);
    this.name = "DBusError";
  }
}

/** A received message. */
export interface DBusMessage {
  type: number;
  flags: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature: string;
  body: unknown[];
}

/** Message types (D-Bus specification, "Message Types"). */
export const METHOD_CALL = 1;
export const METHOD_RETURN = 2;
export const ERROR = 3;
export const SIGNAL = 4;

/** Header field codes. */
const FIELD = {
  path: 1,
  interface: 2,
  member: 3,
  errorName: 4,
  replySerial: 5,
  destination: 6,
  sender: 7,
  signature: 8,
} as const;
const FIELD_SIGNATURES: Record<number, string> = {
  1: "o",
  2: "s",
  3: "s",
  4: "s",
  5: "u",
  6: "s",
  7: "s",
  8: "g",
};

const ALIGN: Record<string, number> = {
  y: 1,
  b: 4,
  n: 2,
  q: 2,
  i: 4,
  u: 4,
  x: 8,
  t: 8,
  d: 8,
  s: 4,
  o: 4,
  g: 1,
  a: 4,
  "(": 8,
  "{": 8,
  v: 1,
};

/** Splits a signature into its single complete types ("sa(sv)" -> ["s", "a(sv)"]). */
export function splitSignature(signature: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < signature.length) {
    const end = completeTypeEnd(signature, i);
    out.push(signature.slice(i, end));
    i = end;
  }
  return out;
}

/** The index after the single complete type starting at `i`. */
function completeTypeEnd(signature: string, i: number): number {
  const c = signature[i];
  if (c === undefined) throw new Error(`D-Bus signature "${signature}" ends early`);
  if (c === "a") return completeTypeEnd(signature, i + 1);
  if (c === "(" || c === "{") {
    const close = c === "(" ? ")" : "}";
    let j = i + 1;
    while (signature[j] !== close) {
      if (j >= signature.length) throw new Error(`D-Bus signature "${signature}" is unbalanced`);
      j = completeTypeEnd(signature, j);
    }
    return j + 1;
  }
  if (!(c in ALIGN)) throw new Error(`D-Bus signature "${signature}": unknown type "${c}"`);
  return i + 1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Little-endian marshalling into a growing buffer. */
export class Writer {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  get length(): number {
    return this.#len;
  }

  bytes(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf);
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  align(n: number): void {
    const pad = (n - (this.#len % n)) % n;
    this.#reserve(pad);
    this.#buf.fill(0, this.#len, this.#len + pad);
    this.#len += pad;
  }

  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  setUint32(at: number, value: number): void {
    this.#view.setUint32(at, value, true);
  }

  /** Appends one value of the single complete type `type`. */
  write(type: string, value: unknown): void {
    const c = type[0];
    this.align(ALIGN[c]);
    switch (c) {
      case "y":
        this.#reserve(1);
        this.#buf[this.#len++] = Number(value) & 0xff;
        return;
      case "b":
        return this.#u32(value ? 1 : 0);
      case "n":
      case "q":
        this.#reserve(2);
        if (c === "n") this.#view.setInt16(this.#len, Number(value), true);
        else this.#view.setUint16(this.#len, Number(value), true);
        this.#len += 2;
        return;
      case "i":
        this.#reserve(4);
        this.#view.setInt32(this.#len, Number(value), true);
        this.#len += 4;
        return;
      case "u":
        return this.#u32(Number(value));
      case "x":
      case "t":
        this.#reserve(8);
        if (c === "x") this.#view.setBigInt64(this.#len, BigInt(value as number | bigint), true);
        else this.#view.setBigUint64(this.#len, BigInt(value as number | bigint), true);
        this.#len += 8;
        return;
      case "d":
        this.#reserve(8);
        this.#view.setFloat64(this.#len, Number(value), true);
        this.#len += 8;
        return;
      case "s":
      case "o": {
        const bytes = encoder.encode(String(value));
        this.#u32(bytes.length);
        this.raw(bytes);
        this.raw(new Uint8Array(1));
        return;
      }
      case "g": {
        const bytes = encoder.encode(String(value));
        if (bytes.length > 255) throw new Error("D-Bus signature longer than 255 bytes");
        this.#reserve(1);
        this.#buf[this.#len++] = bytes.length;
        this.raw(bytes);
        this.raw(new Uint8Array(1));
        return;
      }
      case "v": {
        if (!(value instanceof Variant)) throw new TypeError("D-Bus variant expects a Variant");
        splitSignature(value.signature); // One complete type, or throws.
        this.write("g", value.signature);
        this.write(value.signature, value.value);
        return;
      }
      case "a": {
        const element = type.slice(1);
        const lengthAt = this.#len;
        this.#u32(0);
        // The length excludes the padding before the first element (specification: "ARRAY").
        this.align(ALIGN[element[0]]);
        const start = this.#len;
        if (element === "y" && value instanceof Uint8Array) {
          this.raw(value);
        } else {
          for (const item of value as unknown[]) this.write(element, item);
        }
        this.setUint32(lengthAt, this.#len - start);
        return;
      }
      case "(":
      case "{": {
        const fields = splitSignature(type.slice(1, -1));
        const values = value as unknown[];
        if (values.length !== fields.length) {
          throw new TypeError(
            `D-Bus ${type} expects ${fields.length} values, got ${values.length}`,
          );
        }
        fields.forEach((field, i) => this.write(field, values[i]));
        return;
      }
    }
    throw new Error(`D-Bus type "${type}" cannot be marshalled`);
  }

  #u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#len, value >>> 0, true);
    this.#len += 4;
  }
}

/** Little-endian unmarshalling. Offsets are relative to the message start (alignment). */
export class Reader {
  #view: DataView;
  pos: number;

  constructor(readonly buf: Uint8Array, pos = 0) {
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
  }

  align(n: number): void {
    this.pos += (n - (this.pos % n)) % n;
  }

  #need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error("D-Bus message is truncated");
  }

  read(type: string): unknown {
    const c = type[0];
    this.align(ALIGN[c]);
    switch (c) {
      case "y":
        this.#need(1);
        return this.buf[this.pos++];
      case "b":
        return this.#u32() !== 0;
      case "n":
      case "q": {
        this.#need(2);
        const v = c === "n"
          ? this.#view.getInt16(this.pos, true)
          : this.#view.getUint16(this.pos, true);
        this.pos += 2;
        return v;
      }
      case "i": {
        this.#need(4);
        const v = this.#view.getInt32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case "u":
        return this.#u32();
      case "x":
      case "t": {
        this.#need(8);
        const v = c === "x"
          ? this.#view.getBigInt64(this.pos, true)
          : this.#view.getBigUint64(this.pos, true);
        this.pos += 8;
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v;
      }
      case "d": {
        this.#need(8);
        const v = this.#view.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case "s":
      case "o": {
        const n = this.#u32();
        this.#need(n + 1);
        const s = decoder.decode(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n + 1;
        return s;
      }
      case "g": {
        this.#need(1);
        const n = this.buf[this.pos++];
        this.#need(n + 1);
        const s = decoder.decode(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n + 1;
        return s;
      }
      case "v": {
        const signature = this.read("g") as string;
        return new Variant(signature, this.read(signature));
      }
      case "a": {
        const element = type.slice(1);
        const n = this.#u32();
        this.align(ALIGN[element[0]]);
        const end = this.pos + n;
        this.#need(n);
        if (element === "y") {
          const bytes = this.buf.slice(this.pos, end);
          this.pos = end;
          return bytes;
        }
        const out: unknown[] = [];
        while (this.pos < end) out.push(this.read(element));
        return out;
      }
      case "(":
      case "{":
        return splitSignature(type.slice(1, -1)).map((field) => this.read(field));
    }
    throw new Error(`D-Bus type "${type}" cannot be unmarshalled`);
  }

  #u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
}

/** What a message to send holds. */
export interface OutgoingMessage {
  type: number;
  flags?: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  signature?: string;
  body?: unknown[];
}

/** One message on the wire (specification: "Message Format"). */
export function encodeMessage(message: OutgoingMessage, serial: number): Uint8Array {
  const body = new Writer();
  const signature = message.signature ?? "";
  const types = splitSignature(signature);
  const values = message.body ?? [];
  if (types.length !== values.length) {
    throw new TypeError(`D-Bus body "${signature}" expects ${types.length} values`);
  }
  types.forEach((type, i) => body.write(type, values[i]));
  const fields: [number, Variant][] = [];
  for (const [name, code] of Object.entries(FIELD)) {
    const value = name === "signature"
      ? (signature === "" ? undefined : signature)
      : message[name as keyof OutgoingMessage];
    if (value !== undefined) fields.push([code, new Variant(FIELD_SIGNATURES[code], value)]);
  }
  const header = new Writer();
  header.write("y", "l".charCodeAt(0));
  header.write("y", message.type);
  header.write("y", message.flags ?? 0);
  header.write("y", 1);
  header.write("u", body.length);
  header.write("u", serial);
  header.write("a(yv)", fields);
  header.align(8);
  header.raw(body.bytes());
  return header.bytes();
}

/** The length of the message at the start of `buf`, or undefined when its fixed header is not in yet. */
function messageLength(buf: Uint8Array): number | undefined {
  if (buf.length < 16) return undefined;
  if (buf[0] !== "l".charCodeAt(0)) {
    throw new Error("D-Bus: only little-endian messages are supported");
  }
  const view = new DataView(buf.buffer, buf.byteOffset, 16);
  const bodyLength = view.getUint32(4, true);
  const fieldsLength = view.getUint32(12, true);
  const headerEnd = 16 + fieldsLength + ((8 - (fieldsLength % 8)) % 8);
  return headerEnd + bodyLength;
}

/** Parses one complete message. */
export function decodeMessage(buf: Uint8Array): DBusMessage {
  const r = new Reader(buf);
  r.pos = 1;
  const type = r.read("y") as number;
  const flags = r.read("y") as number;
  r.read("y");
  r.read("u"); // body length
  const serial = r.read("u") as number;
  const fields = r.read("a(yv)") as [number, Variant][];
  const message: DBusMessage = { type, flags, serial, signature: "", body: [] };
  const names = Object.fromEntries(Object.entries(FIELD).map(([k, v]) => [v, k]));
  for (const [code, variant] of fields) {
    const name = names[code];
    if (name) (message as unknown as Record<string, unknown>)[name] = variant.value;
  }
  r.align(8);
  message.body = splitSignature(message.signature).map((t) => r.read(t));
  return message;
}

/** The socket path of a `unix:path=...` bus address (the first usable one of a ;-list). */
export function unixPathOf(address: string): string {
  for (const entry of address.split(";")) {
    const [transport, params = ""] = entry.split(/:(.*)/s);
    if (transport !== "unix") continue;
    for (const param of params.split(",")) {
      const [key, value] = param.split(/=(.*)/s);
      if (key === "path") return decodeURIComponent(value);
    }
  }
  throw new Error(`D-Bus address ${JSON.stringify(address)} has no unix:path= entry`);
}

/** A connection to a bus. */
export class DBusConnection {
  #conn: Deno.UnixConn;
  #serial = 1;
  #pending = new Map<number, { resolve: (m: DBusMessage) => void; reject: (e: Error) => void }>();
  #signalListeners = new Set<(m: DBusMessage) => void>();
  #buffer: Uint8Array = new Uint8Array(0);
  #closed = false;
  #reading: Promise<void>;
  /** The unique name the bus gave this connection (":1.42"). */
  uniqueName = "";

  private constructor(conn: Deno.UnixConn, leftover: Uint8Array) {
    this.#conn = conn;
    this.#buffer = leftover;
    this.#reading = this.#readLoop();
  }

  /**
   * Connects to the bus socket at `path`, authenticates as `uid` (SASL EXTERNAL) and says Hello.
   */
  static async connect(path: string, uid = Deno.uid() ?? 0): Promise<DBusConnection> {
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path });
    } catch (err) {
      throw new Error(`cannot connect to the D-Bus socket ${path}`, { cause: err });
    }
    try {
      const hexUid = [...encoder.encode(String(uid))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      // The first byte must be NUL (credentials passing on some systems).
      await writeAll(conn, encoder.encode(`\0AUTH EXTERNAL ${hexUid}\r\n`));
      const { line, rest } = await readLine(conn, new Uint8Array(0));
      if (!line.startsWith("OK ")) {
        throw new Error(`D-Bus authentication (EXTERNAL, uid ${uid}) refused: ${line}`);
      }
      await writeAll(conn, encoder.encode("BEGIN\r\n"));
      const bus = new DBusConnection(conn, rest);
      const [name] = await bus.call({
        destination: "org.freedesktop.DBus",
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member: "Hello",
      });
      bus.uniqueName = name as string;
      return bus;
    } catch (err) {
      try {
        conn.close();
      } catch { /* already closed */ }
      throw err;
    }
  }

  /** Sends a method call and resolves with the reply's body; an error reply throws DBusError. */
  call(
    message: Omit<OutgoingMessage, "type">,
    timeoutMs = 60_000,
  ): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(new Error("D-Bus connection is closed"));
    const serial = this.#serial++;
    const bytes = encodeMessage({ ...message, type: METHOD_CALL }, serial);
    const what = `${message.interface}.${message.member}`;
    return new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        reject(new Error(`D-Bus call ${what} got no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(serial, {
        resolve: (reply) => {
          clearTimeout(timer);
          if (reply.type === ERROR) {
            const text = typeof reply.body[0] === "string" ? reply.body[0] : "";
            reject(new DBusError(reply.errorName ?? "unknown", `${what}: ${text}`));
          } else resolve(reply.body);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      writeAll(this.#conn, bytes).catch((err) => {
        this.#pending.get(serial)?.reject(
          new Error(`D-Bus call ${what}: cannot send`, { cause: err }),
        );
        this.#pending.delete(serial);
      });
    });
  }

  /** Emits a signal. */
  async emit(message: Omit<OutgoingMessage, "type">): Promise<void> {
    await writeAll(this.#conn, encodeMessage({ ...message, type: SIGNAL }, this.#serial++));
  }

  /** Calls `listener` for each signal received; returns a function that removes it. */
  onSignal(listener: (m: DBusMessage) => void): () => void {
    this.#signalListeners.add(listener);
    return () => this.#signalListeners.delete(listener);
  }

  /** Adds a match rule at the bus (org.freedesktop.DBus.AddMatch). */
  async addMatch(rule: string): Promise<void> {
    await this.call({
      destination: "org.freedesktop.DBus",
      path: "/org/freedesktop/DBus",
      interface: "org.freedesktop.DBus",
      member: "AddMatch",
      signature: "s",
      body: [rule],
    });
  }

  /** Closes the socket; pending calls fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#reading.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(65536);
    let failure: Error | undefined;
    try {
      while (true) {
        let length: number | undefined;
        while (
          (length = messageLength(this.#buffer)) !== undefined && this.#buffer.length >= length
        ) {
          const message = decodeMessage(this.#buffer.subarray(0, length));
          this.#buffer = this.#buffer.slice(length);
          this.#dispatch(message);
        }
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
      }
    } catch (err) {
      if (!this.#closed) failure = err as Error;
    }
    this.#closed = true;
    for (const { reject } of this.#pending.values()) {
      reject(new Error("D-Bus connection closed", { cause: failure }));
    }
    this.#pending.clear();
  }

  #dispatch(message: DBusMessage): void {
    if (message.type === METHOD_RETURN || message.type === ERROR) {
      const pending = this.#pending.get(message.replySerial ?? -1);
      if (pending) {
        this.#pending.delete(message.replySerial!);
        pending.resolve(message);
      }
    } else if (message.type === SIGNAL) {
      for (const listener of this.#signalListeners) listener(message);
    } else if (message.type === METHOD_CALL && (message.flags & 1) === 0) {
      // Nobody serves methods here: say so rather than leave the caller waiting.
      writeAll(
        this.#conn,
        encodeMessage({
          type: ERROR,
          errorName: "org.freedesktop.DBus.Error.UnknownMethod",
          replySerial: message.serial,
          destination: message.sender,
          signature: "s",
          body: ["Skiff serves no D-Bus methods"],
        }, this.#serial++),
      ).catch(() => {});
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Reads one "\r\n"-terminated line of the authentication exchange; returns what followed it. */
async function readLine(
  conn: Deno.Conn,
  start: Uint8Array,
): Promise<{ line: string; rest: Uint8Array }> {
  let buf = start;
  const chunk = new Uint8Array(512);
  while (true) {
    const end = buf.findIndex((b, i) => b === 13 && buf[i + 1] === 10);
    if (end >= 0) {
      return { line: decoder.decode(buf.subarray(0, end)), rest: buf.slice(end + 2) };
    }
    if (buf.length > 16384) throw new Error("D-Bus authentication: line too long");
    const n = await conn.read(chunk);
    if (n === null) throw new Error("D-Bus authentication: the bus closed the connection");
    buf = concat(buf, chunk.subarray(0, n));
  }
}
