/** linux.resources.unified: raw cgroup v2 files (runc fs2.go setUnified). */
import { show, SpecError } from "../../../spec/errors.ts";
import { type Json, NULL_IS_UNSET, optObject } from "../../../spec/json.ts";
import { type PlanBuilder, R, type Write } from "./plan.ts";

/** Keys of linux.resources.unified that would move or kill processes, or are read-only. */
const UNIFIED_FORBIDDEN = new Set([
  "cgroup.procs",
  "cgroup.threads",
  "cgroup.kill",
  "cgroup.events",
  "cgroup.controllers",
  "cgroup.stat",
]);

/** Checks one linux.resources.unified key: a plain "controller.knob" file name. */
function unifiedKey(key: string, field: string): string {
  if (key.includes("/") || key.includes("\0") || key === "." || key === "..") {
    throw new SpecError(
      field,
      `the key must be a plain file name (no "/" or ".."), got ${show(key)}`,
    );
  }
  const dot = key.indexOf(".");
  if (dot <= 0 || dot === key.length - 1) {
    throw new SpecError(field, `the key must have the form CONTROLLER.PARAMETER, got ${show(key)}`);
  }
  if (UNIFIED_FORBIDDEN.has(key)) {
    throw new SpecError(field, `${JSON.stringify(key)} cannot be set through unified`);
  }
  return key.slice(0, dot);
}

/** The writes of linux.resources.unified (one per line, as runc's WriteFileByLine). */
function unifiedWrites(
  unified: unknown,
  available: readonly string[] | undefined,
  controllerOf: (c: string) => { controller: string; enable?: string },
  where: string,
): Write[] {
  const map = optObject(unified, `${R}.unified`, NULL_IS_UNSET);
  if (!map) return [];
  const out: Write[] = [];
  for (const [key, value] of Object.entries(map)) {
    const field = `${R}.unified[${JSON.stringify(key)}]`;
    const controller = unifiedKey(key, field);
    if (typeof value !== "string") {
      throw new SpecError(field, `must be a string, got ${show(value)}`);
    }
    if (controller !== "cgroup" && available && !available.includes(controller)) {
      throw new SpecError(
        field,
        `controller ${JSON.stringify(controller)} is not available (${where}: ${
          available.join(" ") || "none"
        })`,
      );
    }
    const target = controllerOf(controller);
    const lines = value.split("\n").filter((line) => line !== "");
    for (const line of lines.length ? lines : [""]) {
      out.push({ ...target, file: key, value: line, field });
    }
  }
  return out;
}

/** The unified writes on cgroup v2: last, so that they can override anything before. */
export function planUnifiedV2(res: Json, p: PlanBuilder): void {
  p.writes.push(
    ...unifiedWrites(res.unified, p.facts.controllers, (c) => ({ controller: c }), p.where),
  );
}

/** The unified writes on cgroup v1: only the cgroup2 mount of a hybrid host can take them (runc refuses them on v1). */
export function planUnifiedV1(res: Json, p: PlanBuilder): void {
  if (res.unified !== undefined && res.unified !== null) {
    const entries = Object.keys(optObject(res.unified, `${R}.unified`, NULL_IS_UNSET) ?? {});
    if (entries.length > 0) {
      if (!p.facts.unifiedControllers) {
        throw new SpecError(
          `${R}.unified`,
          "cannot be applied: this host has only cgroup v1 hierarchies (no cgroup2 mount)",
        );
      }
      p.writes.push(
        ...unifiedWrites(
          res.unified,
          p.facts.unifiedControllers,
          (c) => c === "cgroup" ? { controller: "unified" } : { controller: "unified", enable: c },
          "controllers of the hybrid cgroup2 mount",
        ),
      );
    }
  }
}
