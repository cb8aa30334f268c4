/** Seccomp for `linux.seccomp`: Skiff's own BPF compiler (compile.ts) and its loader. */
import type { Seccomp } from "../../../spec/config.ts";
import { loadSeccompFilter } from "../../../ffi/seccomp.ts";
import { type CompiledFilter, compileSeccomp } from "./compile.ts";

export {
  type CompiledFilter,
  type CompileOptions,
  compileSeccomp,
  SECCOMP_FEATURES,
  SECCOMP_FILTER_FLAGS,
} from "./compile.ts";
export { type NativeArch, type SeccompArch } from "./archs.ts";
export { type BpfResult, runBpf, type SeccompData } from "./bpf_interpreter.ts";
export { disassemble, type SockFilter } from "./bpf.ts";

/** Options of installSeccomp(). */
export interface InstallSeccompOptions {
  /** Receives --debug lines: skipped syscall names, program size and flags. */
  debug?: (message: string) => void;
}

/** What installSeccomp() did. */
export interface InstalledSeccomp {
  /** The compiled filter that was loaded. */
  filter: CompiledFilter;
  /** The user-notification fd, when the profile uses SCMP_ACT_NOTIFY or listenerPath. */
  listenerFd: number | undefined;
}

/**
 * Compiles `seccomp` for this machine and installs it on the calling thread; the last step before
 * execve, after capabilities and no_new_privs (seccomp(2) needs one of no_new_privs or CAP_SYS_ADMIN).
 * @returns the filter and, with NOTIFY, the listener fd to hand to listenerPath.
 */
export function installSeccomp(
  seccomp: Seccomp,
  options: InstallSeccompOptions = {},
): InstalledSeccomp {
  const unknown = new Map<string, string[]>();
  const filter = compileSeccomp(seccomp, {
    onUnknownSyscall: (name, arch) => {
      const list = unknown.get(arch) ?? [];
      list.push(name);
      unknown.set(arch, list);
    },
  });
  if (options.debug) {
    for (const [arch, names] of unknown) {
      options.debug(`seccomp: ${arch}: unknown syscalls skipped: ${names.join(", ")}`);
    }
    options.debug(
      `seccomp: ${filter.instructions.length} BPF instructions for ${
        filter.archs.join(", ")
      }, flags ${filter.flagNames.join("|") || "0"}`,
    );
  }
  const listenerFd = loadSeccompFilter(filter.bytes(), filter.flags);
  return { filter, listenerFd };
}
