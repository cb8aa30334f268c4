import { flagHelp, type FlagSpec, parseArgs } from "./args.ts";
import type { Command } from "./command.ts";
import { printLine } from "./output.ts";
import { ExitError, UsageError } from "../errors.ts";
import { configureLog, debug, type LogFormat } from "../log.ts";
import { defaultRootFinder, StateStore } from "../state/store.ts";
import { rootlessCgroups } from "../rootless.ts";
import { OCI_VERSION, SKIFF_COMMIT, SKIFF_VERSION } from "../../spec/version.ts";
/**
 * Every sub-command's module by name, in `skiff --help` order. Each is imported only when its command
 * runs, so a call loads and evaluates only the code it needs: `state` does not pay for the seccomp
 * compiler, the image assembler or the init (issue 11; docs/benchmarks.md, "Per-call floor").
 * `skiff init` imports everything it needs statically from its own module, before it changes root.
 */
const COMMAND_MODULES: Readonly<Record<string, () => Promise<{ command: Command }>>> = {
  create: () => import("./create.ts"),
  start: () => import("./start.ts"),
  run: () => import("./run.ts"),
  state: () => import("./state.ts"),
  kill: () => import("./kill.ts"),
  delete: () => import("./delete.ts"),
  exec: () => import("./exec.ts"),
  pause: () => import("./pause.ts"),
  resume: () => import("./resume.ts"),
  ps: () => import("./ps.ts"),
  events: () => import("./events.ts"),
  update: () => import("./update.ts"),
  list: () => import("./list.ts"),
  spec: () => import("./spec.ts"),
  features: () => import("./features.ts"),
  image: () => import("./image.ts"),
  bundle: () => import("./bundle.ts"),
  check: () => import("./check.ts"),
  init: () => import("./init.ts"),
};

/** The names of every sub-command, in `skiff --help` order. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMAND_MODULES);

/** Loads the sub-command `name`; undefined when there is none. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  const load = Object.hasOwn(COMMAND_MODULES, name) ? COMMAND_MODULES[name] : undefined;
  return load ? (await load()).command : undefined;
}

/** Loads every sub-command (for `skiff --help`, which lists them all). */
export async function loadCommands(): Promise<Command[]> {
  return await Promise.all(
    Object.values(COMMAND_MODULES).map(async (load) => (await load()).command),
  );
}

/** The global flags, placed before the sub-command (runc's). */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "root", type: "string", path: true, help: "root directory for container state" },
  { name: "log", type: "string", path: true, help: "log file (default: stderr)" },
  { name: "log-format", type: "string", help: "log format: text or json" },
  { name: "debug", type: "boolean", help: "enable debug logging" },
  { name: "systemd-cgroup", type: "boolean", help: "use systemd cgroups (slice:prefix:name)" },
  {
    name: "rootless",
    type: "string",
    help: "ignore cgroup permission errors: true, false or auto (auto: when not root)",
  },
  {
    name: "criu",
    type: "string",
    help: "path to criu (refused: checkpoint and restore are not supported)",
    hidden: true,
  },
  { name: "version", alias: "v", type: "boolean", help: "print the version" },
  { name: "help", alias: "h", type: "boolean", help: "show help" },
];

/** Every command takes --help/-h (urfave/cli's, which runc uses). */
const HELP_FLAG: FlagSpec = { name: "help", alias: "h", type: "boolean", help: "show help" };

/**
 * The text of `skiff --version`, in runc's line shape (Docker and go-runc parse it): the commit line
 * only when the build recorded one, as runc leaves it out when its build had none.
 */
export function versionText(): string {
  return [
    `skiff version ${SKIFF_VERSION}`,
    ...(SKIFF_COMMIT ? [`commit: ${SKIFF_COMMIT}`] : []),
    `spec: ${OCI_VERSION}`,
    `deno: ${Deno.version.deno}`,
  ].join("\n");
}

async function mainHelp(): Promise<string> {
  const commands = (await loadCommands()).filter((c) => !c.hidden)
    .map((c) => `   ${c.name.padEnd(10)} ${c.summary}`)
    .join("\n");
  return `skiff: an OCI container runtime\n\nUSAGE:\n   skiff [global options] command [command options] [arguments...]\n\nCOMMANDS:\n${commands}\n\nGLOBAL OPTIONS:\n${
    flagHelp(GLOBAL_FLAGS)
  }`;
}

function commandHelp(c: Command): string {
  const flags = flagHelp(c.flags);
  return `NAME:\n   skiff ${c.name} - ${c.summary}\n\nUSAGE:\n   skiff ${c.usage}${
    flags ? `\n\nOPTIONS:\n${flags}` : ""
  }`;
}

/**
 * Prints a usage error's stdout half as runc does: "Incorrect Usage" and the help. The error itself
 * is thrown on and logged by mod.ts (exit code 1).
 */
