import { type Command, stringFlag } from "./command.ts";
import { UsageError } from "../errors.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../container/ps.ts";
import { cliRuntime } from "../api/runtime.ts";

/**
 * Keeps the header of `ps` output and the rows whose PID column is one of `pids` (runc ps.go).
 * @throws when the header has no PID column.
 */
export function filterPsOutput(output: string, pids: readonly number[]): string {
  const lines = output.split("\n");
  const pidIndex = lines[0].trim().split(/\s+/).indexOf("PID");
  if (pidIndex < 0) throw new Error("couldn't find PID field in ps output");
  const out = [lines[0]];
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const pid = Number(line.trim().split(/\s+/)[pidIndex]);
    if (pids.includes(pid)) out.push(line);
  }
  return out.join("\n");
}

/** `skiff ps`: the processes in the container's cgroup. */
export const command: Command = {
  name: "ps",
  usage: "ps [command options] <container-id> [ps options]",
  summary: "ps displays the processes running inside a container",
  flags: [{ name: "format", alias: "f", type: "string", help: "table or json" }],
  args: [1, Number.MAX_SAFE_INTEGER],
  // As runc: everything after the ID goes to ps(1), flags included (`skiff ps ID -e -x`).
  flagsBeforePositionals: true,
  async run(ctx) {
    const [id, ...after] = ctx.positionals;
    // `skiff ps ID -- -e -x` too: the "--" only ends skiff's flags (runc hands it to ps(1),
    // which then fails with "garbage option").
    const psArgs = after[0] === "--" ? after.slice(1) : after;
    const format = stringFlag(ctx, "format") ?? "table";
    if (format !== "table" && format !== "json") throw new Error("invalid format option");
    const pids = await cliRuntime(ctx.store, ctx).handle(id).pids();
    if (format === "json") {
      if (psArgs.length) {
        throw new UsageError(
          `ps options (${
            psArgs.join(" ")
          }) cannot be used with --format json, which prints pids only`,
        );
      }
      // runc encodes a nil slice as null.
      console.log(pids.length ? JSON.stringify(pids) : "null");
      return 0;
    }
    const args = psArgs;
    const output = await new Deno.Command("ps", {
      args: args.length ? args : ["-ef"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(
        `ps ${args.join(" ")}: exit status ${output.code}: ${
          new TextDecoder().decode(output.stderr).trim()
        }`,
      );
    }
    console.log(filterPsOutput(text, pids));
    return 0;
  },
};
