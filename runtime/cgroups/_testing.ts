/**
 * Test helpers for the kernel-level cgroup tests: what the host offers (for skip reasons), a
 * container cgroup that is always destroyed, and a shell process that waits until it has been
 * placed in the cgroup before it runs its script.
 */
import { type CgroupLayout, detectCgroups, type HostCgroups, systemdRunning } from "./detect.ts";
import { type CgroupManager, cgroupManager } from "./manager.ts";

export { sleep } from "../sleep.ts";

function detect(): HostCgroups | undefined {
  try {
    return detectCgroups();
  } catch {
    return undefined;
  }
}

/** The host's cgroups, undefined when none are mounted. */
export const HOST: HostCgroups | undefined = detect();

/** True when running as root (the kernel tests create cgroups). */
export const IS_ROOT: boolean = Deno.uid() === 0;

/** The layout, undefined without cgroups. */
export const LAYOUT: CgroupLayout | undefined = HOST?.layout;

/** True when `controller` can be used by a container cgroup on this host. */
export function hasController(controller: string): boolean {
  if (!HOST) return false;
  if (HOST.layout === "unified") {
    return controller === "devices" || controller === "freezer" ||
      HOST.unifiedControllers.includes(controller);
  }
  return controller in HOST.v1;
}

/** True when the kernel tests cannot run: not root, no cgroups, or a controller missing. */
export function lacks(...controllers: string[]): boolean {
  return !IS_ROOT || !HOST || controllers.some((c) => !hasController(c));
}

/** A manager for an absolute test cgroup /skiff-test-<name>-<pid>; destroy() it in finally. */
export function testManager(name: string): CgroupManager {
  const manager = cgroupManager({ id: name, cgroupsPath: `/skiff-test-${name}-${Deno.pid}` });
  manager.create();
  return manager;
}

/** Runs `fn` with a fresh test cgroup and destroys it afterwards, also on failure. */
export async function withCgroup(
  name: string,
  fn: (manager: CgroupManager) => Promise<void> | void,
): Promise<void> {
  const manager = testManager(name);
  try {
    await fn(manager);
  } finally {
    await manager.destroy();
  }
}

/** The result of a gated process. */
export interface GatedResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** A shell that waits on stdin before running its script. */
export interface Gated {
  pid: number;
  /** Lets the script run. */
  release(): Promise<void>;
  /** Waits for the exit and collects output. */
  result(): Promise<GatedResult>;
  /** SIGKILL (when still running). */
  kill(): void;
}

/** Spawns `sh -c 'read _; <script>'`; put its pid into the cgroup, then release() it. */
export function spawnGated(script: string): Gated {
  const child = new Deno.Command("sh", {
    args: ["-c", `read _gate; ${script}`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  return {
    pid: child.pid,
    async release(): Promise<void> {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
    },
    async result(): Promise<GatedResult> {
      const out = await output;
      const text = (b: Uint8Array): string => new TextDecoder().decode(b);
      return {
        code: out.code,
        signal: out.signal,
        stdout: text(out.stdout),
        stderr: text(out.stderr),
      };
    },
    kill(): void {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    },
  };
}

/** Moves `pid` into the cgroup, as the container's init will. */
export function enter(manager: CgroupManager, pid: number): void {
  for (const file of manager.procsFiles()) {
    Deno.writeTextFileSync(file, String(pid), { create: false });
  }
}

/** True where the systemd driver can run for real: systemd as PID 1 with its system bus, cgroup v2, root (the VM of `deno task test:systemd`). */
export const SYSTEMD_HERE: boolean = systemdRunning() && detectCgroups().layout === "unified" &&
  Deno.uid() === 0 && (() => {
    try {
      return Deno.statSync("/run/dbus/system_bus_socket").isSocket === true;
    } catch {
      return false;
    }
  })();

/** `systemctl show UNIT -p P...` as a record of property name to value. */
export async function systemctlShow(
  unit: string,
  ...properties: string[]
): Promise<Record<string, string>> {
  const out = await new Deno.Command("systemctl", {
    args: ["show", unit, ...properties.flatMap((p) => ["-p", p])],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  return Object.fromEntries(
    text.trim().split("\n").filter(Boolean).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
}
