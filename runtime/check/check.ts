/**
 * `skiff check`: everything about a bundle that create would refuse (errors), what it would accept
 * but probably is not meant (warnings), and optionally the host's facts. Nothing on the host is
 * made or changed: the checks are create's own (collect.ts) plus read-only looks at the rootfs, the
 * state directory and /proc.
 */
import { exists, resolve } from "../path.ts";
import type { Spec } from "../../spec/config.ts";
import { validateSpec } from "../../spec/validate.ts";
import { type CreateOptions, preflight } from "../container/create.ts";
import { collectErrors } from "./collect.ts";
import { specSection, suggestFix } from "./explain.ts";
import { secureJoin } from "../rootfs/secure_join.ts";
import { DEFAULT_PATH } from "../init/exec_path.ts";
import {
  capabilityMasks,
  grantableCapabilities,
  lastCapability,
} from "../security/capabilities.ts";
import { compileSeccomp } from "../security/seccomp/compile.ts";
import { compileFilter } from "../security/seccomp/filter.ts";
import { ARCHS, type NativeArch, nativeScmpArch } from "../security/seccomp/archs.ts";
import {
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_USER_NOTIF,
} from "../security/seccomp/bpf.ts";
import { runBpf } from "../security/seccomp/_bpf_interpreter.ts";
import { withDefaultDeviceRules } from "../cgroups/device_rules.ts";
import type { StateStore } from "../state/store.ts";
import { loadContainer, stateOf } from "../container/container.ts";
import { detectCgroups, systemdRunning } from "../cgroups/detect.ts";
import { appArmorEnabled, selinuxEnabled } from "../security/lsm.ts";

/** One problem found. */
export interface Finding {
  severity: "error" | "warning";
  /** The JSON path in config.json, when the problem is one field's. */
  path?: string;
  message: string;
  /** A link to the runtime-spec section that defines the field. */
  section?: string;
  fix?: string;
}

/** What `skiff check` reports. */
export interface CheckReport {
  configFile: string;
  errors: Finding[];
  warnings: Finding[];
  host?: Record<string, unknown>;
}

/** What to check. */
export interface CheckOptions {
  /** The config.json (a bundle's own, or --config). */
  configFile: string;
  /** The state store, to find running containers that share a cgroup. */
  store?: StateStore;
  /** Options create would be called with (the global --systemd-cgroup, --rootless). */
  create?: Partial<CreateOptions>;
  /** Also report the host's facts. */
  host?: boolean;
}

/** The id preflight() is given: a valid one, so that only the config's own problems show. */
const CHECK_ID = "skiff-check";

/** Checks a config file; throws only when the file cannot be read or is not JSON. */
export function checkConfig(options: CheckOptions): CheckReport {
  const configFile = resolve(options.configFile);
  const bundle = configFile.slice(0, configFile.lastIndexOf("/")) || "/";
  let text: string;
  try {
    text = Deno.readTextFileSync(configFile);
  } catch (err) {
    throw new Error(`cannot read ${configFile}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`${configFile}: invalid JSON: ${(err as Error).message}`);
  }
  const createOptions: CreateOptions = { bundle, ...options.create };
  let clean: Spec | undefined;
  let cgroupWarnings: string[] = [];
  const collected = collectErrors(json, (candidate) => {
    const spec = validateSpec(candidate);
    const rootfs = resolve(bundle, spec.root!.path);
    const { cgroupPlan } = preflight(
      CHECK_ID,
      spec,
      rootfs,
      configFile,
      createOptions,
      compileFilter,
    );
    // The limits, planned against this host's cgroups as create would write them.
    const resources = spec.linux?.resources;
    cgroupWarnings = cgroupPlan.check?.({
      ...resources,
      devices: withDefaultDeviceRules(resources?.devices, spec.linux?.devices),
    }) ?? [];
    clean = spec;
  });
  const errors: Finding[] = collected.map((e) => ({
    severity: "error",
    path: e.path,
    message: e.path ? e.detail : e.message,
    section: specSection(e.path),
    fix: suggestFix(e.path, e.detail),
  }));
  if (clean) errors.push(...predictedErrors(clean, resolve(bundle, clean.root!.path)));
  const warnings = clean
    ? configWarnings(clean, resolve(bundle, clean.root!.path), options.store, cgroupWarnings)
    : [];
  return {
    configFile,
    errors,
    warnings,
    host: options.host ? hostFacts() : undefined,
  };
}

function error(path: string, message: string, fix: string): Finding {
  return { severity: "error", path, message, section: specSection(path), fix };
}

/**
 * What create refuses only once it is making the container (the init finds it), predicted from the
 * host and the rootfs: a bind mount's missing source, a filesystem type the kernel lacks, a sysctl
 * it does not have, a process.args[0] that is not in the rootfs.
 */
export function predictedErrors(spec: Spec, rootfs: string): Finding[] {
  const out: Finding[] = [];
  const filesystems = new Set(
    (read("/proc/filesystems") ?? "").split("\n").map((l) => l.split("\t").pop()!.trim()),
  );
  (spec.mounts ?? []).forEach((mount, i) => {
    const options = mount.options ?? [];
    const bind = mount.type === "bind" || options.includes("bind") || options.includes("rbind");
    if (bind && mount.source && !exists(mount.source)) {
      out.push(error(
        `mounts[${i}]`,
        `the bind mount's source ${mount.source} does not exist`,
        `create ${mount.source} on the host, or correct mounts[${i}].source`,
      ));
    } else if (!bind && mount.type && mount.type !== "none" && !filesystems.has(mount.type)) {
      out.push(error(
        `mounts[${i}]`,
        `the kernel has no filesystem type ${JSON.stringify(mount.type)} (/proc/filesystems)`,
        "correct mounts[" + i + "].type, or load the filesystem's module",
      ));
    }
  });
  for (const key of Object.keys(spec.linux?.sysctl ?? {})) {
    if (!exists(`/proc/sys/${key.replaceAll(".", "/")}`)) {
      out.push(error(
        `linux.sysctl.${key}`,
        `this kernel has no sysctl ${key} (/proc/sys/${key.replaceAll(".", "/")})`,
        "check the name for a typo, or remove it",
      ));
    }
  }
  const missing = missingExecutable(spec, rootfs);
  if (missing) out.push(missing);
  return out;
}

