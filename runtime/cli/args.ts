import { UsageError } from "../errors.ts";
import { resolve } from "../path.ts";

/** One flag of a command: `--name`, optionally `-alias`; strings take a value. */
export interface FlagSpec {
  name: string;
  alias?: string;
  type: "boolean" | "string";
  /** Repeatable string flags collect every value. */
  multiple?: boolean;
  help: string;
  /** Hidden flags are accepted but not listed in --help. */
  hidden?: boolean;
  /**
   * A host path: made absolute against the caller's cwd while parsing, as runc does. Later the
   * CLI's main thread may setns() into a mount namespace, which moves its cwd to that root.
   */
  path?: boolean;
}

/** Parsed flags and positional arguments. */
export interface ParsedArgs {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses `argv` against `specs`, runc-style: flags may come in any order and after positionals,
 * long flags may use one or two dashes (`-no-subreaper` from go-runc), `--flag=value` and
 * `--flag value` both work, and `--` ends flag parsing. Values of `path` flags come back absolute.
 * @param stopAtFirstPositional stop at the first positional (for a sub-command's arguments).
 */
export function parseArgs(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  stopAtFirstPositional = false,
): ParsedArgs & { rest: string[] } {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byName.set(spec.name, spec);
    if (spec.alias) byName.set(spec.alias, spec);
  }
  const flags: ParsedArgs["flags"] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      return { flags, positionals, rest: argv.slice(i + 1) };
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (stopAtFirstPositional) return { flags, positionals, rest: argv.slice(i) };
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`flag provided but not defined: -${name}`);
    if (spec.type === "boolean") {
      if (eq >= 0) {
        const value = body.slice(eq + 1);
        if (value !== "true" && value !== "false") {
          throw new UsageError(`invalid boolean value "${value}" for -${name}`);
        }
        flags[spec.name] = value === "true";
      } else {
        flags[spec.name] = true;
      }
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = body.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    // An empty path stays empty: "not set", as runc treats `--pid-file ""`.
    if (spec.path && value !== "") value = resolve(value);
    if (spec.multiple) {
      const list = (flags[spec.name] as string[] | undefined) ?? [];
      list.push(value);
      flags[spec.name] = list;
    } else {
      flags[spec.name] = value;
    }
  }
  return { flags, positionals, rest: [] };
}

/** Renders the flag list of a command's --help. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  return specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const names = [`--${s.name}`, s.alias ? `-${s.alias}` : ""].filter(Boolean).join(", ");
      const value = s.type === "string" ? " value" : "";
      return `   ${(names + value).padEnd(28)} ${s.help}`;
    })
    .join("\n");
}
