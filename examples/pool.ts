/**
 * A pool: 100 short jobs, 4 at a time, in one Deno process.
 *
 *   sudo deno run -A examples/pool.ts BUNDLE [JOBS] [PARALLEL]
 *
 * Each job runs `sh -c 'exit $((N % 3))'` in its own container; the exit codes are counted.
 */
import { Runtime } from "../mod.ts";
import { join } from "node:path";

const [bundle, jobsArg = "100", parallelArg = "4"] = Deno.args;
if (!bundle) throw new Error("usage: pool.ts BUNDLE [JOBS] [PARALLEL]");
const jobs = Number(jobsArg);
const parallel = Number(parallelArg);
const base = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
const rootfs = join(bundle, base.root.path);
const rt = new Runtime({ root: "/run/skiff-examples" });

async function job(n: number): Promise<number> {
  const spec = structuredClone(base);
  spec.process.args = ["sh", "-c", `exit $((${n} % 3))`];
  spec.process.terminal = false;
  await using c = await rt.create(`pool-${Deno.pid}-${n}`, { spec, rootfs });
  await c.start();
  return (await c.wait()).code;
}

const started = performance.now();
const codes: number[] = [];
let next = 0;
await Promise.all(
  Array.from({ length: parallel }, async () => {
    while (next < jobs) codes.push(await job(next++));
  }),
);
const counts: Record<number, number> = {};
for (const code of codes) counts[code] = (counts[code] ?? 0) + 1;
const seconds = (performance.now() - started) / 1000;
console.log(
  JSON.stringify({ jobs: codes.length, exitCodes: counts, seconds: Number(seconds.toFixed(2)) }),
);
