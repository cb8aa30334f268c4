/**
 * Skiff as a library for Deno programs: create, start, wait for, exec into and delete OCI
 * containers from one long-running program, without a process start-up per call. The command line
 * (dist/skiff, cli.ts) is built on the same functions. docs/library.md explains the model.
 *
 * @example Run a command and get its exit status
 * ```ts
 * import { Runtime } from "./mod.ts";
 * const rt = new Runtime({ root: "/run/skiff-lib" });
 * await using c = await rt.create("hello", { bundle: "./bundle" }, { stdio: "inherit" });
 * await c.start();
 * console.log((await c.wait()).code);
 * ```
 * @module
 */
export {
  Container,
  type ContainerSource,
  type CreateContainerOptions,
  type ExecOptions,
  type ExecProcess,
  type ExitStatus,
  Runtime,
  type RuntimeOptions,
  type Terminal,
} from "./runtime/api/runtime.ts";
export { SpecError } from "./spec/errors.ts";
export { SyscallError } from "./ffi/errno.ts";
export { ConflictError, ContainerNotExistError as NotFoundError } from "./runtime/errors.ts";
export type {
  BlockIoResources,
  Capabilities,
  CpuResources,
  Device,
  DeviceCgroupRule,
  Hook,
  Hooks,
  HugepageLimit,
  IdMapping,
  IntelRdt,
  Linux,
  MemoryResources,
  Mount,
  Namespace,
  NamespaceType,
  Process,
  Resources,
  Rlimit,
  Root,
  Scheduler,
  Seccomp,
  SeccompAction,
  SeccompArg,
  SeccompOperator,
  SeccompSyscall,
  Spec,
  ThrottleDevice,
  User,
  WeightDevice,
} from "./spec/config.ts";
export type { ContainerStatus, State } from "./spec/state.ts";
export type { ContainerEvent } from "./runtime/container/events.ts";
export type { BlkioEntry, CgroupStats, MemoryEntry } from "./runtime/cgroups/stats.ts";
export { defaultSpec } from "./spec/defaults.ts";
