/**
 * dist/skiff as a native launcher: a static executable, written at build time by the trampoline's
 * machine-code writer, that makes one system call,
 *
 *   execve(path, [...argv, own argv[1], ..., own argv[argc-1], NULL], [...env, own envp..., NULL])
 *
 * Why: a `#!/usr/bin/env -S deno run ...` script costs an execve and the dynamic linking of env(1)
 * on every call, 3-6 ms of wall time (issue 11, docs/benchmarks.md "Launcher").
 *
 * How, without copying the strings or allocating: the kernel starts the program with its stack
 * pointer at argc, followed by argv[0..argc-1], NULL, envp[0..], NULL, then the auxiliary vector
 * (System V ABI, "Process Initialization"). The code moves argv[1..argc] (the NULL too) down by k
 * slots, k = env.length; the k slots freed just before envp[0] take `env`, so the new envp is one
 * array that runs on into the caller's. The fixed argv goes into the P slots just below the moved
 * argv[1], partly below the stack pointer (no signal handler runs here to use that space: execve
 * resets handlers, and this program installs none).
 *
 *   before:  sp: argc | argv[0] | argv[1] .. argv[n-1] | NULL    | envp[0] .. NULL | auxv
 *   after:   argv[0..P-1] (fixed) | argv[1] .. argv[n-1] | NULL | env[0..k-1] | envp[0] .. NULL
 *            ^ new argv (sp + 16 - 8k - 8P)                      ^ new envp
 *
 * With argc 0 (only kernels before 5.18 allow it; newer ones pass argv[0] = "") argv[1] is envp[0]:
 * the new argv is then the fixed part alone and envp the caller's, unchanged.
 *
 * With `routes`, the last entry of the fixed argv (the module Deno runs) depends on the command:
 * before anything moves, the code walks argv[1..] past the flags (an argument that starts with "-";
 * one of `routes.valueFlags`, with one or two dashes and no "=", takes the next argument as its
 * value) to the first argument that is not one, and when that names a route, runs the route's
 * module instead. The walk reads each argument only up to its first differing byte or its NUL. It
 * is only a choice of entry: the routed module runs the same CLI on the same argv, so an argv it
 * reads differently (`--` before the command, a flag it does not know) costs only the
 * per-command entry's gain, never a different result.
 *
 * When execve fails, the program writes "skiff: cannot run PATH: ENOENT (No such file or directory)"
 * (named for the errors execve(2) lists, generic for any other) to stderr and exits 127, as a
 * shell does for a command it cannot run.
 */
import { type Assembler, Label, type Register } from "./assembler.ts";
import { Aarch64Assembler } from "./aarch64.ts";
import { X86_64Assembler } from "./x86_64.ts";
import { buildElf } from "./elf.ts";
import { DataBuilder, hostArch } from "./program.ts";
import { TRAMPOLINE_SYSCALLS, type TrampolineArch } from "./syscalls.ts";
import { describeErrno, ERRNO } from "../../ffi/errno.ts";

/** What a launcher runs. */
export interface LauncherTarget {
  /** The program to execve, e.g. Deno's absolute path. */
  path: string;
  /** Its argv before the launcher's own argv[1..]: argv[0], then e.g. `run`, flags, the module. */
  argv: string[];
  /** "NAME=value" entries put before the caller's environment (getenv finds the first match). */
  env: string[];
  /** Another last argv entry by the command named in the launcher's own arguments (see above). */
  routes?: LauncherRoutes;
}

/** Which module runs, by command: see the module's comment. */
export interface LauncherRoutes {
  /** Flag names, without dashes, whose value is the next argument (runc's `--root DIR`). */
  valueFlags: string[];
  /** The last argv entry by the command's name, e.g. `{ state: "/abs/dist/skiff.d/state.js" }`. */
  byName: Record<string, string>;
}

/** The most entries `argv` or `env` may have: the slots are reached with 9-bit signed offsets. */
export const LAUNCHER_MAX_ENTRIES = 32;

/** The errors execve(2) lists, named in the launcher's message. */
const EXECVE_ERRORS = [
  "E2BIG",
  "EACCES",
  "EAGAIN",
  "EFAULT",
  "EINVAL",
  "EIO",
  "EISDIR",
  "ELOOP",
  "EMFILE",
  "ENAMETOOLONG",
  "ENFILE",
  "ENOENT",
  "ENOEXEC",
  "ENOMEM",
  "ENOTDIR",
  "EPERM",
  "ETXTBSY",
] as const satisfies readonly (keyof typeof ERRNO)[];

/**
 * Appends code that jumps to `match` when the NUL-terminated string at `base` equals `text`, and
 * falls through otherwise; clobbers `result`. It stops at the first byte that differs, so it never
 * reads past the string's NUL.
 */
