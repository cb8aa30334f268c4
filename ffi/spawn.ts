/**
 * Processes that Deno does not spawn: posix_spawn(3), and waitpid(2) to reap them. Apart from
 * ffi/process.ts, which every command loads (geteuid, kill): only create and exec need these.
 */
import { check, lazyLibc, libc } from "./_libc.ts";
import { SyscallError } from "./errno.ts";
import { cString, cStringArray } from "./c_string.ts";

// A separate binding: with nonblocking, Deno runs waitpid(2) on a thread of its own pool, so
// awaiting it leaves the event loop free. errno belongs to that thread, so a failure is repeated
// synchronously with WNOHANG to learn its errno (waitPid()).
const blockingLibc = lazyLibc(
  {
    /** pid_t waitpid(pid_t pid, int *wstatus, int options); */
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
  } as const,
);

const WNOHANG = 1;

/** How a process ended, as Deno.CommandStatus says it. */
export interface WaitStatus {
  success: boolean;
  code: number;
  signal: number | null;
}

/**
 * Waits for child `pid` (one Deno did not spawn, so Deno does not reap it) and reaps it.
 * @returns its exit code, or the signal that killed it (code 128+N, as a shell reports it).
 */
export async function waitPid(pid: number): Promise<WaitStatus> {
  const status = new Int32Array(1);
  const raw = new Uint8Array(status.buffer);
  for (;;) {
    let result = await blockingLibc.waitpid(pid, raw, 0);
    if (result === -1) {
      // Failed on the other thread (EINTR, or ECHILD): ask again here, where errno can be read.
      result = check(
        "waitpid",
        () => `pid=${pid}, options=WNOHANG`,
        () => libc().waitpid(pid, raw, WNOHANG),
      );
    }
    if (result !== pid) continue;
    const value = status[0];
    const signal = value & 0x7f;
    if (signal === 0) {
      const code = (value >> 8) & 0xff;
      return { success: code === 0, code, signal: null };
    }
    return { success: false, code: 128 + signal, signal };
  }
}

const spawnLibc = lazyLibc(
  {
    /** int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
     *  const posix_spawnattr_t *attr, char *const argv[], char *const envp[]); */
    posix_spawn: {
      parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
      result: "i32",
    },
    posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
    posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
    posix_spawn_file_actions_addopen: {
      parameters: ["buffer", "i32", "buffer", "i32", "u32"],
      result: "i32",
    },
    posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
    posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
    posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
    posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  } as const,
);

const POSIX_SPAWN_SETSIGMASK = 0x08;
const O_RDWR = 2;

/**
 * posix_spawn(3) of `path` with `argv` and `envp`: glibc's clone(CLONE_VM|CLONE_VFORK) + execve,
 * with an empty signal mask, and stdio on /dev/null when `nullStdio`, on `stdioFds` (dup2'd to 0, 1
 * and 2) when given, else this process's own.
 * A first Deno.Command spawn in a process costs 30 ms and more (its child reaper starts); this
 * costs what an exec costs. Deno does not know the child: reap it with waitPid().
 * @returns the child's pid, once it has exec'd.
 */
export function posixSpawn(
  path: string,
  argv: readonly string[],
  envp: readonly string[],
  nullStdio: boolean,
  stdioFds?: readonly [number, number, number],
): number {
  const lib = spawnLibc;
  // glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336: room to spare.
  const actions = new Uint8Array(256);
  const attr = new Uint8Array(512);
  const mask = new Uint8Array(128); // sigset_t, empty
  const devNull = cString("/dev/null");
  const fail = (what: string, value: number): never => {
    throw new SyscallError(what, value, `path=${path}`);
  };
  let value = lib.posix_spawn_file_actions_init(actions);
  if (value !== 0) fail("posix_spawn_file_actions_init", value);
  try {
    value = lib.posix_spawnattr_init(attr);
    if (value !== 0) fail("posix_spawnattr_init", value);
    try {
      if (nullStdio) {
        value = lib.posix_spawn_file_actions_addopen(actions, 0, devNull, O_RDWR, 0);
        if (value !== 0) fail("posix_spawn_file_actions_addopen", value);
        for (const fd of [1, 2]) {
          value = lib.posix_spawn_file_actions_adddup2(actions, 0, fd);
          if (value !== 0) fail("posix_spawn_file_actions_adddup2", value);
        }
      }
      for (const [to, from] of (nullStdio ? [] : stdioFds ?? []).entries()) {
        value = lib.posix_spawn_file_actions_adddup2(actions, from, to);
        if (value !== 0) fail("posix_spawn_file_actions_adddup2", value);
      }
      value = lib.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK);
      if (value !== 0) fail("posix_spawnattr_setflags", value);
      value = lib.posix_spawnattr_setsigmask(attr, mask);
      if (value !== 0) fail("posix_spawnattr_setsigmask", value);
      const a = cStringArray(argv);
      const e = cStringArray(envp);
      const pid = new Int32Array(1);
      value = lib.posix_spawn(
        new Uint8Array(pid.buffer),
        cString(path),
        actions,
        attr,
        a.array,
        e.array,
      );
      void a.keep;
      void e.keep;
      if (value !== 0) fail("posix_spawn", value);
      return pid[0];
    } finally {
      lib.posix_spawnattr_destroy(attr);
    }
  } finally {
    lib.posix_spawn_file_actions_destroy(actions);
  }
}
