import { boolFlag, type Command, type CommandContext, stringFlag } from "./command.ts";
import { preserveFds } from "./preserve_fds.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../api/ops.ts";
import "../container/exec.ts";
import { cliRuntime, type ExecProcess } from "../api/runtime.ts";
import { errorChain, ExitError } from "../errors.ts";
import { relayTerminal } from "../console.ts";
import { forwardSignals } from "../signals.ts";

function list(ctx: CommandContext, name: string): string[] {
  const v = ctx.flags[name];
  return Array.isArray(v) ? v : [];
}

/** `skiff exec`: run a new process inside a running container. */
export const command: Command = {
  name: "exec",
  usage: "exec [command options] <container-id> <command> [command options]  || " +
    "-p process.json <container-id>",
  summary: "execute new process inside the container",
  flags: [
    { name: "process", alias: "p", type: "string", path: true, help: "path to the process.json" },
    { name: "tty", alias: "t", type: "boolean", help: "allocate a pseudo-TTY" },
    { name: "detach", alias: "d", type: "boolean", help: "detach from the container's process" },
    { name: "pid-file", type: "string", path: true, help: "file to write the process id to" },
    {
      name: "console-socket",
      type: "string",
      path: true,
      help: "unix socket that receives the pty master",
    },
    { name: "cwd", type: "string", help: "current working directory in the container" },
    { name: "env", alias: "e", type: "string", multiple: true, help: "set environment variables" },
    { name: "user", alias: "u", type: "string", help: "UID (format: <uid>[:<gid>])" },
    {
      name: "additional-gids",
      alias: "g",
      type: "string",
      multiple: true,
      help: "additional gids",
    },
    { name: "cap", alias: "c", type: "string", multiple: true, help: "add a capability" },
    { name: "no-new-privs", type: "boolean", help: "set no_new_privs for the process" },
    { name: "preserve-fds", type: "string", help: "pass N extra fds to the process" },
    {
      name: "cgroup",
      type: "string",
      multiple: true,
      help: "run in a sub-cgroup of the container: PATH, or CONTROLLER[,CONTROLLER]:PATH (v1)",
    },
    { name: "ignore-paused", type: "boolean", help: "allow exec in a paused container" },
    { name: "process-label", type: "string", help: "set the SELinux process label" },
    { name: "apparmor", type: "string", help: "set the AppArmor profile" },
    {
      name: "pidfd-socket",
      type: "string",
      path: true,
      help: "unix socket that receives a pidfd of the new process (SCM_RIGHTS)",
    },
  ],
  args: [1, Infinity],
  flagsBeforePositionals: true,
  async run(ctx) {
    let executed;
    let relay: Promise<void> | undefined;
    try {
      executed = await execute(ctx, (master) => relay = relayTerminal(master));
    } catch (err) {
      // runc exits 255 when exec itself fails, so callers can tell it from the process's status.
      throw new ExitError(`exec failed: ${errorChain(err)}`, 255);
    }
    if (boolFlag(ctx, "detach")) return 0;
    const stopForwarding = forwardSignals(executed.pid);
    const { code } = await executed.wait();
    await relay;
    stopForwarding();
    return code;
  },
};

function execute(
  ctx: CommandContext,
  relay: (master: number) => void,
): Promise<ExecProcess> {
  // Everything after the container ID is the command, flags included (runc stops parsing there).
  const [id, ...positionalArgs] = ctx.positionals;
  return cliRuntime(ctx.store, ctx).handle(id).execWith({
    processFile: stringFlag(ctx, "process") || undefined,
    args: [...positionalArgs, ...ctx.rest],
    env: list(ctx, "env"),
    cwd: stringFlag(ctx, "cwd"),
    user: stringFlag(ctx, "user"),
    additionalGids: list(ctx, "additional-gids").flatMap((g) => g.split(",")),
    caps: list(ctx, "cap"),
    tty: boolFlag(ctx, "tty"),
    noNewPrivs: boolFlag(ctx, "no-new-privs"),
    detach: boolFlag(ctx, "detach"),
    pidFile: stringFlag(ctx, "pid-file") || undefined,
    consoleSocket: stringFlag(ctx, "console-socket") || undefined,
    pidfdSocket: stringFlag(ctx, "pidfd-socket") || undefined,
    preserveFds: preserveFds(stringFlag(ctx, "preserve-fds")),
    ignorePaused: boolFlag(ctx, "ignore-paused"),
    subCgroups: list(ctx, "cgroup"),
    apparmorProfile: stringFlag(ctx, "apparmor"),
    selinuxLabel: stringFlag(ctx, "process-label"),
  }, relay);
}
