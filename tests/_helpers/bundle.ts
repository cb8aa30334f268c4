import assert from "node:assert/strict";
import { join } from "node:path";
import type { Spec } from "../../spec/config.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { BUSYBOX_BUNDLE } from "./paths.ts";
import { runSkiff, type SkiffOptions, type SkiffResult } from "./skiff.ts";
import { skiffInits } from "./host.ts";
import { detectCgroups } from "../../runtime/cgroups/detect.ts";

/** Removes leftover default-path cgroups (`<hierarchy>/<id>`) of the given container IDs. */
export function removeCgroupsNamed(ids: Iterable<string>): void {
  const host = detectCgroups();
  const mounts = [
    ...Object.values(host.v1).map((m) => m.mountPoint),
    ...(host.unified ? [host.unified.mountPoint] : []),
  ];
  for (const id of ids) {
    for (const mount of new Set(mounts)) {
      try {
        Deno.removeSync(`${mount}/${id}`);
      } catch {
        // Not there (the normal case), or still busy.
      }
    }
  }
}

/** Skiff inits whose root filesystem lies under `dir`. */
export function initsUnder(dir: string): number[] {
  return skiffInits().filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/mountinfo`).includes(` ${dir}/`);
    } catch {
      return false;
    }
  });
}

/** A temporary bundle with its own state root; disposing it deletes containers and files. */
export interface TestBundle extends AsyncDisposable {
  /** The bundle directory (config.json + rootfs). */
  dir: string;
  /** The rootfs directory. */
  rootfs: string;
  /** The --root used for every skiff call made through this bundle. */
  root: string;
  /** The config written to config.json. */
  spec: Spec;
  /** Rewrites config.json from `spec`. */
  writeSpec(spec?: Spec): Promise<void>;
  /** Runs skiff with this bundle's --root (and `--bundle` where asked by the caller). */
  skiff(args: string[], options?: Omit<SkiffOptions, "root">): Promise<SkiffResult>;
  /** IDs created through this bundle, deleted (--force) on dispose. */
  ids: Set<string>;
}

let counter = 0;

/** A unique container ID for a test. */
export function testId(name = "t"): string {
  return `${name}-${Deno.pid}-${++counter}`;
}

/**
 * Makes a bundle from a copy of the busybox rootfs and `defaultSpec()` edited by `edit`. Use with
 * `await using`: on dispose every container it created is force-deleted and its files removed,
 * also when the test failed.
 */
export async function makeBundle(edit: (spec: Spec) => void = () => {}): Promise<TestBundle> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-bundle-" });
  const root = join(dir, "state");
  const rootfs = join(dir, "rootfs");
  const copy = await new Deno.Command("cp", {
    args: ["-a", join(BUSYBOX_BUNDLE, "rootfs"), rootfs],
  }).output();
  if (!copy.success) throw new Error(`cannot copy the busybox rootfs: run deno task fixtures`);
  const spec = defaultSpec();
  spec.process!.args = ["true"];
  // Tests look at files the container writes into its rootfs; root.readonly has its own test.
  spec.root!.readonly = false;
  edit(spec);
  const ids = new Set<string>();
  const bundle: TestBundle = {
    dir,
    rootfs,
    root,
    spec,
    ids,
    async writeSpec(next = spec) {
      await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(next, null, 2));
    },
    skiff(args, options = {}) {
      for (const arg of args) if (arg.includes(`-${Deno.pid}-`)) ids.add(arg);
      return runSkiff(args, { ...options, root });
    },
    async [Symbol.asyncDispose]() {
      for (const id of ids) await runSkiff(["delete", "--force", id], { root });
      // Safety nets: no cgroup named after one of its containers and no init whose root
      // filesystem is in this bundle may outlive the test.
      removeCgroupsNamed(ids);
      for (const pid of initsUnder(dir)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
  await bundle.writeSpec();
  return bundle;
}

/** Runs `args` in a fresh container (`skiff run`) of `bundle` and returns the result. */
export async function runIn(bundle: TestBundle, args: string[]): Promise<SkiffResult> {
  bundle.spec.process!.args = args;
  await bundle.writeSpec();
  return bundle.skiff(["run", "--bundle", bundle.dir, testId()]);
}

/** A container startDetached() left running. */
export interface DetachedContainer {
  id: string;
  /** Its init's pid on the host. */
  pid: number;
}

/**
 * Starts `args` (by default `sleep 60`) in a new detached container of `bundle` (`skiff run -d`)
 * and waits until `skiff state` reports it running. Asserts that run succeeds; the bundle deletes
 * the container on dispose. `name` prefixes the ID (testId()).
 */
export async function startDetached(
  bundle: TestBundle,
  args: string[] = ["sleep", "60"],
  name?: string,
): Promise<DetachedContainer> {
  bundle.spec.process!.args = args;
  await bundle.writeSpec();
  const id = testId(name);
  const run = await bundle.skiff(["run", "-d", "-b", bundle.dir, id]);
  assert.equal(run.code, 0, run.stderr);
  const deadline = Date.now() + 5000;
  for (;;) {
    const state = await bundle.skiff(["state", id]);
    const parsed = state.code === 0 ? JSON.parse(state.stdout) : undefined;
    if (parsed?.status === "running") return { id, pid: parsed.pid };
    if (Date.now() > deadline) {
      throw new Error(`container ${id} did not reach running: ${state.stdout}${state.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