/**
 * process.args[0] as the init will look it up (runtime/init/exec_path.ts lookPath(): a path, or
 * each directory of the container's PATH), when it is in none of the rootfs's places: create
 * fails with runc's `exec: "X": ...` error. Unknown, and no error, when a mount covers a place.
 */
function missingExecutable(spec: Spec, rootfs: string): Finding | undefined {
  const process = spec.process;
  const file = process?.args?.[0];
  if (!process || !file) return undefined;
  const cwd = process.cwd || "/";
  const absolute = (p: string) => p.startsWith("/") ? p : `${cwd.replace(/\/+$/, "")}/${p}`;
  const pathVar = (process.env ?? []).find((e) => e.startsWith("PATH="))?.slice(5) ?? DEFAULT_PATH;
  const places = file.includes("/")
    ? [absolute(file)]
    : pathVar.split(":").map((dir) => absolute(`${dir || "."}/${file}`));
  const mounts = (spec.mounts ?? []).map((m) => m.destination.replace(/\/+$/, "") || "/");
  for (const place of places) {
    if (mounts.some((m) => m === "/" || place === m || place.startsWith(`${m}/`))) return undefined;
    try {
      Deno.statSync(secureJoin(rootfs, place));
      return undefined;
    } catch {
      // Not here.
    }
  }
  const where = file.includes("/")
    ? `${absolute(file)} is not in the rootfs`
    : `it is in none of the rootfs's PATH directories (${pathVar})`;
  return error(
    "process.args[0]",
    `create would fail with exec: ${JSON.stringify(file)}: ${where}`,
    "add the program to the rootfs, or correct process.args[0] (or PATH in process.env)",
  );
}

function warning(path: string | undefined, message: string, fix?: string): Finding {
  return { severity: "warning", path, message, section: specSection(path), fix };
}

/** What create would accept in `spec` (already free of errors) but is probably not meant. */
export function configWarnings(
  spec: Spec,
  rootfs: string,
  store: StateStore | undefined,
  cgroupWarnings: string[] = [],
): Finding[] {
  const out: Finding[] = [];
  const masks = capabilityMasks(
    spec.process?.capabilities,
    lastCapability(),
    grantableCapabilities(),
  );
  for (const message of masks.warnings) {
    out.push(warning("process.capabilities", message, "remove it from the capability lists"));
  }
  out.push(...mountWarnings(spec, rootfs));
  out.push(...userWarnings(spec, rootfs));
  out.push(...cgroupClash(spec, store));
  out.push(...seccompWarnings(spec));
  for (const message of cgroupWarnings) {
    const path = /^(linux\.resources[\w.[\]]*)/.exec(message)?.[1] ?? "linux.resources";
    out.push(warning(path, message, "remove the field, or run on a host whose cgroups have it"));
  }
  return out;
}

/** Mount destinations the rootfs lacks (create makes them), unless an earlier mount provides them. */
function mountWarnings(spec: Spec, rootfs: string): Finding[] {
  const out: Finding[] = [];
  const mounted: string[] = [];
  (spec.mounts ?? []).forEach((mount, i) => {
    const dest = mount.destination.replace(/\/+$/, "") || "/";
    const under = mounted.some((m) => m === "/" || dest === m || dest.startsWith(`${m}/`));
    mounted.push(dest);
    if (under) return;
    let exists = true;
    try {
      Deno.lstatSync(secureJoin(rootfs, dest));
    } catch {
      exists = false;
    }
    if (!exists) {
      out.push(warning(
        `mounts[${i}].destination`,
        `${dest} does not exist in the rootfs: create makes it (owned by root) to mount over`,
        `add ${dest} to the image, or check the destination for a typo`,
      ));
    }
  });
  return out;
}