function branchIfString(asm: Assembler, base: Register, text: string, match: Label): void {
  const next = new Label(`not ${text}`);
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i <= bytes.length; i++) {
    asm.load8("result", base, i);
    asm.branchIf("notEqual", BigInt(bytes[i] ?? 0), next);
  }
  asm.jump(match);
  asm.bind(next);
}

/**
 * Appends the walk over argv[1..] (`arg1` = the address of argc) that leaves in `saved` the address
 * of the module to run: a route's, or `fallback`'s. Uses arg2, arg3 and result.
 */
function chooseModule(
  asm: Assembler,
  data: DataBuilder,
  routes: LauncherRoutes,
  fallback: bigint,
): void {
  const next = new Label("next argument");
  const flag = new Label("flag");
  const name = new Label("flag name");
  const valueFlag = new Label("value flag");
  const command = new Label("command");
  const done = new Label("chosen");
  asm.loadImmediate("saved", fallback);
  // arg2 walks the argv slots from argv[1]; a NULL ends the walk with the fallback.
  asm.move("arg2", "arg1");
  asm.addImmediate("arg2", 16);
  asm.bind(next);
  asm.load64("arg3", "arg2", 0);
  asm.move("result", "arg3");
  asm.branchIf("equal", 0n, done);
  asm.load8("result", "arg3", 0);
  asm.branchIf("equal", BigInt("-".charCodeAt(0)), flag);
  asm.jump(command);

  // A flag: its name after one or two dashes.
  asm.bind(flag);
  asm.addImmediate("arg3", 1);
  asm.load8("result", "arg3", 0);
  asm.branchIf("notEqual", BigInt("-".charCodeAt(0)), name);
  asm.addImmediate("arg3", 1);
  asm.bind(name);
  for (const f of routes.valueFlags) branchIfString(asm, "arg3", f, valueFlag);
  // A boolean, `--name=value`, or a flag the CLI does not know: one argument.
  asm.addImmediate("arg2", 8);
  asm.jump(next);
  // `--root DIR`: the flag and its value, unless the flag was the last argument.
  asm.bind(valueFlag);
  asm.addImmediate("arg2", 8);
  asm.load64("result", "arg2", 0);
  asm.branchIf("equal", 0n, done);
  asm.addImmediate("arg2", 8);
  asm.jump(next);

  asm.bind(command);
  for (const [route, module] of Object.entries(routes.byName)) {
    const hit = new Label(`route ${route}`);
    const miss = new Label(`after ${route}`);
    branchIfString(asm, "arg3", route, hit);
    asm.jump(miss);
    asm.bind(hit);
    asm.loadImmediate("saved", data.string(module));
    asm.jump(done);
    asm.bind(miss);
  }
  asm.bind(done);
}

/** The exit code when execve fails (a shell's "command not found / cannot execute"). */
export const LAUNCHER_EXEC_FAILED = 127;

/**
 * Returns a static ELF executable for `arch` that runs `target` with its own arguments appended.
 * @throws TypeError naming the field when `target` is not valid.
 */
