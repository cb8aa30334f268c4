import { type Command, type CommandContext, stringFlag } from "./command.ts";
import type { Resources } from "../../spec/config.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../container/update.ts";
import { cliRuntime } from "../api/runtime.ts";
import { warn } from "../log.ts";
import { UsageError } from "../errors.ts";

/**
 * Parses a memory size as Docker's go-units RAMInBytes does: a decimal number with an optional
 * binary unit, "k", "m", "g", "t", "p" (case-insensitive, optionally followed by "b" or "ib"):
 * "4m" is 4194304, "1.5g" 1610612736, "100" 100.
 */
export function parseRAMInBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$/i.exec(text);
  if (!match) throw new Error(`invalid size: '${text}'`);
  const units: Record<string, number> = {
    k: 2 ** 10,
    m: 2 ** 20,
    g: 2 ** 30,
    t: 2 ** 40,
    p: 2 ** 50,
  };
  const multiplier = match[2] ? units[match[2].toLowerCase()] : 1;
  return Math.trunc(parseFloat(match[1]) * multiplier);
}

const MEMORY_FLAGS = [
  ["memory", "limit"],
  ["memory-reservation", "reservation"],
  ["memory-swap", "swap"],
] as const;

const UNSIGNED_CPU_FLAGS = [
  ["cpu-period", "period"],
  ["cpu-burst", "burst"],
  ["cpu-rt-period", "realtimePeriod"],
  ["cpu-share", "shares"],
  ["cpu-shares", "shares"],
] as const;

const SIGNED_CPU_FLAGS = [
  ["cpu-quota", "quota"],
  ["cpu-rt-runtime", "realtimeRuntime"],
] as const;

function integer(text: string, flag: string, signed: boolean): number {
  if (!(signed ? /^-?\d+$/ : /^\d+$/).test(text)) {
    throw new UsageError(
      `invalid value for ${flag}: ${JSON.stringify(text)} is not an ${
        signed ? "integer" : "unsigned integer"
      }`,
    );
  }
  return Number(text);
}

/** The LinuxResources an `update` command line asks for (runc update.go). */
export async function updateRequest(ctx: CommandContext): Promise<Resources> {
  const file = stringFlag(ctx, "resources");
  if (file !== undefined) {
    // As runc: with --resources every other flag is ignored.
    let text: string;
    try {
      text = file === "-"
        ? await new Response(Deno.stdin.readable).text()
        : Deno.readTextFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the resources from ${file === "-" ? "stdin" : file}`, {
        cause: err,
      });
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new SyntaxError("expected a JSON object (LinuxResources)");
      }
      return parsed as Resources;
    } catch (err) {
      throw new SyntaxError(`${file === "-" ? "stdin" : file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const r: Resources = {};
  const memory: NonNullable<Resources["memory"]> = {};
  const cpu: NonNullable<Resources["cpu"]> = {};
  for (const [flag, key] of MEMORY_FLAGS) {
    const v = stringFlag(ctx, flag);
    if (v === undefined || v === "") continue;
    try {
      memory[key] = v === "-1" ? -1 : parseRAMInBytes(v);
    } catch (err) {
      throw new UsageError(`invalid value for ${flag}: ${(err as Error).message}`);
    }
  }
  for (const flag of ["kernel-memory", "kernel-memory-tcp"]) {
    if (stringFlag(ctx, flag)) warn("Kernel memory settings are ignored and will be removed");
  }
  for (const [flag, key] of UNSIGNED_CPU_FLAGS) {
    const v = stringFlag(ctx, flag);
    if (v !== undefined && v !== "") cpu[key] = integer(v, flag, false);
  }
  for (const [flag, key] of SIGNED_CPU_FLAGS) {
    const v = stringFlag(ctx, flag);
    if (v !== undefined && v !== "") cpu[key] = integer(v, flag, true);
  }
  const idle = stringFlag(ctx, "cpu-idle");
  if (idle !== undefined && idle !== "") cpu.idle = integer(idle, "cpu-idle", true);
  const cpus = stringFlag(ctx, "cpuset-cpus");
  if (cpus) cpu.cpus = cpus;
  const mems = stringFlag(ctx, "cpuset-mems");
  if (mems) cpu.mems = mems;
  const weight = stringFlag(ctx, "blkio-weight");
  if (weight !== undefined && weight !== "" && weight !== "0") {
    r.blockIO = { weight: integer(weight, "blkio-weight", false) };
  }
  const pids = stringFlag(ctx, "pids-limit");
  if (pids !== undefined) r.pids = { limit: integer(pids, "pids-limit", true) };
  if (Object.keys(memory).length) r.memory = memory;
  if (Object.keys(cpu).length) r.cpu = cpu;
  return r;
}

/** `skiff update`: changes the resource limits of a created or running container. */
export const command: Command = {
  name: "update",
  usage: "update [command options] <container-id>",
  summary: "update container resource constraints",
  flags: [
    {
      name: "resources",
      alias: "r",
      type: "string",
      help: "file with the LinuxResources JSON to apply, '-' for stdin (other options are ignored)",
    },
    { name: "blkio-weight", type: "string", help: "per cgroup block IO weight, 10 to 1000" },
    { name: "cpu-period", type: "string", help: "CPU CFS period (µs), 0 for the system default" },
    { name: "cpu-quota", type: "string", help: "CPU CFS quota (µs) per period" },
    { name: "cpu-burst", type: "string", help: "CPU CFS burst (µs) per period" },
    { name: "cpu-share", type: "string", help: "CPU shares (relative weight)" },
    { name: "cpu-shares", type: "string", help: "same as --cpu-share", hidden: true },
    { name: "cpu-rt-period", type: "string", help: "CPU realtime period (µs), cgroup v1 only" },
    { name: "cpu-rt-runtime", type: "string", help: "CPU realtime runtime (µs), cgroup v1 only" },
    { name: "cpu-idle", type: "string", help: "1 to make the cgroup SCHED_IDLE, 0 for normal" },
    { name: "cpuset-cpus", type: "string", help: "CPUs to use (0-3, 0,1)" },
    { name: "cpuset-mems", type: "string", help: "memory nodes to use (0-3, 0,1)" },
    { name: "kernel-memory", type: "string", help: "ignored (obsolete)", hidden: true },
    { name: "kernel-memory-tcp", type: "string", help: "ignored (obsolete)", hidden: true },
    { name: "memory", type: "string", help: "memory limit (bytes, or with a unit: 512m, 1g)" },
    { name: "memory-reservation", type: "string", help: "memory soft limit (bytes or 512m)" },
    { name: "memory-swap", type: "string", help: "memory+swap limit; -1 for unlimited swap" },
    { name: "pids-limit", type: "string", help: "maximum number of processes" },
    { name: "l3-cache-schema", type: "string", help: "Intel RDT L3 cache schema (not supported)" },
    {
      name: "mem-bw-schema",
      type: "string",
      help: "Intel RDT memory bandwidth schema (not supported)",
    },
  ],
  args: [1, 1],
  async run(ctx) {
    // Skiff has no Intel RDT support: runc's message when the kernel has none.
    if (stringFlag(ctx, "l3-cache-schema")) {
      throw new Error("Intel RDT/CAT: l3 cache schema is not enabled");
    }
    if (stringFlag(ctx, "mem-bw-schema")) {
      throw new Error("Intel RDT/MBA: memory bandwidth schema is not enabled");
    }
    const request = await updateRequest(ctx);
    const warnings = await cliRuntime(ctx.store, ctx).handle(ctx.positionals[0]).update(request);
    for (const w of warnings) warn(w);
    return 0;
  },
};
