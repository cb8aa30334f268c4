/**
 * OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"): each hook runs with the
 * container's state JSON on stdin, its own args and env (nothing inherited), and an optional
 * timeout. Where each kind runs:
 *
 * | hook            | when                                              | namespace | run by      |
 * |-----------------|---------------------------------------------------|-----------|-------------|
 * | prestart        | after the namespaces exist, before pivot_root      | runtime   | create CLI  |
 * | createRuntime   | same point, after prestart                         | runtime   | create CLI  |
 * | createContainer | same point, after createRuntime                    | container | init        |
 * | startContainer  | after `start`, before process.args runs            | container | init        |
 * | poststart       | after process.args has started, before start exits | runtime   | start CLI   |
 * | poststop        | after delete has removed the container             | runtime   | delete CLI  |
 *
 * A failing hook fails its operation, except poststop, which only warns (runtime.md).
 */
import type { Hook, Hooks } from "../spec/config.ts";
import type { State } from "../spec/state.ts";
import { HOOK_KINDS as SPEC_HOOK_KINDS } from "../spec/validate.ts";

/** The hook kinds, in lifecycle order. */
export type HookKind = keyof Hooks;

/** Every hook kind Skiff runs (for `features`): all that config.md defines. */
export const HOOK_KINDS: readonly HookKind[] = SPEC_HOOK_KINDS;

/** A hook that failed: names the kind, position, path and why. */
export class HookError extends Error {
  constructor(kind: HookKind, index: number, hook: Hook, reason: string) {
    super(`${kind} hook #${index} (${hook.path}) failed: ${reason}`);
    this.name = "HookError";
  }
}

/**
 * Wraps the (synchronous) spawn of a hook: e.g. enters the container's namespaces for it and
 * leaves them at once, so that nothing else of the hook's run (its pipes, the wait) happens there.
 */
export type SpawnAround = (spawn: () => Deno.ChildProcess) => Deno.ChildProcess;

/** Why a hook past its timeout failed, e.g. "timed out after 5s" (the trampoline init bakes it in). */
export function hookTimeoutReason(timeout: number): string {
  return `timed out after ${timeout}s`;
}

/** Runs one hook to completion; throws HookError on a non-zero exit, a signal or a timeout. */
export async function runHook(
  kind: HookKind,
  index: number,
  hook: Hook,
  state: State,
  around: SpawnAround = (spawn) => spawn(),
): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    child = around(() =>
      new Deno.Command(hook.path, {
        // execv's argv[0] cannot be set apart from the path here; args[0] names the program anyway.
        args: (hook.args ?? []).slice(1),
        env: Object.fromEntries(
          (hook.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
        ),
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn()
    );
  } catch (err) {
    throw new HookError(kind, index, hook, (err as Error).message);
  }
  let timedOut = false;
  const timer = hook.timeout
    ? setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, hook.timeout * 1000)
    : undefined;
  try {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(state))).catch(() => {});
    await writer.close().catch(() => {});
    const out = await child.output();
    if (timedOut) throw new HookError(kind, index, hook, hookTimeoutReason(hook.timeout!));
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr).trim();
      const how = out.signal ? `killed by ${out.signal}` : `exit status ${out.code}`;
      throw new HookError(kind, index, hook, stderr ? `${how}: ${stderr}` : how);
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Runs the hooks of `kind` in order; the first failure stops the rest and is thrown. */
export async function runHooks(
  hooks: Hooks | undefined,
  kind: HookKind,
  state: State,
  around?: SpawnAround,
): Promise<void> {
  const list = hooks?.[kind] ?? [];
  for (let i = 0; i < list.length; i++) await runHook(kind, i, list[i], state, around);
}

/**
 * Runs every hook of `kind`, also after one fails: each failure goes to `warn` (runtime.md: a
 * failed poststop hook is logged as a warning and the remaining hooks and lifecycle continue).
 */
export async function runHooksWarning(
  hooks: Hooks | undefined,
  kind: HookKind,
  state: State,
  warn: (message: string) => void,
): Promise<void> {
  const list = hooks?.[kind] ?? [];
  for (let i = 0; i < list.length; i++) {
    try {
      await runHook(kind, i, list[i], state);
    } catch (err) {
      warn((err as Error).message);
    }
  }
}
