/**
 * Image references as Docker resolves them (distribution/reference, normalize.go): the first
 * path component is a registry host only when it has a "." or a ":" or is "localhost"; otherwise
 * the image is on Docker Hub, and a one-component Hub name is under "library/". The tag is
 * "latest" unless a tag or a digest is given.
 *
 *   alpine                       → docker.io/library/alpine:latest
 *   user/app:v1                  → docker.io/user/app:v1
 *   127.0.0.1:5000/app@sha256:.. → 127.0.0.1:5000/app@sha256:..
 */

/** A parsed image reference. */
export interface ImageReference {
  /** The registry host as named (docker.io for Docker Hub), with a port if one was given. */
  registry: string;
  /** The repository path, e.g. "library/alpine". */
  repository: string;
  /** The tag; undefined when only a digest was given. */
  tag?: string;
  /** "sha256:<hex>" when the reference pins a digest. */
  digest?: string;
}

/** Docker Hub's name and the host its API is served from. */
export const DOCKER_HUB = "docker.io";
export const DOCKER_HUB_API = "registry-1.docker.io";

const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
const HOST_RE = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$/;

/**
 * Parses a reference ("alpine", "ghcr.io/o/app:v1", "host:5000/app@sha256:...").
 * @throws TypeError naming the reference and the part that is malformed.
 */
export function parseReference(text: string): ImageReference {
  const bad = (why: string): never => {
    throw new TypeError(`Invalid image reference "${text}": ${why}`);
  };
  let rest = text.replace(/^docker:\/\//, "");
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) bad(`digest "${digest}" is not sha256:<64 hex digits>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) bad(`tag "${tag}" is not valid`);
  }
  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === "localhost")) {
    registry = parts.shift()!;
    if (!HOST_RE.test(registry)) bad(`registry host "${registry}" is not valid`);
  }
  if (registry === "index.docker.io" || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  for (const p of parts) {
    if (!COMPONENT_RE.test(p)) {
      bad(`path component "${p}" must be lowercase letters, digits and separators (. _ __ -)`);
    }
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository: parts.join("/"), tag, digest };
}

/** The reference's canonical name: "docker.io/library/alpine:latest", "host/app@sha256:..". */
export function formatReference(ref: ImageReference): string {
  const name = `${ref.registry}/${ref.repository}`;
  if (ref.digest) return ref.tag ? `${name}:${ref.tag}@${ref.digest}` : `${name}@${ref.digest}`;
  return `${name}:${ref.tag}`;
}

/** True when `text` looks like a registry reference rather than a path or a stored name. */
export function looksLikeRegistryReference(text: string): boolean {
  if (text.startsWith("docker://")) return true;
  if (
    text.startsWith("/") || text.startsWith(".") || /^(oci|oci-archive|docker-archive):/.test(text)
  ) {
    return false;
  }
  try {
    parseReference(text);
    return true;
  } catch {
    return false;
  }
}
