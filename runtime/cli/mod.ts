import { flagHelp, type FlagSpec, parseArgs } from "./args.ts";
import type { Command } from "./command.ts";
import { UsageError } from "../errors.ts";
import { configureLog, type LogFormat } from "../log.ts";
import { defaultRoot, StateStore } from "../state/store.ts";
import { OCI_VERSION, SKIFF_VERSION } from "../../spec/version.ts";
import { command as create } from "./create.ts";
import { command as start } from "./start.ts";
import { command as run } from "./run.ts";
import { command as state } from "./state.ts";
import { command as kill } from "./kill.ts";
import { command as del } from "./delete.ts";
import { command as list } from "./list.ts";
import { command as spec } from "./spec.ts";
import { command as init } from "./init.ts";
import { command as image } from "./image.ts";
import { command as bundle } from "./bundle.ts";
import { command as exec } from "./exec.ts";
import { command as features } from "./features.ts";
import { command as pause } from "./pause.ts";
import { command as resume } from "./resume.ts";
import { command as update } from "./update.ts";
import { command as ps } from "./ps.ts";
import { command as events } from "./events.ts";

/** Every sub-command, by name. */
export const COMMANDS: readonly Command[] = [
  create,
  start,
  run,
  state,
  kill,
  del,
  exec,
  pause,
  resume,
  ps,
  events,
  update,
  list,
  spec,
  features,
  image,
  bundle,
  init,
];

/** The global flags, placed before the sub-command (runc's). */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "root", type: "string", help: "root directory for container state" },
  { name: "log", type: "string", help: "log file (default: stderr)" },
  { name: "log-format", type: "string", help: "log format: text or json" },
  { name: "debug", type: "boolean", help: "enable debug logging" },
  { name: "systemd-cgroup", type: "boolean", help: "use systemd cgroups (slice:prefix:name)" },
  {
    name: "rootless",
    type: "string",
    help: "ignored: rootless mode is not supported",
    hidden: true,
  },
  { name: "criu", type: "string", help: "ignored", hidden: true },
  { name: "version", alias: "v", type: "boolean", help: "print the version" },
  { name: "help", alias: "h", type: "boolean", help: "show help" },
];

/** The text of `skiff --version`, in the shape Docker and go-runc parse. */
export function versionText(): string {
  return `skiff version ${SKIFF_VERSION}\ncommit: ${SKIFF_VERSION}\nspec: ${OCI_VERSION}\ndeno: ${Deno.version.deno}`;
}

function mainHelp(): string {
  const commands = COMMANDS.filter((c) => !c.hidden)
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
 * Runs the CLI with `argv` and returns the exit code. Errors propagate to mod.ts, which logs them;
 * help and version output go to stdout.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const global = parseArgs(argv, GLOBAL_FLAGS, true);
  const format = (global.flags["log-format"] as string | undefined) ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`invalid log format ${JSON.stringify(format)}: expected text or json`);
  }
  configureLog({
    file: global.flags.log as string | undefined,
    format: format as LogFormat,
    debug: global.flags.debug === true,
  });
  if (global.flags.version) {
    console.log(versionText());
    return 0;
  }
  const [name, ...rest] = global.rest;
  if (!name || global.flags.help || name === "help") {
    const target = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    console.log(target ? commandHelp(target) : mainHelp());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}: see skiff --help`);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(commandHelp(command));
    return 0;
  }
  const parsed = parseArgs(rest, command.flags, command.flagsBeforePositionals);
  if (command.flagsBeforePositionals) {
    parsed.positionals = [...parsed.positionals, ...parsed.rest];
    parsed.rest = [];
  }
  const [min, max] = command.args;
  const count = parsed.positionals.length;
  if (count < min || count > max) {
    const expected = min === max ? `exactly ${min}` : `${min} to ${max}`;
    throw new UsageError(
      `"${command.name}" requires ${expected} argument(s), got ${count}\nUsage: skiff ${command.usage}`,
    );
  }
  const root = (global.flags.root as string | undefined) ?? defaultRoot();
  return await command.run({
    store: new StateStore(root),
    flags: parsed.flags,
    positionals: parsed.positionals,
    rest: parsed.rest,
    systemdCgroup: global.flags["systemd-cgroup"] === true,
  });
}
