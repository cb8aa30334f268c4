/** Observations of the host, to check that failures leave nothing behind. */
import { join } from "node:path";
import { REPO, SKIFF } from "./paths.ts";
import { readLaunchInfo } from "../../scripts/launch_info.ts";

/** The host's mount table (mount points only). */
export function hostMounts(): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" ")[4]);
}

/**
 * Pids of this checkout's skiff init processes still alive (cmdline has "init" after this
 * checkout's cli.ts, dist/skiff or the module the native dist/skiff runs, dist/skiff.d/launch.js).
 * Inits of other checkouts, e.g. another test run on the same machine, are not ours to count.
 */
export function skiffInits(): number[] {
  const launch = readLaunchInfo(SKIFF)?.module;
  const scripts = [SKIFF, join(REPO, "cli.ts"), ...(launch ? [launch] : [])];
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
      const script = argv.findIndex((a) => scripts.includes(a));
      if (script >= 0 && argv[script + 1] === "init") out.push(pid);
    } catch {
      // Gone.
    }
  }
  return out;
}

/** True when `path` exists. */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when `command` runs (`command --version` succeeds), for skip conditions. */
export function hasCommand(command: string): boolean {
  try {
    return new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Skiff inits alive now that were not in `before` (other runs' containers may come and go). */
export function newInits(before: readonly number[]): number[] {
  return skiffInits().filter((pid) => !before.includes(pid));
}
