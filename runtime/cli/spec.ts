import { join } from "../path.ts";
import { boolFlag, type Command, stringFlag } from "./command.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import type { Spec } from "../../spec/config.ts";

/**
 * Turns the default config into the one `runc spec --rootless` writes (runc's specconv.ToRootless):
 * no network namespace but a user namespace mapping root in the container to the caller's euid and
 * egid, /sys bind-mounted instead of a new sysfs, no uid=/gid= mount options, no cgroup resources.
 * The mappings come first in `linux`, where runc's struct order puts them.
 */
export function toRootless(spec: Spec, uid: number, gid: number): Spec {
  const { resources: _resources, namespaces, ...linux } = spec.linux ?? {};
  return {
    ...spec,
    mounts: (spec.mounts ?? []).map((mount) => {
      if (join("/", mount.destination) === "/sys") {
        return {
          destination: "/sys",
          type: "none",
          source: "/sys",
          options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
        };
      }
      if (!mount.options) return mount;
      return { ...mount, options: mount.options.filter((o) => !/^[ug]id=/.test(o)) };
    }),
    linux: {
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
      namespaces: [
        ...(namespaces ?? []).filter((ns) => ns.type !== "network" && ns.type !== "user"),
        { type: "user" },
      ],
      ...linux,
    },
  };
}

/** The caller's effective uid and gid (the ids runc maps), from /proc/self/status. */
function effectiveIds(): { uid: number; gid: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+\\d+\\s+(\\d+)`, "m").exec(status)![1]);
  return { uid: field("Uid"), gid: field("Gid") };
}

/** `skiff spec`: writes a default config.json. */
export const command: Command = {
  name: "spec",
  usage: "spec [command options]",
  summary: "create a new specification file",
  flags: [
    {
      name: "bundle",
      alias: "b",
      type: "string",
      path: true,
      help: "path to the root of the bundle directory",
    },
    {
      name: "rootless",
      type: "boolean",
      help: "generate a configuration for a rootless container (user namespace; skiff runs " +
        "none yet)",
    },
  ],
  args: [0, 0],
  run(ctx) {
    const file = join(stringFlag(ctx, "bundle") ?? ".", "config.json");
    try {
      Deno.lstatSync(file);
      throw new Error(`File ${file} exists. Remove it first`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    let spec = defaultSpec();
    if (boolFlag(ctx, "rootless")) {
      const { uid, gid } = effectiveIds();
      spec = toRootless(spec, uid, gid);
    }
    Deno.writeTextFileSync(file, JSON.stringify(spec, null, "\t") + "\n", { mode: 0o644 });
    return 0;
  },
};
