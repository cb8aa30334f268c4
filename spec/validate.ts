import type { Mount, Spec } from "./config.ts";
import { mountIdmap, validateIdMappings } from "./idmap.ts";
import { show, SpecError, withFile } from "./errors.ts";
import {
  array,
  boolean,
  integer,
  type Json,
  object,
  oneOf,
  optArray,
  optInteger,
  optObject,
  optString,
  string,
  strings,
} from "./json.ts";
import { RLIMITS } from "./rlimits.ts";
import { parseCpuList } from "./cpu_list.ts";
import {
  IOPRIO_CLASSES,
  MPOL_FLAGS,
  MPOL_MODES,
  PERSONALITY_DOMAINS,
  SCHED_FLAGS,
  SCHED_POLICIES,
} from "../ffi/sched.ts";
import { S_IFBLK, S_IFCHR, S_IFIFO } from "../ffi/constants.ts";
import { HOOK_KINDS, NAMESPACE_TYPES } from "./kinds.ts";

export { HOOK_KINDS, NAMESPACE_TYPES };

/** The file type bits of each device type. */
const DEVICE_TYPE_BITS = { c: S_IFCHR, u: S_IFCHR, b: S_IFBLK, p: S_IFIFO } as const;

/** Namespace types Skiff cannot create or join yet (each refused with a clear error). */

const ROOTFS_PROPAGATIONS = [
  "shared",
  "slave",
  "private",
  "unbindable",
  "rshared",
  "rslave",
  "rprivate",
  "runbindable",
];

function absolute(v: unknown, path: string): string {
  const s = string(v, path);
  if (!s.startsWith("/")) throw new SpecError(path, `${show(s)} is not an absolute path`);
  return s;
}

const UINT32 = 0xffffffff;

/** Validates a `process` object (config.json, or `exec --process`); errors name `path`. */
export function validateProcess(p: Json, path: string): void {
  boolean(p.terminal, `${path}.terminal`);
  if (p.consoleSize !== undefined) {
    const size = object(p.consoleSize, `${path}.consoleSize`);
    integer(size.height, `${path}.consoleSize.height`, 0, 65535);
    integer(size.width, `${path}.consoleSize.width`, 0, 65535);
  }
  const user = object(p.user ?? {}, `${path}.user`);
  integer(user.uid ?? 0, `${path}.user.uid`, 0, UINT32);
  integer(user.gid ?? 0, `${path}.user.gid`, 0, UINT32);
  optInteger(user.umask, `${path}.user.umask`, 0, 0o777);
  optArray(user.additionalGids, `${path}.user.additionalGids`).forEach((g, i) =>
    integer(g, `${path}.user.additionalGids[${i}]`, 0, UINT32)
  );
  const args = array(p.args, `${path}.args`);
  if (args.length === 0) throw new SpecError(`${path}.args`, "must have at least one entry");
  args.forEach((a, i) => string(a, `${path}.args[${i}]`));
  strings(p.env, `${path}.env`).forEach((e, i) => {
    if (!e.includes("=")) {
      throw new SpecError(`${path}.env[${i}]`, `${show(e)} is not of the form KEY=value`);
    }
  });
  absolute(p.cwd, `${path}.cwd`);
  if (p.capabilities !== undefined) {
    // Unknown names are not an error: config.md wants a warning (the init logs it) and runc runs them.
    const caps = object(p.capabilities, `${path}.capabilities`);
    for (const set of ["bounding", "effective", "inheritable", "permitted", "ambient"]) {
      strings(caps[set], `${path}.capabilities.${set}`);
    }
  }
  const seen = new Set<string>();
  optArray(p.rlimits, `${path}.rlimits`).forEach((r, i) => {
    const at = `${path}.rlimits[${i}]`;
    const limit = object(r, at);
    const type = oneOf(limit.type, Object.keys(RLIMITS), `${at}.type`);
    if (seen.has(type)) throw new SpecError(`${at}.type`, `duplicate rlimit ${type}`);
    seen.add(type);
    const soft = integer(limit.soft, `${at}.soft`, 0);
    const hard = integer(limit.hard, `${at}.hard`, 0);
    if (soft > hard) {
      throw new SpecError(at, `soft limit ${soft} is greater than hard limit ${hard}`);
    }
  });
  boolean(p.noNewPrivileges, `${path}.noNewPrivileges`);
  optInteger(p.oomScoreAdj, `${path}.oomScoreAdj`, -1000, 1000);
  optString(p.apparmorProfile, `${path}.apparmorProfile`);
  optString(p.selinuxLabel, `${path}.selinuxLabel`);
  if (p.scheduler !== undefined) validateScheduler(object(p.scheduler, `${path}.scheduler`), path);
  if (p.ioPriority !== undefined) {
    const io = object(p.ioPriority, `${path}.ioPriority`);
    oneOf(io.class, Object.keys(IOPRIO_CLASSES), `${path}.ioPriority.class`);
    optInteger(io.priority, `${path}.ioPriority.priority`, 0, 7);
  }
  if (p.execCPUAffinity !== undefined) {
    const affinity = object(p.execCPUAffinity, `${path}.execCPUAffinity`);
    for (const key of ["initial", "final"]) {
      const list = optString(affinity[key], `${path}.execCPUAffinity.${key}`);
      if (list !== undefined) cpuList(list, `${path}.execCPUAffinity.${key}`);
    }
  }
}

