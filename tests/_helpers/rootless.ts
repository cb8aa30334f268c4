/**
 * The rootless test user: a real unprivileged account (`skiffrl`) with a home, /etc/subuid and
 * /etc/subgid ranges and an XDG_RUNTIME_DIR, and a way to run commands as it with a clean
 * environment. ensureRootlessUser() is idempotent; the user is left in place between runs (making
 * it again each time would only churn /etc/passwd), but what a test makes as the user is removed
 * by the test (removeUserTree()).
 */
import { dirname, join } from "node:path";
import { SKIFF } from "./paths.ts";
import { readLaunchInfo } from "../../scripts/launch_info.ts";

/** The name of the test user. */
export const ROOTLESS_USER = "skiffrl";

/** The subordinate id range the test user gets (start and count, /etc/subuid and /etc/subgid). */
export const SUBID_START = 300000;
export const SUBID_COUNT = 65536;

/** The test user as the tests use it. */
export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** /run/user/UID: 0700, owned by the user. */
  runtimeDir: string;
  /** The user's own range in /etc/subuid and /etc/subgid. */
  subid: { start: number; count: number };
}

/** The result of a command run as the user. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of runAs(). */
export interface RunAsOptions {
  /** Extra environment on top of the clean one (HOME, USER, LOGNAME, PATH, XDG_RUNTIME_DIR). */
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string;
  /** Kills the command after this many milliseconds (default 120 s). */
  timeoutMs?: number;
  /** A cgroup v2 directory the command is moved into (by root) before it becomes the user. */
  cgroup?: string;
}

