import {
  cloexecFrom,
  close,
  execve,
  joinSessionKeyring,
  O_CLOEXEC,
  O_RDWR,
  open,
  PR_SET_DUMPABLE,
  PR_SET_PDEATHSIG,
  prctl,
  read,
  readAll,
  setdomainname,
  sethostname,
  setKeyPermissions,
  writeAll,
} from "../../ffi/mod.ts";
import type { Bootstrap, SyncMessage } from "../process/bootstrap.ts";
import { finishRootfs, setupRootfs } from "../rootfs/prepare.ts";
import { capabilityMasks, lastCapability } from "../security/capabilities.ts";
import { finalizeProcess } from "./finalize.ts";
import { errorChain } from "../errors.ts";
import { trace } from "../log.ts";

const encoder = new TextEncoder();

function send(fd: number, message: SyncMessage): void {
  writeAll(fd, encoder.encode(JSON.stringify(message) + "\n"));
}

function applySysctl(sysctl: Record<string, string>): void {
  for (const [key, value] of Object.entries(sysctl)) {
    const file = `/proc/sys/${key.replaceAll(".", "/")}`;
    try {
      Deno.writeTextFileSync(file, value);
    } catch (err) {
      throw new Error(`linux.sysctl.${key}: cannot write ${JSON.stringify(value)} to ${file}`, {
        cause: err,
      });
    }
  }
}

function setOomScoreAdj(value: number | undefined): void {
  if (value === undefined) return;
  try {
    Deno.writeTextFileSync("/proc/self/oom_score_adj", String(value));
  } catch (err) {
    throw new Error(`process.oomScoreAdj: cannot set ${value}`, { cause: err });
  }
}

/**
 * Gives the container its own session keyring, named `_ses.<id>` as runc does, so containers do not
 * share the caller's keys. Possessor and user get every right, so a uid change keeps access.
 */
function newSessionKeyring(id: string): void {
  let serial: number;
  try {
    serial = joinSessionKeyring(`_ses.${id}`);
  } catch (err) {
    // Kernels without keyrings (ENOSYS) or that refuse them to containers are skipped, as runc does.
    if (
      (err as { code?: string }).code === "ENOSYS" || (err as { code?: string }).code === "EACCES"
    ) {
      return;
    }
    throw new Error("cannot join a new session keyring (use --no-new-keyring to skip)", {
      cause: err,
    });
  }
  setKeyPermissions(serial, 0x3f3f0000);
}

/**
 * `skiff init BOOTSTRAP_FD SYNC_FD`: the container's first process. It is born in the container's
 * namespaces (see process/bootstrap.ts for the handshake), builds the root filesystem and the
 * process identity, reports ready, waits for `start`, and execve()s process.args. It never returns.
 */
export function initMain(args: readonly string[]): never {
  trace("init: main");
  const bootstrapFd = Number(args[0]);
  const syncFd = Number(args[1]);
  // Nothing in the container may open /proc/<pid>/exe or /proc/<pid>/mem of this process
  // (CVE-2019-5736): only a dumpable process's exe link is reachable by others.
  prctl(PR_SET_DUMPABLE, 0);
  // If the CLI dies before the container is created, the init must not linger.
  prctl(PR_SET_PDEATHSIG, 9);
  let fifoFd: number;
  let target: ReturnType<typeof finalizeProcess>;
  let boot: Bootstrap;
  try {
    boot = JSON.parse(new TextDecoder().decode(readAll(bootstrapFd)));
    close(bootstrapFd);
    const spec = boot.spec;
    const process = spec.process!;
    // Read what the host knows before the host disappears behind pivot_root.
    const lastCap = lastCapability();
    const masks = capabilityMasks(process.capabilities, lastCap);
    for (const name of masks.unsupported) {
      send(syncFd, {
        type: "warning",
        message: `capability ${name} is not supported by the kernel`,
      });
    }
    trace("init: bootstrap read");
    fifoFd = open(boot.fifo, O_RDWR | O_CLOEXEC);
    setOomScoreAdj(process.oomScoreAdj);
    if (!boot.noNewKeyring) newSessionKeyring(boot.id);
    setupRootfs(spec, { rootfs: boot.rootfs, bundle: boot.bundle, noPivot: boot.noPivot });
    trace("init: rootfs ready");
    if (spec.hostname) sethostname(spec.hostname);
    if (spec.domainname) setdomainname(spec.domainname);
    // Before readonlyPaths, which usually include /proc/sys (runc's order).
    applySysctl(spec.linux?.sysctl ?? {});
    finishRootfs(spec);
    target = finalizeProcess(process, masks, lastCap);
    if (boot.listenFds) {
      target.env = target.env.filter((e) => !/^LISTEN_(FDS|PID)=/.test(e));
      target.env.push(`LISTEN_FDS=${boot.listenFds}`, "LISTEN_PID=1");
    }
    prctl(PR_SET_PDEATHSIG, 0);
    trace("init: ready");
    send(syncFd, { type: "ready" });
    close(syncFd);
  } catch (err) {
    try {
      send(syncFd, { type: "error", message: errorChain(err) });
    } catch {
      // The CLI is gone; nobody to tell.
    }
    Deno.exit(1);
  }
  // Block until `skiff start` writes a byte.
  for (;;) {
    const got = read(fifoFd, 1);
    if (got.length > 0) break;
  }
  close(fifoFd);
  trace("init: started, execve");
  // Only fds 0-2, LISTEN_FDS and the preserved ones reach the container process (CVE-2024-21626).
  cloexecFrom(3 + (boot.listenFds ?? 0) + (boot.preserveFds ?? 0));
  try {
    execve(target.path, target.argv, target.env);
  } catch (err) {
    Deno.stderr.writeSync(encoder.encode(`skiff init: ${errorChain(err)}\n`));
    Deno.exit(127);
  }
}
