/**
 * What the OCI runtime-tools validation suite (../shared/conformance, upstream 260e151) still
 * reports as failing under Skiff on this kind of host, program by program, each with its reason.
 * runtime_tools_test.ts fails when a program fails anything not listed here, and also when a
 * listed failure stops happening, so that this list (and docs/conformance.md) stays true.
 *
 * An entry is the text of a top-level "not ok" line without its number, or, for a program that
 * ends without a failing assertion of its own, the runner's note in parentheses (run.sh -h).
 *
 * Classes: "suite" = the test itself is wrong or outdated against runtime-spec 1.3 and fails under
 * runc too; "host" = this host lacks what the test needs (runc fails it too); "choice" = Skiff follows runc where the suite follows the spec.
 */
export interface ExpectedFailure {
  failing: string[];
  /** A race in the test: it may also pass, so only a failure outside `failing` counts. */
  racy?: boolean;
  kind: "suite" | "host" | "choice";
  why: string;
}

const KMEM = "memory kernel is set correctly";
const KMEM_WHY =
  "memory.kmem.limit_in_bytes is a no-op since kernel 6.1: the write succeeds, the file keeps its " +
  "maximum (runc fails the same rows, and kernelTCP too)";
const BLKIO_WHY =
  "blkio.leaf_weight went with CFQ in kernel 5.0 and the test wants a /dev/sda; the suite's cgroup " +
  "reader refuses cgroup v2 ('cgroupv2 is not supported yet'), so no host here can pass it";
const NET_WHY =
  "no net_cls/net_prio hierarchy on this host, and cgroup v2 has none: Skiff refuses " +
  "linux.resources.network as the spec requires";
const HUGETLB_WHY =
  "hugetlb is only on this hybrid host's cgroup2 mount, where Skiff sets it; the suite looks for " +
  "a v1 hugetlb hierarchy only (runc fails at create)";

/** How many huge page sizes this host offers (/sys/kernel/mm/hugepages/hugepages-*). */
function hugePageSizes(): number {
  try {
    return [...Deno.readDirSync("/sys/kernel/mm/hugepages")].length;
  } catch {
    return 0;
  }
}

export const EXPECTED_FAILURES: Record<string, ExpectedFailure> = {
  delete: {
    failing: [
      "attempting to `delete` a container that is not `stopped` MUST generate an error",
      "attempting to `delete` a container that is not `stopped` MUST have no effect on the container",
    ],
    kind: "choice",
    why: "delete of a created container kills and removes it, as runc does and engines rely on " +
      "(runtime.md says it must fail)",
  },
  hooks: {
    failing: ["(error-diagnostic)"],
    kind: "suite",
    why: "hooks.go compares 'post-start1' with what the hooks write ('post-start1 called'): " +
      "no runtime can pass",
  },
  hooks_stdin: {
    failing: ['the state of the container MUST be passed to "prestart" hook over stdin'],
    kind: "suite",
    why: "the test wants status 'created' in prestart's state; prestart runs during create, so " +
      "Skiff and runc send 'creating'",
  },
  linux_cgroups_blkio: { failing: ["(exit-nonzero)"], kind: "host", why: BLKIO_WHY },
  linux_cgroups_relative_blkio: { failing: ["exit status 1"], kind: "host", why: BLKIO_WHY },
  linux_cgroups_hugetlb: { failing: ["(exit-nonzero)"], kind: "host", why: HUGETLB_WHY },
  linux_cgroups_relative_hugetlb: {
    // One row per huge page size the host has (2 MiB only on some machines, also 1 GiB on others).
    failing: Array(hugePageSizes()).fill("get hugetlb cgroup data"),
    kind: "host",
    why: HUGETLB_WHY,
  },
  linux_cgroups_memory: { failing: Array(6).fill(KMEM), kind: "host", why: KMEM_WHY },
  linux_cgroups_relative_memory: { failing: [KMEM], kind: "host", why: KMEM_WHY },
  linux_cgroups_network: { failing: ["(exit-nonzero)"], kind: "host", why: NET_WHY },
  linux_cgroups_relative_network: { failing: ["exit status 1"], kind: "host", why: NET_WHY },
  linux_mount_label: {
    failing: ["(no-tap)"],
    kind: "host",
    why: "SELinux is off: Skiff refuses linux.mountLabel clearly",
  },
  linux_process_apparmor_profile: {
    failing: ["(no-tap)"],
    kind: "host",
    why: "AppArmor is off (and the test needs a loaded 'acme_secure_profile'): Skiff refuses " +
      "process.apparmorProfile clearly",
  },
  misc_props: {
    failing: [
      "implementations that are reading/processing this configuration file MUST NOT generate an error if they encounter an unknown annotation key",
    ],
    kind: "suite",
    why: "the bundle's process is /runtimetest, which the test never copies into it",
  },
  pidfile: {
    failing: ["create with '--pid-file' option works"],
    kind: "suite",
    why: "the process is `true`; the test then kills the stopped container, which runtime.md " +
      "requires to fail",
  },
  poststart: {
    failing: ["(error-diagnostic)"],
    racy: true,
    kind: "suite",
    why: "the hook and the container process append to one file at the same time: the order " +
      "checked is a race",
  },
  poststart_fail: {
    failing: ["(error-diagnostic)"],
    kind: "suite",
    why: "the test wants a failed poststart hook to be only a warning; Skiff, like runc, stops " +
      "the container and fails start",
  },
  prestart: {
    failing: ["(error-diagnostic)"],
    kind: "suite",
    why: "the test wants prestart after `start` (pre-1.0 wording); since 1.0 it runs during create",
  },
  process_capabilities: {
    failing: ["bounding", "effective", "inheritable", "permitted", "ambient"].map((set) =>
      `expected ${set} capability CAP_SYS_RESOURCE set`
    ),
    kind: "host",
    why: "the config asks for every capability; root here lacks CAP_SYS_RESOURCE, which Skiff " +
      "leaves out with a warning (config.md); runc fails create",
  },
  process_capabilities_fail: {
    failing: ["(exit-nonzero)"],
    kind: "suite",
    why: "the test wants an unknown capability to fail create (spec 1.0); config.md now says " +
      "warn and go on, as runc and Skiff do",
  },
  process_rlimits: {
    failing: ["has expected soft RLIMIT_NOFILE"],
    kind: "suite",
    why: "runtimetest (Go >= 1.19) raises its own soft RLIMIT_NOFILE to the hard limit before it " +
      "checks",
  },
  start: {
    failing: ["exit status 1"],
    kind: "suite",
    why: "the last check is inverted: it fails when the container's output matches",
  },
};
