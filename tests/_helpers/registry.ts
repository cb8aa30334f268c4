/**
 * A real registry for the pull tests: `docker-registry` (CNCF distribution, from apt) on
 * 127.0.0.1 with TLS (a certificate made here with openssl) and either htpasswd (Basic) auth or
 * token (Bearer) auth backed by a small token server written here; a plain-HTTP proxy in front
 * counts the bytes of each blob served and can cut or corrupt a blob; images are pushed with
 * skopeo from OCI layouts.
 */
import { join } from "../../runtime/path.ts";

/** The test user of every registry here. */
export const USER = "skiffuser";
export const PASSWORD = "skiff-secret";

/** True when the registry tests can run (the tools are installed). */
export function registryToolsPresent(): boolean {
  for (const tool of ["docker-registry", "skopeo", "openssl", "htpasswd"]) {
    const ok = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" })
      .outputSync().success;
    if (!ok) return false;
  }
  return true;
}

async function run(cmd: string, args: string[], what: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${what}: ${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess, log: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill("SIGKILL");
  throw new Error(
    `registry did not listen on ${port}: ${await Deno.readTextFile(log).catch(() => "")}`,
  );
}

function base64url(data: Uint8Array | string): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

function pemBody(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const m = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`no ${label} in PEM`);
  return Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

/** A running registry and what goes with it. */
export interface TestRegistry extends AsyncDisposable {
  /** "127.0.0.1:PORT" of the registry (TLS). */
  host: string;
  /** The CA certificate file (the registry's self-signed certificate). */
  ca: string;
  dir: string;
  auth: "htpasswd" | "token";
  /** Token requests the token server answered (with their scope). */
  tokenRequests: string[];
  /** Pushes `layout`'s image `name` to `repo:tag` (with --all for an index). */
  push(layout: string, name: string, repoTag: string): Promise<void>;
  /** Copies `fromRepoTag` to `toRepoTag` inside the registry (a retag), with skopeo. */
  copy(fromRepoTag: string, toRepoTag: string): Promise<void>;
}

/** Starts docker-registry with TLS and `auth`; dispose to stop it and remove its files. */
export async function startRegistry(auth: "htpasswd" | "token"): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-registry-" });
  const children: Deno.ChildProcess[] = [];
  const servers: Deno.HttpServer[] = [];
  const tokenRequests: string[] = [];
  try {
    // A CA and a server certificate it signs: rustls refuses a self-signed CA as the server's.
    const ca = join(dir, "ca.crt");
    const caKey = join(dir, "ca.key");
    const crt = join(dir, "tls.crt");
    const key = join(dir, "tls.key");
    const csr = join(dir, "tls.csr");
    const ext = join(dir, "tls.ext");
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await run("openssl", [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      caKey,
      "-out",
      ca,
      "-days",
      "1",
      "-subj",
      "/CN=skiff test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    ], "test CA");
    await run("openssl", [
      "req",
      "-new",
      ...ec,
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      "/CN=127.0.0.1",
    ], "TLS key");
    await Deno.writeTextFile(
      ext,
      "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca,
      "-CAkey",
      caKey,
      "-CAcreateserial",
      "-out",
      crt,
      "-days",
      "1",
      "-extfile",
      ext,
    ], "TLS certificate");
    const port = freePort();
    let authYaml: string;
    if (auth === "htpasswd") {
      const htpasswd = await run("htpasswd", ["-Bbn", USER, PASSWORD], "htpasswd");
      await Deno.writeTextFile(join(dir, "htpasswd"), htpasswd);
      authYaml = `auth:\n  htpasswd:\n    realm: skiff-test\n    path: ${dir}/htpasswd\n`;
    } else {
      // The registry verifies tokens signed by a key whose certificate (x5c) chains to
      // rootcertbundle: here a self-signed one.
      const tcrt = join(dir, "token.crt");
      const tkey = join(dir, "token.key");
      await run("openssl", [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        tkey,
        "-out",
        tcrt,
        "-days",
        "1",
        "-subj",
        "/CN=skiff-token",
      ], "token certificate");
      const signingKey = await crypto.subtle.importKey(
        "pkcs8",
        pemBody(await Deno.readTextFile(tkey), "PRIVATE KEY"),
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["sign"],
      );
      const x5c = btoa(
        String.fromCharCode(...pemBody(await Deno.readTextFile(tcrt), "CERTIFICATE")),
      );
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
        const url = new URL(req.url);
        const scope = url.searchParams.get("scope") ?? "";
        tokenRequests.push(scope);
        const given = req.headers.get("authorization");
        const anonymous = given === null;
        if (!anonymous && given !== `Basic ${btoa(`${USER}:${PASSWORD}`)}`) {
          return new Response(
            JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }),
            { status: 401 },
          );
        }
        const access = scope
          ? (() => {
            const [type, name, actions] = scope.split(":");
            // Anonymous users get a token without rights: the registry then answers 401.
            return [{ type, name, actions: anonymous ? [] : actions.split(",") }];
          })()
          : [];
        const now = Math.floor(Date.now() / 1000);
        const header = base64url(JSON.stringify({ alg: "ES256", typ: "JWT", x5c: [x5c] }));
        const claims = base64url(JSON.stringify({
          iss: "skiff-test-issuer",
          sub: anonymous ? "" : USER,
          aud: "skiff-test",
          exp: now + 600,
          nbf: now - 10,
          iat: now,
          jti: crypto.randomUUID(),
          access,
        }));
        const sig = new Uint8Array(
          await crypto.subtle.sign(
            { name: "ECDSA", hash: "SHA-256" },
            signingKey,
            new TextEncoder().encode(`${header}.${claims}`),
          ),
        );
        return Response.json({ token: `${header}.${claims}.${base64url(sig)}`, expires_in: 600 });
      });
      servers.push(server);
      authYaml = `auth:\n  token:\n    realm: http://127.0.0.1:${server.addr.port}/token\n` +
        `    service: skiff-test\n    issuer: skiff-test-issuer\n    rootcertbundle: ${tcrt}\n`;
    }
    const config = join(dir, "config.yml");
    await Deno.writeTextFile(
      config,
      `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n` +
        `http:\n  addr: 127.0.0.1:${port}\n  tls:\n    certificate: ${crt}\n    key: ${key}\n` +
        authYaml,
    );
    const log = join(dir, "registry.log");
    const logFile = await Deno.open(log, { write: true, create: true });
    const child = new Deno.Command("docker-registry", {
      args: ["serve", config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    children.push(child);
    child.stderr.pipeTo(logFile.writable).catch(() => {});
    await waitForPort(port, child, log);
    const host = `127.0.0.1:${port}`;
    return {
      host,
      ca,
      dir,
      auth,
      tokenRequests,
      async push(layout: string, name: string, repoTag: string): Promise<void> {
        await run("skopeo", [
          "copy",
          "--quiet",
          "--all",
          "--dest-tls-verify=false",
          "--dest-creds",
          `${USER}:${PASSWORD}`,
          `oci:${layout}:${name}`,
          `docker://${host}/${repoTag}`,
        ], `push ${repoTag}`);
      },
      async copy(fromRepoTag: string, toRepoTag: string): Promise<void> {
        const creds = `${USER}:${PASSWORD}`;
        await run("skopeo", [
          "copy",
          "--quiet",
          "--all",
          "--src-tls-verify=false",
          "--dest-tls-verify=false",
          "--src-creds",
          creds,
          "--dest-creds",
          creds,
          `docker://${host}/${fromRepoTag}`,
          `docker://${host}/${toRepoTag}`,
        ], `copy ${fromRepoTag} to ${toRepoTag}`);
      },
      async [Symbol.asyncDispose](): Promise<void> {
        for (const c of children) {
          try {
            c.kill("SIGKILL");
          } catch {
            // Exited already.
          }
          await c.status;
        }
        for (const s of servers) await s.shutdown();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (err) {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch {
        // Exited already.
      }
      await c.status;
    }
    for (const s of servers) await s.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

/** What the proxy does to blob responses. */
export interface ProxyFaults {
  /** Cut the connection after this many bytes of the first response for this digest. */
  cut?: { digest: string; after: number };
  /** Serve this blob with its last byte changed. */
  corrupt?: string;
  /** Answer 503 to the first `times` requests for this blob. */
  unavailable?: { digest: string; times: number };
}

/** A plain-HTTP proxy in front of a registry (configure its host as insecure). */
export interface TestProxy extends AsyncDisposable {
  host: string;
  /** Body bytes served per blob digest. */
  served: Map<string, number>;
  /** Range headers of the blob requests. */
  ranges: string[];
  /** The manifest requests, as "METHOD repository:reference", in order. */
  manifests: string[];
  faults: ProxyFaults;
}

/** Starts a proxy that forwards to `registry` over TLS. */
export function startProxy(registry: TestRegistry): TestProxy {
  const client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(registry.ca)] });
  const served = new Map<string, number>();
  const ranges: string[] = [];
  const manifests: string[] = [];
  const faults: ProxyFaults = {};
  let cutDone = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (manifest) manifests.push(`${req.method} ${manifest[1]}:${manifest[2]}`);
    const headers = new Headers();
    for (const h of ["authorization", "accept", "range"]) {
      const v = req.headers.get(h);
      if (v !== null) headers.set(h, v);
    }
    const upstream = await fetch(`https://${registry.host}${url.pathname}${url.search}`, {
      headers,
      client,
      redirect: "manual",
    });
    const out = new Headers();
    for (
      const h of [
        "content-type",
        "content-length",
        "content-range",
        "docker-content-digest",
        "www-authenticate",
        "docker-distribution-api-version",
      ]
    ) {
      const v = upstream.headers.get(h);
      if (v !== null) out.set(h, v);
    }
    const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url.pathname)?.[1];
    if (blob && faults.unavailable?.digest === blob && faults.unavailable.times > 0) {
      faults.unavailable.times--;
      await upstream.body?.cancel();
      return new Response("try again", { status: 503 });
    }
    if (!blob || !upstream.body || req.method !== "GET" || !upstream.ok) {
      return new Response(upstream.body, { status: upstream.status, headers: out });
    }
    if (req.headers.get("range")) ranges.push(req.headers.get("range")!);
    const cut = faults.cut?.digest === blob && !cutDone ? faults.cut.after : undefined;
    if (cut !== undefined) cutDone = true;
    const corrupt = faults.corrupt === blob;
    const total = Number(upstream.headers.get("content-length") ?? -1);
    let sent = 0;
    const reader = upstream.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller): Promise<void> {
        const { value, done } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        let chunk = value;
        if (cut !== undefined && sent + chunk.length > cut) {
          chunk = chunk.subarray(0, cut - sent);
          served.set(blob, (served.get(blob) ?? 0) + chunk.length);
          controller.enqueue(chunk);
          reader.cancel().catch(() => {});
          controller.error(new Error("cut by the test proxy"));
          return;
        }
        if (corrupt && sent + chunk.length === total) {
          chunk = chunk.slice();
          chunk[chunk.length - 1] ^= 0xff;
        }
        sent += chunk.length;
        served.set(blob, (served.get(blob) ?? 0) + chunk.length);
        controller.enqueue(chunk);
      },
      cancel(): void {
        reader.cancel().catch(() => {});
      },
    });
    return new Response(body, { status: upstream.status, headers: out });
  });
  return {
    host: `127.0.0.1:${server.addr.port}`,
    served,
    ranges,
    manifests,
    faults,
    async [Symbol.asyncDispose](): Promise<void> {
      await server.shutdown();
      client.close();
    },
  };
}
