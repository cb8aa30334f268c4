/**
 * A seeded generator of varied, valid configs for the differential runs. The same seed gives the
 * same configs on every host (host limits are applied later, by adaptConfig()).
 */
import type { Device, Mount, Seccomp, Spec } from "../../spec/config.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { CAPABILITIES } from "../../spec/capabilities.ts";

/** mulberry32: a small deterministic PRNG; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Pick {
  constructor(readonly next: () => number) {}
  chance(p: number): boolean {
    return this.next() < p;
  }
  one<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  /** A random subset of `items`, in their order. */
  some<T>(items: readonly T[], p = 0.5): T[] {
    return items.filter(() => this.chance(p));
  }
}

/** Every capability of the 6.x kernel except CAP_SYS_RESOURCE, which root lacks on this host. */
const CAPS = CAPABILITIES.filter((name) => name !== "CAP_SYS_RESOURCE");

const SYSCTLS: Record<string, string[]> = {
  "net.ipv4.ip_forward": ["0", "1"],
  "net.core.somaxconn": ["128", "1024"],
  "net.ipv4.ping_group_range": ["0 2147483647", "1 0"],
  "net.ipv4.ip_unprivileged_port_start": ["80", "1024"],
  "net.ipv4.tcp_syncookies": ["0", "1"],
  "kernel.msgmax": ["8192", "16384"],
  "kernel.shmmni": ["2048", "4096"],
  "fs.mqueue.msg_max": ["10", "20"],
};

const PROPAGATIONS = [
  "private",
  "rprivate",
  "slave",
  "rslave",
  "shared",
  "rshared",
  "unbindable",
  "runbindable",
];

/** Syscalls added to the kernel after 5.3: an "old" profile (made before they existed) lacks them. */
const NEW_SYSCALLS = new Set([
  "clone3",
  "close_range",
  "openat2",
  "pidfd_getfd",
  "pidfd_open",
  "pidfd_send_signal",
  "faccessat2",
  "process_madvise",
  "epoll_pwait2",
  "mount_setattr",
  "landlock_add_rule",
  "landlock_create_ruleset",
  "landlock_restrict_self",
  "memfd_secret",
  "process_mrelease",
  "futex_waitv",
  "set_mempolicy_home_node",
  "cachestat",
  "fchmodat2",
  "map_shadow_stack",
  "futex_wake",
  "futex_wait",
  "futex_requeue",
  "io_uring_setup",
  "io_uring_enter",
  "io_uring_register",
]);

/** Podman's profile as a pre-5.4 engine wrote it: no defaultErrnoRet, no syscalls newer than 5.3. */
function oldProfile(podman: Seccomp): Seccomp {
  const profile = structuredClone(podman);
  delete profile.defaultErrnoRet;
  profile.syscalls = (profile.syscalls ?? [])
    .map((rule) => ({ ...rule, names: rule.names.filter((n) => !NEW_SYSCALLS.has(n)) }))
    .filter((rule) => rule.names.length > 0);
  return profile;
}

function minimalProfile(pick: Pick): Seccomp {
  const errno = pick.one([1, 13, 38]);
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [
      { names: ["mount", "umount2", "chroot"], action: "SCMP_ACT_ERRNO", errnoRet: errno },
      ...(pick.chance(0.5) ? [{ names: ["kcmp"], action: "SCMP_ACT_KILL" as const }] : []),
      ...(pick.chance(0.5)
        ? [{ names: ["clone3"], action: "SCMP_ACT_ERRNO" as const, errnoRet: 38 }]
        : []),
    ],
  };
}

function extraMount(pick: Pick, k: number): Mount {
  const kind = pick.one(["bind", "rbind", "bind-file", "tmpfs", "typeless-bind"]);
  const flags = pick.some(["ro", "nosuid", "nodev", "noexec"], 0.35);
  const propagation = pick.chance(0.4) ? [pick.one(PROPAGATIONS)] : [];
  switch (kind) {
    case "bind":
    case "rbind":
      return {
        destination: `/mnt/${kind}${k}`,
        type: "bind",
        source: `{{bundle}}/hostdir${k}`,
        options: [kind, ...flags, ...propagation],
      };
    case "typeless-bind":
      return {
        destination: `/mnt/typeless${k}`,
        source: `{{bundle}}/hostdir${k}`,
        options: ["rbind", ...flags],
      };
    case "bind-file":
      return {
        destination: `/etc/extra${k}.conf`,
        type: "bind",
        source: `{{bundle}}/hostfile${k}.file`,
        options: ["bind", ...flags],
      };
    default: {
      const size = pick.one(["size=1m", "size=64k", "size=10%"]);
      const mode = pick.one(["mode=0700", "mode=1777", "mode=0755"]);
      const owner = pick.chance(0.3) ? ["uid=1000", "gid=1000"] : [];
      return {
        destination: `/scratch${k}`,
        type: "tmpfs",
        source: "tmpfs",
        options: [...flags, size, mode, ...owner],
      };
    }
  }
}

