/**
 * `deno task bench`: times every Skiff call against runc's on the same busybox bundle, interleaved
 * in one run, next to a bare `deno run` of an empty file with dist/skiff's flags (the floor of any
 * Deno program). Prints the tables; writes them, the raw samples and one SVG per call (the latency
 * distributions side by side) to --out; measures peak RSS, 100 containers created and deleted 10 at
 * a time, and `deno compile` start-up where Deno's denort runtime is reachable.
 *
 *   deno run -A scripts/bench/lifecycle_bench.ts [--runs N] [--skiff dist/skiff] [--runc runc]
 *     [--out docs/bench] [--parallel 100] [--concurrency 10] [--rss-runs 5]
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { buildFixtures } from "../fixtures/oci_image.ts";
import { distributionSvg, median, type Series } from "./svg.ts";
import { DENO_RUN_FLAGS } from "../launch_info.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "30" },
    skiff: { type: "string", default: "dist/skiff" },
    runc: { type: "string", default: "runc" },
    out: { type: "string", default: "docs/bench" },
    parallel: { type: "string", default: "100" },
    concurrency: { type: "string", default: "10" },
    "rss-runs": { type: "string", default: "5" },
  },
});
const runs = Number(values.runs);
const skiff = resolve(values.skiff!);
const runc = values.runc!;
const outDir = resolve(values.out!);
const parallelCount = Number(values.parallel);
const concurrency = Number(values.concurrency);
const rssRuns = Number(values["rss-runs"]);
const deno = Deno.execPath();
/** The flags dist/skiff runs Deno with (scripts/launch_info.ts), for the bare-Deno floor. */
const DENO_FLAGS = DENO_RUN_FLAGS;

// stdio is /dev/null: a created container inherits it, and a pipe would stay open until it exits.
function time(command: string, args: string[]): number {
  const start = performance.now();
  const out = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).outputSync();
  const elapsed = performance.now() - start;
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed with ${out.code}`);
  return elapsed;
}

async function timeAsync(command: string, args: string[]): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  const elapsed = performance.now() - start;
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed with ${out.code}`);
  return elapsed;
}

