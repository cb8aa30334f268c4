/** The OCI runtime specification version Skiff implements. */
export const OCI_VERSION = "1.3.0";

/** Skiff's own version, printed by `skiff --version`. */
export const SKIFF_VERSION = "0.1.0";

/**
 * scripts/build.ts replaces this marker in dist/skiff with the git commit it builds from
 * (`git rev-parse HEAD`, "-dirty" when tracked files differ). Run from the sources, it stays.
 */
const BUILD_COMMIT = "@@SKIFF_GIT_COMMIT@@";

/** The git commit of this build, "" when unknown (then `--version` prints no commit line). */
export const SKIFF_COMMIT: string = BUILD_COMMIT.startsWith("@@") ? "" : BUILD_COMMIT;
