import type { Namespace, NamespaceType } from "../spec/config.ts";
import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWTIME,
  CLONE_NEWUSER,
  CLONE_NEWUTS,
} from "../ffi/constants.ts";

/** CLONE_* flag of each spec namespace type. */
export const NAMESPACE_FLAGS: Record<NamespaceType, number> = {
  user: CLONE_NEWUSER,
  ipc: CLONE_NEWIPC,
  uts: CLONE_NEWUTS,
  network: CLONE_NEWNET,
  pid: CLONE_NEWPID,
  mount: CLONE_NEWNS,
  cgroup: CLONE_NEWCGROUP,
  time: CLONE_NEWTIME,
};

/** Name of each type under /proc/<pid>/ns (the "for_children" link where one exists). */
export const PROC_NS_NAMES: Record<NamespaceType, string> = {
  user: "user",
  ipc: "ipc",
  uts: "uts",
  network: "net",
  pid: "pid_for_children",
  mount: "mnt",
  cgroup: "cgroup",
  time: "time_for_children",
};

/** How the init's namespaces are made: joined by path, then the rest created with one unshare. */
export interface NamespacePlan {
  /** Existing namespaces to setns(2) into, mount last (it changes how later paths resolve). */
  join: { type: NamespaceType; path: string; flag: number; index: number }[];
  /** unshare(2) flags for the namespaces to create. */
  create: number;
  /** Every type the plan changes on the calling thread (to restore afterwards). */
  touched: NamespaceType[];
}

// setns order: user first (it grants rights over the rest), mount last.
const JOIN_ORDER: NamespaceType[] = [
  "user",
  "ipc",
  "uts",
  "network",
  "pid",
  "cgroup",
  "time",
  "mount",
];

/** Plans the namespaces of config.json's `linux.namespaces` (pure). */
export function planNamespaces(namespaces: readonly Namespace[]): NamespacePlan {
  const join: NamespacePlan["join"] = [];
  let create = 0;
  const touched: NamespaceType[] = [];
  namespaces.forEach((ns, index) => {
    touched.push(ns.type);
    if (ns.path) {
      join.push({ type: ns.type, path: ns.path, flag: NAMESPACE_FLAGS[ns.type], index });
    } else {
      create |= NAMESPACE_FLAGS[ns.type];
    }
  });
  join.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  return { join, create, touched };
}

// In its own module: `delete` asks it, without this module's CLONE_* flags (ffi/constants.ts).
export { sharesHostMounts } from "./host_mounts.ts";