/** An /etc/passwd or /etc/group of the rootfs, parsed into ids; undefined when there is none. */
function idsIn(rootfs: string, file: string): Set<number> | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(secureJoin(rootfs, file));
  } catch {
    return undefined;
  }
  return new Set(
    text.split("\n").map((line) => Number(line.split(":")[2])).filter(Number.isInteger),
  );
}

/** A process user or group the rootfs's /etc/passwd or /etc/group does not know. */
function userWarnings(spec: Spec, rootfs: string): Finding[] {
  const out: Finding[] = [];
  const user = spec.process?.user;
  if (!user) return out;
  const uids = idsIn(rootfs, "/etc/passwd");
  if (uids && !uids.has(user.uid)) {
    out.push(warning(
      "process.user.uid",
      `uid ${user.uid} has no entry in the rootfs's /etc/passwd: the process runs without a ` +
        "name or home directory (HOME=/)",
      "add the user to the image, or pick a uid it has",
    ));
  }
  const gids = idsIn(rootfs, "/etc/group");
  if (gids && !gids.has(user.gid)) {
    out.push(warning(
      "process.user.gid",
      `gid ${user.gid} has no entry in the rootfs's /etc/group`,
      "add the group to the image, or pick a gid it has",
    ));
  }
  return out;
}

/** A running or created container of the same state root that uses the same cgroupsPath. */
function cgroupClash(spec: Spec, store: StateStore | undefined): Finding[] {
  const path = spec.linux?.cgroupsPath;
  if (!path || !store) return [];
  const out: Finding[] = [];
  for (const id of store.ids()) {
    try {
      const container = loadContainer(store, id);
      const status = stateOf(container).status;
      if (status !== "stopped" && container.record.cgroup?.cgroupsPath === path) {
        out.push(warning(
          "linux.cgroupsPath",
          `${path} is the cgroup of container ${id} (${status}): both would share limits and ` +
            "processes, and deleting one kills the other's processes",
          "give each container its own cgroupsPath",
        ));
      }
    } catch {
      // Deleted meanwhile, or not readable: not a clash to report.
    }
  }
  return out;
}

/**
 * System calls the runtime and every program need after the filter is loaded: the last stage
 * waits for start (read), sets capabilities and limits, and execs the process.
 */
const START_SYSCALLS = ["read", "write", "capset", "prlimit64", "execve", "exit_group"];

/** A seccomp profile that stops the process before its program runs. */
function seccompWarnings(spec: Spec): Finding[] {
  const seccomp = spec.linux?.seccomp;
  if (!seccomp) return [];
  const native = Deno.build.arch as NativeArch;
  const info = ARCHS[nativeScmpArch(native)];
  const filter = compileSeccomp(seccomp, { onUnknownSyscall: () => {} });
  const blocked = START_SYSCALLS.filter((name) => {
    const nr = info.syscalls[name];
    if (nr === undefined) return false;
    const action = runBpf(filter.instructions, { nr, arch: info.auditArch }).value & 0xffff0000;
    return ![SECCOMP_RET_ALLOW, SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF]
      .includes(action >>> 0);
  });
  if (blocked.length === 0) return [];
  return [warning(
    "linux.seccomp",
    `the profile blocks ${blocked.join(", ")} (${native}): the container's process cannot start`,
    `allow ${blocked.join(", ")} in linux.seccomp.syscalls`,
  )];
}

function read(file: string): string | undefined {
  try {
    return Deno.readTextFileSync(file).trim();
  } catch {
    return undefined;
  }
}

/** What this host offers containers: kernel, cgroups, LSMs, user namespaces, seccomp. */
export function hostFacts(): Record<string, unknown> {
  const cgroups = detectCgroups();
  return {
    kernel: read("/proc/sys/kernel/osrelease"),
    arch: Deno.build.arch,
    cgroups: {
      layout: cgroups.layout,
      unified: cgroups.unified?.mountPoint,
      unifiedControllers: cgroups.unifiedControllers,
      v1Controllers: Object.keys(cgroups.v1).sort(),
    },
    systemd: systemdRunning(),
    lsm: {
      active: read("/sys/kernel/security/lsm")?.split(",") ?? [],
      apparmor: appArmorEnabled(),
      selinux: selinuxEnabled(),
    },
    userNamespaces: {
      max: Number(read("/proc/sys/user/max_user_namespaces") ?? NaN),
      unprivilegedClone: read("/proc/sys/kernel/unprivileged_userns_clone"),
      apparmorRestrictsUnprivileged: read(
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
      ),
    },
    seccomp: { actions: read("/proc/sys/kernel/seccomp/actions_avail")?.split(" ") ?? [] },
    pidMax: Number(read("/proc/sys/kernel/pid_max") ?? NaN),
  };
}
