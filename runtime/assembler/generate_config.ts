/**
 * config.json from an image config, as the OCI image spec's conversion.md describes, plus runtime
 * defaults in the shape of `runc spec` (namespaces, mounts, masked and read-only paths) and
 * Docker's default capability set. Pure: the image's /etc/passwd and /etc/group come in as text.
 */
import type { Spec, User } from "../../spec/config.ts";
import { DOCKER_DEFAULT_CAPABILITIES } from "../../spec/capabilities.ts";
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  defaultMounts,
  defaultNamespaces,
} from "../../spec/defaults.ts";
import { OCI_VERSION } from "../../spec/version.ts";
import type { ImageConfig } from "../../spec/image.ts";

/** The PATH set when the image has none (Docker's default). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = DOCKER_DEFAULT_CAPABILITIES;

/** A user resolved for process.user. */
export interface ResolvedUser extends User {
  /** The name the user was found under, if any. */
  username?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^\d+$/;

function parseId(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xfffffffe) {
    throw new Error(`${what} "${text}" is out of range`);
  }
  return n;
}

/** Parses /etc/passwd text (name:passwd:uid:gid:gecos:home:shell), skipping malformed lines. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || f[0] === "" || f[0].startsWith("#")) continue;
    if (!NUMERIC.test(f[2]) || !NUMERIC.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

/** Parses /etc/group text (name:passwd:gid:member,member), skipping malformed lines. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 3 || f[0] === "" || f[0].startsWith("#") || !NUMERIC.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? "").split(",").filter((m) => m) });
  }
  return out;
}

/**
 * Resolves an image's User ("", "name", "uid", "name:group", "uid:gid", "name:gid", "uid:group")
 * against the image's /etc/passwd and /etc/group (undefined when the image has none).
 * Numeric ids need no entry; names must exist. Without an explicit group the primary group comes
 * from passwd (0 for an unknown numeric uid) and additional groups from group membership.
 * @throws Error naming the user or group that cannot be found.
 */
export function resolveUser(
  user: string | undefined,
  passwd: string | undefined,
  group: string | undefined,
): ResolvedUser {
  const spec = (user ?? "").trim();
  if (spec === "") return { uid: 0, gid: 0, username: "root" };
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  const users = parsePasswd(passwd ?? "");
  const groups = parseGroup(group ?? "");

  let uid: number;
  let gid = 0;
  let name: string | undefined;
  if (NUMERIC.test(userPart)) {
    uid = parseId(userPart, "uid");
    const entry = users.find((u) => u.uid === uid);
    if (entry) {
      gid = entry.gid;
      name = entry.name;
    }
  } else {
    const entry = users.find((u) => u.name === userPart);
    if (!entry) {
      throw new Error(
        `Cannot resolve user "${userPart}": ${
          passwd === undefined ? "the image has no /etc/passwd" : "no such user in /etc/passwd"
        }`,
      );
    }
    uid = entry.uid;
    gid = entry.gid;
    name = entry.name;
  }

  let additionalGids: number[] | undefined;
  if (groupPart !== undefined && groupPart !== "") {
    if (NUMERIC.test(groupPart)) {
      gid = parseId(groupPart, "gid");
    } else {
      const entry = groups.find((g) => g.name === groupPart);
      if (!entry) {
        throw new Error(
          `Cannot resolve group "${groupPart}": ${
            group === undefined ? "the image has no /etc/group" : "no such group in /etc/group"
          }`,
        );
      }
      gid = entry.gid;
    }
  } else if (name !== undefined) {
    const supplementary = groups.filter((g) => g.members.includes(name!) && g.gid !== gid).map((
      g,
    ) => g.gid);
    if (supplementary.length > 0) additionalGids = [...new Set(supplementary)];
  }
  const out: ResolvedUser = { uid, gid };
  if (additionalGids) out.additionalGids = additionalGids;
  if (name !== undefined) out.username = name;
  return out;
}

/** Options of generateConfig(). */
export interface GenerateConfigOptions {
  /** Replaces the image's Cmd (the arguments after the entrypoint). */
  args?: string[];
  /** Replaces the image's Entrypoint. */
  entrypoint?: string[];
  /** Extra "KEY=value" entries; they override the image's. */
  env?: string[];
  /** The image's /etc/passwd and /etc/group, for User names. */
  passwd?: string;
  group?: string;
  /** Overrides the image's User. */
  user?: string;
  /** Overrides the image's WorkingDir. */
  cwd?: string;
  terminal?: boolean;
  hostname?: string;
  /** root.path (default "rootfs"). */
  rootPath?: string;
  readonlyRoot?: boolean;
  /** Extra annotations (e.g. the manifest's); the image-derived ones win. */
  annotations?: Record<string, string>;
}

function mergeEnv(base: string[], extra: string[]): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const entry of [...base, ...extra]) {
    const eq = entry.indexOf("=");
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (!values.has(key)) order.push(key);
    values.set(key, entry);
  }
  return order.map((k) => values.get(k)!);
}

/**
 * Returns the config.json for a container from `image`.
 * @throws Error when the image gives no command and `args` gives none, or the user is unknown.
 */
export function generateConfig(image: ImageConfig, options: GenerateConfigOptions = {}): Spec {
  const c = image.config ?? {};
  const entrypoint = options.entrypoint ?? c.Entrypoint ?? [];
  const cmd = options.args ?? c.Cmd ?? [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new Error("The image has no Entrypoint or Cmd, and no command was given");
  }

  let env = mergeEnv(c.Env ?? [], options.env ?? []);
  if (!env.some((e) => e.startsWith("PATH="))) env = [`PATH=${DEFAULT_PATH}`, ...env];
  if (options.terminal && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");

  const user = resolveUser(options.user ?? c.User, options.passwd, options.group);

  // conversion.md: annotations from the image config; Labels first so the fields win.
  const annotations: Record<string, string> = { ...options.annotations, ...(c.Labels ?? {}) };
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== "") annotations[`org.opencontainers.image.${key}`] = value;
  };
  set("os", image.os);
  set("architecture", image.architecture);
  set("variant", image.variant);
  set("os.version", image["os.version"]);
  set("os.features", image["os.features"]?.join(","));
  set("author", image.author);
  set("created", image.created);
  set("stopSignal", c.StopSignal);
  set("exposedPorts", c.ExposedPorts ? Object.keys(c.ExposedPorts).join(",") : undefined);

  const caps = [...DEFAULT_CAPABILITIES];
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: options.terminal ?? false,
      user,
      args,
      env,
      cwd: options.cwd ?? (c.WorkingDir || "/"),
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: false,
    },
    root: { path: options.rootPath ?? "rootfs", readonly: options.readonlyRoot ?? false },
    mounts: defaultMounts(),
    annotations,
    linux: {
      namespaces: defaultNamespaces(),
      resources: { devices: [{ allow: false, access: "rwm" }] },
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
  if (options.hostname !== undefined) spec.hostname = options.hostname;
  return spec;
}
