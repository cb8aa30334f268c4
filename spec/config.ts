/**
 * Types of config.json, mirroring the OCI runtime specification v1.3.0 (config.md,
 * config-linux.md). Field names are the JSON names, verbatim.
 */

/** The root of config.json. */
export interface Spec {
  /** The version of the runtime specification the config follows, e.g. "1.2.0". */
  ociVersion: string;
  /** The container's process: what `start` runs. */
  process?: Process;
  /** The container's root filesystem. */
  root?: Root;
  /** The container's hostname, set in its UTS namespace. */
  hostname?: string;
  /** The container's NIS domain name, set in its UTS namespace. */
  domainname?: string;
  /** Mounts made in the container, in order, on top of the root filesystem. */
  mounts?: Mount[];
  /** Programs run at points of the container's lifecycle. */
  hooks?: Hooks;
  /** Arbitrary key-value metadata; reported in the container's state. */
  annotations?: Record<string, string>;
  /** The Linux-specific configuration. */
  linux?: Linux;
}

/** root: the container's root filesystem. */
export interface Root {
  /** The root filesystem's directory: absolute, or relative to the bundle. */
  path: string;
  /** When true, the root filesystem is mounted read-only. */
  readonly?: boolean;
}

/** One entry of mounts: a filesystem mounted into the container. */
export interface Mount {
  /** The mount point inside the container: an absolute path. */
  destination: string;
  /** What to mount: a device, a directory for bind mounts, or a name such as "proc". */
  source?: string;
  /** The filesystem type, as mount(2) takes it ("proc", "tmpfs", "bind", ...). */
  type?: string;
  /** mount(8)-style options: flags ("ro", "nosuid", "rbind", ...) and filesystem data. */
  options?: string[];
  /** User ID mappings of an ID-mapped mount (mount_setattr(2) with MOUNT_ATTR_IDMAP). */
  uidMappings?: IdMapping[];
  /** Group ID mappings of an ID-mapped mount. */
  gidMappings?: IdMapping[];
}

/** process: the program the container runs, and its environment and limits. */
export interface Process {
  /** When true, the process gets a pseudo-terminal as its stdio (see --console-socket). */
  terminal?: boolean;
  /** The terminal's size in characters, when terminal is true. */
  consoleSize?: { height: number; width: number };
  /** The user and groups the process runs as. */
  user: User;
  /** The program and its arguments, as execve(2) takes them; args[0] is the program. */
  args?: string[];
  /** The whole command line (Windows only); Skiff uses args. */
  commandLine?: string;
  /** The environment, as "KEY=value" strings. */
  env?: string[];
  /** The working directory inside the container: an absolute path. */
  cwd: string;
  /** The process's capability sets. */
  capabilities?: Capabilities;
  /** Resource limits set with setrlimit(2). */
  rlimits?: Rlimit[];
  /** When true, sets PR_SET_NO_NEW_PRIVS so that execve(2) cannot gain privileges. */
  noNewPrivileges?: boolean;
  /** The AppArmor profile the process runs under. */
  apparmorProfile?: string;
  /** The process's OOM killer score adjustment (/proc/PID/oom_score_adj), -1000 to 1000. */
  oomScoreAdj?: number;
  /** The SELinux label the process runs with. */
  selinuxLabel?: string;
  /** The scheduling policy and attributes set with sched_setattr(2). */
  scheduler?: Scheduler;
  /**
   * The I/O scheduling class ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE" or "IOPRIO_CLASS_IDLE") and
   * level (0 to 7, lower first), set with ioprio_set(2).
   */
  ioPriority?: { class: string; priority?: number };
  /**
   * CPU lists ("0-3,7") an exec'd process runs on: `initial` before it joins the container's
   * cgroup, `final` after.
   */
  execCPUAffinity?: { initial?: string; final?: string };
}

/** process.scheduler: the attributes of sched_setattr(2). */
export interface Scheduler {
  /** The policy: SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE or SCHED_DEADLINE. */
  policy: string;
  /** The nice value (-20 to 19) for SCHED_OTHER and SCHED_BATCH. */
  nice?: number;
  /** The static priority (1 to 99) for SCHED_FIFO and SCHED_RR. */
  priority?: number;
  /** SCHED_FLAG_* names, e.g. "SCHED_FLAG_RESET_ON_FORK". */
  flags?: string[];
  /** SCHED_DEADLINE runtime, in nanoseconds. */
  runtime?: number;
  /** SCHED_DEADLINE deadline, in nanoseconds. */
  deadline?: number;
  /** SCHED_DEADLINE period, in nanoseconds. */
  period?: number;
}

