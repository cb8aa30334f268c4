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

/** The credentials stored for `host`, from the first auth file that has them. */
export async function findCredentials(host: string): Promise<Credentials | undefined> {
  for (const file of authFiles()) {
    const auths = (await readAuthFile(file))?.auths ?? {};
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