/** Parses a CPU or node list ("0-3,7"); errors name `path`. */
export function cpuList(text: string, path: string): number[] {
  try {
    return parseCpuList(text);
  } catch (err) {
    throw new SpecError(path, `${show(text)} is not a valid list: ${(err as Error).message}`);
  }
}

/** process.scheduler: the rules of sched_setattr(2), checked before anything is created (runc's). */
function validateScheduler(s: Json, process: string): void {
  const path = `${process}.scheduler`;
  const policy = oneOf(s.policy, Object.keys(SCHED_POLICIES), `${path}.policy`);
  optInteger(s.nice, `${path}.nice`, -20, 19);
  const realtime = policy === "SCHED_FIFO" || policy === "SCHED_RR";
  if (realtime) {
    integer(s.priority ?? 0, `${path}.priority`, 1, 99);
  } else if (s.priority !== undefined && integer(s.priority, `${path}.priority`) !== 0) {
    throw new SpecError(`${path}.priority`, `must be 0 unless policy is SCHED_FIFO or SCHED_RR`);
  }
  strings(s.flags, `${path}.flags`).forEach((flag, i) =>
    oneOf(flag, Object.keys(SCHED_FLAGS), `${path}.flags[${i}]`)
  );
  for (const key of ["runtime", "deadline", "period"]) {
    optInteger(s[key], `${path}.${key}`, 0, Number.MAX_SAFE_INTEGER);
    if (policy !== "SCHED_DEADLINE" && s[key] !== undefined && s[key] !== 0) {
      throw new SpecError(`${path}.${key}`, "can only be set when policy is SCHED_DEADLINE");
    }
  }
}

function validateMounts(mounts: unknown[], spec: Json): void {
  mounts.forEach((m, i) => {
    const at = `mounts[${i}]`;
    const mount = object(m, at);
    const dest = string(mount.destination, `${at}.destination`);
    if (dest === "") throw new SpecError(`${at}.destination`, "must not be empty");
    optString(mount.source, `${at}.source`);
    optString(mount.type, `${at}.type`);
    strings(mount.options, `${at}.options`);
    validateMountIdmap(mount, at, spec);
  });
}

/**
 * linux.uidMappings/gidMappings: required by a new user namespace, refused by a joined one (its
 * maps are already written) and without one; each range within 32 bits.
 */
function validateUserNamespace(l: Json): void {
  const namespaces = (l.namespaces ?? []) as Json[];
  const index = namespaces.findIndex((n) => n.type === "user");
  const given = l.uidMappings !== undefined || l.gidMappings !== undefined;
  if (index < 0) {
    if (given) throw new SpecError("linux.uidMappings", "id mappings need a user namespace");
    return;
  }
  if (namespaces[index].path !== undefined) {
    if (given) {
      throw new SpecError(
        "linux.uidMappings",
        `cannot be set when joining the user namespace linux.namespaces[${index}].path: ` +
          "its maps are written already",
      );
    }
    return;
  }
  for (const field of ["uidMappings", "gidMappings"] as const) {
    const path = `linux.${field}`;
    if (l[field] === undefined || (Array.isArray(l[field]) && l[field].length === 0)) {
      throw new SpecError(path, "a new user namespace (linux.namespaces type user) needs mappings");
    }
    // The same rules as a mount's maps: what the kernel accepts in a uid_map.
    validateIdMappings(l[field], path);
  }
}

