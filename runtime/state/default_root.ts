/**
 * The default state root of a caller that is not root on the host and has no XDG_RUNTIME_DIR:
 * imported on use by store.ts's defaultRootFinder(), as it asks access(2) through ffi/.
 * @module
 */
import { exists } from "../path.ts";
import { canWrite } from "../../ffi/fs.ts";
import { effectiveUid, honorXdgRuntimeDir, inUserNamespace } from "../rootless.ts";
import { join } from "../path.ts";
import { SYSTEM_ROOT } from "./store.ts";

/**
 * The default state root: /run/skiff for root, $XDG_RUNTIME_DIR/skiff for a user (or root in a
 * user namespace, as under rootless Podman), as runc picks /run/runc or $XDG_RUNTIME_DIR/runc.
 * A user without XDG_RUNTIME_DIR gets /run/skiff only when it can write there; otherwise the
 * error says what to set, where runc would fail later on a mkdir with EACCES.
 */
export function defaultRoot(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string {
  if (honorXdgRuntimeDir(env)) return join(env("XDG_RUNTIME_DIR")!, "skiff");
  const euid = effectiveUid();
  if (euid === 0 && !inUserNamespace()) return SYSTEM_ROOT;
  if (canWrite(SYSTEM_ROOT) || (!exists(SYSTEM_ROOT) && canWrite("/run"))) return SYSTEM_ROOT;
  throw new Error(
    `no state directory for uid ${euid}: XDG_RUNTIME_DIR is not set and ${SYSTEM_ROOT} is not ` +
      `writable; set XDG_RUNTIME_DIR (usually /run/user/${euid}) or pass --root DIR`,
  );
}
