/**
 * The trampoline init's work inside PID 1's uts, ipc, net and mount namespaces (init_trampoline.ts
 * buildContainer): the rootfs mounts, then the console, hostname, domainname, sysctl, read-only
 * and masked paths, and args[0] and HOME resolved in a chroot of the rootfs. It runs on one of two
 * threads of the CLI:
 *
 * - its main thread (root in the host's user namespace, the fast path): it enters, works and
 *   setns's back to the namespaces, root and cwd it saved (inNamespacesOf);
 * - a throw-away Worker when Skiff itself runs in a nested user namespace (rootless Podman). There
 *   the main thread could enter PID 1's namespaces but never come back to its own uts, ipc and net
 *   ones: a user namespace above its own owns them, and setns(2) needs CAP_SYS_ADMIN over the
 *   owner. The worker's thread enters them and never comes back: it ends (namespace_worker.ts).
 *
 * ```
 *   main thread (host namespaces)                  worker thread (name "skiff-namespaces")
 *   -----------------------------                  ---------------------------------------
 *   new Worker(namespace_worker.ts), before the    loads that module and all it imports (no
 *   trampoline is spawned ------------------------> module loads once it entered), opens libc,
 *                                                  unshare(CLONE_FS): its own root and cwd
 *   PID 1 at its sync point; cgroup etc.
 *   {step: "mounts", work} -----------------------> setns PID 1's uts, ipc, net, mnt [as the
 *                                                  container's root: setfsuid/setfsgid];
 *                                                  mountsIn(work)
 *   <--------------------------------------------- {ok} or {error: errorData()}
 *   prestart, createRuntime hooks (host)
 *   {step: "finish", work, env} ------------------> finishIn(work, env): console, hostname,
 *                                                  sysctl, finishRootfs, chroot, lookPath
 *   <--------------------------------------------- {ok, result: path, env, pty fds, propagation}
 *   terminate(): the thread exits, and with it
 *   the CLI's last hold on those namespaces
 * ```
 * fds are the process's, so the pty's numbers are valid on the main thread. After it entered, the
 * worker makes only sync calls: an async op would run on a pool thread spawned from it, which
 * would be born in the container's namespaces and outlive it (docs/prototypes/worker-init.md, 2).
 */
import type { Spec } from "../../spec/config.ts";
import {
  CLONE_FS,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUTS,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_RDONLY,
} from "../../ffi/constants.ts";
import { chdir, chroot, close, fchdir, open } from "../../ffi/fs.ts";
import { setns, unshare } from "../../ffi/namespace.ts";
import { capget, capset, setdomainname, setFsIds, sethostname } from "../../ffi/process.ts";
import { fchown, fchownat } from "../../ffi/file_attrs.ts";
import { isErrno } from "../../ffi/errno.ts";
import { finishRootfs, mountRootfs, rootPropagationAfterSwitch } from "../rootfs/prepare.ts";
import { openInRoot, withRoot } from "../rootfs/open_in_root.ts";
import { hideHostPseudoFilesystems } from "../rootfs/pivot_root.ts";
import { applySysctl } from "../init/container_settings.ts";
import { homeOf, lookPath } from "../init/exec_path.ts";
import { openConsoleIn } from "../console.ts";
import { hostIdOf } from "../userns/maps.ts";

/** What the in-namespace work needs: structured-cloneable, so that a worker can be given it. */
export interface NamespaceWork {
  /** PID 1 (host pid): its namespaces are joined. */
  pid: number;
  spec: Spec;
  rootfs: string;
  bundle: string;
  noPivot: boolean;
  /** The container's cgroup directories (a cgroup mount shows them). */
  cgroupDirs: Record<string, string>;
  /** mounts[] index of the proc mount PID 1 made, or -1. */
  procIndex: number;
  /** Idmapped mounts the CLI made: mounts[] index -> detached mount fd. */
  mountFds?: Record<number, number>;
  /** With a user namespace: PID 1's uid_map and gid_map (the CLI works as its root). */
  maps?: IdMaps;
}

/** /proc/PID/uid_map and gid_map as read. */
export interface IdMaps {
  uid: string;
  gid: string;
}

/** What finishIn() resolved: the process's path and environment, its pty, the propagation. */
export interface FinishedWork {
  path: string;
  /** process.env, with HOME from the rootfs's /etc/passwd when it had none. */
  env: string[];
  /** With process.terminal: the pty (fds of this process) and the slave's path in the container. */
  pty?: { master: number; slave: number; slavePath: string };
  /** linux.rootfsPropagation for "/" after the switch, and the mounts' own to give back. */
  propagation: ReturnType<typeof rootPropagationAfterSwitch>;
}

