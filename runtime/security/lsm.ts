/**
 * AppArmor and SELinux: Skiff applies process.apparmorProfile and process.selinuxLabel the way
 * runc does (the exec attribute of the init, so the label takes effect at execve), and refuses
 * them clearly on a host where the LSM is off, as runc does.
 */
import { SpecError } from "../../spec/errors.ts";
import type { Process, Spec } from "../../spec/config.ts";
import { writeProcFile } from "../procfs.ts";

function readFile(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return undefined;
  }
}

/** True when AppArmor is enabled on the host. */
export function appArmorEnabled(): boolean {
  return readFile("/sys/module/apparmor/parameters/enabled") === "Y";
}

/** True when SELinux is enabled on the host (selinuxfs mounted). */
export function selinuxEnabled(): boolean {
  try {
    return Deno.statSync("/sys/fs/selinux/enforce").isFile;
  } catch {
    return false;
  }
}

/** Refuses LSM settings the host cannot apply; errors name the file and the field. */
export function checkLsm(
  spec: Spec,
  file: string,
  process: Process | undefined = spec.process,
): void {
  if (process?.apparmorProfile && !appArmorEnabled()) {
    throw new SpecError(
      "process.apparmorProfile",
      `apparmor profile ${
        JSON.stringify(process.apparmorProfile)
      } is specified, but AppArmor is not enabled on the host`,
      file,
    );
  }
  if (process?.selinuxLabel && !selinuxEnabled()) {
    throw new SpecError(
      "process.selinuxLabel",
      "selinux label is specified in config, but selinux is disabled or not supported",
      file,
    );
  }
  if (spec.linux?.mountLabel && !selinuxEnabled()) {
    throw new SpecError(
      "linux.mountLabel",
      "selinux label is specified in config, but selinux is disabled or not supported",
      file,
    );
  }
}

/**
 * Sets the labels the process gets at execve: AppArmor's "exec <profile>" and SELinux's context,
 * written to this thread's exec attribute (the thread that will execve). Needs /proc.
 * @param attrDir the thread's attr directory; tests pass a directory of their own.
 */
export function applyExecLabels(
  process: Process,
  attrDir = "/proc/thread-self/attr",
): void {
  if (process.apparmorProfile) {
    // Kernels 5.1+ have AppArmor's own attr/apparmor/exec; older ones only the shared attr/exec.
    const files = [`${attrDir}/apparmor/exec`, `${attrDir}/exec`];
    writeAttr(files, `exec ${process.apparmorProfile}`, "process.apparmorProfile");
  }
  if (process.selinuxLabel) {
    writeAttr([`${attrDir}/exec`], process.selinuxLabel, "process.selinuxLabel");
  }
}

function writeAttr(files: string[], value: string, field: string): void {
  let last: unknown;
  for (const file of files) {
    try {
      // Only an attribute the kernel (or a test) provides: never create a file in its place. Under
      // /proc (the container's by now), only a real procfs file, not one mounted over it.
      if (file.startsWith("/proc/")) {
        writeProcFile(file, value);
      } else {
        Deno.writeTextFileSync(file, value, { create: false });
      }
      return;
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`${field}: cannot write ${JSON.stringify(value)} to ${files.join(" or ")}`, {
    cause: last,
  });
}
