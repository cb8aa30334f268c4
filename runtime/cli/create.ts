import type { FlagSpec } from "./args.ts";
import { boolFlag, type Command, type CommandContext, stringFlag } from "./command.ts";
// Loaded with this command's chunk, as one file: the API imports it on use, and a dynamic import of
// a module not loaded yet costs a call ~1 ms more (docs/benchmarks.md, "Per-call floor").
import "../api/ops.ts";
import "../container/create.ts";
import { cliRuntime, type CreateContainerOptions } from "../api/runtime.ts";
import { preserveFds } from "./preserve_fds.ts";

/** Flags shared by `create` and `run`. */
export const CREATE_FLAGS: FlagSpec[] = [
  {
    name: "bundle",
    alias: "b",
    type: "string",
    path: true,
    help: "path to the root of the bundle directory",
  },
  {
    name: "console-socket",
    type: "string",
    path: true,
    help: "unix socket that receives the pty master",
  },
  {
    name: "pid-file",
    type: "string",
    path: true,
    help: "file to write the container init's host pid to",
  },
  { name: "no-pivot", type: "boolean", help: "use MS_MOVE + chroot instead of pivot_root" },
  { name: "no-new-keyring", type: "boolean", help: "do not create a new session keyring" },
  { name: "preserve-fds", type: "string", help: "pass N extra fds (3..3+N-1) to the container" },
  {
    name: "pidfd-socket",
    type: "string",
    path: true,
    help: "unix socket that receives a pidfd of the container's init (SCM_RIGHTS)",
  },
  { name: "no-subreaper", type: "boolean", help: "ignored, for runc compatibility", hidden: true },
];

/** The create options every command that creates takes from its flags (create, run). */
export function createOptionsFromFlags(ctx: CommandContext): CreateContainerOptions {
  return {
    pidFile: stringFlag(ctx, "pid-file"),
    consoleSocket: stringFlag(ctx, "console-socket") || undefined,
    pidfdSocket: stringFlag(ctx, "pidfd-socket") || undefined,
    noPivot: boolFlag(ctx, "no-pivot"),
    noNewKeyring: boolFlag(ctx, "no-new-keyring"),
    preserveFds: preserveFds(stringFlag(ctx, "preserve-fds")),
  };
}

/** `skiff create`. */
export const command: Command = {
  name: "create",
  usage: "create [command options] <container-id>",
  summary: "create a container",
  flags: CREATE_FLAGS,
  args: [1, 1],
  async run(ctx) {
    await cliRuntime(ctx.store, ctx).create(
      ctx.positionals[0],
      { bundle: stringFlag(ctx, "bundle") ?? Deno.cwd() },
      createOptionsFromFlags(ctx),
    );
    return 0;
  },
};
