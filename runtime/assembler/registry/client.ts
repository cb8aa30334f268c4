/**
 * A client of the OCI distribution API (distribution-spec spec.md: "Pulling manifests", "Pulling
 * blobs") over Deno's fetch. Authentication follows the challenge the registry answers a request
 * with (RFC 7235 WWW-Authenticate): Basic sends the stored credentials; Bearer gets a token from
 * the realm for the service and scope named (Docker's token protocol, as Docker Hub and GHCR use
 * it), with the credentials when there are some, anonymously otherwise.
 *
 * Blobs are streamed: an interrupted body is continued with an HTTP Range request from the byte
 * where it stopped, and transient failures (network errors, 429, 5xx) are retried with
 * exponential backoff; the caller verifies the digest of what the stream yields.
 */
import { type Credentials, findCredentials, type RegistriesConfig, settingsFor } from "./config.ts";
import { DOCKER_HUB, DOCKER_HUB_API } from "./reference.ts";

/** An error from a registry; `status` is the HTTP status when there was a response. */
export class RegistryError extends Error {
  readonly status?: number;
  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "RegistryError";
    this.status = options.status;
  }
}

/** Options of a RegistryClient. */
export interface RegistryClientOptions {
  config?: RegistriesConfig;
  /** Credentials to use instead of the stored ones. */
  credentials?: Credentials;
  /** Retries of a transient failure (default 5). */
  retries?: number;
  /** The first backoff delay in ms, doubled per retry (default 250). */
  backoffMs?: number;
}

interface Endpoint {
  /** The host as configured (mirror or registry). */
  host: string;
  /** "https://host" or "http://host". */
  base: string;
  client?: Deno.HttpClient;
  /** The Authorization header that worked last, per scope. */
  auth?: string;
}

const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Parses `Bearer realm="..",service="..",scope=".."` into its scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*(.*)$/.exec(header);
  const params: Record<string, string> = {};
  if (!m) return { scheme: "", params };
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  }
  return { scheme: m[1].toLowerCase(), params };
}

async function errorDetail(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      return body.errors.map((e) => `${e.code ?? "?"}: ${e.message ?? ""}`).join("; ");
    }
  } catch {
    // Not the registry's JSON error body: show the start of the text.
  }
  return text.slice(0, 200).trim();
}

/** A client for one repository on one registry (and its configured mirrors). */
export class RegistryClient {
  readonly registry: string;
  readonly repository: string;
  #endpoints: Endpoint[];
  #credentials: Map<string, Credentials | undefined> = new Map();
  #given?: Credentials;
  #retries: number;
  #backoff: number;
  /** The endpoint that served the manifest: blobs are asked of it first. */
  #preferred = 0;

  private constructor(
    registry: string,
    repository: string,
    endpoints: Endpoint[],
    o: RegistryClientOptions,
  ) {
    this.registry = registry;
    this.repository = repository;
    this.#endpoints = endpoints;
    this.#given = o.credentials;
    this.#retries = o.retries ?? 5;
    this.#backoff = o.backoffMs ?? 250;
  }

  /** Makes a client; reads the CA files the configuration names. */
  static async create(
    registry: string,
    repository: string,
    options: RegistryClientOptions = {},
  ): Promise<RegistryClient> {
    const config = options.config ?? {};
    const hosts = [...(settingsFor(config, registry).mirrors ?? []), registry];
    const endpoints: Endpoint[] = [];
    for (const host of hosts) {
      const s = settingsFor(config, host);
      const apiHost = host === DOCKER_HUB ? DOCKER_HUB_API : host;
      let client: Deno.HttpClient | undefined;
      if (s.ca) {
        let pem: string;
        try {
          pem = await Deno.readTextFile(s.ca);
        } catch (err) {
          throw new Error(`Cannot read the CA certificates of registry ${host}: ${s.ca}`, {
            cause: err,
          });
        }
        client = Deno.createHttpClient({ caCerts: [pem] });
      }
      endpoints.push({ host, base: `${s.insecure ? "http" : "https"}://${apiHost}`, client });
    }
    return new RegistryClient(registry, repository, endpoints, options);
  }

