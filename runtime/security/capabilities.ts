import type { Capabilities } from "../../spec/config.ts";
import { capabilityNumber } from "../../spec/capabilities.ts";
import {
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_CAPBSET_DROP,
} from "../../ffi/constants.ts";
import { capset, prctl } from "../../ffi/process.ts";

/** Capability sets as bit masks, restricted to what the running kernel knows. */
export interface CapabilityMasks {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  /** Only those also in permitted and inheritable: the kernel refuses to raise any other. */
  ambient: number[];
  /**
   * What cannot be granted, skipped: unknown names, names the kernel or the runtime's own bounding
   * set lacks, and ambient capabilities outside permitted or inheritable. config.md: such values MUST be logged as a
   * warning, and SHOULD NOT fail the container (runc 1.1 runs `runc spec`'s ambient set this way).
   */
  warnings: string[];
}

/** Reads the highest capability number the kernel supports. */
export function lastCapability(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim());
  } catch {
    return 40;
  }
}

/**
 * The capabilities this process could grant: its own bounding set (CapBnd in /proc/self/status),
 * which caps every set of a process it execs. Read before pivot_root.
 */
export function grantableCapabilities(): bigint {
  const status = Deno.readTextFileSync("/proc/self/status");
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex === undefined ? -1n : BigInt(`0x${hex}`);
}

/**
 * Turns the spec's capability names into masks (pure). A name that is unknown, above `lastCap`, or
 * outside `grantable` is left out with a warning, as is an ambient capability outside permitted or
 * inheritable (the kernel refuses to raise it).
 */
export function capabilityMasks(
  caps: Capabilities | undefined,
  lastCap: number,
  grantable = -1n,
): CapabilityMasks {
  const warnings = new Set<string>();
  const bits = (names: string[] | undefined): [string, bigint][] => {
    const out: [string, bigint][] = [];
    for (const name of names ?? []) {
      const n = capabilityNumber(name);
      if (n < 0) warnings.add(`capability ${name} is not known: ignored`);
      else if (n > lastCap) {
        warnings.add(`capability ${name} is not supported by the kernel: ignored`);
      } else if ((grantable & (1n << BigInt(n))) === 0n) {
        warnings.add(`capability ${name} is not in the runtime's bounding set: ignored`);
      } else out.push([name, 1n << BigInt(n)]);
    }
    return out;
  };
  const mask = (names: string[] | undefined): bigint =>
    bits(names).reduce((acc, [, bit]) => acc | bit, 0n);
  const permitted = mask(caps?.permitted);
  const inheritable = mask(caps?.inheritable);
  const ambient: number[] = [];
  for (const [name, bit] of bits(caps?.ambient)) {
    if ((permitted & bit) !== 0n && (inheritable & bit) !== 0n) {
      ambient.push(capabilityNumber(name));
    } else {
      warnings.add(
        `ambient capability ${name} is not raised: it is not in both permitted and inheritable`,
      );
    }
  }
  return {
    bounding: mask(caps?.bounding),
    effective: mask(caps?.effective),
    permitted,
    inheritable,
    ambient,
    warnings: [...warnings],
  };
}

/** Drops every capability outside `masks.bounding` from the bounding set (needs CAP_SETPCAP). */
export function dropBoundingSet(masks: CapabilityMasks, lastCap: number): void {
  for (let cap = 0; cap <= lastCap; cap++) {
    if ((masks.bounding & (1n << BigInt(cap))) === 0n) prctl(PR_CAPBSET_DROP, cap);
  }
}

/** Sets effective/permitted/inheritable with capset(2), then raises the ambient set. */
export function applyCapabilities(masks: CapabilityMasks): void {
  capset({
    effective: masks.effective,
    permitted: masks.permitted,
    inheritable: masks.inheritable,
  });
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
  for (const cap of masks.ambient) {
    try {
      prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap);
    } catch (err) {
      throw new Error(
        `cannot raise ambient capability ${cap}: it must be in permitted and inheritable`,
        { cause: err },
      );
    }
  }
}