/**
 * With a user namespace: the container's uid or gid `id` as a host id, from PID 1's maps (for
 * uid= and gid= mount options and the pty's owner, which the kernel reads in the CLI's user
 * namespace).
 */
export function hostIdsFrom(maps: IdMaps): (kind: "uid" | "gid", id: number) => number {
  return (kind, id) => {
    const host = hostIdOf(maps[kind], id);
    if (host === undefined) {
      throw new Error(`linux.${kind}Mappings: the container's ${kind} ${id} is not mapped`);
    }
    return host;
  };
}

/** The container's root as host ids, with a user namespace. */
function rootIds(work: NamespaceWork): { uid: number; gid: number } | undefined {
  if (!work.maps) return undefined;
  const hostId = hostIdsFrom(work.maps);
  return { uid: hostId("uid", 0), gid: hostId("gid", 0) };
}

/** In PID 1's namespaces: the rootfs's mounts and devices (without the proc PID 1 made). */
export function mountsIn(work: NamespaceWork): void {
  const { spec, rootfs } = work;
  const hostId = work.maps ? hostIdsFrom(work.maps) : undefined;
  asContainerRoot(work, (asRoot) => {
    mountRootfs(spec, {
      rootfs,
      bundle: work.bundle,
      noPivot: work.noPivot,
      cgroupDirs: work.cgroupDirs,
      hostMountNamespace: false,
      premounted: work.procIndex >= 0 ? [work.procIndex] : [],
      rootfsBound: true,
      hostId,
      // In a user namespace the CLI works as its root's host ids (fsuid/fsgid), as the Deno
      // init, its root, would: what it makes belongs to that root. Devices are bind-mounted,
      // never made: that root can't mknod (and a root mapped to host uid 0 keeps every file
      // capability here).
      bindDevices: hostId !== undefined,
      mountFds: work.mountFds,
    });
    if (asRoot) ownPseudoRoots(spec, rootfs, asRoot);
  });
}

/**
 * In PID 1's namespaces, after the prestart and createRuntime hooks: the console, hostname,
 * domainname, sysctl, read-only and masked paths, then args[0] and HOME resolved in a chroot of
 * the rootfs (the calling thread stays chrooted: its caller puts it back, or it ends).
 */