const DEVICES: Device[] = [
  { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/diff-null", type: "c", major: 1, minor: 3, fileMode: 0o640, uid: 1000, gid: 1000 },
  { path: "/dev/sub/zero", type: "c", major: 1, minor: 5 },
  { path: "/dev/loop-control", type: "c", major: 10, minor: 237, fileMode: 0o600 },
];

/** Options of generateConfigs(). */
export interface GeneratorOptions {
  /** Podman's default profile (from the corpus), for the "new" and "old" seccomp cases. */
  podmanSeccomp?: Seccomp;
}

/** `count` configs named gen-SEED-N, each varying many fields of `defaultSpec()` at random. */
export function generateConfigs(
  seed: number,
  count: number,
  options: GeneratorOptions = {},
): { name: string; config: Spec }[] {
  const pick = new Pick(prng(seed));
  const out: { name: string; config: Spec }[] = [];
  for (let i = 1; i <= count; i++) {
    out.push({
      name: `gen-${seed}-${String(i).padStart(2, "0")}`,
      config: generate(pick, options),
    });
  }
  return out;
}

function generate(pick: Pick, options: GeneratorOptions): Spec {
  const spec = defaultSpec();
  const process = spec.process!;
  const linux = spec.linux!;

  // Identity.
  process.user = {
    uid: pick.one([0, 0, 1000, 65534, 123]),
    gid: pick.one([0, 1000, 100, 65534]),
  };
  const groups = pick.some([10, 20, 27, 1000, 4242], 0.3);
  if (groups.length) process.user.additionalGids = groups;
  if (pick.chance(0.3)) process.user.umask = pick.one([0o027, 0o077, 0o002, 0]);

  // Capabilities: effective ⊆ permitted ⊆ bounding, ambient ⊆ permitted ∩ inheritable, except
  // sometimes ambient without inheritable (the kernel refuses to raise those).
  const bounding = pick.some(CAPS, 0.6);
  const permitted = pick.some(bounding, 0.7);
  const effective = pick.some(permitted, 0.8);
  const inheritable = pick.some(permitted, 0.3);
  let ambient = pick.some(inheritable, 0.5);
  if (pick.chance(0.15) && permitted.length) ambient = [...ambient, pick.one(permitted)];
  process.capabilities = { bounding, permitted, effective };
  if (pick.chance(0.6)) process.capabilities.inheritable = inheritable;
  if (pick.chance(0.5)) process.capabilities.ambient = [...new Set(ambient)];

  process.noNewPrivileges = pick.chance(0.6);
  if (pick.chance(0.4)) process.oomScoreAdj = pick.one([0, 100, 500, 1000]);

  // rlimits.
  const types = pick.some(
    [
      "RLIMIT_NOFILE",
      "RLIMIT_NPROC",
      "RLIMIT_CORE",
      "RLIMIT_STACK",
      "RLIMIT_MEMLOCK",
      "RLIMIT_CPU",
      "RLIMIT_FSIZE",
      "RLIMIT_MSGQUEUE",
      "RLIMIT_NICE",
      "RLIMIT_RTPRIO",
      "RLIMIT_AS",
    ],
    0.3,
  );
  process.rlimits = types.map((type) => {
    const hard = pick.one([0, 10, 1024, 4096, 65536, 8388608, 1e9]);
    return { type, hard, soft: pick.chance(0.5) ? hard : Math.floor(hard / 2) };
  });

  // Environment and working directory.
  process.env = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ...pick.some([
      "TERM=xterm",
      "WITH_EQ=a=b=c",
      "SPACES=a b  c",
      "EMPTY=",
      "UNICODE=é ü",
      "HOME=/root",
    ], 0.4),
  ];
  process.cwd = pick.one(["/", "/tmp", "/home", "/bin", "/new/work/dir"]);

  // Namespaces: sometimes the host's network/IPC/UTS/PID, sometimes a cgroup namespace.
  const dropped = new Set<string>();
  if (pick.chance(0.15)) dropped.add("network");
  if (pick.chance(0.1)) dropped.add("ipc");
  if (pick.chance(0.1)) dropped.add("pid");
  const hostname = pick.chance(0.7);
  if (!hostname && pick.chance(0.3)) dropped.add("uts");
  linux.namespaces = linux.namespaces!.filter((n) => !dropped.has(n.type));
  if (pick.chance(0.5)) linux.namespaces = linux.namespaces.filter((n) => n.type !== "cgroup");
  if (hostname) spec.hostname = `gen-host-${pick.int(1, 999)}`;
  else delete spec.hostname;
  if (!dropped.has("uts") && pick.chance(0.3)) spec.domainname = "diff.example";

  // Sysctls of the namespaces the container owns.
  const sysctl: Record<string, string> = {};
  for (const key of pick.some(Object.keys(SYSCTLS), 0.25)) {
    if (key.startsWith("net.") && dropped.has("network")) continue;
    if ((key.startsWith("kernel.") || key.startsWith("fs.mqueue")) && dropped.has("ipc")) continue;
    sysctl[key] = pick.one(SYSCTLS[key]);
  }
  if (Object.keys(sysctl).length) linux.sysctl = sysctl;

  // Seccomp.
  const profile = pick.one(["none", "none", "minimal", "podman", "old"]);
  if (profile === "minimal") linux.seccomp = minimalProfile(pick);
  if (profile === "podman" && options.podmanSeccomp) {
    linux.seccomp = structuredClone(options.podmanSeccomp);
  }
  if (profile === "old" && options.podmanSeccomp) linux.seccomp = oldProfile(options.podmanSeccomp);

  // Masked and read-only paths.
  linux.maskedPaths = [
    ...pick.some(linux.maskedPaths!, 0.8),
    ...pick.some(["/proc/uptime", "/etc/shadow", "/proc/sysrq-trigger", "/etc/group"], 0.25),
  ];
  linux.readonlyPaths = [
    ...pick.some(linux.readonlyPaths!, 0.8),
    ...pick.some(["/etc", "/usr", "/home", "/proc/uptime"], 0.25),
  ];

  // Mounts and the root.
  let mounts = spec.mounts!;
  if (pick.chance(0.2)) mounts = mounts.filter((m) => m.destination !== "/dev/mqueue");
  if (pick.chance(0.2)) mounts = mounts.filter((m) => m.destination !== "/dev/shm");
  if (pick.chance(0.3)) mounts = mounts.filter((m) => m.type !== "cgroup");
  if (pick.chance(0.2) && !dropped.has("network")) {
    const sys = mounts.find((m) => m.destination === "/sys");
    if (sys) sys.options = sys.options!.filter((o) => o !== "ro");
  }
  if (pick.chance(0.4)) {
    const proc = mounts.find((m) => m.destination === "/proc");
    if (proc) proc.options = pick.some(["nosuid", "noexec", "nodev"], 0.6);
  }
  const extra = pick.int(0, 4);
  for (let k = 1; k <= extra; k++) mounts.push(extraMount(pick, k));
  spec.mounts = mounts;
  spec.root!.readonly = pick.chance(0.4);
  if (pick.chance(0.4)) {
    linux.rootfsPropagation = pick.one(["private", "rprivate", "slave", "rslave"]);
  }

  // Resources, visible through the cgroup mount.
  const resources = linux.resources ??= {};
  if (pick.chance(0.3)) resources.pids = { limit: pick.one([16, 100, 4096]) };
  if (pick.chance(0.3)) resources.memory = { limit: pick.one([64, 256, 1024]) * 1024 * 1024 };
  if (pick.chance(0.3)) {
    resources.cpu = pick.chance(0.5)
      ? { shares: pick.one([2, 512, 4096]) }
      : { quota: pick.one([50000, 200000]), period: pick.one([100000, 250000]) };
    if (pick.chance(0.4)) resources.cpu.cpus = pick.one(["0", "0-1", "1"]);
  }

  // Devices.
  const devices = pick.some(DEVICES, 0.2);
  if (devices.length) linux.devices = structuredClone(devices);
  return spec;
}