function printIncorrectUsage(help: string, reason?: string): void {
  printLine(`Incorrect Usage${reason ? `: ${reason}` : "."}\n\n${help}\n`);
}

/** Parses `argv`; a usage error also prints "Incorrect Usage" and `help` first. */
async function parseOrExplain(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  stopAtFirstPositional: boolean,
  help: () => string | Promise<string>,
): Promise<ReturnType<typeof parseArgs>> {
  try {
    return parseArgs(argv, specs, stopAtFirstPositional);
  } catch (err) {
    if (err instanceof UsageError) printIncorrectUsage(await help(), err.message);
    throw err;
  }
}

/** runc's check of the number of arguments; its messages are "skiff: "kill" requires ...". */
function checkArgCount(command: Command, count: number): void {
  const [min, max] = command.args;
  let requirement: string | undefined;
  if (count < min) requirement = min === max ? `exactly ${min}` : `a minimum of ${min}`;
  else if (count > max) requirement = min === max ? `exactly ${max}` : `a maximum of ${max}`;
  if (requirement === undefined) return;
  printIncorrectUsage(commandHelp(command));
  throw new UsageError(`skiff: "${command.name}" requires ${requirement} argument(s)`);
}

/**
 * --rootless: runc's values are true, false and auto (the default: rootless when not root, or root
 * only in a user namespace). As in runc it decides whether the container's cgroup is optional
 * (docs/rootless.md).
 */
function checkRootless(value: string | undefined): void {
  if (value === undefined || value === "false" || value === "true" || value === "auto") return;
  throw new UsageError(
    `invalid --rootless value ${JSON.stringify(value)}: expected true, false or auto`,
  );
}

/**
 * Runs the CLI with `argv` and returns the exit code. Errors propagate to mod.ts, which logs them;
 * help and version output go to stdout. `onCommand` learns the sub-command before it runs.
 * `preloaded` is a command its caller imported already (a per-command entry of dist/skiff,
 * scripts/build.ts): it runs when argv names it, without the dynamic import; any other name loads
 * as always.
 */
export async function main(
  argv: readonly string[],
  onCommand?: (command: Command) => void,
  preloaded?: Command,
): Promise<number> {
  const global = await parseOrExplain(argv, GLOBAL_FLAGS, true, mainHelp);
  const format = (global.flags["log-format"] as string | undefined) ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`invalid log format ${JSON.stringify(format)}: expected text or json`);
  }
  configureLog({
    file: global.flags.log as string | undefined,
    format: format as LogFormat,
    debug: global.flags.debug === true,
  });
  checkRootless(global.flags.rootless as string | undefined);
  if (global.flags.criu !== undefined) {
    throw new UsageError("--criu: skiff has no checkpoint or restore, so it never runs criu");
  }
  if (global.flags.version) {
    printLine(versionText());
    return 0;
  }
  let [name, ...rest] = global.rest;
  if (!name || global.flags.help) {
    printLine(await mainHelp());
    return 0;
  }
  const helpTopic = name === "help" || name === "h";
  if (helpTopic) {
    if (rest.length === 0) {
      printLine(await mainHelp());
      return 0;
    }
    name = rest[0];
  }
  const command = name === preloaded?.name ? preloaded : await loadCommand(name);
  // urfave/cli's answer to an unknown command, and runc's exit code for it.
  if (!command) throw new ExitError(`No help topic for '${name}'`, 3);
  if (helpTopic) {
    printLine(commandHelp(command));
    return 0;
  }
  const parsed = await parseOrExplain(
    rest,
    [...command.flags, HELP_FLAG],
    command.flagsBeforePositionals ?? false,
    () => commandHelp(command),
  );
  // After the ID of exec and ps, --help belongs to the process's command line.
  if (parsed.flags.help) {
    printLine(commandHelp(command));
    return 0;
  }
  if (command.flagsBeforePositionals) {
    parsed.positionals = [...parsed.positionals, ...parsed.rest];
    parsed.rest = [];
  }
  checkArgCount(command, parsed.positionals.length);
  const root = global.flags.root as string | undefined;
  debug(
    `${command.name} ${[...parsed.positionals, ...parsed.rest].join(" ")} (root ${
      root ?? "default"
    })`,
  );
  onCommand?.(command);
  const findRoot = root === undefined ? await defaultRootFinder() : undefined;
  return await command.run({
    store: new StateStore(
      root ?? (() => {
        const found = findRoot!();
        debug(`state root ${found}`);
        return found;
      }),
    ),
    flags: parsed.flags,
    positionals: parsed.positionals,
    rest: parsed.rest,
    systemdCgroup: global.flags["systemd-cgroup"] === true,
    // On use only: it calls geteuid(), and the first FFI call costs a command that needs none
    // (state, list) ~4 MiB of peak RSS and ~1 ms.
    get rootlessCgroups(): boolean {
      return rootlessCgroups(global.flags.rootless as string | undefined);
    },
  });
}
