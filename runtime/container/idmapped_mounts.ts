/**
 * Idmapped mounts (runtime-spec 1.2: a bind mount's `uidMappings`/`gidMappings`, options
 * `idmap`/`ridmap`), made by the CLI before it spawns the init.
 *
 * mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over the source's filesystem, which the init
 * lacks once it runs in a user namespace of its own; the CLI, as host root, has it. So the CLI
 * makes each such mount detached, as an fd:
 *
 *   open_tree(source, OPEN_TREE_CLONE [| AT_RECURSIVE for rbind])
 *   mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE for ridmap], {MOUNT_ATTR_IDMAP, userns_fd})
 *
 * The user namespace only carries the mapping: a throwaway one per distinct mapping, released once
 * the mounts hold it. The fds are inheritable; the init finds their numbers in the bootstrap
 * (`mountFds`) and attaches each with move_mount() where it would have bind-mounted that entry
 * (rootfs/mounts.ts). The CLI closes its copies once the init is spawned. A detached mount that is
 * never attached goes away with its last fd, so a failed create leaves no mount anywhere.
 */
import type { IdMapping, Spec } from "../../spec/config.ts";
import { mountIdmap } from "../../spec/idmap.ts";
import { MS_REC, O_CLOEXEC, O_RDONLY } from "../../ffi/constants.ts";
import { close, open } from "../../ffi/fs.ts";
import { mountSetIdmap, openTreeClone } from "../../ffi/mount.ts";
import { isErrno } from "../../ffi/errno.ts";
import { parseMountOptions } from "../rootfs/mount_options.ts";
import { type HeldUserNamespace, holdUserNamespace } from "../trampoline/userns.ts";

/** The detached idmapped mounts of a container, by index in `mounts`. */
export interface IdmappedMounts {
  /** mounts[] index -> fd of the detached mount (inheritable), for Bootstrap.mountFds. */
  fds: Record<number, number>;
  /** Closes this process's copies of the fds (after the init is spawned, or on failure); once. */
  close(): void;
}

/** A user namespace to take an id mapping from: one made for the mapping, or the container's. */
type MappingSource = { uidMappings: IdMapping[]; gidMappings: IdMapping[] } | { path: string };

/**
 * Makes every idmapped mount of `spec` as a detached mount fd (see the top of this file).
 * Relative sources are taken from `bundle`, as for every bind mount.
 * @throws Error naming mounts[i] and the source, with the failing call as cause; nothing is left.
 */
export async function openIdmappedMounts(spec: Spec, bundle: string): Promise<IdmappedMounts> {
  const planned: { index: number; source: string; recursive: boolean; from: MappingSource }[] = [];
  (spec.mounts ?? []).forEach((m, index) => {
    const idmap = mountIdmap(m);
    if (idmap === undefined) return;
    let source = m.source ?? "";
    if (!source.startsWith("/")) source = `${bundle}/${source}`;
    planned.push({
      index,
      source,
      recursive: idmap.recursive,
      from: mappingSource(spec, idmap.uidMappings, idmap.gidMappings),
    });
  });
  const fds: Record<number, number> = {};
  let closed = false;
  const result: IdmappedMounts = {
    fds,
    close() {
      if (closed) return;
      closed = true;
      for (const fd of Object.values(fds)) close(fd);
    },
  };
  if (planned.length === 0) return result;
  // Every user namespace first: making one may spawn a helper, which must not inherit mount fds.
  const namespaces = new Map<string, HeldUserNamespace>();
  try {
    for (const { index, source, from } of planned) {
      const key = JSON.stringify(from);
      if (namespaces.has(key)) continue;
      try {
        namespaces.set(key, await userNamespace(from));
      } catch (err) {
        throw new Error(`mounts[${index}]: cannot make the user namespace for ${source}'s idmap`, {
          cause: err,
        });
      }
    }
    for (const { index, source, recursive, from } of planned) {
      const m = spec.mounts![index];
      // Like a bind mount: the tree below the source for rbind only.
      const tree = (parseMountOptions(m.options).flags & MS_REC) !== 0;
      let fd: number | undefined;
      try {
        fd = openTreeClone(source, tree);
        mountSetIdmap(fd, namespaces.get(JSON.stringify(from))!.fd, recursive, source);
      } catch (err) {
        if (fd !== undefined) close(fd);
        const hint = isErrno(err, "EINVAL")
          ? " (does its filesystem support idmapped mounts on this kernel?)"
          : "";
        throw new Error(`mounts[${index}]: cannot make an idmapped mount of ${source}${hint}`, {
          cause: err,
        });
      }
      fds[index] = fd;
    }
    return result;
  } catch (err) {
    result.close();
    throw err;
  } finally {
    // The mounts hold their mappings' namespaces now.
    for (const ns of namespaces.values()) await ns.release();
  }
}

/**
 * Where a mount's mapping comes from: its own mappings, or (option alone, config.md) those of the
 * container's user namespace, joined by path or made from linux.uidMappings/gidMappings.
 */
function mappingSource(
  spec: Spec,
  uidMappings: IdMapping[] | undefined,
  gidMappings: IdMapping[] | undefined,
): MappingSource {
  if (uidMappings && gidMappings) return { uidMappings, gidMappings };
  const path = spec.linux?.namespaces?.find((n) => n.type === "user")?.path;
  if (path) return { path };
  return { uidMappings: spec.linux?.uidMappings ?? [], gidMappings: spec.linux?.gidMappings ?? [] };
}

async function userNamespace(from: MappingSource): Promise<HeldUserNamespace> {
  if ("path" in from) {
    const fd = open(from.path, O_RDONLY | O_CLOEXEC);
    return {
      fd,
      release: () => {
        close(fd);
        return Promise.resolve();
      },
    };
  }
  return await holdUserNamespace(from.uidMappings, from.gidMappings);
}
