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
  ambient: number[];
  /** Names the kernel does not know (above cap_last_cap): skipped with a warning, per the spec. */
  unsupported: string[];
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
  const ambient = (caps?.ambient ?? [])
    .map(capabilityNumber)
    .filter((n) => n >= 0 && n <= lastCap);
  return {
    bounding: mask(caps?.bounding),
    effective: mask(caps?.effective),
    permitted: mask(caps?.permitted),
    inheritable: mask(caps?.inheritable),
    ambient,
    unsupported: [...unsupported],
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
