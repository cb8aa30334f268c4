/**
 * Every error create would give for a config, not only the first: `skiff check` runs create's own
 * checks (validateSpec, then preflight() of runtime/container/create.ts) on a copy of config.json;
 * when one throws a SpecError at a JSON path, that field is recorded, taken out of the copy (or set
 * to the default config's value where the field is required) and the checks run again, until they
 * pass. So each error has the path and words create would print, because it is create's code that
 * found it.
 *
 * Array entries taken out of the copy would shift the indices of the entries after them; the copy
 * remembers each entry's index in the original, and paths are reported in the original's indices.
 */
import { SpecError } from "../../spec/errors.ts";
import { defaultSpec } from "../../spec/defaults.ts";

/** One error, as create would report it. */
export interface CollectedError {
  /** The JSON path in the original config; undefined for an error that names no field. */
  path?: string;
  /** What is wrong (without file and path). */
  detail: string;
  /** The whole message create prints. */
  message: string;
}

type Segment = { key: string } | { index: number };

/** The most rounds: each takes out one field, so a config with more errors than this is cut short. */
const MAX_ROUNDS = 200;

/**
 * Runs `checks` on copies of `json` until they pass, taking out each field they refuse.
 * @param checks throws the first problem of a config, as create does.
 */
export function collectErrors(json: unknown, checks: (json: unknown) => void): CollectedError[] {
  const copy = structuredClone(json);
  const original = new WeakMap<unknown[], number[]>();
  const errors: CollectedError[] = [];
  const tries = new Map<string, number>();
  let root: unknown = copy;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    try {
      checks(root);
      return errors;
    } catch (err) {
      if (!(err instanceof SpecError)) {
        errors.push({ detail: messageOf(err), message: messageOf(err) });
        return errors;
      }
      const segments = parsePath(root, err.path);
      const reported = segments ? renderPath(root, segments, original) : err.path;
      // Counted by the original's path: after an entry is taken out, the next one has its index.
      const attempt = (tries.get(reported) ?? 0) + 1;
      tries.set(reported, attempt);
      if (attempt === 1) {
        errors.push({ path: reported, detail: err.detail, message: err.message });
      }
      if (!segments || segments.length === 0) return errors;
      // 1st: take the field out; 2nd (it is required): the default config's value; then its parent.
      // A user namespace's path goes with its entry: without the path it would be a new user
      // namespace, which needs mappings the config does not have (errors check itself made).
      const entry = attempt === 1 && joinedUserNamespace(root, segments);
      const target = entry
        ? segments.slice(0, -1)
        : attempt <= 2
        ? segments
        : segments.slice(0, -(attempt - 2));
      if (target.length === 0) return errors;
      const replacement = attempt === 2 ? valueAt(defaultSpec(), segments) : undefined;
      root = remove(root, target, replacement, original);
    }
  }
  return errors;
}

/** True when `segments` is linux.namespaces[i].path of a user namespace entry. */
function joinedUserNamespace(json: unknown, segments: Segment[]): boolean {
  const [linux, namespaces, index, path] = segments;
  if (segments.length !== 4 || !linux || !namespaces || !index || !path) return false;
  if (!("key" in linux && linux.key === "linux" && "key" in namespaces)) return false;
  if (namespaces.key !== "namespaces" || !("index" in index) || !("key" in path)) return false;
  const entry = valueAt(json, segments.slice(0, -1)) as { type?: unknown } | undefined;
  return path.key === "path" && entry?.type === "user";
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let text = err.message;
  for (let cause = err.cause; cause instanceof Error; cause = cause.cause) {
    text += `: ${cause.message}`;
  }
  return text;
}

/**
 * Splits `path` ("linux.sysctl.net.ipv4.ip_forward", "mounts[2].options[0]") into segments,
 * matching keys against `json` itself: keys may contain dots (sysctl names, annotations), so the
 * longest key of the object that the rest of the path starts with wins. Undefined when the path
 * does not lead through `json` (a path that names a field that is absent is fine at the end).
 */
export function parsePath(json: unknown, path: string): Segment[] | undefined {
  if (path === "(root)" || path === "") return [];
  const segments: Segment[] = [];
  let rest = path;
  let value: unknown = json;
  while (rest.length > 0) {
    const index = /^\[(\d+)\]/.exec(rest);
    if (index) {
      segments.push({ index: Number(index[1]) });
      value = Array.isArray(value) ? value[Number(index[1])] : undefined;
      rest = rest.slice(index[0].length);
    } else {
      if (rest.startsWith(".")) rest = rest.slice(1);
      const keys = value !== null && typeof value === "object" && !Array.isArray(value)
        ? Object.keys(value).filter((k) =>
          rest.startsWith(k) && (rest.length === k.length || ".[".includes(rest[k.length]))
        )
        : [];
      const key = keys.sort((a, b) => b.length - a.length)[0] ??
        /^[^.[]*/.exec(rest)![0];
      segments.push({ key });
      value = (value as Record<string, unknown> | undefined)?.[key];
      rest = rest.slice(key.length);
    }
  }
  return segments;
}

function valueAt(json: unknown, segments: Segment[]): unknown {
  let value = json;
  for (const s of segments) {
    if (value === null || typeof value !== "object") return undefined;
    value = "key" in s ? (value as Record<string, unknown>)[s.key] : (value as unknown[])[s.index];
  }
  return value;
}

function originalIndices(array: unknown[], original: WeakMap<unknown[], number[]>): number[] {
  let indices = original.get(array);
  if (!indices) {
    indices = array.map((_, i) => i);
    original.set(array, indices);
  }
  return indices;
}

/** `segments` as a path string, with each array index translated back to the original config. */
function renderPath(
  json: unknown,
  segments: Segment[],
  original: WeakMap<unknown[], number[]>,
): string {
  let text = "";
  let value = json;
  for (const s of segments) {
    if ("key" in s) {
      text += text === "" ? s.key : `.${s.key}`;
      value = value !== null && typeof value === "object"
        ? (value as Record<string, unknown>)[s.key]
        : undefined;
    } else {
      const index = Array.isArray(value) ? originalIndices(value, original)[s.index] : undefined;
      text += `[${index ?? s.index}]`;
      value = Array.isArray(value) ? value[s.index] : undefined;
    }
  }
  return text;
}

/** `json` with the value at `segments` replaced (or taken out when `replacement` is undefined). */
function remove(
  json: unknown,
  segments: Segment[],
  replacement: unknown,
  original: WeakMap<unknown[], number[]>,
): unknown {
  const parent = valueAt(json, segments.slice(0, -1));
  const last = segments[segments.length - 1];
  if (parent === null || typeof parent !== "object") {
    // The path goes through something that is not a container: replace that instead.
    return segments.length > 1 ? remove(json, segments.slice(0, -1), undefined, original) : json;
  }
  if ("index" in last && Array.isArray(parent)) {
    const indices = originalIndices(parent, original);
    if (replacement === undefined) {
      parent.splice(last.index, 1);
      indices.splice(last.index, 1);
    } else parent[last.index] = structuredClone(replacement);
  } else if ("key" in last && !Array.isArray(parent)) {
    const object = parent as Record<string, unknown>;
    if (replacement === undefined) delete object[last.key];
    else object[last.key] = structuredClone(replacement);
  } else if (segments.length > 1) {
    return remove(json, segments.slice(0, -1), undefined, original);
  }
  return json;
}
