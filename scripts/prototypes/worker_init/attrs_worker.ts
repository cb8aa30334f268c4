/**
 * PROTOTYPE (issue 11, question 4): the worker half of attrs_probe.ts. Changes one init attribute
 * at a time on its own thread (raw system calls, x86_64 numbers) and reports its tid; then spawns a
 * child that prints what it inherited.
 */
import { post, scope } from "./_worker_scope.ts";
import { sys } from "./_sys.ts";
import { cString } from "../../../ffi/c_string.ts";

const addr = (b: Uint8Array) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));

/** One attribute: how the worker changes it. Order matters: credentials go last. */
const STEPS: Record<string, () => unknown> = {
  // prlimit64(0, RLIMIT_NOFILE, {512, 512}, NULL)
  rlimit: () =>
    sys(
      "prlimit64",
      302,
      0n,
      7n,
      addr(new Uint8Array(new BigUint64Array([512n, 512n]).buffer)),
      0n,
    ),
  // unshare(CLONE_FS) first: umask and cwd live in fs_struct.
  "umask (after unshare CLONE_FS)": () => (sys("unshare", 272, 0x200n), sys("umask", 95, 0o077n)),
  "chdir (after unshare CLONE_FS)": () => sys("chdir", 80, addr(cString("/tmp"))),
  // unshare(CLONE_FILES), then dup2(/dev/null, 0)
  "dup2 onto 0 (after unshare CLONE_FILES)": () => {
    sys("unshare", 272, 0x400n);
    const fd = sys("open", 2, addr(cString("/dev/null")), 0n, 0n);
    sys("dup2", 33, fd, 0n);
    sys("close", 3, fd);
  },
  "oom_score_adj (/proc/thread-self)": () =>
    Deno.writeTextFileSync("/proc/thread-self/oom_score_adj", "500"),
  // keyctl(KEYCTL_JOIN_SESSION_KEYRING, "proto")
  "keyctl join session keyring": () => sys("keyctl", 250, 1n, addr(cString("proto-worker"))),
  // personality(ADDR_NO_RANDOMIZE)
  personality: () => sys("personality", 135, 0x0040000n),
  // setpriority(PRIO_PROCESS, 0, 5)
  "nice (setpriority 0)": () => sys("setpriority", 141, 0n, 0n, 5n),
  // sched_setaffinity(0, 8, {cpu 0})
  "sched_setaffinity(0)": () =>
    sys("sched_setaffinity", 203, 0n, 8n, addr(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]))),
  // ioprio_set(IOPRIO_WHO_PROCESS, 0, IOPRIO_CLASS_BE << 13 | 7)
  "ioprio_set(WHO_PROCESS, 0)": () => sys("ioprio_set", 251, 1n, 0n, (2n << 13n) | 7n),
  // prctl(PR_SET_NO_NEW_PRIVS, 1)
  no_new_privs: () => sys("prctl", 157, 38n, 1n, 0n, 0n, 0n),
  // prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT=22)
  "capability bounding drop": () => sys("prctl", 157, 24n, 22n, 0n, 0n, 0n),
  // setsid(): per process (a session is the thread group's)
  setsid: () => sys("setsid", 112),
  // capset(v3, 0, effective=permitted=0 except CAP_SETUID(7)/CAP_SETGID(6))
  "capset (raw)": () => {
    const hdr = new Uint32Array([0x20080522, 0]);
    const keep = (1 << 6) | (1 << 7);
    const data = new Uint32Array([keep, keep, 0, 0, 0, 0]);
    sys("capset", 126, addr(new Uint8Array(hdr.buffer)), addr(new Uint8Array(data.buffer)));
  },
  "setresuid (raw)": () => sys("setresuid", 117, 1000n, 1000n, 1000n),
};

scope.onmessage = () => {
  const tid = Number(sys("gettid", 186));
  const results: Record<string, string> = {};
  // A child before anything changes, so Deno's spawn machinery exists.
  new Deno.Command("/bin/true").outputSync();
  for (const [name, step] of Object.entries(STEPS)) {
    try {
      step();
      results[name] = "ok";
    } catch (err) {
      results[name] = String((err as Error).message);
    }
  }
  const sessionKeyring = String(sys("keyctl", 250, 0n, -3n, 0n)); // KEYCTL_GET_KEYRING_ID @s
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      "grep -E '^(Uid|NoNewPrivs|CapEff|CapBnd|Cpus_allowed_list):' /proc/self/status; " +
      "grep 'open files' /proc/self/limits; echo oom=$(cat /proc/self/oom_score_adj) " +
      "pers=$(cat /proc/self/personality) umask=$(umask) cwd=$(pwd) stdin=$(readlink /proc/self/fd/0) " +
      "nice=$(cut -d' ' -f19 /proc/self/stat) sid=$(cut -d' ' -f6 /proc/self/stat)",
    ],
    stdin: "inherit",
    stdout: "piped",
  }).outputSync();
  post({ tid, results, sessionKeyring, child: new TextDecoder().decode(child.stdout) });
};
