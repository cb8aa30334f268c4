/**
 * PROTOTYPE (issue 11, question 1): what a Worker (a new isolate on a new thread) costs to start,
 * against a `deno run` of the same module as a process. Medians of N (default 20).
 *
 *   deno run -A scripts/prototypes/worker_init/startup_bench.ts [N]
 *
 * Modules: tiny_module.ts (nothing in it) and a bundle of big_entry.ts (all of Skiff, as large as
 * dist/skiff), made with `deno bundle` into a temp dir first. A worker is timed from
 * `new Worker()` to its first message (module loaded and evaluated) and then to terminate(); a
 * process from spawn to exit.
 */
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

if (Deno.args[0] === "--first-worker") {
  // A fresh process: the first Worker it starts (what a `skiff create` would pay once).
  const t = await timeWorker(Deno.args[1]);
  console.log(JSON.stringify(t));
  Deno.exit(0);
}

const n = Number(Deno.args[0] ?? 20);
const tmp = Deno.makeTempDirSync({ prefix: "skiff-proto-" });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeWorker(url: string): Promise<{ ready: number; done: number }> {
  const t0 = performance.now();
  const w = new Worker(url, { type: "module" });
  await new Promise<void>((resolve, reject) => {
    w.onmessage = () => resolve();
    w.onerror = (e) => reject(new Error(e.message));
  });
  const ready = performance.now() - t0;
  w.terminate();
  return { ready, done: performance.now() - t0 };
}

async function timeProcess(path: string): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path],
    stdout: "null",
    stderr: "inherit",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  if (!out.success) throw new Error(`deno run ${path} failed`);
  return performance.now() - t0;
}

try {
  const big = join(tmp, "big.js");
  const b = new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "deno", "--output", big, join(here, "big_entry.ts")],
  }).outputSync();
  if (!b.success) throw new Error("deno bundle failed");
  const modules = [
    { name: "tiny_module.ts", path: join(here, "tiny_module.ts") },
    { name: `bundle (${Math.round(Deno.statSync(big).size / 1024)} KiB)`, path: big },
  ];
  for (const m of modules) {
    const url = pathToFileURL(m.path).href;
    const first = await timeWorker(url);
    const ready: number[] = [];
    const done: number[] = [];
    const proc: number[] = [];
    await timeProcess(m.path); // warm the module cache (type check, transpile)
    for (let i = 0; i < n; i++) {
      const t = await timeWorker(url);
      ready.push(t.ready);
      done.push(t.done);
      proc.push(await timeProcess(m.path));
    }
    const fresh: number[] = [];
    for (let i = 0; i < n; i++) {
      const out = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", fileURLToPath(import.meta.url), "--first-worker", url],
        stderr: "inherit",
      }).outputSync();
      fresh.push(JSON.parse(new TextDecoder().decode(out.stdout)).ready);
    }
    console.log(
      `${m.name}: first worker of a fresh process median ${median(fresh).toFixed(1)} ms (min ${
        Math.min(...fresh).toFixed(1)
      })`,
    );
    console.log(
      `${m.name}: worker first ${first.ready.toFixed(1)} ms, worker ready median ${
        median(ready).toFixed(1)
      } ms (min ${Math.min(...ready).toFixed(1)}), ready+terminate ${
        median(done).toFixed(1)
      } ms; deno run process median ${median(proc).toFixed(1)} ms (min ${
        Math.min(...proc).toFixed(1)
      })  [n=${n}]`,
    );
  }
  const mem = Deno.memoryUsage();
  console.log(
    `this process rss after ${2 * (n + 1)} workers: ${(mem.rss / 2 ** 20).toFixed(1)} MiB`,
  );
} finally {
  Deno.removeSync(tmp, { recursive: true });
}