/**
 * An idmapped mount (config.md): a bind mount, with uidMappings and gidMappings both or neither.
 * Neither: the `idmap`/`ridmap` option alone takes the container's user namespace mappings, and
 * without a user namespace that is an error (config.md: "an error MUST be returned").
 */
function validateMountIdmap(mount: Json, at: string, spec: Json): void {
  const idmap = mountIdmap(mount as unknown as Mount);
  if (idmap === undefined) return;
  if (mount.uidMappings !== undefined) validateIdMappings(mount.uidMappings, `${at}.uidMappings`);
  if (mount.gidMappings !== undefined) validateIdMappings(mount.gidMappings, `${at}.gidMappings`);
  if (mount.uidMappings === undefined && mount.gidMappings !== undefined) {
    throw new SpecError(`${at}.uidMappings`, "is required when gidMappings is given");
  }
  if (mount.gidMappings === undefined && mount.uidMappings !== undefined) {
    throw new SpecError(`${at}.gidMappings`, "is required when uidMappings is given");
  }
  const options = (mount.options ?? []) as string[];
  if (mount.type !== "bind" && !options.some((o) => o === "bind" || o === "rbind")) {
    throw new SpecError(
      `${at}.options`,
      `an idmapped mount must be a bind mount: add "bind" or "rbind" (type is ${show(mount.type)})`,
    );
  }
  if (mount.uidMappings === undefined) {
    const linux = (spec.linux ?? {}) as Json;
    const namespaces = Array.isArray(linux.namespaces) ? linux.namespaces : [];
    if (!namespaces.some((n) => (n as Json | undefined)?.type === "user")) {
      throw new SpecError(
        `${at}.uidMappings`,
        `option "${idmap.recursive ? "ridmap" : "idmap"}" without uidMappings and gidMappings ` +
          "takes the container's user namespace mappings, but the container has no user namespace",
      );
    }
  }
}

function validateLinux(l: Json, spec: Json): void {
  const seen = new Set<string>();
  const types = new Set<string>();
  optArray(l.namespaces, "linux.namespaces").forEach((n, i) => {
    const at = `linux.namespaces[${i}]`;
    const ns = object(n, at);
    const type = oneOf(ns.type, NAMESPACE_TYPES, `${at}.type`);
    if (seen.has(type)) throw new SpecError(`${at}.type`, `duplicate namespace ${show(type)}`);
    seen.add(type);
    types.add(type);
    if (ns.path !== undefined) absolute(ns.path, `${at}.path`);
  });
  validateUserNamespace(l);
  if (spec.hostname !== undefined && spec.hostname !== "" && !types.has("uts")) {
    throw new SpecError("hostname", "unable to set hostname without a private UTS namespace");
  }
  if (spec.domainname !== undefined && spec.domainname !== "" && !types.has("uts")) {
    throw new SpecError("domainname", "unable to set domainname without a private UTS namespace");
  }
  if (l.timeOffsets !== undefined) {
    const offsets = object(l.timeOffsets, "linux.timeOffsets");
    if (!types.has("time")) {
      throw new SpecError("linux.timeOffsets", "time offsets need a time namespace");
    }
    for (const [clock, value] of Object.entries(offsets)) {
      const at = `linux.timeOffsets.${clock}`;
      oneOf(clock, ["monotonic", "boottime"], at);
      const off = object(value, at);
      optInteger(off.secs, `${at}.secs`);
      optInteger(off.nanosecs, `${at}.nanosecs`, 0, 999_999_999);
    }
  }
  optArray(l.devices, "linux.devices").forEach((d, i) => {
    const at = `linux.devices[${i}]`;
    const dev = object(d, at);
    const type = oneOf(dev.type, ["c", "b", "u", "p"], `${at}.type`);
    absolute(dev.path, `${at}.path`);
    if (type !== "p") {
      integer(dev.major, `${at}.major`, 0);
      integer(dev.minor, `${at}.minor`, 0);
    }
    if (dev.fileMode !== undefined) {
      // Podman writes the file type bits too (S_IFCHR | 0620); runc ORs the type in anyway, so
      // type bits are accepted when they are the device's own.
      const mode = integer(dev.fileMode, `${at}.fileMode`, 0, 0o177777);
      const typeBits = mode & ~0o7777;
      if (typeBits !== 0 && typeBits !== DEVICE_TYPE_BITS[type]) {
        throw new SpecError(
          `${at}.fileMode`,
          `0o${mode.toString(8)} has file type bits that are not those of a type "${type}" device`,
        );
      }
    }
    optInteger(dev.uid, `${at}.uid`, 0, UINT32);
    optInteger(dev.gid, `${at}.gid`, 0, UINT32);
  });
  optString(l.cgroupsPath, "linux.cgroupsPath");
  optObject(l.resources, "linux.resources");
  if (l.rootfsPropagation !== undefined && l.rootfsPropagation !== "") {
    oneOf(l.rootfsPropagation, ROOTFS_PROPAGATIONS, "linux.rootfsPropagation");
  }
  optObject(l.seccomp, "linux.seccomp");
  const sysctl = optObject(l.sysctl, "linux.sysctl") ?? {};
  for (const [key, value] of Object.entries(sysctl)) {
    string(value, `linux.sysctl.${key}`);
    validateSysctl(key, types);
  }
  strings(l.maskedPaths, "linux.maskedPaths").forEach((p, i) =>
    absolute(p, `linux.maskedPaths[${i}]`)
  );
  strings(l.readonlyPaths, "linux.readonlyPaths").forEach((p, i) =>
    absolute(p, `linux.readonlyPaths[${i}]`)
  );
  if (l.personality !== undefined) {
    const persona = object(l.personality, "linux.personality");
    oneOf(persona.domain, Object.keys(PERSONALITY_DOMAINS), "linux.personality.domain");
    strings(persona.flags, "linux.personality.flags").forEach((flag, i) => {
      // config-linux.md: "Currently no flag values are supported." runc only warns; a flag that is
      // accepted must be applied, so Skiff refuses them.
      throw new SpecError(`linux.personality.flags[${i}]`, `${show(flag)}: no flags are supported`);
    });
  }
  if (l.memoryPolicy !== undefined) {
    validateMemoryPolicy(object(l.memoryPolicy, "linux.memoryPolicy"));
  }
  if (l.netDevices !== undefined) {
    const devices = object(l.netDevices, "linux.netDevices");
    for (const [name, value] of Object.entries(devices)) {
      const at = `linux.netDevices.${name}`;
      interfaceName(name, at);
      const device = object(value, at);
      const rename = optString(device.name, `${at}.name`);
      if (rename !== undefined && rename !== "") interfaceName(rename, `${at}.name`);
    }
    if (Object.keys(devices).length > 0 && !types.has("network")) {
      throw new SpecError(
        "linux.netDevices",
        "network devices can only be moved into a container that has a network namespace",
      );
    }
  }
  if (l.intelRdt !== undefined) validateIntelRdt(object(l.intelRdt, "linux.intelRdt"));
}