export function buildLauncher(
  target: LauncherTarget,
  arch: TrampolineArch = hostArch(),
): Uint8Array<ArrayBuffer> {
  validateLauncherTarget(target);
  const asm: Assembler = arch === "aarch64" ? new Aarch64Assembler() : new X86_64Assembler();
  const numbers = TRAMPOLINE_SYSCALLS[arch];
  const data = new DataBuilder();
  const fixed = target.argv.map((s) => data.string(s));
  const env = target.env.map((s) => data.string(s));
  const P = fixed.length;
  const k = env.length;

  const routed = target.routes !== undefined;

  const noArguments = new Label("noArguments");
  const move = new Label("move");
  const exec = new Label("exec");

  // arg1 = sp (the address of argc); result = argv[0].
  asm.stackPointer("arg1");
  // `saved` = the module to run, when it depends on the command (argc 0 finds the NULL at once).
  if (routed) chooseModule(asm, data, target.routes!, fixed[P - 1]);
  asm.load64("result", "arg1", 8);
  asm.branchIf("equal", 0n, noArguments);

  // arg2 walks argv[1..argc]: each moves k slots down, up to and including the NULL.
  asm.move("arg2", "arg1");
  asm.addImmediate("arg2", 16);
  asm.bind(move);
  asm.load64("result", "arg2", 0);
  asm.store64("arg2", -8 * k, "result");
  asm.addImmediate("arg2", 8);
  asm.branchIf("notEqual", 0n, move);
  // arg2 = &argv[argc + 1], the caller's envp; the k slots before it take `env`.
  asm.addImmediate("arg2", -8 * k);
  env.forEach((address, j) => {
    asm.loadImmediate("arg3", address);
    asm.store64("arg2", 8 * j, "arg3");
  });
  asm.addImmediate("arg1", 16 - 8 * k - 8 * P);
  asm.jump(exec);

  // argc 0: the fixed argv ends at argv[0]'s NULL; envp is the caller's.
  asm.bind(noArguments);
  asm.move("arg2", "arg1");
  asm.addImmediate("arg2", 16);
  asm.addImmediate("arg1", 8 - 8 * P);

  asm.bind(exec);
  fixed.forEach((address, i) => {
    if (routed && i === P - 1) {
      asm.store64("arg1", 8 * i, "saved");
      return;
    }
    asm.loadImmediate("arg3", address);
    asm.store64("arg1", 8 * i, "arg3");
  });
  asm.loadImmediate("arg0", data.string(target.path));
  asm.loadImmediate("nr", BigInt(numbers.execve));
  asm.systemCall();

  // execve returned: result = -errno.
  const prefix = new TextEncoder().encode(`skiff: cannot run ${target.path}: `);
  const prefixAddress = data.bytes(prefix);
  const write = (address: bigint, length: number): void => {
    asm.loadImmediate("nr", BigInt(numbers.write));
    asm.loadImmediate("arg0", 2n);
    asm.loadImmediate("arg1", address);
    asm.loadImmediate("arg2", BigInt(length));
    asm.systemCall();
  };
  asm.negateResult();
  asm.move("saved", "result");
  write(prefixAddress, prefix.length);
  asm.move("result", "saved");
  const messages = EXECVE_ERRORS.map((name) => ({ errno: ERRNO[name], label: new Label(name) }));
  for (const { errno, label } of messages) asm.branchIf("equal", BigInt(errno), label);
  const unknown = new TextEncoder().encode("execve failed with an errno execve(2) does not list\n");
  const finish = new Label("finish");
  write(data.bytes(unknown), unknown.length);
  asm.jump(finish);
  for (const { errno, label } of messages) {
    const text = new TextEncoder().encode(`${describeErrno(errno)}\n`);
    asm.bind(label);
    write(data.bytes(text), text.length);
    asm.jump(finish);
  }
  asm.bind(finish);
  asm.loadImmediate("nr", BigInt(numbers.exit_group));
  asm.loadImmediate("arg0", BigInt(LAUNCHER_EXEC_FAILED));
  asm.systemCall();

  return buildElf(asm.machine, asm.finish(), data.result());
}

/**
 * Checks `target` before any code is generated.
 * @throws TypeError naming the field, e.g. `launcher argv[2]: must be a string without NUL bytes`.
 */
export function validateLauncherTarget(target: LauncherTarget): void {
  const bad = (path: string, what: string, value: unknown): never => {
    throw new TypeError(`launcher ${path}: ${what}: current value is ${JSON.stringify(value)}`);
  };
  const text = (path: string, value: unknown, allowEmpty: boolean): void => {
    if (typeof value !== "string" || (!allowEmpty && value === "") || value.includes("\0")) {
      bad(path, `must be a ${allowEmpty ? "" : "non-empty "}string without NUL bytes`, value);
    }
  };
  text("path", target.path, false);
  for (const field of ["argv", "env"] as const) {
    const list = target[field];
    if (!Array.isArray(list) || list.length > LAUNCHER_MAX_ENTRIES) {
      bad(field, `must be an array of at most ${LAUNCHER_MAX_ENTRIES} strings`, list);
    }
    list.forEach((s, i) => text(`${field}[${i}]`, s, field === "argv"));
  }
  if (target.argv.length === 0) bad("argv", "must list at least argv[0]", target.argv);
  target.env.forEach((s, i) => {
    if (!/^[^=]+=/.test(s)) bad(`env[${i}]`, "must be NAME=value", s);
  });
  if (target.routes === undefined) return;
  const { valueFlags, byName } = target.routes;
  if (!Array.isArray(valueFlags)) bad("routes.valueFlags", "must be an array", valueFlags);
  valueFlags.forEach((f, i) => {
    // Within load8's reach, and a name the walk can meet after its dashes.
    if (typeof f !== "string" || !/^[^-=\0][^=\0]{0,254}$/.test(f)) {
      bad(`routes.valueFlags[${i}]`, "must be a flag name without dashes, = or NUL", f);
    }
  });
  if (typeof byName !== "object" || byName === null) {
    bad("routes.byName", "must be an object", byName);
  }
  for (const [name, module] of Object.entries(byName)) {
    if (!/^[^-\0][^\0]{0,254}$/.test(name)) {
      bad(
        `routes.byName`,
        "must have command names that do not start with - and have no NUL",
        name,
      );
    }
    text(`routes.byName.${name}`, module, false);
  }
}
