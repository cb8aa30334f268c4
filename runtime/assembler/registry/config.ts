/**
 * Registry configuration and credentials (docs/assembler.md "Registry configuration").
 *
 * The configuration is JSON, not the TOML of Podman's registries.conf (containers-registries.conf(5)):
 * Skiff has a JSON parser and no TOML one, and it keeps only the part of that format a pull needs,
 * per registry: mirrors tried first, in order; insecure (plain HTTP); a CA certificate file.
 *
 *   { "registries": { "docker.io": { "mirrors": ["mirror.local:5000"] },
 *                     "mirror.local:5000": { "insecure": true },
 *                     "registry.corp": { "ca": "/etc/skiff/corp-ca.pem" } } }
 *
 * Read from $SKIFF_REGISTRIES_CONFIG, else /etc/skiff/registries.json; no file means defaults.
 * Credentials come from the files Podman and Docker write ({"auths": {"host": {"auth":
 * base64("user:password")}}}): $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json (or
 * /run/containers/<uid>/auth.json), then ~/.docker/config.json; `skiff image login` writes the first.
 * A file may name credential helpers instead (credHelpers per registry, credsStore for all), which
 * are run as Docker runs them: `docker-credential-<name> get`.
 */
import { DOCKER_HUB } from "./reference.ts";

/** What the configuration says about one registry host. */
export interface RegistrySettings {
  /** Hosts tried before this one, in order (pulls only). */
  mirrors?: string[];
  /** Talk plain HTTP to it. */
  insecure?: boolean;
  /** A PEM file of CA certificates to trust for it (besides the system's). */
  ca?: string;
}

/** The registry configuration file. */
export interface RegistriesConfig {
  registries?: Record<string, RegistrySettings>;
}

/** A user name and password (or an identity token as the password). */
export interface Credentials {
  username: string;
  password: string;
}

/** The default configuration file. */
export const DEFAULT_REGISTRIES_CONFIG = "/etc/skiff/registries.json";

/** Reads the registry configuration; a missing file is the empty configuration. */
export async function loadRegistriesConfig(
  path = Deno.env.get("SKIFF_REGISTRIES_CONFIG") ?? DEFAULT_REGISTRIES_CONFIG,
): Promise<RegistriesConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw new Error(`Cannot read registry configuration ${path}`, { cause: err });
  }
  let config: RegistriesConfig;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`${path} is not valid JSON`, { cause: err });
  }
  const fail = (jsonPath: string, expected: string): never => {
    throw new TypeError(
      `Cannot load registry configuration "${path}": ${jsonPath} must be ${expected}`,
    );
  };
  if (typeof config !== "object" || config === null) fail("the document", "an object");
  const regs = config.registries ?? {};
  if (typeof regs !== "object" || Array.isArray(regs)) fail("registries", "an object");
  for (const [host, s] of Object.entries(regs)) {
    const at = `registries["${host}"]`;
    if (typeof s !== "object" || s === null) fail(at, "an object");
    if (
      s.mirrors !== undefined &&
      (!Array.isArray(s.mirrors) || !s.mirrors.every((m) => typeof m === "string"))
    ) {
      fail(`${at}.mirrors`, "a list of host[:port] strings");
    }
    if (s.insecure !== undefined && typeof s.insecure !== "boolean") {
      fail(`${at}.insecure`, "true or false");
    }
    if (s.ca !== undefined && typeof s.ca !== "string") fail(`${at}.ca`, "a file path");
  }
  return config;
}

/** The settings of `host` (an empty object when the configuration names it not). */
export function settingsFor(config: RegistriesConfig, host: string): RegistrySettings {
  return config.registries?.[host] ?? {};
}

/** The auth files read, in order; the first is the one `skiff image login` writes. */
export function authFiles(): string[] {
  const files: string[] = [];
  const env = Deno.env.get("REGISTRY_AUTH_FILE");
  if (env) files.push(env);
  const runtimeDir = Deno.env.get("XDG_RUNTIME_DIR");
  files.push(
    runtimeDir
      ? `${runtimeDir}/containers/auth.json`
      : `/run/containers/${Deno.uid() ?? 0}/auth.json`,
  );
  const home = Deno.env.get("HOME");
  if (home) files.push(`${home}/.docker/config.json`);
  return files;
}

