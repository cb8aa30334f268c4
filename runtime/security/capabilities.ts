import type { Capabilities } from "../../spec/config.ts";
import { capabilityNumber } from "../../spec/capabilities.ts";
import {
  capset,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_CAPBSET_DROP,
  prctl,
} from "../../ffi/mod.ts";

/** Capability sets as bit masks, restricted to what the running kernel knows. */
export interface CapabilityMasks {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  /** Only those also in permitted and inheritable: the kernel refuses to raise any other. */
  ambient: number[];
  /**
   * What cannot be granted, skipped: names the kernel does not know (above cap_last_cap) and ambient
   * capabilities outside permitted or inheritable. config.md: such values MUST be logged as a
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

/** Turns the spec's capability names into masks (pure). */
export function capabilityMasks(caps: Capabilities | undefined, lastCap: number): CapabilityMasks {
  const unsupported = new Set<string>();
  const mask = (names: string[] | undefined): bigint => {
    let out = 0n;
    for (const name of names ?? []) {
      const n = capabilityNumber(name);
      if (n < 0 || n > lastCap) {
        unsupported.add(name);
        continue;
      }
      out |= 1n << BigInt(n);
    }
    return out;
  };
  const permitted = mask(caps?.permitted);
  const inheritable = mask(caps?.inheritable);
  const ambient: number[] = [];
  const notRaised: string[] = [];
  for (const name of caps?.ambient ?? []) {
    const n = capabilityNumber(name);
    if (n < 0 || n > lastCap) {
      unsupported.add(name);
      continue;
    }
    const bit = 1n << BigInt(n);
    if ((permitted & bit) !== 0n && (inheritable & bit) !== 0n) ambient.push(n);
    else notRaised.push(name);
  }
  return {
    bounding: mask(caps?.bounding),
    effective: mask(caps?.effective),
    permitted,
    inheritable,
    ambient,
    warnings: [
      ...[...unsupported].map((name) => `capability ${name} is not supported by the kernel`),
      ...notRaised.map((name) =>
        `ambient capability ${name} is not raised: it is not in both permitted and inheritable`
      ),
    ],
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
