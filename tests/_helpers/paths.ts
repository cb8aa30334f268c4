import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The artifact under test: dist/skiff (built by `deno task build`), or $SKIFF_BIN. */
export const SKIFF = Deno.env.get("SKIFF_BIN") ?? join(REPO, "dist", "skiff");

/** The busybox bundle built by scripts/fixtures/busybox_rootfs.ts. */
export const BUSYBOX_BUNDLE = join(REPO, "tests", ".fixtures", "busybox");
