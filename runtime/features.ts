import { OCI_VERSION, SKIFF_VERSION } from "../spec/version.ts";
import { HOOK_KINDS, NAMESPACE_TYPES } from "../spec/kinds.ts";
import { CAPABILITIES } from "../spec/capabilities.ts";
import { MOUNT_OPTION_NAMES } from "./rootfs/mount_option_names.ts";
import { SECCOMP_FEATURES, supportedSeccompFlags } from "./security/seccomp/features.ts";
import { cgroupFeatures } from "./cgroups/features.ts";
import { MPOL_FLAGS, MPOL_MODES } from "../ffi/flag_tables.ts";
import { resctrlMount } from "./intel_rdt.ts";

/**
 * The runtime-spec features document (features.md), built from the code: what the validator
 * accepts, what the mount parser knows, what the seccomp compiler supports and what the kernel
 * accepts of its flags (by its version). It loads no libc: no FFI call (issue 11).
 */
export function features(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: [...HOOK_KINDS],
    mountOptions: [...MOUNT_OPTION_NAMES],
    linux: {
      namespaces: [...NAMESPACE_TYPES],
      capabilities: [...CAPABILITIES],
      cgroup: cgroupFeatures(),
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_FEATURES.actions],
        operators: [...SECCOMP_FEATURES.operators],
        archs: [...SECCOMP_FEATURES.archs],
        knownFlags: [...SECCOMP_FEATURES.knownFlags],
        supportedFlags: supportedSeccompFlags(),
      },
      apparmor: { enabled: true },
      selinux: { enabled: true },
      // runc reports these as what it implements; Skiff reports intelRdt only where it can work,
      // since the spec makes linux.intelRdt an error without a mounted resctrl.
      intelRdt: { enabled: resctrlMount() !== undefined, schemata: true, monitoring: true },
      memoryPolicy: {
        modes: Object.keys(MPOL_MODES).sort(),
        flags: Object.keys(MPOL_FLAGS).sort(),
      },
      mountExtensions: { idmap: { enabled: true } },
      netDevices: { enabled: true },
    },
    annotations: {
      "io.github.skiff.version": SKIFF_VERSION,
      "io.github.skiff.seccomp.compiler": "skiff (no libseccomp)",
    },
    potentiallyUnsafeConfigAnnotations: [],
  };
}