/** process.user: the identity the process runs as. */
export interface User {
  /** The user ID, in the container's user namespace. */
  uid: number;
  /** The primary group ID, in the container's user namespace. */
  gid: number;
  /** The file mode creation mask, as umask(2) takes it (e.g. 0o022). */
  umask?: number;
  /** Supplementary group IDs, set with setgroups(2). */
  additionalGids?: number[];
  /** The user name (Windows only); ignored on Linux. */
  username?: string;
}

/** process.capabilities: capability names ("CAP_NET_ADMIN", ...) in each set. */
export interface Capabilities {
  /** The bounding set: the limit on the capabilities the process can ever gain. */
  bounding?: string[];
  /** The effective set: the capabilities the kernel checks. */
  effective?: string[];
  /** The inheritable set: kept across execve(2) of a program that has them in its file set. */
  inheritable?: string[];
  /** The permitted set: the capabilities the process may make effective. */
  permitted?: string[];
  /** The ambient set: capabilities kept across execve(2) of any unprivileged program. */
  ambient?: string[];
}

/** One entry of process.rlimits. */
export interface Rlimit {
  /** The resource: an RLIMIT_* name such as "RLIMIT_NOFILE". */
  type: string;
  /** The soft limit, the one the kernel enforces (units of the resource). */
  soft: number;
  /** The hard limit: the ceiling for the soft limit. */
  hard: number;
}

/** One hook: a program run on the host, with the container's state on its stdin. */
export interface Hook {
  /** The program to run: an absolute path in the runtime's namespace. */
  path: string;
  /** Its arguments, args[0] included, as execve(2) takes them. */
  args?: string[];
  /** Its environment, as "KEY=value" strings. */
  env?: string[];
  /** Seconds after which the hook is killed and counted as failed. */
  timeout?: number;
}

/** hooks: the programs run at each point of the lifecycle, in order. */
export interface Hooks {
  /** Deprecated: run during create before pivot_root, in the runtime's namespace. */
  prestart?: Hook[];
  /** Run during create after the namespaces are made, in the runtime's namespace. */
  createRuntime?: Hook[];
  /** Run during create in the container's mount namespace, before pivot_root. */
  createContainer?: Hook[];
  /** Run during start in the container, just before the process is executed. */
  startContainer?: Hook[];
  /** Run during start after the process has started, in the runtime's namespace. */
  poststart?: Hook[];
  /** Run during delete, after the container is gone, in the runtime's namespace. */
  poststop?: Hook[];
}

/** The kinds of Linux namespace the config can ask for. */
export type NamespaceType =
  | "pid"
  | "network"
  | "mount"
  | "ipc"
  | "uts"
  | "user"
  | "cgroup"
  | "time";

/** One entry of linux.namespaces. */
export interface Namespace {
  /** The kind of namespace. */
  type: NamespaceType;
  /** A namespace file (/proc/PID/ns/net or a bind mount of one) to join; else a new one is made. */
  path?: string;
}

/** A range of user or group IDs mapped between the container and the host. */
export interface IdMapping {
  /** The first ID in the container. */
  containerID: number;
  /** The first ID on the host that containerID maps to. */
  hostID: number;
  /** How many consecutive IDs the range holds. */
  size: number;
}

/** One entry of linux.devices: a device node made in the container's /dev. */
export interface Device {
  /** "c" (character), "b" (block), "u" (unbuffered character) or "p" (FIFO). */
  type: "c" | "b" | "u" | "p";
  /** The device file's path in the container. */
  path: string;
  /** The device's major number (not for "p"). */
  major?: number;
  /** The device's minor number (not for "p"). */
  minor?: number;
  /** The file's permission bits, e.g. 0o666. */
  fileMode?: number;
  /** The file's owner, in the container. */
  uid?: number;
  /** The file's group, in the container. */
  gid?: number;
}

/** One entry of linux.resources.devices: a device cgroup allow or deny rule. */
export interface DeviceCgroupRule {
  /** True to allow the access, false to deny it. */
  allow: boolean;
  /** "a" (all), "c" (character) or "b" (block); all when unset. */
  type?: string;
  /** The major number; any when unset. */
  major?: number;
  /** The minor number; any when unset. */
  minor?: number;
  /** Any of "r" (read), "w" (write) and "m" (mknod), e.g. "rwm". */
  access?: string;
}

