/**
 * Whether a container keeps the runtime's mount namespace, for `delete` without namespaces.ts and
 * the ~5 KB of kernel constants it loads (issue 11).
 * @module
 */
import type { Spec } from "../spec/config.ts";

/** True when config.json lists no mount namespace: the container keeps the runtime's. */
export function sharesHostMounts(spec: Spec): boolean {
  return !(spec.linux?.namespaces ?? []).some((ns) => ns.type === "mount");
}