/** A network interface name the kernel accepts (net/core/dev.c dev_valid_name). */
function interfaceName(name: string, path: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0 || bytes > 15 || name === "." || name === ".." || /[/:\s]/.test(name)) {
    throw new SpecError(
      path,
      `${show(name)} is not a valid network interface name (1-15 bytes, no "/", ":" or spaces)`,
    );
  }
}

/** linux.memoryPolicy: mode, flags and which modes take nodes (set_mempolicy(2), as runc checks). */
function validateMemoryPolicy(m: Json): void {
  const mode = oneOf(m.mode, Object.keys(MPOL_MODES), "linux.memoryPolicy.mode");
  const nodes = cpuList(
    optString(m.nodes, "linux.memoryPolicy.nodes") ?? "",
    "linux.memoryPolicy.nodes",
  );
  strings(m.flags, "linux.memoryPolicy.flags").forEach((flag, i) =>
    oneOf(flag, Object.keys(MPOL_FLAGS), `linux.memoryPolicy.flags[${i}]`)
  );
  if ((mode === "MPOL_DEFAULT" || mode === "MPOL_LOCAL") && nodes.length > 0) {
    throw new SpecError("linux.memoryPolicy.nodes", `must be empty when mode is ${mode}`);
  }
  if (mode !== "MPOL_DEFAULT" && mode !== "MPOL_LOCAL" && mode !== "MPOL_PREFERRED") {
    if (nodes.length === 0) {
      throw new SpecError(
        "linux.memoryPolicy.nodes",
        `must list at least one node when mode is ${mode}`,
      );
    }
  }
}

