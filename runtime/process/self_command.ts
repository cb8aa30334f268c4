/** How Skiff starts itself again (`skiff init`, the waiter's command line). */
/**
 * The argv that starts `skiff init`: the Deno binary running this same program, whether it is the
 * bundle (dist/skiff), the sources (mod.ts) or a `deno compile` binary.
 */
export function selfCommand(subcommand: string[]): { command: string; args: string[] } {
  const exec = Deno.execPath();
  const main = Deno.mainModule;
  if (!main.startsWith("file:") || main.includes("/deno-compile-")) {
    return { command: exec, args: subcommand };
  }
  const path = decodeURIComponent(new URL(main).pathname);
  const flags = path.endsWith(".ts")
    ? ["run", "-A", "--quiet"]
    : ["run", "-A", "--quiet", "--no-config", "--no-lock", "--no-remote", "--no-npm"];
  return { command: exec, args: [...flags, path, ...subcommand] };
}
