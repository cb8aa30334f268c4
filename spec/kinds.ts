/**
 * The namespace types and hook kinds the spec defines: what the validator accepts and what
 * `skiff features` reports. Apart from validate.ts, so that `features` does not load the validator
 * (issue 11).
 * @module
 */

/** Namespace types the spec defines. */
export const NAMESPACE_TYPES = [
  "pid",
  "network",
  "mount",
  "ipc",
  "uts",
  "user",
  "cgroup",
  "time",
] as const;

/** The hook kinds of config.md, in lifecycle order. */
export const HOOK_KINDS = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
] as const;
