/**
 * Seccomp for `linux.seccomp`: Skiff's own BPF compiler (compile.ts). The CLI compiles the profile
 * (runtime/container/create.ts compileFilter) and the init loads the program as its last step
 * before execve (runtime/init/finalize.ts and seccomp_listener.ts, through ffi/seccomp.ts loadSeccompFilter).
 */
export {
  type CompiledFilter,
  type CompileOptions,
  compileSeccomp,
  SECCOMP_FEATURES,
  SECCOMP_FILTER_FLAGS,
} from "./compile.ts";
export { type NativeArch, type SeccompArch } from "./archs.ts";
export { disassemble, type SockFilter } from "./bpf.ts";