export function finishIn(work: NamespaceWork, processEnv: string[]): FinishedWork {
  const { spec, rootfs } = work;
  const process = spec.process!;
  const env = [...processEnv];
  let pty: FinishedWork["pty"];
  try {
    return asContainerRoot(work, () => {
      // Before the late read-only remounts, which may include /dev (the console bind goes there).
      if (process.terminal) pty = openConsoleIn(rootfs, process.consoleSize);
      if (spec.hostname) sethostname(spec.hostname);
      if (spec.domainname) setdomainname(spec.domainname);
      // Before readonlyPaths, which usually include /proc/sys (runc's order).
      // Through the container's own /proc (PID 1's): what the config mounted over /proc/sys counts.
      applySysctl(spec.linux?.sysctl ?? {}, rootfs);
      finishRootfs(spec, rootfs);
      const propagation = rootPropagationAfterSwitch(spec, rootfs);
      // --no-pivot: the host's procfs and sysfs mounts outside the rootfs stay under PID 1's
      // chroot; hidden now, as the Deno init's moveRoot() does.
      if (work.noPivot) hideHostPseudoFilesystems(rootfs);
      const root = open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      try {
        fchdir(root);
        chroot(".");
      } finally {
        close(root);
      }
      if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${homeOf(process.user.uid)}`);
      try {
        chdir(process.cwd);
      } catch {
        // PID 1 says so, as the process's cwd.
      }
      const path = lookPath((process.args ?? [])[0], env);
      return { path, env, pty, propagation };
    });
  } catch (err) {
    if (pty) {
      close(pty.master);
      close(pty.slave);
    }
    throw err;
  }
}

/** Runs `fn` as the container's root (fsuid/fsgid) with a user namespace, then as the CLI again. */
function asContainerRoot<T>(
  work: NamespaceWork,
  fn: (asRoot: { uid: number; gid: number } | undefined) => T,
): T {
  const asRoot = rootIds(work);
  if (!asRoot) return fn(undefined);
  actAs(asRoot);
  try {
    return fn(asRoot);
  } finally {
    setFsIds(Deno.uid() ?? 0, Deno.gid() ?? 0);
  }
}

/**
 * CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER: what the container's root holds over its
 * own files in its user namespace (a root-owned 0555 "/" is writable to it).
 */
const ROOT_FILE_CAPS = (1n << 1n) | (1n << 2n) | (1n << 3n);

/**
 * Makes the calling thread create files as the container's root (`ids`, host ids):
 * setfsuid/setfsgid, then the DAC capabilities the kernel dropped with them raised again, as the
 * container's root has them over its rootfs. CAP_MKNOD and CAP_CHOWN stay dropped: devices are
 * bound, not made. Undone by setFsIds() back to the CLI's own ids, which raises the whole set again.
 */
function actAs(ids: { uid: number; gid: number }): void {
  setFsIds(ids.uid, ids.gid);
  const sets = capget();
  capset({ ...sets, effective: sets.effective | (sets.permitted & ROOT_FILE_CAPS) });
}

/**
 * A devpts that the CLI mounts belongs to the CLI's user namespace: its root directory and its
 * ptmx are the host root's, where a devpts mounted by the container's root (the Deno init) is that
 * root's. Given to the container's root, with the file capabilities back for the chown.
 */
function ownPseudoRoots(spec: Spec, rootfs: string, root: { uid: number; gid: number }): void {
  setFsIds(Deno.uid() ?? 0, Deno.gid() ?? 0);
  try {
    withRoot(rootfs, (handle) => {
      for (const m of spec.mounts ?? []) {
        if (m.type !== "devpts") continue;
        const fd = openInRoot(handle, m.destination, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        try {
          fchown(fd, root.uid, root.gid);
          try {
            fchownat(fd, "ptmx", root.uid, root.gid);
          } catch (err) {
            if (!isErrno(err, "ENOENT")) throw err;
          }
        } finally {
          close(fd);
        }
      }
    });
  } finally {
    setFsIds(root.uid, root.gid);
  }
}

const JOINED: [string, number][] = [
  ["uts", CLONE_NEWUTS],
  ["ipc", CLONE_NEWIPC],
  ["net", CLONE_NEWNET],
  // Last: setns(2) into a mount namespace also moves root and cwd.
  ["mnt", CLONE_NEWNS],
];

/** The namespaces joined: uts, ipc, net, mnt, and with `pidForChildren` the PID one first. */
export function joinedOf(pidForChildren: boolean): [string, string, number][] {
  const joined: [string, string, number][] = JOINED.map(([name, flag]) => [name, name, flag]);
  if (pidForChildren) joined.unshift(["pid", "pid_for_children", CLONE_NEWPID]);
  return joined;
}

/** setns's the calling thread into `pid`'s namespaces of `joined`, in order. */
export function joinNamespaces(pid: number, joined: [string, string, number][]): void {
  for (const [name, , flag] of joined) {
    const path = `/proc/${pid}/ns/${name}`;
    const fd = open(path, O_RDONLY | O_CLOEXEC);
    try {
      setns(fd, flag, path);
    } finally {
      close(fd);
    }
  }
}

/**
 * Runs `fn` on the main thread inside `pid`'s uts, ipc, net and mount namespaces, then puts the
 * thread back where it was (namespaces, root, cwd).
 */
export function inNamespacesOf<T>(pid: number, fn: () => T): T {
  const back = enterNamespacesOf(pid, false);
  try {
    return fn();
  } finally {
    back();
  }
}

/**
 * Moves the main thread into `pid`'s uts, ipc, net and mount namespaces (and, with `pidForChildren`,
 * makes its children members of `pid`'s PID namespace); returns what puts it back (namespaces,
 * root, cwd).
 */
export function enterNamespacesOf(pid: number, pidForChildren: boolean): () => void {
  // The main thread gets an fs_struct of its own, once: the other threads keep the host's root.
  unshare(CLONE_FS);
  const joined = joinedOf(pidForChildren);
  const saved: { fd: number; flag: number; name: string }[] = [];
  const hostRoot = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const hostCwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const back = () => {
    try {
      for (const { fd, flag, name } of saved) setns(fd, flag, `the CLI's own ${name} namespace`);
      fchdir(hostRoot);
      chroot(".");
      fchdir(hostCwd);
    } finally {
      for (const { fd } of saved) close(fd);
      close(hostRoot);
      close(hostCwd);
    }
  };
  try {
    for (const [, own, flag] of joined) {
      saved.push({
        fd: open(`/proc/thread-self/ns/${own}`, O_RDONLY | O_CLOEXEC),
        flag,
        name: own,
      });
    }
    joinNamespaces(pid, joined);
  } catch (err) {
    back();
    throw err;
  }
  return back;
}