/** The keys a host may have in an auth file (Docker writes Hub credentials under its v1 URL). */
function authKeys(host: string): string[] {
  const keys = [host, `https://${host}`, `http://${host}`];
  if (host === DOCKER_HUB) {
    keys.push("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io");
  }
  return keys;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
  /** A credential helper for every registry (Docker's config.json). */
  credsStore?: string;
  /** A credential helper per registry (Docker's config.json and containers-auth.json(5)). */
  credHelpers?: Record<string, string>;
}

async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read credentials file ${path}`, { cause: err });
  }
  try {
    return JSON.parse(text) as AuthFile;
  } catch (err) {
    throw new SyntaxError(`${path} is not valid JSON`, { cause: err });
  }
}

/** What a helper prints on stdout when it has nothing for the server (docker-credential-helpers). */
const HELPER_NOT_FOUND = "credentials not found in native keychain";

/**
 * Asks the credential helper `docker-credential-<name>` for `host`'s credentials, as Docker does
 * (docker-credential-helpers' protocol): `get` with the server address on stdin, the answer
 * `{"ServerURL", "Username", "Secret"}` on stdout. "Not found" is no credentials, not an error.
 * `where` says which setting named the helper, for the error messages.
 */
export async function credentialsFromHelper(
  name: string,
  host: string,
  where: string,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const what = `credential helper ${program} (${where})`;
  // Docker keeps Hub credentials under its v1 URL, and asks the helpers by it.
  const server = host === DOCKER_HUB ? "https://index.docker.io/v1/" : host;
  let out: Deno.CommandOutput;
  try {
    const child = new Deno.Command(program, {
      args: ["get"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(server)).catch(() => {});
    await writer.close().catch(() => {});
    out = await child.output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`${what} for registry ${host} is not installed (not found on PATH)`);
    }
    throw new Error(`Cannot run ${what} for registry ${host}`, { cause: err });
  }
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    if (stdout === HELPER_NOT_FOUND) return undefined;
    const detail = (new TextDecoder().decode(out.stderr).trim() || stdout).slice(0, 300);
    throw new Error(
      `${what} failed for registry ${host}: exit status ${out.code}${detail ? `: ${detail}` : ""}`,
    );
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout);
  } catch {
    throw new Error(
      `${what} for registry ${host} did not answer {"Username", "Secret"} JSON: got "${
        stdout.slice(0, 100)
      }"`,
    );
  }
  if (typeof answer?.Username !== "string" || typeof answer.Secret !== "string") {
    throw new Error(`${what} for registry ${host}: "Username" and "Secret" must be strings`);
  }
  return { username: answer.Username, password: answer.Secret };
}

/**
 * The credentials stored for `host`, from the first auth file that has them. Within a file, as
 * Docker reads config.json: a helper named for the host in credHelpers, else the credsStore
 * helper, else the base64 "auth" of auths.
 */
export async function findCredentials(host: string): Promise<Credentials | undefined> {
  for (const file of authFiles()) {
    const parsed = await readAuthFile(file);
    if (!parsed) continue;
    const helperKey = authKeys(host).find((k) => typeof parsed.credHelpers?.[k] === "string");
    if (helperKey !== undefined) {
      const creds = await credentialsFromHelper(
        parsed.credHelpers![helperKey],
        host,
        `credHelpers["${helperKey}"] in ${file}`,
      );
      if (creds) return creds;
      continue;
    }
    if (typeof parsed.credsStore === "string" && parsed.credsStore !== "") {
      const creds = await credentialsFromHelper(parsed.credsStore, host, `credsStore in ${file}`);
      if (creds) return creds;
      continue;
    }
    const auths = parsed.auths ?? {};
    for (const key of authKeys(host)) {
      const entry = auths[key];
      if (!entry?.auth) continue;
      let decoded: string;
      try {
        decoded = atob(entry.auth);
      } catch {
        throw new Error(`${file}: auths["${key}"].auth is not base64`);
      }
      const colon = decoded.indexOf(":");
      if (colon < 0) {
        throw new Error(`${file}: auths["${key}"].auth is not base64("user:password")`);
      }
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

/** Stores credentials for `host` in the first auth file (mode 0600, written atomically). */
export async function saveCredentials(host: string, creds: Credentials): Promise<string> {
  const file = authFiles()[0];
  const current = (await readAuthFile(file)) ?? {};
  const auths = { ...(current.auths ?? {}) };
  auths[host] = { auth: btoa(`${creds.username}:${creds.password}`) };
  await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify({ ...current, auths }, null, 2) + "\n", {
    mode: 0o600,
  });
  await Deno.rename(tmp, file);
  return file;
}
