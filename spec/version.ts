/** The OCI runtime specification version Skiff implements. */
export const OCI_VERSION = "1.3.0";

/** Skiff's own version, printed by `skiff --version`. */
export const SKIFF_VERSION = "0.1.0";
