/** linux.seccomp compiled for the init: what create and exec hand over in the bootstrap. */
import { compileSeccomp } from "./compile.ts";
import { SpecError, withFile } from "../../../spec/errors.ts";
import type { Seccomp } from "../../../spec/config.ts";
import type { BootstrapSeccomp } from "../../process/protocol.ts";
import * as log from "../../log.ts";

/** Compiles linux.seccomp for the init; errors name the file and the JSON path. */
export function compileFilter(profile: Seccomp, configFile: string): BootstrapSeccomp {
  const skipped: string[] = [];
  let filter;
  try {
    filter = compileSeccomp(profile, {
      onUnknownSyscall: (name, arch) => skipped.push(`${name} (${arch})`),
    });
  } catch (err) {
    throw withFile(err, configFile);
  }
  (profile.syscalls ?? []).forEach((rule, i) => {
    const blocked = rule.names.filter((n) => n === "write" || n === "sendmsg");
    if (rule.action === "SCMP_ACT_NOTIFY" && blocked.length) {
      // The init still writes "ready" and sends the listener fd after loading the filter: notifying
      // those calls would block it before the agent has the fd (runc refuses `write` likewise).
      throw new SpecError(
        `linux.seccomp.syscalls[${i}].names`,
        `SCMP_ACT_NOTIFY cannot be used for ${blocked.join(" and ")}`,
        configFile,
      );
    }
  });
  if (filter.newListener && !profile.listenerPath) {
    throw new SpecError(
      "linux.seccomp.listenerPath",
      "is required when an action is SCMP_ACT_NOTIFY",
      configFile,
    );
  }
  if (skipped.length) log.debug(`seccomp: unknown syscalls skipped: ${skipped.join(", ")}`);
  log.debug(
    `seccomp: ${filter.instructions.length} BPF instructions, flags ${
      filter.flagNames.join("|") || "0"
    }`,
  );
  const bytes = filter.bytes();
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return {
    program: btoa(binary),
    flags: filter.flags,
    newListener: filter.newListener,
    listenerPath: profile.listenerPath,
    listenerMetadata: profile.listenerMetadata,
  };
}
