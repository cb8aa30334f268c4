import type { FlagSpec, ParsedArgs } from "./args.ts";
import type { StateStore } from "../state/store.ts";

/** What every command receives. */
export interface CommandContext {
  store: StateStore;
  flags: ParsedArgs["flags"];
  positionals: string[];
  /** Arguments after `--`. */
  rest: string[];
  /** The global --systemd-cgroup flag. */
  systemdCgroup: boolean;
  /** The cgroup is optional (--rootless, or auto: not root); see docs/rootless.md. */
  rootlessCgroups?: boolean;
}

/** A CLI sub-command: name, usage, flags, and what it does. Returns the exit code. */
export interface Command {
  name: string;
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Minimum and maximum number of positional arguments. */
  args: [number, number];
  /** Hidden commands are not listed in `skiff --help`. */
  hidden?: boolean;
  /** Flags end at the first positional (exec: everything after the ID is the command). */
  flagsBeforePositionals?: boolean;
  run(ctx: CommandContext): Promise<number> | number;
}

/** Reads a string flag. */
export function stringFlag(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.flags[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads a boolean flag. */
export function boolFlag(ctx: CommandContext, name: string): boolean {
  return ctx.flags[name] === true;
}
