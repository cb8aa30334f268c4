/** memory (runc fs/memory.go, fs2/memory.go). */
import { show, SpecError } from "../../../spec/errors.ts";
import { type Json, NULL_IS_UNSET, optInteger, optObject } from "../../../spec/json.ts";
import { decimal, type PlanBuilder, R, v2Number, type Write } from "./plan.ts";

/**
 * memory.swap (memory+swap, v1 style) -> memory.swap.max (swap only): swap - limit, with runc's
 * special cases: -1 means unlimited, 0 means unset, and limit -1 with swap unset means both
 * unlimited. Throws a plain Error with runc's message; planV2 names the field.
 */
export function memorySwapToV2(swap: number, limit: number): number {
  if (limit === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (limit === -1) return swap;
  if (limit === 0) throw new Error("unable to set swap limit without memory limit");
  if (limit < 0) throw new Error(`invalid memory value: ${limit}`);
  if (swap < limit) throw new Error("memory+swap limit should be >= memory limit");
  return swap - limit;
}

/** The cgroup v2 memory writes (memory.max, memory.swap.max, memory.low). */
export function planMemoryV2(res: Json, p: PlanBuilder): void {
  const memory = optObject(res.memory, `${R}.memory`, NULL_IS_UNSET);
  if (memory) {
    const limit = optInteger(memory.limit, `${R}.memory.limit`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const swapIn = optInteger(memory.swap, `${R}.memory.swap`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const reservation =
      optInteger(memory.reservation, `${R}.memory.reservation`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    if (limit !== 0 || swapIn !== 0 || reservation !== 0) {
      p.need("memory", `${R}.memory`);
      let swap: number;
      try {
        swap = memorySwapToV2(swapIn, limit);
      } catch (err) {
        throw new SpecError(`${R}.memory.swap`, (err as Error).message);
      }
      let swapText = v2Number(swap);
      // memory and swap set to the same value: no swap at all.
      if (swapText === "" && swap === 0 && swapIn > 0) swapText = "0";
      if (swapText !== "") {
        // Without swap accounting there is no memory.swap.max: "max" and "0" are then no-ops.
        p.add("memory", "memory.swap.max", swapText, `${R}.memory.swap`, {
          optional: swapText === "max" || swapText === "0",
        });
      }
      if (limit !== 0) p.add("memory", "memory.max", v2Number(limit), `${R}.memory.limit`);
      if (reservation !== 0) {
        p.add("memory", "memory.low", v2Number(reservation), `${R}.memory.reservation`);
      }
    }
    warnIgnored(memory, p.warnings, "v2");
  }
}

/** The cgroup v1 memory writes, limit and memsw in the order the kernel accepts. */
export function planMemoryV1(res: Json, p: PlanBuilder): void {
  const memory = optObject(res.memory, `${R}.memory`, NULL_IS_UNSET);
  if (memory) {
    const m = `${R}.memory`;
    const limit = optInteger(memory.limit, `${m}.limit`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    let swap = optInteger(memory.swap, `${m}.swap`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const reservation =
      optInteger(memory.reservation, `${m}.reservation`, -1, Infinity, NULL_IS_UNSET) ?? 0;
    const swappiness = optInteger(
      memory.swappiness,
      `${m}.swappiness`,
      -1,
      Infinity,
      NULL_IS_UNSET,
    );
    const kernel = optInteger(memory.kernel, `${m}.kernel`, -1, Infinity, NULL_IS_UNSET);
    const kernelTCP = optInteger(memory.kernelTCP, `${m}.kernelTCP`, -1, Infinity, NULL_IS_UNSET);
    const anything = limit !== 0 || swap !== 0 || reservation !== 0 ||
      memory.disableOOMKiller === true || (swappiness !== undefined && swappiness !== -1) ||
      kernel !== undefined || kernelTCP !== undefined;
    if (anything) p.need("memory", m);
    // Unlimited memory with swap unset: unlimited swap too (when the kernel accounts swap).
    if (limit === -1 && swap === 0 && p.facts.swapAccounting !== false) swap = -1;
    if (swap !== 0 && p.facts.swapAccounting === false) {
      throw new SpecError(
        `${m}.swap`,
        "cannot be applied: swap accounting is off on this host (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
      );
    }
    const limitWrite: Write = {
      controller: "memory",
      file: "memory.limit_in_bytes",
      value: decimal(limit),
      field: `${m}.limit`,
    };
    const swapWrite: Write = {
      controller: "memory",
      file: "memory.memsw.limit_in_bytes",
      value: decimal(swap),
      field: `${m}.swap`,
    };
    if (limit !== 0 && swap !== 0) {
      if (swap !== -1 && limit !== -1 && swap < limit) {
        throw new SpecError(
          `${m}.swap`,
          `memory+swap limit ${swap} should be >= memory limit ${limit}`,
        );
      }
      // The kernel wants limit <= memsw at every step: raise memsw first when it grows.
      const current = p.facts.currentMemoryLimit ?? Number.MAX_SAFE_INTEGER;
      if (swap === -1 || current < swap) p.writes.push(swapWrite, limitWrite);
      else p.writes.push(limitWrite, swapWrite);
    } else if (limit !== 0) {
      p.writes.push(limitWrite);
    } else if (swap !== 0) {
      p.writes.push(swapWrite);
    }
    if (reservation !== 0) {
      p.add("memory", "memory.soft_limit_in_bytes", decimal(reservation), `${m}.reservation`);
    }
    if (memory.disableOOMKiller === true) {
      p.add("memory", "memory.oom_control", "1", `${m}.disableOOMKiller`);
    }
    if (swappiness !== undefined && swappiness !== -1) {
      if (swappiness > 100) {
        throw new SpecError(`${m}.swappiness`, `must be 0..100, got ${swappiness}`);
      }
      p.add("memory", "memory.swappiness", String(swappiness), `${m}.swappiness`);
    }
    // Deprecated by the kernel (runc ignores them); applied where this kernel still has the file.
    if (kernel !== undefined && kernel !== 0) {
      p.add("memory", "memory.kmem.limit_in_bytes", decimal(kernel), `${m}.kernel`, {
        optional: true,
      });
    }
    if (kernelTCP !== undefined && kernelTCP !== 0) {
      p.add("memory", "memory.kmem.tcp.limit_in_bytes", decimal(kernelTCP), `${m}.kernelTCP`, {
        optional: true,
      });
    }
    warnIgnored(memory, p.warnings, "v1");
  }
}

/** Warnings for memory fields that runc ignores (and one that always holds). */
function warnIgnored(
  memory: Record<string, unknown>,
  warnings: string[],
  layout: "v1" | "v2",
): void {
  const m = `${R}.memory`;
  const kernel = optInteger(memory.kernel, `${m}.kernel`, -1, Infinity, NULL_IS_UNSET);
  const kernelTCP = optInteger(memory.kernelTCP, `${m}.kernelTCP`, -1, Infinity, NULL_IS_UNSET);
  if (layout === "v2") {
    if (kernel !== undefined) {
      warnings.push(`${m}.kernel is ignored: cgroup v2 accounts kernel memory in memory.max`);
    }
    if (kernelTCP !== undefined) {
      warnings.push(`${m}.kernelTCP is ignored: cgroup v2 accounts socket memory in memory.max`);
    }
    const swappiness = optInteger(memory.swappiness, `${m}.swappiness`, -1, 100, NULL_IS_UNSET);
    if (swappiness !== undefined && swappiness !== -1) {
      warnings.push(`${m}.swappiness is ignored: cgroup v2 has no per-cgroup swappiness`);
    }
    if (memory.disableOOMKiller === true) {
      warnings.push(
        `${m}.disableOOMKiller is ignored: cgroup v2 has no memory.oom_control (processes are OOM-killed at memory.max)`,
      );
    }
  }
  if (memory.useHierarchy === false) {
    warnings.push(`${m}.useHierarchy=false is ignored: memory is always accounted hierarchically`);
  }
  if (memory.checkBeforeUpdate !== undefined && typeof memory.checkBeforeUpdate !== "boolean") {
    throw new SpecError(
      `${m}.checkBeforeUpdate`,
      `must be true or false, got ${show(memory.checkBeforeUpdate)}`,
    );
  }
  if (memory.disableOOMKiller !== undefined && typeof memory.disableOOMKiller !== "boolean") {
    throw new SpecError(
      `${m}.disableOOMKiller`,
      `must be true or false, got ${show(memory.disableOOMKiller)}`,
    );
  }
}