function run(cmd: string, args: string[]): RunResult {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** The passwd entry of `name` (uid, gid, home), or undefined when there is none. */
function passwdEntry(name: string): { uid: number; gid: number; home: string } | undefined {
  const result = run("getent", ["passwd", name]);
  if (result.code !== 0) return undefined;
  const fields = result.stdout.trim().split(":");
  return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
}

/** Adds `name:start:count` to a subid file unless `name` already has a line there. */
function ensureSubidLine(file: string, name: string, start: number, count: number): void {
  let text = "";
  try {
    text = Deno.readTextFileSync(file);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (text.split("\n").some((line) => line.split(":")[0] === name)) return;
  const line = `${name}:${start}:${count}\n`;
  Deno.writeTextFileSync(file, (text && !text.endsWith("\n") ? "\n" : "") + line, {
    append: true,
    mode: 0o644,
  });
}

/** The user's range from a subid file (the first line naming it). */
function subidRange(file: string, name: string): { start: number; count: number } {
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const [owner, start, count] = line.split(":");
    if (owner === name) return { start: Number(start), count: Number(count) };
  }
  throw new Error(`${file} has no line for ${name}`);
}

/**
 * Makes sure the test user exists with everything rootless tools need, and returns it: the account
 * with a home (useradd -m), its /etc/subuid and /etc/subgid range, and /run/user/UID (0700, its
 * own). Safe to call from several tests: each step checks first.
 */
export function ensureRootlessUser(): RootlessUser {
  let entry = passwdEntry(ROOTLESS_USER);
  if (!entry) {
    // Debian's useradd gives a new user a subordinate range itself; -K puts it at SUBID_START,
    // away from the 100000 that root's `podman --uidmap 0:100000:65536` uses.
    const max = String(SUBID_START + SUBID_COUNT - 1);
    const added = run("useradd", [
      "-m",
      "-s",
      "/bin/sh",
      "-U",
      ...["-K", `SUB_UID_MIN=${SUBID_START}`, "-K", `SUB_UID_MAX=${max}`],
      ...["-K", `SUB_GID_MIN=${SUBID_START}`, "-K", `SUB_GID_MAX=${max}`],
      ...["-K", `SUB_UID_COUNT=${SUBID_COUNT}`, "-K", `SUB_GID_COUNT=${SUBID_COUNT}`],
      ROOTLESS_USER,
    ]);
    // Another test file may have added it in the meantime (exit 9: the name is taken).
    if (added.code !== 0 && added.code !== 9) {
      throw new Error(`useradd ${ROOTLESS_USER} exited ${added.code}: ${added.stderr.trim()}`);
    }
    entry = passwdEntry(ROOTLESS_USER);
    if (!entry) throw new Error(`useradd ${ROOTLESS_USER} made no passwd entry`);
  }
  Deno.mkdirSync(entry.home, { recursive: true });
  Deno.chownSync(entry.home, entry.uid, entry.gid);
  ensureSubidLine("/etc/subuid", ROOTLESS_USER, SUBID_START, SUBID_COUNT);
  ensureSubidLine("/etc/subgid", ROOTLESS_USER, SUBID_START, SUBID_COUNT);
  const runtimeDir = `/run/user/${entry.uid}`;
  Deno.mkdirSync(runtimeDir, { recursive: true });
  Deno.chownSync(runtimeDir, entry.uid, entry.gid);
  Deno.chmodSync(runtimeDir, 0o700);
  return {
    name: ROOTLESS_USER,
    uid: entry.uid,
    gid: entry.gid,
    home: entry.home,
    runtimeDir,
    subid: subidRange("/etc/subuid", ROOTLESS_USER),
  };
}

/** The clean environment commands run with as the user. */
export function userEnv(user: RootlessUser): Record<string, string> {
  return {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    XDG_RUNTIME_DIR: user.runtimeDir,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
  };
}

/**
 * Runs `cmd` as the user: real and effective uid/gid, its supplementary groups (setpriv
 * --init-groups), no capabilities left (the kernel clears them when root's uids change), and only
 * the environment of userEnv() plus `options.env`. Output goes through files, so a process the
 * command leaves behind cannot hold the test up.
 */
export async function runAs(
  user: RootlessUser,
  cmd: string[],
  options: RunAsOptions = {},
): Promise<RunResult> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-rl-out-" });
  try {
    const [out, err, input] = ["out", "err", "in"].map((f) => join(dir, f));
    await Deno.writeTextFile(input, options.stdin ?? "");
    const env = { ...userEnv(user), ...(options.env ?? {}) };
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        '[ -z "$CG" ] || echo $$ >"$CG/cgroup.procs" || exit 125; exec "$@" <"$IN" >"$OUT" 2>"$ERR"',
        "sh",
        "setpriv",
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--init-groups",
        "env",
        "-i",
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...cmd,
      ],
      env: { IN: input, OUT: out, ERR: err, CG: options.cgroup ?? "" },
      clearEnv: true,
      cwd: options.cwd ?? user.home,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, options.timeoutMs ?? 120_000);
    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      clearTimeout(timer);
    }
    return {
      code: status.signal ? 128 : status.code,
      stdout: await Deno.readTextFile(out),
      stderr: await Deno.readTextFile(err),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs dist/skiff as the user (default --root: the user's XDG_RUNTIME_DIR/skiff). */
export function runSkiffAs(
  user: RootlessUser,
  args: string[],
  options: RunAsOptions = {},
): Promise<RunResult> {
  return runAs(user, [SKIFF, ...args], options);
}

/**
 * Why the user cannot run dist/skiff here, or undefined when it can: dist/skiff, the Deno binary
 * it runs, the module Deno runs, and every directory above them must be readable (executable for
 * the programs) and searchable by others (the user is in no group of theirs). Used as a skip
 * reason.
 */
export function rootlessBlocker(): string | undefined {
  try {
    Deno.statSync(SKIFF);
  } catch {
    return `${SKIFF} is missing (deno task build)`;
  }
  // launch.json (scripts/build.ts writes it for the native launcher and the shebang script alike)
  // names what dist/skiff runs.
  const info = readLaunchInfo(SKIFF);
  if (!info) return `${SKIFF} has no skiff.d/launch.json beside it (deno task build)`;
  const need: [string, number][] = [
    [SKIFF, 0o5],
    [info.deno, 0o5],
    [info.module, 0o4],
    ...Object.values(info.commandModules ?? {}).map((m): [string, number] => [m, 0o4]),
  ];
  for (const [file, mask] of need) {
    for (let path = file; path !== "/"; path = dirname(path)) {
      const mode = Deno.statSync(path).mode! & 0o7;
      const want = path === file ? mask : 0o1;
      if ((mode & want) !== want) {
        return `${path} is not ${
          path !== file ? "searchable" : mask & 1 ? "readable and executable" : "readable"
        } by others (mode ${mode.toString(8)}), so ${ROOTLESS_USER} cannot run ${SKIFF}`;
      }
    }
  }
  return undefined;
}

/** Removes `path` (a directory the user made, or one a test made for it); missing is fine. */
export function removeUserTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