/** linux.intelRdt: the fields' own rules (config-linux.md); resctrl itself is checked at create. */
function validateIntelRdt(r: Json): void {
  const clos = optString(r.closID, "linux.intelRdt.closID");
  if (
    clos !== undefined && (clos === "." || clos === ".." || (clos !== "/" && clos.includes("/")))
  ) {
    throw new SpecError("linux.intelRdt.closID", `${show(clos)} is not a valid resctrl group name`);
  }
  const line = (v: string | undefined, path: string) => {
    if (v !== undefined && v.includes("\n")) throw new SpecError(path, "must not contain newlines");
    return v;
  };
  line(optString(r.l3CacheSchema, "linux.intelRdt.l3CacheSchema"), "linux.intelRdt.l3CacheSchema");
  const mb = line(
    optString(r.memBwSchema, "linux.intelRdt.memBwSchema"),
    "linux.intelRdt.memBwSchema",
  );
  if (mb !== undefined && mb !== "" && !mb.startsWith("MB:")) {
    throw new SpecError("linux.intelRdt.memBwSchema", `${show(mb)} does not start with "MB:"`);
  }
  strings(r.schemata, "linux.intelRdt.schemata").forEach((s, i) =>
    line(s, `linux.intelRdt.schemata[${i}]`)
  );
  boolean(r.enableMonitoring, "linux.intelRdt.enableMonitoring");
}

/** runc's rule: a sysctl may only be set when it belongs to a namespace the container owns. */
function validateSysctl(key: string, types: Set<string>): void {
  const at = `linux.sysctl.${key}`;
  if (key.includes("/") || key.split(".").some((part) => part === "" || part === "..")) {
    throw new SpecError(at, "is not a valid sysctl name");
  }
  const ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall"]
    .concat(["kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);
  if (ipc.includes(key) || key.startsWith("fs.mqueue.")) {
    if (!types.has("ipc")) {
      throw new SpecError(at, "sysctl is in the IPC namespace, which the container does not own");
    }
    return;
  }
  if (key.startsWith("net.")) {
    if (!types.has("network")) {
      throw new SpecError(
        at,
        "sysctl is in the network namespace, which the container does not own",
      );
    }
    return;
  }
  // user.max_*: the limits of the container's own user namespace (user_namespaces(7)).
  if (key.startsWith("user.")) {
    if (!types.has("user")) {
      throw new SpecError(at, "sysctl is in the user namespace, which the container does not own");
    }
    return;
  }
  if (key === "kernel.hostname" || key === "kernel.domainname") {
    if (!types.has("uts")) {
      throw new SpecError(at, "sysctl is in the UTS namespace, which the container does not own");
    }
    return;
  }
  throw new SpecError(at, "sysctl is not in a separate kernel namespace");
}

function validateHooks(h: Json): void {
  for (const kind of Object.keys(h)) {
    oneOf(kind, HOOK_KINDS, `hooks.${kind}`);
    optArray(h[kind], `hooks.${kind}`).forEach((item, i) => {
      const at = `hooks.${kind}[${i}]`;
      const hook = object(item, at);
      absolute(hook.path, `${at}.path`);
      strings(hook.args, `${at}.args`);
      strings(hook.env, `${at}.env`);
      optInteger(hook.timeout, `${at}.timeout`, 1);
    });
  }
}

/**
 * Validates a parsed config.json and returns it typed.
 * @throws SpecError naming the JSON path and what was expected.
 */
export function validateSpec(json: unknown): Spec {
  const spec = object(json, "(root)");
  string(spec.ociVersion, "ociVersion");
  const root = object(spec.root, "root");
  string(root.path, "root.path");
  if (root.path === "") throw new SpecError("root.path", "must not be empty");
  boolean(root.readonly, "root.readonly");
  if (spec.process === undefined) {
    throw new SpecError("process", "is required to create a container");
  }
  validateProcess(object(spec.process, "process"), "process");
  optString(spec.hostname, "hostname");
  optString(spec.domainname, "domainname");
  validateMounts(optArray(spec.mounts, "mounts"), spec);
  validateHooks(optObject(spec.hooks, "hooks") ?? {});
  const annotations = optObject(spec.annotations, "annotations") ?? {};
  for (const [key, value] of Object.entries(annotations)) string(value, `annotations.${key}`);
  validateLinux(object(spec.linux ?? {}, "linux"), spec);
  return spec as unknown as Spec;
}

/**
 * Reads and validates `file` (a config.json).
 * @throws Error naming the file, with the SpecError or SyntaxError as cause.
 */
export function loadSpec(file: string): Spec {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`JSON specification file ${file} not found`);
    }
    throw new Error(`cannot read ${file}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  try {
    return validateSpec(json);
  } catch (err) {
    throw withFile(err, file);
  }
}
