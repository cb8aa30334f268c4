/** The PATH used when process.env has none (runc's default for `spec`). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function executable(path: string): "ok" | "missing" | "denied" {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    return err instanceof Deno.errors.PermissionDenied ? "denied" : "missing";
  }
  if (!info.isFile || ((info.mode ?? 0) & 0o111) === 0) return "denied";
  return "ok";
}

/**
 * Resolves `file` like execvp(3) and Go's exec.LookPath, inside the current root, with the
 * container's PATH. Errors use runc's wording, which Podman maps to exit codes 126 and 127.
 */
export function lookPath(file: string, env: readonly string[]): string {
  if (file.includes("/")) {
    const result = executable(file);
    if (result === "missing") {
      throw new Error(`exec: "${file}": stat ${file}: no such file or directory`);
    }
    if (result === "denied") throw new Error(`exec: "${file}": permission denied`);
    return file;
  }
  const pathVar = env.find((e) => e.startsWith("PATH="))?.slice(5) ?? DEFAULT_PATH;
  let denied = false;
  for (const dir of pathVar.split(":")) {
    const candidate = `${dir || "."}/${file}`;
    const result = executable(candidate);
    if (result === "ok") return candidate;
    if (result === "denied") denied = true;
  }
  if (denied) throw new Error(`exec: "${file}": permission denied`);
  throw new Error(`exec: "${file}": executable file not found in $PATH`);
}

/** Returns the home directory of `uid` from the container's /etc/passwd, or "/". */
export function homeOf(uid: number): string {
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const fields = line.split(":");
      if (fields.length >= 6 && Number(fields[2]) === uid && fields[2] !== "") return fields[5];
    }
  } catch {
    // No passwd file in the image.
  }
  return "/";
}
