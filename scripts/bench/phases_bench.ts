/**
 * Where a `run`, `create` or `exec` spends its time, on the process's own clock: each build runs
 * the call with SKIFF_TRACE=1, builds interleaved in every round, and the median of each trace
 * line's `+ms` (ms since the process started) is printed per build. The own clock leaves out
 * Deno's start-up before `performance.now()` begins and is far less disturbed by other load than
 * wall time (issue 11; docs/benchmarks.md, "Trimming run, create and exec").
 *
 *   deno run -A scripts/bench/phases_bench.ts [--mode run|create|exec] [--runs 15]
 *     [--skiff dist/skiff ...]
 *
 * The default `skiff spec` config on a busybox rootfs, process `true` (exec: into a `sleep`).
 */
import { parseArgs } from "node:util";
import { join, resolve } from "../../runtime/path.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { median } from "./svg.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mode: { type: "string", default: "run" },
    runs: { type: "string", default: "15" },
    skiff: { type: "string", multiple: true, default: ["dist/skiff"] },
  },
});
const mode = values.mode!;
if (!["run", "create", "exec"].includes(mode)) throw new Error(`--mode: ${mode}?`);
const runs = Number(values.runs);
const skiffs = values.skiff!.map((s) => resolve(s));

const dir = await Deno.makeTempDir({ prefix: "skiff-phases-bench-" });
const errFile = join(dir, "stderr");

/**
 * Runs `bin args` and returns its stderr. stdio go to /dev/null and a file, not pipes: a created
 * container's init inherits them and would hold a pipe open.
 */
function call(bin: string, args: string[], trace: boolean): string {
  const out = new Deno.Command("/bin/sh", {
    args: ["-c", 'exec "$@" </dev/null >/dev/null 2>"$ERR"', "sh", bin, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { ERR: errFile, DENO_NO_UPDATE_CHECK: "1", ...(trace ? { SKIFF_TRACE: "1" } : {}) },
  }).outputSync();
  const stderr = Deno.readTextFileSync(errFile);
  if (!out.success) throw new Error(`${bin} ${args.join(" ")} failed with ${out.code}: ${stderr}`);
  return stderr;
}

const roots = skiffs.map((_, i) => join(dir, `root${i}`));
const running: [string, string, string][] = [];
try {
  const rootfs = buildBusyboxRootfs(dir);
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  const bundle = join(dir, "bundle");
  await Deno.mkdir(bundle);
  spec.process!.args = mode === "exec" ? ["sleep", "100000"] : ["true"];
  await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify(spec));
  if (mode === "exec") {
    skiffs.forEach((bin, i) => {
      call(bin, ["--root", roots[i], "run", "-d", "-b", bundle, "sleeper"], false);
      running.push([bin, roots[i], "sleeper"]);
    });
  }
  // label -> per build: the +ms samples.
  const lines = new Map<string, number[][]>();
  let n = 0;
  for (let round = -2; round < runs; round++) {
    skiffs.forEach((bin, i) => {
      const id = `c${n++}`;
      let stderr: string;
      if (mode === "exec") {
        stderr = call(bin, ["--root", roots[i], "exec", "sleeper", "true"], true);
      } else {
        stderr = call(bin, ["--root", roots[i], mode, "-b", bundle, id], true);
        if (mode === "create") call(bin, ["--root", roots[i], "delete", "-f", id], false);
      }
      if (round < 0) return; // warm-up: the code cache of a fresh build
      const seen = new Set<string>();
      for (const line of stderr.split("\n")) {
        const m = /^skiff\[\d+\] \+([\d.]+)ms @\S+ (.*)$/.exec(line);
        if (!m || seen.has(m[2])) continue;
        seen.add(m[2]);
        if (!lines.has(m[2])) lines.set(m[2], skiffs.map(() => []));
        lines.get(m[2])![i].push(Number(m[1]));
      }
    });
  }
  console.log(`${mode}, ${runs} rounds interleaved; median ms since each process started`);
  skiffs.forEach((bin, i) => console.log(`  [${i}] ${bin}`));
  console.log(`${"line".padEnd(34)}${skiffs.map((_, i) => `[${i}]`.padStart(9)).join("")}`);
  for (const [label, samples] of lines) {
    const cells = samples.map((xs) => (xs.length ? median(xs).toFixed(1) : "-").padStart(9));
    console.log(`${label.padEnd(34)}${cells.join("")}`);
  }
} finally {
  for (const [bin, root, id] of running) {
    try {
      call(bin, ["--root", root, "delete", "-f", id], false);
    } catch {
      // Best effort: the temp dir goes anyway.
    }
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
