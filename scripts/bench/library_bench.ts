/**
 * Throughput of the library (issue 13): sequential containers per second from one warm Deno
 * program through mod.ts (busybox `true`: create, start, wait, delete), against `runc run` of the
 * same bundle from the command line, interleaved in rounds in one run.
 *
 *   deno run -A scripts/bench/library_bench.ts [--runs N] [--rounds R] [--runc runc]
 *
 * Prints a Markdown table for docs/benchmarks.md.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { defaultSpec, Runtime } from "../../mod.ts";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "20" },
    rounds: { type: "string", default: "3" },
    runc: { type: "string", default: "runc" },
  },
});
const runs = Number(values.runs);
const rounds = Number(values.rounds);

const dir = await Deno.makeTempDir({ prefix: "skiff-lib-bench-" });
try {
  const rootfs = buildBusyboxRootfs(dir);
  const spec = defaultSpec();
  spec.process!.args = ["true"];
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(spec));
  const rt = new Runtime({ root: join(dir, "skiff-state") });
  const runcRoot = join(dir, "runc-state");

  /** Containers per second for `runs` sequential containers of `one`. */
  const rate = async (one: (i: number) => Promise<void>): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < runs; i++) await one(i);
    return runs / ((performance.now() - started) / 1000);
  };
  let n = 0;
  const library = () =>
    rate(async () => {
      await using c = await rt.create(`lib-${n++}`, { bundle: dir });
      await c.start();
      const { code } = await c.wait();
      if (code !== 0) throw new Error(`container exited ${code}`);
    });
  const runc = () =>
    rate(async () => {
      const out = await new Deno.Command(values.runc!, {
        args: ["--root", runcRoot, "run", "-b", dir, `runc-${n++}`],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(`runc run: ${new TextDecoder().decode(out.stderr)}`);
    });

  await library(); // warm-up: the first container compiles and caches the init
  const samples: Record<string, number[]> = { library: [], runc: [] };
  for (let r = 0; r < rounds; r++) {
    samples.library.push(await library());
    samples.runc.push(await runc());
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lib = median(samples.library);
  const rc = median(samples.runc);
  console.log(`| way | containers/s (median of ${rounds} rounds of ${runs}) |`);
  console.log("| --- | --: |");
  console.log(`| Skiff library (mod.ts), one Deno program | ${lib.toFixed(2)} |`);
  console.log(`| \`runc run\` from the command line | ${rc.toFixed(2)} |`);
  console.log(`| ratio library / runc | ${(lib / rc).toFixed(2)} |`);
  console.log(JSON.stringify(samples));
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
