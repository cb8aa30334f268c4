/**
 * Who is calling: root on the host, a user, or root inside a user namespace (rootless Podman runs
 * the runtime as uid 0 of its own user namespace). runc decides two things from this
 * (utils_linux.go shouldUseRootlessCgroupManager, shouldHonorXDGRuntimeDir), and Skiff decides
 * them the same way: where the state lives, and whether cgroups are optional.
 */

/**
 * The effective uid, from the `Uid:` line of /proc/self/status (real, effective, saved, fs):
 * geteuid(2) through ffi/ would make the first FFI call of `state`, `list` and the other light
 * calls, ~4 ms and ~4.4 MiB (issue 11). Without /proc, Deno.uid() (the real uid).
 */
export function effectiveUid(): number {
  try {
    const line = /^Uid:\s+\d+\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"));
    if (line) return Number(line[1]);
  } catch {
    // No /proc: fall back below.
  }
  return Deno.uid() ?? 0;
}

/** The identity mapping of the initial user namespace, as /proc/self/uid_map shows it. */
const INITIAL_UID_MAP = /^\s*0\s+0\s+4294967295\s*$/;

/**
 * True when `uidMap` (the text of /proc/self/uid_map) is not the initial namespace's identity
 * mapping, i.e. the process runs in a user namespace of its own (runc's userns.RunningInUserNS).
 */
export function isUserNamespaceMap(uidMap: string): boolean {
  const lines = uidMap.split("\n").filter((line) => line.trim() !== "");
  return !(lines.length === 1 && INITIAL_UID_MAP.test(lines[0]));
}

/** True when this process runs inside a user namespace other than the host's. */
export function inUserNamespace(): boolean {
  try {
    return isUserNamespaceMap(Deno.readTextFileSync("/proc/self/uid_map"));
  } catch {
    return false; // No /proc: nothing says otherwise.
  }
}

/**
 * True when the default state root is $XDG_RUNTIME_DIR/skiff: XDG_RUNTIME_DIR is set and the
 * caller is not root, or is root only inside a user namespace and $USER is not "root" (runc's
 * shouldHonorXDGRuntimeDir; rootless Podman calls the runtime that way).
 */
export function honorXdgRuntimeDir(env: (name: string) => string | undefined): boolean {
  if (!env("XDG_RUNTIME_DIR")) return false;
  if (effectiveUid() !== 0) return true;
  if (!inUserNamespace()) return false;
  const user = env("USER");
  return user === undefined || user !== "root";
}

/**
 * Whether cgroups are optional for this call (runc's rootless cgroup manager): `--rootless true`
 * or `false` decide; without it (or with `auto`) a caller that is not root, or is root only in a
 * user namespace, is rootless.
 */
export function rootlessCgroups(flag: string | undefined): boolean {
  if (flag === "true") return true;
  if (flag === "false") return false;
  return effectiveUid() !== 0 || inUserNamespace();
}
