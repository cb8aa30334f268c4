/**
 * linux.resources.devices: normalisation, runc's default allow list, and the cgroup v1
 * devices.allow/devices.deny writes. The eBPF form for cgroup v2 is in device_bpf.ts.
 *
 * Semantics (both layouts): the rules are read in order and, for each requested access bit
 * (r, w, m), the LAST rule that matches the device and names that bit decides it; a device no rule
 * matches is denied. A request is allowed only when every bit it asks for is allowed.
 */
import type { Device, DeviceCgroupRule } from "../../spec/config.ts";
import { show, SpecError } from "../../spec/errors.ts";

/** A device rule with every field filled in. */
export interface DeviceRule {
  allow: boolean;
  /** "a" matches both character and block devices. */
  type: "a" | "c" | "b";
  /** -1 is the wildcard. */
  major: number;
  /** -1 is the wildcard. */
  minor: number;
  /** A non-empty subset of "rwm", in that order. */
  access: string;
}

/** The largest major or minor a rule may name (it must fit an eBPF immediate). */
const MAX_DEVICE_NUMBER = 0x7fffffff;

/**
 * Checks and fills in linux.resources.devices (runc's defaults: type "a", major/minor -1);
 * an empty access is an error, as in runc ("device access at N field cannot be empty").
 */
export function normalizeDeviceRules(
  rules: readonly DeviceCgroupRule[] | undefined,
  field = "linux.resources.devices",
): DeviceRule[] {
  if (rules === undefined) return [];
  if (!Array.isArray(rules)) throw new SpecError(field, `must be an array, got ${show(rules)}`);
  return rules.map((rule, i) => {
    const at = `${field}[${i}]`;
    if (typeof rule !== "object" || rule === null) {
      throw new SpecError(at, `must be an object, got ${show(rule)}`);
    }
    if (typeof rule.allow !== "boolean") {
      throw new SpecError(`${at}.allow`, `must be true or false, got ${show(rule.allow)}`);
    }
    const type = rule.type ?? "a";
    if (type !== "a" && type !== "c" && type !== "b") {
      throw new SpecError(`${at}.type`, `must be one of a, c, b: current value is ${show(type)}`);
    }
    const major = deviceNumber(rule.major, `${at}.major`);
    const minor = deviceNumber(rule.minor, `${at}.minor`);
    const access = rule.access;
    if (typeof access !== "string" || access === "" || !/^[rwm]+$/.test(access)) {
      throw new SpecError(
        `${at}.access`,
        `must be a non-empty combination of r, w and m, got ${show(access)}`,
      );
    }
    return { allow: rule.allow, type, major, minor, access: canonicalAccess(access) };
  });
}

function deviceNumber(value: unknown, field: string): number {
  if (value === undefined || value === null) return -1;
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < -1 ||
    value > MAX_DEVICE_NUMBER
  ) {
    throw new SpecError(
      field,
      `must be -1 (any) or an integer 0..${MAX_DEVICE_NUMBER}, got ${show(value)}`,
    );
  }
  return value;
}

/** "mwr" -> "rwm". */
function canonicalAccess(access: string): string {
  return ["r", "w", "m"].filter((c) => access.includes(c)).join("");
}

/** The rules runc appends to every container (libcontainer/specconv AllowedDevices). */
const DEFAULT_RULES: readonly (DeviceRule & { path?: string })[] = [
  // mknod of any device: the device nodes themselves are the gate.
  { allow: true, type: "c", major: -1, minor: -1, access: "m" },
  { allow: true, type: "b", major: -1, minor: -1, access: "m" },
  { path: "/dev/null", allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { path: "/dev/random", allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  { path: "/dev/full", allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
  { path: "/dev/tty", allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  { path: "/dev/zero", allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  { path: "/dev/urandom", allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  // /dev/pts/*
  { allow: true, type: "c", major: 136, minor: -1, access: "rwm" },
  // /dev/ptmx
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
  // /dev/net/tun (runc restored it in 1.2 for compatibility)
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" },
];

/**
 * runc's default device rules. As in runc, a default for a path that linux.devices lists itself
 * is left out (the spec's device takes priority).
 */
export function defaultDeviceRules(specDevices: readonly Device[] = []): DeviceCgroupRule[] {
  const listed = new Set(specDevices.map((d) => d.path));
  return DEFAULT_RULES.filter((r) => !r.path || !listed.has(r.path)).map((r) => ({
    allow: r.allow,
    type: r.type,
    major: r.major,
    minor: r.minor,
    access: r.access,
  }));
}

/**
 * linux.resources.devices followed by runc's defaults: what the container's cgroup gets at create.
 * The manager applies `resources.devices` as given, so create must pass this list.
 */
export function withDefaultDeviceRules(
  rules: readonly DeviceCgroupRule[] | undefined,
  specDevices: readonly Device[] = [],
): DeviceCgroupRule[] {
  return [...(rules ?? []), ...defaultDeviceRules(specDevices)];
}

/** A device rule in the devices.allow/devices.deny syntax: "c 1:3 rwm", "a" for everything. */
export function v1RuleLine(rule: DeviceRule): string {
  if (isCatchAll(rule)) return "a";
  const n = (v: number): string => v < 0 ? "*" : String(v);
  return `${rule.type} ${n(rule.major)}:${n(rule.minor)} ${rule.access}`;
}

/** True for "a *:* rwm": every device, every access. */
export function isCatchAll(rule: DeviceRule): boolean {
  return rule.type === "a" && rule.major < 0 && rule.minor < 0 && rule.access === "rwm";
}

/**
 * The cgroup v1 writes for `rules`, in order: first "a" to devices.deny (start from deny-all,
 * which is what runc's emulator converges to), then one write per rule. A type "a" rule that is
 * not the catch-all is split into a "c" and a "b" rule, because the kernel reads any line that
 * starts with "a" as "everything".
 */
export function planV1Devices(rules: readonly DeviceRule[]): { file: string; value: string }[] {
  const out = [{ file: "devices.deny", value: "a" }];
  for (const rule of rules) {
    const file = rule.allow ? "devices.allow" : "devices.deny";
    if (rule.type === "a" && !isCatchAll(rule)) {
      out.push({ file, value: v1RuleLine({ ...rule, type: "c" }) });
      out.push({ file, value: v1RuleLine({ ...rule, type: "b" }) });
    } else {
      out.push({ file, value: v1RuleLine(rule) });
    }
  }
  return out;
}

/** The device kinds a check can ask about. */
export type DeviceKind = "c" | "b";

/**
 * The reference semantics: whether `rules` let a process use device (kind, major, minor) with
 * `access` (a subset of "rwm"). Used by the tests to check the eBPF program.
 */
export function deviceAllowed(
  rules: readonly DeviceRule[],
  kind: DeviceKind,
  major: number,
  minor: number,
  access: string,
): boolean {
  if (access === "") return false;
  for (const bit of access) {
    let decided: boolean | undefined;
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i];
      if (r.type !== "a" && r.type !== kind) continue;
      if (r.major >= 0 && r.major !== major) continue;
      if (r.minor >= 0 && r.minor !== minor) continue;
      if (!r.access.includes(bit)) continue;
      decided = r.allow;
      break;
    }
    if (decided !== true) return false;
  }
  return true;
}
