/** Kernel settings the container's init makes for its container, and what it reads of the host. */
import { joinSessionKeyring, setKeyPermissions } from "../../ffi/process.ts";
import { isErrno } from "../../ffi/errno.ts";
import { writeProcFile } from "../procfs.ts";

/**
 * Writes linux.sysctl under /proc/sys (inside the container's namespaces, after pivot_root, or
 * before it under `root`, the rootfs): only into a procfs file, never through a symlink, bind mount
 * or plain file the container put there.
 */
export function applySysctl(sysctl: Record<string, string>, root = "/"): void {
  for (const [key, value] of Object.entries(sysctl)) {
    const file = `/proc/sys/${key.replaceAll(".", "/")}`;
    try {
      writeProcFile(file, value, root === "/" ? "/proc" : `${root}/proc`);
    } catch (err) {
      throw new Error(`linux.sysctl.${key}: cannot write ${JSON.stringify(value)} to ${file}`, {
        cause: err,
      });
    }
  }
}

/** Sets process.oomScoreAdj, when given. */
export function setOomScoreAdj(value: number | undefined): void {
  if (value === undefined) return;
  try {
    writeProcFile("/proc/self/oom_score_adj", String(value));
  } catch (err) {
    throw new Error(`process.oomScoreAdj: cannot set ${value}`, { cause: err });
  }
}

/** This process's pid in the host's PID namespace (first NSpid entry), read before pivot_root. */
export function readHostPid(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

/**
 * Gives the container its own session keyring, named `_ses.<id>` as runc does, so containers do not
 * share the caller's keys. Possessor and user get every right, so a uid change keeps access.
 */
export function newSessionKeyring(id: string): void {
  let serial: number;
  try {
    serial = joinSessionKeyring(`_ses.${id}`);
  } catch (err) {
    // Kernels without keyrings (ENOSYS) or that refuse them to containers are skipped, as runc does.
    if (isErrno(err, "ENOSYS", "EACCES")) return;
    throw new Error("cannot join a new session keyring (use --no-new-keyring to skip)", {
      cause: err,
    });
  }
  setKeyPermissions(serial, 0x3f3f0000);
}