/** linux.resources.memory: memory cgroup limits, in bytes (-1 means unlimited). */
export interface MemoryResources {
  /** The memory usage limit, in bytes. */
  limit?: number;
  /** The soft limit (memory.low on cgroup v2), in bytes. */
  reservation?: number;
  /** The memory plus swap limit, in bytes. */
  swap?: number;
  /** Deprecated: the kernel memory limit (cgroup v1 only), in bytes. */
  kernel?: number;
  /** Deprecated: the kernel TCP buffer memory limit (cgroup v1 only), in bytes. */
  kernelTCP?: number;
  /** How eagerly the kernel swaps this cgroup's pages, 0 to 100 (cgroup v1 only). */
  swappiness?: number;
  /** When true, the OOM killer is disabled for the cgroup (cgroup v1 only). */
  disableOOMKiller?: boolean;
  /** Deprecated: enables hierarchical accounting (cgroup v1 only). */
  useHierarchy?: boolean;
  /** When true, update refuses a limit below the cgroup's current usage. */
  checkBeforeUpdate?: boolean;
}

/** linux.resources.cpu: CPU cgroup settings. */
export interface CpuResources {
  /** The relative CPU weight (cpu.shares; converted to cpu.weight on cgroup v2). */
  shares?: number;
  /** The CPU time the cgroup may use in each period, in microseconds (-1: no limit). */
  quota?: number;
  /** CPU time that unused quota may add in a period, in microseconds. */
  burst?: number;
  /** The length of the CFS period, in microseconds. */
  period?: number;
  /** Realtime CPU time the cgroup may use in each realtime period, in microseconds. */
  realtimeRuntime?: number;
  /** The length of the realtime period, in microseconds. */
  realtimePeriod?: number;
  /** The CPUs the container may run on, as a list such as "0-3,7". */
  cpus?: string;
  /** The memory nodes the container may use, as a list such as "0-1". */
  mems?: string;
  /** 1 to give the cgroup the SCHED_IDLE policy, 0 for normal scheduling. */
  idle?: number;
}

/** A per-device blkio weight. */
export interface WeightDevice {
  /** The device's major number. */
  major: number;
  /** The device's minor number. */
  minor: number;
  /** The device's relative weight, 10 to 1000. */
  weight?: number;
  /** The weight for this cgroup's own tasks against its children (cgroup v1 only). */
  leafWeight?: number;
}

/** A per-device blkio rate limit. */
export interface ThrottleDevice {
  /** The device's major number. */
  major: number;
  /** The device's minor number. */
  minor: number;
  /** The limit: bytes per second or I/O operations per second, by the list it is in. */
  rate: number;
}

/** linux.resources.blockIO: block I/O cgroup weights and limits. */
export interface BlockIoResources {
  /** The cgroup's relative I/O weight, 10 to 1000. */
  weight?: number;
  /** The weight of the cgroup's own tasks against its children, 10 to 1000 (cgroup v1 only). */
  leafWeight?: number;
  /** Per-device weights. */
  weightDevice?: WeightDevice[];
  /** Per-device read limits, in bytes per second. */
  throttleReadBpsDevice?: ThrottleDevice[];
  /** Per-device write limits, in bytes per second. */
  throttleWriteBpsDevice?: ThrottleDevice[];
  /** Per-device read limits, in I/O operations per second. */
  throttleReadIOPSDevice?: ThrottleDevice[];
  /** Per-device write limits, in I/O operations per second. */
  throttleWriteIOPSDevice?: ThrottleDevice[];
}

/** One entry of linux.resources.hugepageLimits. */
export interface HugepageLimit {
  /** The huge page size, as the hugetlb controller names it: "2MB", "1GB", ... */
  pageSize: string;
  /** The usage limit for pages of that size, in bytes. */
  limit: number;
}

/** linux.resources: the container's cgroup limits; also what Container.update() takes. */
export interface Resources {
  /** Device cgroup allow and deny rules, applied in the order listed. */
  devices?: DeviceCgroupRule[];
  /** Memory limits. */
  memory?: MemoryResources;
  /** CPU weight, quota and placement. */
  cpu?: CpuResources;
  /** The maximum number of processes (pids.max); 0 or less means unlimited. */
  pids?: { limit?: number };
  /** Block I/O weights and limits. */
  blockIO?: BlockIoResources;
  /** Huge page limits, per page size. */
  hugepageLimits?: HugepageLimit[];
  /** The net_cls class ID and per-interface net_prio priorities (cgroup v1 only). */
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  /** RDMA limits per device name: handle and object counts. */
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  /** cgroup v2 files to write, by name ("memory.high"), and their values. */
  unified?: Record<string, string>;
}

/** What a seccomp rule does: kill, trap, return an errno, trace, allow, log or notify. */
export type SeccompAction =
  | "SCMP_ACT_KILL"
  | "SCMP_ACT_KILL_PROCESS"
  | "SCMP_ACT_KILL_THREAD"
  | "SCMP_ACT_TRAP"
  | "SCMP_ACT_ERRNO"
  | "SCMP_ACT_TRACE"
  | "SCMP_ACT_ALLOW"
  | "SCMP_ACT_LOG"
  | "SCMP_ACT_NOTIFY";