  /** Releases the HTTP clients. */
  close(): void {
    for (const e of this.#endpoints) e.client?.close();
  }

  async #credentialsFor(host: string): Promise<Credentials | undefined> {
    if (this.#given && host === this.registry) return this.#given;
    if (!this.#credentials.has(host)) {
      let creds: Credentials | undefined;
      try {
        creds = await findCredentials(host);
      } catch (err) {
        // A RegistryError: a broken auth file or helper is not a transient failure to retry.
        throw new RegistryError(`Cannot get the credentials for registry ${host}`, { cause: err });
      }
      this.#credentials.set(host, creds);
    }
    return this.#credentials.get(host);
  }

  async #token(ep: Endpoint, params: Record<string, string>, creds?: Credentials): Promise<string> {
    const realm = params.realm;
    if (!realm) throw new RegistryError(`registry ${ep.host}: Bearer challenge without a realm`);
    const url = new URL(realm);
    if (params.service) url.searchParams.set("service", params.service);
    const scope = params.scope ?? (this.repository ? `repository:${this.repository}:pull` : "");
    if (scope) url.searchParams.set("scope", scope);
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = `Basic ${btoa(`${creds.username}:${creds.password}`)}`;
    let res: Response;
    try {
      res = await fetch(url, { headers, client: ep.client });
    } catch (err) {
      throw new RegistryError(
        `Cannot reach the token server ${url.origin} of registry ${ep.host}`,
        {
          cause: err,
        },
      );
    }
    if (res.status === 401 || res.status === 403) {
      const detail = await errorDetail(res);
      throw new RegistryError(
        creds
          ? `registry ${ep.host}: the token server ${url.origin} refused the credentials of user "${creds.username}" (${res.status}${
            detail ? `: ${detail}` : ""
          })`
          : `registry ${ep.host}: the token server ${url.origin} refused anonymous access to ${this.repository} (${res.status}); log in with "skiff image login ${this.registry}"`,
        { status: res.status },
      );
    }
    if (!res.ok) {
      throw new RegistryError(
        `registry ${ep.host}: token server ${url.origin} answered ${res.status}: ${await errorDetail(
          res,
        )}`,
        { status: res.status },
      );
    }
    const body = await res.json().catch(() => ({})) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new RegistryError(`registry ${ep.host}: token server ${url.origin} sent no token`);
    }
    return token;
  }

  /** One request, answering an auth challenge once. */
  async #authed(
    ep: Endpoint,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const send = (auth?: string): Promise<Response> =>
      fetch(`${ep.base}${path}`, {
        headers: auth ? { ...headers, authorization: auth } : headers,
        client: ep.client,
        signal,
      });
    let res = await send(ep.auth);
    if (res.status !== 401) return res;
    await res.body?.cancel();
    const challenge = parseChallenge(res.headers.get("www-authenticate") ?? "");
    const creds = await this.#credentialsFor(ep.host);
    if (challenge.scheme === "bearer") {
      ep.auth = `Bearer ${await this.#token(ep, challenge.params, creds)}`;
    } else if (challenge.scheme === "basic" && creds) {
      ep.auth = `Basic ${btoa(`${creds.username}:${creds.password}`)}`;
    } else if (challenge.scheme === "basic") {
      throw new RegistryError(
        `registry ${ep.host} requires a login for ${this.repository}: none is stored; log in with "skiff image login ${ep.host}"`,
        { status: 401 },
      );
    } else {
      throw new RegistryError(
        `registry ${ep.host}: 401 with an unknown challenge "${
          res.headers.get("www-authenticate") ?? ""
        }"`,
        { status: 401 },
      );
    }
    res = await send(ep.auth);
    if (res.status === 401) {
      const detail = await errorDetail(res);
      throw new RegistryError(
        creds
          ? `registry ${ep.host} refused the credentials of user "${creds.username}" for ${this.repository} (401${
            detail ? `: ${detail}` : ""
          })`
          : `registry ${ep.host} refused anonymous access to ${this.repository} (401); log in with "skiff image login ${ep.host}"`,
        { status: 401 },
      );
    }
    return res;
  }

  /** A request with retries of transient failures; returns the first non-transient response. */
  async #request(
    ep: Endpoint,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    for (let attempt = 0;; attempt++) {
      let res: Response | undefined;
      let error: unknown;
      try {
        res = await this.#authed(ep, path, headers, signal);
        if (!TRANSIENT_STATUS.has(res.status)) return res;
        error = new RegistryError(`${ep.host}${path}: ${res.status} ${await errorDetail(res)}`, {
          status: res.status,
        });
      } catch (err) {
        if (err instanceof RegistryError || signal?.aborted) throw err;
        error = err;
      }
      if (attempt >= this.#retries) {
        throw new RegistryError(`Cannot get ${ep.base}${path} (after ${attempt + 1} tries)`, {
          cause: error,
          status: res?.status,
        });
      }
      await sleep(this.#backoff * 2 ** attempt);
    }
  }

  /** GETs `path` from the endpoints in order (mirrors first) until one answers 2xx. */
  async #get(
    kind: "manifests" | "blobs",
    ref: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const path = `/v2/${this.repository}/${kind}/${ref}`;
    const order = [this.#preferred, ...this.#endpoints.keys()].filter((v, i, a) =>
      a.indexOf(v) === i
    );
    let last: unknown;
    for (const i of order) {
      const ep = this.#endpoints[i];
      try {
        const res = await this.#request(ep, path, headers, signal);
        if (res.ok) {
          if (kind === "manifests") this.#preferred = i;
          return res;
        }
        const detail = await errorDetail(res);
        last = new RegistryError(
          `registry ${ep.host}: ${
            kind === "manifests" ? "manifest" : "blob"
          } ${ref} of ${this.repository}: ${res.status}${detail ? ` (${detail})` : ""}`,
          { status: res.status },
        );
      } catch (err) {
        if (signal?.aborted) throw err;
        last = err;
      }
      // The registry itself (last) decides; a mirror's failure falls through to the next.
    }
    throw last;
  }

  /** GET /v2/ of the registry itself: proves that it answers and takes the credentials. */
  async ping(): Promise<void> {
    const ep = this.#endpoints[this.#endpoints.length - 1];
    const res = await this.#request(ep, "/v2/", {});
    await res.body?.cancel();
    if (!res.ok) {
      throw new RegistryError(`registry ${ep.host}: GET /v2/ answered ${res.status}`, {
        status: res.status,
      });
    }
  }

  /** Fetches a manifest (by tag or digest): its bytes and media type. */
  async manifest(ref: string, accept: string[]): Promise<{ bytes: Uint8Array; mediaType: string }> {
    const res = await this.#get("manifests", ref, { accept: accept.join(", ") });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { bytes, mediaType: (res.headers.get("content-type") ?? "").split(";")[0].trim() };
  }

  /**
   * A blob's bytes as a stream that continues after an interruption with a Range request;
   * `size` is its descriptor's size (a body that ends early is an interruption).
   */
  blob(digest: string, size: number, signal?: AbortSignal): ReadableStream<Uint8Array> {
    let offset = 0;
    let skip = 0;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let failures = 0;
    const open = async (): Promise<void> => {
      const headers: Record<string, string> = {};
      if (offset > 0) headers.range = `bytes=${offset}-`;
      const res = await this.#get("blobs", digest, headers, signal);
      // A server that ignores Range sends it all again: skip what was yielded already.
      skip = offset > 0 && res.status !== 206 ? offset : 0;
      if (!res.body) throw new RegistryError(`blob ${digest}: response without a body`);
      reader = res.body.getReader();
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller): Promise<void> => {
        for (;;) {
          try {
            signal?.throwIfAborted();
            if (!reader) await open();
            const { value, done } = await reader!.read();
            if (done) {
              reader = undefined;
              if (offset >= size) {
                controller.close();
                return;
              }
              throw new Error(`connection closed at byte ${offset} of ${size}`);
            }
            let chunk = value;
            if (skip > 0) {
              const n = Math.min(skip, chunk.length);
              skip -= n;
              chunk = chunk.subarray(n);
              if (chunk.length === 0) continue;
            }
            offset += chunk.length;
            failures = 0;
            controller.enqueue(chunk);
            return;
          } catch (err) {
            reader?.cancel().catch(() => {});
            reader = undefined;
            if (err instanceof RegistryError || signal?.aborted || ++failures > this.#retries) {
              controller.error(
                err instanceof RegistryError ? err : new RegistryError(
                  `blob ${digest}: download failed at byte ${offset} of ${size}`,
                  { cause: err },
                ),
              );
              return;
            }
            await sleep(this.#backoff * 2 ** (failures - 1));
          }
        }
      },
      cancel: async (): Promise<void> => {
        await reader?.cancel().catch(() => {});
      },
    });
  }
}
