/** Types and validation of config.json and of the state Skiff reports. */
export type * from "./config.ts";
export * from "./errors.ts";
export * from "./state.ts";
export * from "./validate.ts";
export * from "./version.ts";
export { defaultSpec } from "./defaults.ts";
export { CAPABILITIES, capabilityNumber } from "./capabilities.ts";
export { RLIMITS } from "./rlimits.ts";