/** How a seccomp argument condition compares the argument with its value. */
export type SeccompOperator =
  | "SCMP_CMP_NE"
  | "SCMP_CMP_LT"
  | "SCMP_CMP_LE"
  | "SCMP_CMP_EQ"
  | "SCMP_CMP_GE"
  | "SCMP_CMP_GT"
  | "SCMP_CMP_MASKED_EQ";

/** A condition on one system call argument. */
export interface SeccompArg {
  /** The argument's position, 0 to 5. */
  index: number;
  /** The value compared with the argument (the mask, for SCMP_CMP_MASKED_EQ). */
  value: number;
  /** The second value: what the masked argument must equal, for SCMP_CMP_MASKED_EQ. */
  valueTwo?: number;
  /** The comparison. */
  op: SeccompOperator;
}

/** One entry of linux.seccomp.syscalls: an action for the named system calls. */
export interface SeccompSyscall {
  /** The system call names the rule applies to. */
  names: string[];
  /** What happens when one of them is called and the args match. */
  action: SeccompAction;
  /** The errno returned for SCMP_ACT_ERRNO (EPERM when unset), or the value for SCMP_ACT_TRACE. */
  errnoRet?: number;
  /** Conditions on the arguments; all must hold for the rule to match. */
  args?: SeccompArg[];
}

/** linux.seccomp: the system call filter the process runs under. */
export interface Seccomp {
  /** The action for system calls no rule matches. */
  defaultAction: SeccompAction;
  /** The errno returned when defaultAction is SCMP_ACT_ERRNO. */
  defaultErrnoRet?: number;
  /** The architectures the filter accepts, e.g. "SCMP_ARCH_X86_64". */
  architectures?: string[];
  /** seccomp(2) flags, e.g. "SECCOMP_FILTER_FLAG_LOG". */
  flags?: string[];
  /** A UNIX socket to which the notify fd of SCMP_ACT_NOTIFY is sent. */
  listenerPath?: string;
  /** Opaque data sent to the listener with the notify fd. */
  listenerMetadata?: string;
  /** The rules, matched against each system call. */
  syscalls?: SeccompSyscall[];
}

/** linux: the Linux-specific configuration. */
export interface Linux {
  /** The namespaces the container joins or gets new. */
  namespaces?: Namespace[];
  /** User ID mappings of a new user namespace. */
  uidMappings?: IdMapping[];
  /** Group ID mappings of a new user namespace. */
  gidMappings?: IdMapping[];
  /** Offsets of a new time namespace's clocks ("monotonic", "boottime"): seconds + nanoseconds. */
  timeOffsets?: Record<string, { secs?: number; nanosecs?: number }>;
  /** Device nodes made in the container. */
  devices?: Device[];
  /** The container's cgroup: a path, or "slice:prefix:name" with the systemd driver. */
  cgroupsPath?: string;
  /** The container's cgroup limits. */
  resources?: Resources;
  /** The root mount's propagation: "private", "slave", "shared", "unbindable" or r-prefixed. */
  rootfsPropagation?: string;
  /** The system call filter. */
  seccomp?: Seccomp;
  /** Kernel parameters set in the container, by name ("net.ipv4.ip_forward"). */
  sysctl?: Record<string, string>;
  /** Paths in the container made unreadable (an empty file or tmpfs mounted over them). */
  maskedPaths?: string[];
  /** Paths in the container remounted read-only. */
  readonlyPaths?: string[];
  /** The SELinux context for the container's mounts. */
  mountLabel?: string;
  /** The execution domain ("LINUX", "LINUX32") and flags, set with personality(2). */
  personality?: { domain: string; flags?: string[] };
  /** The Intel RDT (resctrl) cache and memory bandwidth allocation. */
  intelRdt?: IntelRdt;
  /** The NUMA memory policy for set_mempolicy(2): an MPOL_* mode, node list and MPOL_F_* flags. */
  memoryPolicy?: { mode: string; nodes?: string; flags?: string[] };
  /** Host network devices moved into the container's network namespace; `name` renames one. */
  netDevices?: Record<string, { name?: string }>;
}

/** linux.intelRdt: the container's resctrl group. */
export interface IntelRdt {
  /** The resctrl group (class of service) to use; one named after the container when unset. */
  closID?: string;
  /** An L3 cache allocation line for the group's schemata, e.g. "L3:0=ff". */
  l3CacheSchema?: string;
  /** A memory bandwidth allocation line for the group's schemata, e.g. "MB:0=70". */
  memBwSchema?: string;
  /** More lines written to the group's schemata file, in order. */
  schemata?: string[];
  /** When true, a monitoring group is made for the container. */
  enableMonitoring?: boolean;
}
