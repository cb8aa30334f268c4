/**
 * `run` of `true` (the default `skiff spec` config on a busybox rootfs), Skiff side by side with
 * runc, interleaved (issue 11's run target: at most 1.0x runc). Each round runs, in turn: a bare
 * `deno run` of an empty file (the floor of any Deno program), Skiff with the trampoline init,
 * Skiff with the Deno init (SKIFF_DENO_INIT=1, the same build), and runc.
 *
 * With --userns the config has a user namespace (0-65535 mapped to 100000-165535, the rootfs given
 * to the mapped root, as Podman does for --uidmap).
 *
 *   deno run -A scripts/bench/run_bench.ts [--runs 20] [--skiff dist/skiff] [--runc runc] [--userns]
 */
import { parseArgs } from "node:util";
import { join, resolve } from "../../runtime/path.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { median } from "./svg.ts";
import { DENO_RUN_FLAGS } from "../launch_info.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "20" },
    skiff: { type: "string", default: "dist/skiff" },
    runc: { type: "string", default: "runc" },
    userns: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const skiff = resolve(values.skiff!);

function time(command: string, args: string[], env: Record<string, string> = {}): number {
  const start = performance.now();
  const out = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { DENO_NO_UPDATE_CHECK: "1", ...env },
  }).outputSync();
  const elapsed = performance.now() - start;
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed with ${out.code}`);
  return elapsed;
}

const dir = await Deno.makeTempDir({ prefix: "skiff-run-bench-" });
try {
  const rootfs = buildBusyboxRootfs(dir);
  const spec = defaultSpec();
  spec.process!.args = ["true"];
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  if (values.userns) {
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spec.linux!.namespaces!.push({ type: "user" });
    spec.linux!.uidMappings = map;
    spec.linux!.gidMappings = map;
    // The mapped root must reach and own the rootfs.
    await Deno.chmod(dir, 0o755);
    const chown = new Deno.Command("chown", { args: ["-R", "100000:100000", rootfs] }).outputSync();
    if (!chown.success) throw new Error("chown of the rootfs failed");
  }
  const bundle = join(dir, "bundle");
  await Deno.mkdir(bundle);
  await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify(spec));
  const empty = join(dir, "empty.js");
  await Deno.writeTextFile(empty, "");
  const deno = Deno.execPath();
  const DENO_FLAGS = DENO_RUN_FLAGS;
  let n = 0;
  const cases: [string, () => number][] = [
    ["bare Deno (empty file)", () => time(deno, [...DENO_FLAGS, empty])],
    [
      "skiff run (trampoline init)",
      () => time(skiff, ["--root", join(dir, "s"), "run", "-b", bundle, `s${n}`]),
    ],
    [
      "skiff run (Deno init)",
      () =>
        time(skiff, ["--root", join(dir, "d"), "run", "-b", bundle, `d${n}`], {
          SKIFF_DENO_INIT: "1",
        }),
    ],
    [
      "runc run",
      () => time(values.runc!, ["--root", join(dir, "r"), "run", "-b", bundle, `r${n}`]),
    ],
  ];
  const samples = new Map<string, number[]>();
  for (let i = -3; i < runs; i++) {
    n++;
    for (const [label, fn] of cases) {
      const ms = fn();
      if (i >= 0) samples.set(label, [...(samples.get(label) ?? []), ms]);
    }
  }
  const runcMedian = median(samples.get("runc run")!);
  if (values.userns) console.log("config: with a user namespace");
  console.log(`runs: ${runs}, interleaved; median and min in ms; ratio = median / runc's median`);
  for (const [label] of cases) {
    const xs = samples.get(label)!;
    console.log(
      `${label.padEnd(30)} ${median(xs).toFixed(1).padStart(7)} ${
        Math.min(...xs).toFixed(1).padStart(7)
      } ${(median(xs) / runcMedian).toFixed(2).padStart(5)}x`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