function output(command: string, args: string[]): string {
  const out = new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "null" })
    .outputSync();
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed with ${out.code}`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * Peak RSS in KiB of `command` and the children it waited for (GNU time's %M: wait4's ru_maxrss).
 * GNU time writes to a file, not a pipe: a created container would inherit and hold the pipe.
 */
function peakRss(command: string, args: string[]): number {
  const file = Deno.makeTempFileSync({ prefix: "skiff-bench-rss-" });
  try {
    time("/usr/bin/time", ["-o", file, "-f", "%M", command, ...args]);
    const lines = Deno.readTextFileSync(file).trim().split("\n");
    return Number(lines[lines.length - 1]);
  } finally {
    Deno.removeSync(file);
  }
}

/** VmHWM (peak RSS, KiB) of a live process. */
function vmHwm(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

function hasRunc(): boolean {
  try {
    return new Deno.Command(runc, { args: ["--version"], stdout: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const fmt = (ms: number): string => ms.toFixed(1);
/** MiB with one decimal; below 1 MiB in KiB (a created container's waiting process is tiny). */
const fmtMiB = (
  mib: number,
): string => (mib < 1 ? `${Math.round(mib * 1024)} KiB` : mib.toFixed(1));

/** The calls timed one after another in each round, in the order of the table. */
const CALLS = [
  "run",
  "run (user namespace)",
  "create",
  "state",
  "start",
  "exec",
  "kill",
  "delete",
  "list",
  "features",
  "--version",
  "run --image",
] as const;
type Call = typeof CALLS[number];
/** The calls that start no container: the target is bare `deno run` + 10 ms (issue 11). */
const FLOOR_CALLS: readonly Call[] = [
  "state",
  "start",
  "kill",
  "delete",
  "list",
  "features",
  "--version",
];
const BARE = "deno run (empty file)";

const dir = await Deno.makeTempDir({ prefix: "skiff-bench-" });
const withRunc = hasRunc();
const skiffRoot = join(dir, "skiff-state");
const runcRoot = join(dir, "runc-state");
const report: string[] = [];
const say = (line = ""): void => {
  console.log(line);
  report.push(line);
};

try {
  // Two bundles on one rootfs: `true` for run, `sleep` for the calls on a running container.
  const rootfs = buildBusyboxRootfs(dir);
  const spec = defaultSpec();
  spec.process!.args = ["true"];
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(spec));
  const long = join(dir, "long");
  await Deno.mkdir(long);
  spec.process!.args = ["sleep", "100000"];
  await Deno.writeTextFile(join(long, "config.json"), JSON.stringify(spec));
  // `true` in a new user namespace (0 -> 100000, 65536 ids): what a user namespace costs `run`.
  const userns = join(dir, "userns");
  await Deno.mkdir(userns);
  spec.process!.args = ["true"];
  spec.linux!.namespaces!.push({ type: "user" });
  spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  await Deno.writeTextFile(join(userns, "config.json"), JSON.stringify(spec));
  // The mapped root must reach the rootfs through the bench's temporary directory.
  await Deno.chmod(dir, 0o755);
  const empty = join(dir, "empty.js");
  await Deno.writeTextFile(empty, "");

  const images = await buildFixtures(join(dir, "images"));
  const store = join(dir, "store");
  time(skiff, ["image", "import", "--store", store, `${images.layout}:base`]);

  type Runtime = "skiff" | "runc";
  const runtimes: Runtime[] = withRunc ? ["skiff", "runc"] : ["skiff"];
  const bin = (r: Runtime): string => (r === "skiff" ? skiff : runc);
  const root = (r: Runtime): string => (r === "skiff" ? skiffRoot : runcRoot);
  const samples: Record<string, Partial<Record<Call, number[]>>> = { skiff: {}, runc: {} };
  const bare: number[] = [];
  const add = (r: Runtime, call: Call, ms: number): void => {
    (samples[r][call] ??= []).push(ms);
  };

  /** One round of every call for runtime `r` on container `id`; `record` false for warm-up. */
  const round = async (r: Runtime, id: string, record: boolean): Promise<void> => {
    const g = ["--root", root(r)];
    const t = (call: Call, args: string[]): void => {
      const ms = time(bin(r), args);
      if (record) add(r, call, ms);
    };
    t("run", [...g, "run", "-b", dir, `run-${id}`]);
    t("run (user namespace)", [...g, "run", "-b", userns, `userns-${id}`]);
    if (r === "skiff") {
      t("run --image", [
        ...g,
        "run",
        "--image",
        "base",
        "--store",
        store,
        `img-${id}`,
        "--",
        "true",
      ]);
    }
    t("create", [...g, "create", "-b", long, id]);
    t("state", [...g, "state", id]);
    t("start", [...g, "start", id]);
    t("exec", [...g, "exec", id, "true"]);
    t("list", [...g, "list"]);
    t("kill", [...g, "kill", id, "KILL"]);
    // Let the init die, so that delete removes a stopped container as an engine's would.
    for (let i = 0; i < 100; i++) {
      if (JSON.parse(output(bin(r), [...g, "state", id])).status === "stopped") break;
      await sleepMs(5);
    }
    t("delete", [...g, "delete", id]);
    t("features", ["features"]);
    t("--version", ["--version"]);
  };

  // Warm up page cache and Deno's code cache.
  for (let i = 0; i < 3; i++) {
    for (const r of runtimes) await round(r, `warm${i}`, false);
    time(deno, [...DENO_FLAGS, empty]);
  }
  for (let i = 0; i < runs; i++) {
    for (const r of runtimes) await round(r, `c${i}`, true);
    bare.push(time(deno, [...DENO_FLAGS, empty]));
  }

  // The table of the first version of this benchmark, then one row per call.
  say(`runs: ${runs} (interleaved), bundle: busybox, process: true (run) or sleep (the others)`);
  say(`${"operation".padEnd(44)} median ms   min ms`);
  const row = (name: string, xs: number[] | undefined): void => {
    if (!xs?.length) return;
    say(`${name.padEnd(44)} ${fmt(median(xs)).padStart(9)} ${fmt(Math.min(...xs)).padStart(8)}`);
  };
  row(BARE, bare);
  for (const call of CALLS) {
    for (const r of runtimes) row(`${r} ${call}`, samples[r][call]);
  }
  const bareMedian = median(bare);
  if (withRunc) {
    say(
      `ratio skiff run / runc run (medians): ${
        (median(samples.skiff.run!) / median(samples.runc.run!)).toFixed(2)
      }`,
    );
    const triple = (r: Runtime) =>
      median(samples[r].create!) + median(samples[r].start!) + median(samples[r].delete!);
    say(
      `ratio create+start+delete skiff / runc (sum of medians): ${
        (triple("skiff") / triple("runc")).toFixed(2)
      }`,
    );
  } else {
    say("runc not found: install it with `apt-get install runc` to get the ratio");
  }
  say();
  say("| call | skiff median ms | runc median ms | skiff / runc | skiff - bare Deno ms | target |");
  say("| --- | --: | --: | --: | --: | --- |");
  for (const call of CALLS) {
    const s = samples.skiff[call];
    if (!s?.length) continue;
    const c = samples.runc[call];
    const over = median(s) - bareMedian;
    const target = FLOOR_CALLS.includes(call)
      ? (over <= 10 ? "met (<= bare + 10 ms)" : "missed (> bare + 10 ms)")
      : "";
    say(
      `| \`${call}\` | ${fmt(median(s))} | ${c?.length ? fmt(median(c)) : "-"} | ${
        c?.length ? (median(s) / median(c)).toFixed(2) : "-"
      } | ${over >= 0 ? "+" : ""}${fmt(over)} | ${target} |`,
    );
  }
  say(`| bare \`deno run\` of an empty file | ${fmt(bareMedian)} | | | | |`);

  // One SVG per call: the distributions side by side.
  await Deno.mkdir(outDir, { recursive: true });
  const colors: Record<string, string> = { skiff: "#1f6feb", runc: "#d1242f", deno: "#6e7781" };
  for (const call of CALLS) {
    const series: Series[] = runtimes.map((r) => ({
      label: r,
      samples: samples[r][call] ?? [],
      color: colors[r],
    }));
    if (FLOOR_CALLS.includes(call)) {
      series.push({ label: "bare deno", samples: bare, color: colors.deno });
    }
    const name = call.replace(/^-+/, "").replace(/[^\w]+/g, "-").replace(/-+$/, "");
    await Deno.writeTextFile(
      join(outDir, `latency-${name}.svg`),
      distributionSvg(`${call}: wall clock per call, ${runs} runs each, interleaved`, series),
    );
  }
  console.log(`\nSVGs: ${outDir}/latency-*.svg`);
  report.push("", "SVGs: latency-*.svg beside this file");

  // Peak RSS: each call under GNU time (wait4's ru_maxrss covers the children it waited for, so
  // `run` counts the init too), and the init of a created container from /proc.
  say("\n| peak RSS (MiB, median) | skiff | runc | bare deno |");
  say("| --- | --: | --: | --: |");
  const rss = (r: Runtime, args: (id: string) => string[], setup?: (id: string) => void) => {
    const xs: number[] = [];
    for (let i = 0; i < rssRuns; i++) {
      const id = `rss-${i}`;
      setup?.(id);
      xs.push(peakRss(bin(r), [...["--root", root(r)], ...args(id)]));
      time(bin(r), ["--root", root(r), "delete", "--force", id]);
    }
    return median(xs) / 1024;
  };
  const bareRss = median(Array.from({ length: rssRuns }, () =>
    peakRss(deno, [...DENO_FLAGS, empty]))) /
    1024;
  const rssRows: [string, (r: Runtime) => number][] = [
    ["run (CLI + init)", (r) => rss(r, (id) => ["run", "-b", dir, id])],
    ["create (CLI)", (r) => rss(r, (id) => ["create", "-b", long, id])],
    [
      "created container's init (VmHWM)",
      (r) => {
        const xs: number[] = [];
        for (let i = 0; i < rssRuns; i++) {
          const id = `rss-init-${i}`;
          time(bin(r), ["--root", root(r), "create", "-b", long, id]);
          const pid = JSON.parse(output(bin(r), ["--root", root(r), "state", id])).pid;
          xs.push(vmHwm(pid));
          time(bin(r), ["--root", root(r), "delete", "--force", id]);
        }
        return median(xs) / 1024;
      },
    ],
    [
      "state",
      (r) =>
        rss(
          r,
          (id) => ["state", id],
          (id) => time(bin(r), ["--root", root(r), "create", "-b", long, id]),
        ),
    ],
    [
      "delete",
      (r) => {
        const xs: number[] = [];
        for (let i = 0; i < rssRuns; i++) {
          const id = `rss-del-${i}`;
          time(bin(r), ["--root", root(r), "create", "-b", long, id]);
          xs.push(peakRss(bin(r), ["--root", root(r), "delete", "--force", id]));
        }
        return median(xs) / 1024;
      },
    ],
    [
      "list",
      (r) =>
        median(
          Array.from({ length: rssRuns }, () => peakRss(bin(r), ["--root", root(r), "list"])),
        ) / 1024,
    ],
    [
      "--version",
      (r) => median(Array.from({ length: rssRuns }, () => peakRss(bin(r), ["--version"]))) / 1024,
    ],
  ];
  for (const [name, measure] of rssRows) {
    const s = measure("skiff");
    const c = withRunc ? measure("runc") : NaN;
    say(`| ${name} | ${fmtMiB(s)} | ${withRunc ? fmtMiB(c) : "-"} | ${fmtMiB(bareRss)} |`);
  }

  // Many containers: N created 10 at a time, then all deleted 10 at a time. Flat means the cost per
  // container does not grow with N (compare N = concurrency with N = parallelCount).
  say(
    `\n| containers, ${concurrency} at a time | runtime | create: wall ms | per container ms | ` +
      "first 10% median ms | last 10% median ms | delete: wall ms | per container ms |",
  );
  say("| --: | --- | --: | --: | --: | --: | --: | --: |");
  const parallel = async (r: Runtime, n: number): Promise<void> => {
    const ids = Array.from({ length: n }, (_, i) => `p${n}-${i}`);
    const phase = async (args: (id: string) => string[]): Promise<[number, number[]]> => {
      const latencies: number[] = new Array(n);
      let next = 0;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: Math.min(concurrency, n) }, async () => {
          for (let i = next++; i < n; i = next++) {
            latencies[i] = await timeAsync(bin(r), ["--root", root(r), ...args(ids[i])]);
          }
        }),
      );
      return [performance.now() - start, latencies];
    };
    const [createWall, created] = await phase((id) => ["create", "-b", long, id]);
    const [deleteWall] = await phase((id) => ["delete", "--force", id]);
    const tenth = Math.max(1, Math.floor(n / 10));
    say(
      `| ${n} | ${r} | ${fmt(createWall)} | ${fmt(createWall / n)} | ${
        fmt(median(created.slice(0, tenth)))
      } | ${fmt(median(created.slice(-tenth)))} | ${fmt(deleteWall)} | ${fmt(deleteWall / n)} |`,
    );
  };
  for (const n of [concurrency, parallelCount]) {
    for (const r of runtimes) await parallel(r, n);
  }

  // deno compile: where the denort runtime is reachable (or DENORT_BIN is set).
  const compiled = join(dir, "skiff-bin");
  const compile = new Deno.Command(deno, {
    args: ["compile", "-A", "--no-check", "--quiet", "--output", compiled, resolve("cli.ts")],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  });
  let compileError = "";
  try {
    const out = await compile.output();
    if (!out.success) {
      compileError = new TextDecoder().decode(out.stderr).trim().split("\n").slice(0, 6)
        .join(" ").replace(/\s+/g, " ");
    }
  } catch (err) {
    compileError = String(err);
  }
  if (compileError) {
    say(`\ndeno compile: not measured here: ${compileError}`);
  } else {
    const bundleTimes: number[] = [];
    const binTimes: number[] = [];
    for (let i = 0; i < runs; i++) {
      bundleTimes.push(time(skiff, ["--version"]));
      binTimes.push(time(compiled, ["--version"]));
    }
    say(
      `\ndeno compile: --version median ${fmt(median(binTimes))} ms (bundle ${
        fmt(median(bundleTimes))
      } ms)`,
    );
  }

  await Deno.writeTextFile(join(outDir, "results.md"), report.join("\n") + "\n");
  await Deno.writeTextFile(
    join(outDir, "samples.json"),
    JSON.stringify({ runs, bare, skiff: samples.skiff, runc: samples.runc }) + "\n",
  );
  console.log(`results: ${join(outDir, "results.md")}, samples: ${join(outDir, "samples.json")}`);
} finally {
  for (const [b, r] of [[skiff, skiffRoot], [runc, runcRoot]]) {
    try {
      for (const entry of Deno.readDirSync(r)) {
        new Deno.Command(b, { args: ["--root", r, "delete", "--force", entry.name] }).outputSync();
      }
    } catch {
      // Nothing was created there.
    }
  }
  await Deno.remove(dir, { recursive: true });
}
