/**
 * What every controller's planner shares: the plan's types, the builder the planners add their
 * writes to, and runc's number formats. Each controller's planners sit in their own file here,
 * as runc's fs/ and fs2/ have one file per controller; resources.ts runs them in runc's order.
 */
import { SpecError } from "../../../spec/errors.ts";

/** The JSON path of linux.resources, the prefix of every field a planner names. */
export const R = "linux.resources";

/** One write of a plan. */
export interface Write {
  /**
   * v2: the controller the file belongs to ("memory", "cpu", ..., "cgroup" for core files).
   * v1: the hierarchy to write in ("memory", "cpu", ...), or "unified" for the cgroup2 directory
   * of a hybrid host.
   */
  controller: string;
  file: string;
  value: string;
  /** The linux.resources field this write comes from (for errors). */
  field: string;
  /** On EINVAL, try again once after the rest of the plan (runc's period/quota/burst order). */
  retryOnEinval?: boolean;
  /** A missing file (ENOENT) is skipped: the kernel does not have this knob. */
  optional?: boolean;
  /** Read the value back: the kernel clamps cpu.shares silently and runc reports that. */
  readBack?: boolean;
  /** For writes into a cgroup2 directory: the controller to enable in its parents first. */
  enable?: string;
}

/** A plan: the writes in order, and the warnings for fields that are ignored. */
export interface Plan {
  writes: Write[];
  warnings: string[];
}

/** What the planners need to know about the host. Missing facts are not checked. */
export interface HostFacts {
  /** v2: controllers available to the container (cgroup.controllers of its parent); v1: mounted hierarchies. */
  controllers?: readonly string[];
  /** v1 on a hybrid host: controllers of the cgroup2 mount (empty: nothing can be set there). */
  unifiedControllers?: readonly string[];
  /** Hugepage sizes of the kernel, "2MB" style (detect.ts hugepageSizes()). */
  hugepageSizes?: readonly string[];
  /** v2: io.bfq.weight exists; v1: blkio.bfq.weight replaces blkio.weight (the BFQ scheduler). */
  bfq?: boolean;
  /** v1: blkio.leaf_weight exists (it went with the CFQ scheduler in Linux 5.0). */
  leafWeight?: boolean;
  /** v2: io.bfq.weight accepts per-device weights (kernel 5.4+). */
  bfqDeviceWeight?: boolean;
  /** v1: memory.memsw.* exist (swap accounting is on). */
  swapAccounting?: boolean;
  /** v1: the cgroup's current memory.limit_in_bytes, to order the limit and memsw writes. */
  currentMemoryLimit?: number;
}

/** Options of a plan. */
export interface PlanOptions {
  /** Leave devices alone (runc update does: SkipDevices). */
  skipDevices?: boolean;
}

/** Collects a plan's writes and warnings; need() checks a controller against the host. */
export class PlanBuilder {
  readonly writes: Write[] = [];
  readonly warnings: string[] = [];

  /**
   * @param facts what the host has.
   * @param where where the available controllers come from, for the error of need().
   */
  constructor(readonly facts: HostFacts, readonly where: string) {}

  /** Appends one write. */
  add(
    controller: string,
    file: string,
    value: string,
    field: string,
    extra: Partial<Write> = {},
  ): void {
    this.writes.push({ controller, file, value, field, ...extra });
  }

  /** Checks that `controller` is available; throws naming the field otherwise. */
  need(controller: string, field: string): void {
    const controllers = this.facts.controllers;
    if (controllers && !controllers.includes(controller)) {
      throw new SpecError(
        field,
        `cannot be applied: the ${controller} controller is not available on this host (${this.where}: ${
          controllers.join(" ") || "none"
        })`,
      );
    }
  }

  /** The plan built so far. */
  plan(): Plan {
    return { writes: this.writes, warnings: this.warnings };
  }
}

/** runc fs2 numToStr: 0 -> "" (unset), -1 -> "max", else the number. */
export function v2Number(value: number): string {
  if (value === 0) return "";
  if (value === -1) return "max";
  return decimal(value);
}

/** An integer as decimal text, exact even above 2^53 (JSON numbers are doubles). */
export function decimal(value: number): string {
  return Number.isSafeInteger(value) ? String(value) : BigInt(value).toString();
}
