/**
 * Throughput of the library (issue 13): sequential containers per second from one warm Deno
 * program through mod.ts (busybox `true`: create, start, wait, delete), against `runc run` of the
 * same bundle from the command line, and with --crun also against `crun run`, interleaved in rounds in
 * one run.
 *
 *   deno run -A scripts/bench/library_bench.ts [--runs N] [--rounds R] [--runc runc] [--crun crun]
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
    crun: { type: "string" },
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
  // crun 1.8 (Debian 12) refuses a config newer than the runtime-spec it knows; the fields used
  // here are all in 1.1.0, and Skiff and runc take it too.
  if (values.crun) spec.ociVersion = "1.1.0";
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(spec));
  const rt = new Runtime({ root: join(dir, "skiff-state") });

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
  /** `NAME run` of the bundle from the command line, with its own state root. */
  const cli = (name: string, binary: string) => {
    const root = join(dir, `${name}-state`);
    return () =>
      rate(async () => {
        const out = await new Deno.Command(binary, {
          args: ["--root", root, "run", "-b", dir, `${name}-${n++}`],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).output();
        if (!out.success) throw new Error(`${name} run: ${new TextDecoder().decode(out.stderr)}`);
      });
  };
  const ways: Record<string, () => Promise<number>> = { library, runc: cli("runc", values.runc!) };
  if (values.crun) ways.crun = cli("crun", values.crun);

  await library(); // warm-up: the first container compiles and caches the init
  const samples: Record<string, number[]> = Object.fromEntries(
    Object.keys(ways).map((way) => [way, []]),
  );
  for (let r = 0; r < rounds; r++) {
    for (const [way, measure] of Object.entries(ways)) samples[way].push(await measure());
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lib = median(samples.library);
  console.log(`| way | containers/s (median of ${rounds} rounds of ${runs}) |`);
  console.log("| --- | --: |");
  console.log(`| Skiff library (mod.ts), one Deno program | ${lib.toFixed(2)} |`);
  for (const way of Object.keys(ways).filter((w) => w !== "library")) {
    const rate = median(samples[way]);
    console.log(`| \`${way} run\` from the command line | ${rate.toFixed(2)} |`);
    console.log(`| ratio library / ${way} | ${(lib / rate).toFixed(2)} |`);
  }
  console.log(JSON.stringify(samples));
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
