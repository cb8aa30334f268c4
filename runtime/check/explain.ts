/**
 * For a JSON path of config.json: the section of the OCI runtime specification that defines it (a
 * link into the spec's text), and for an error's words, a suggested fix.
 */

const SPEC = "https://github.com/opencontainers/runtime-spec/blob/v1.2.1";

/** Path prefixes and their spec sections, the longest prefix first. */
const SECTIONS: [RegExp, string][] = [
  [/^ociVersion/, "config.md#specification-version"],
  [/^root/, "config.md#root"],
  [/^mounts/, "config.md#mounts"],
  [/^process\.(terminal|consoleSize)/, "config.md#process"],
  [/^process\.user/, "config.md#user"],
  [/^process\.capabilities/, "config.md#linux-process"],
  [/^process\.rlimits/, "config.md#posix-process"],
  [/^process\.(ioPriority|scheduler|execCPUAffinity)/, "config.md#linux-process"],
  [/^process/, "config.md#process"],
  [/^(hostname)/, "config.md#hostname"],
  [/^(domainname)/, "config.md#domainname"],
  [/^hooks/, "config.md#posix-platform-hooks"],
  [/^annotations/, "config.md#annotations"],
  [/^linux\.namespaces/, "config-linux.md#namespaces"],
  [/^linux\.(uidMappings|gidMappings)/, "config-linux.md#user-namespace-mappings"],
  [/^linux\.timeOffsets/, "config-linux.md#offset-for-time-namespace"],
  [/^linux\.devices/, "config-linux.md#devices"],
  [/^linux\.netDevices/, "config-linux.md#network-devices"],
  [/^linux\.cgroupsPath/, "config-linux.md#cgroups-path"],
  [/^linux\.resources\.devices/, "config-linux.md#allowed-device-list"],
  [/^linux\.resources\.memory/, "config-linux.md#memory"],
  [/^linux\.resources\.cpu/, "config-linux.md#cpu"],
  [/^linux\.resources\.blockIO/, "config-linux.md#block-io"],
  [/^linux\.resources\.hugepageLimits/, "config-linux.md#huge-page-limits"],
  [/^linux\.resources\.network/, "config-linux.md#network"],
  [/^linux\.resources\.pids/, "config-linux.md#pids"],
  [/^linux\.resources\.rdma/, "config-linux.md#rdma"],
  [/^linux\.resources\.unified/, "config-linux.md#unified"],
  [/^linux\.resources/, "config-linux.md#control-groups"],
  [/^linux\.intelRdt/, "config-linux.md#intelrdt"],
  [/^linux\.sysctl/, "config-linux.md#sysctl"],
  [/^linux\.seccomp/, "config-linux.md#seccomp"],
  [/^linux\.rootfsPropagation/, "config-linux.md#rootfs-mount-propagation"],
  [/^linux\.maskedPaths/, "config-linux.md#masked-paths"],
  [/^linux\.readonlyPaths/, "config-linux.md#readonly-paths"],
  [/^linux\.mountLabel/, "config-linux.md#mount-label"],
  [/^linux\.personality/, "config-linux.md#personality"],
  [/^linux\.memoryPolicy/, "config-linux.md#memory-policy"],
  [/^linux/, "config-linux.md"],
];

/** The link to the spec section that defines `path`, or undefined for an unknown path. */
export function specSection(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const hit = SECTIONS.find(([pattern]) => pattern.test(path));
  return hit ? `${SPEC}/${hit[1]}` : undefined;
}

/** A suggested fix for an error at `path` that says `detail`. */
export function suggestFix(path: string | undefined, detail: string): string | undefined {
  const where = path ?? "the field";
  let m: RegExpExecArray | null;
  if ((m = /^expected (an? [a-z ]+), got/.exec(detail))) return `make ${where} ${m[1]}`;
  if ((m = /is not one of (.+)$/.exec(detail))) return `use one of: ${m[1]}`;
  if (/is not an absolute path/.test(detail)) return `start ${where} with "/"`;
  if (/^duplicate/.test(detail)) return `remove one of the duplicate entries (${where})`;
  if (/is required/.test(detail)) return `add ${where}`;
  if (/must not be empty|at least one/.test(detail)) return `give ${where} a value`;
  if (/without a private UTS namespace/.test(detail)) {
    return `add {"type": "uts"} to linux.namespaces, or remove ${where}`;
  }
  if (/need(s)? a (time|user|network) namespace/.test(detail)) {
    return `add the namespace to linux.namespaces, or remove ${where}`;
  }
  if (
    /^cannot open .*|is not an? \w+ namespace$/.test(detail) && /^linux\.namespaces/.test(where)
  ) {
    return "give the path of a running process's namespace of that type (/proc/PID/ns/TYPE), or a bind mount of it";
  }
  if (/this kernel has no /.test(detail)) return `remove ${where}: this kernel cannot honour it`;
  if (/is not a directory/.test(detail)) return "point root.path at the bundle's rootfs directory";
  if (/must be (at least|at most|between)|out of range|too (large|small)/.test(detail)) {
    return `bring ${where} into the range given`;
  }
  if (/not supported|cannot be used|is not available|unsupported/.test(detail)) {
    return `remove ${where}, or run on a host that supports it`;
  }
  return path ? `correct or remove ${path}` : undefined;
}
