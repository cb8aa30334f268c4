/**
 * The light calls of issue 11 (state, start, list, kill, delete of a stopped container, features,
 * --version) for one or more builds, interleaved, each call paired with a bare `deno run` of an
 * empty file (dist/skiff's flags) run right before it: the median of those differences is the
 * call's cost over bare Deno, which follows the machine's load better than two separate medians.
 * The own clock is SKIFF_TRACE=1's `exit` line (the process's +ms when its exit code is known).
 *
 *   deno run -A scripts/bench/light_bench.ts [--runs 30] before=/path/to/skiff after=dist/skiff
 *
 * A build's label is the text before "="; with no build, dist/skiff. Each build gets its own state
 * root in a temporary directory; every round creates one `sleep` container per build and takes it
 * through the calls (create, state, start, list, kill KILL, delete once stopped).
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { median } from "./svg.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "30" } },
  allowPositionals: true,
});
const runs = Number(values.runs);
const builds: [string, string][] = (positionals.length ? positionals : ["skiff=dist/skiff"]).map(
  (arg) => {
    const eq = arg.indexOf("=");
    if (eq <= 0) throw new Error(`expected label=/path/to/skiff, got ${JSON.stringify(arg)}`);
    return [arg.slice(0, eq), resolve(arg.slice(eq + 1))];
  },
);
const deno = Deno.execPath();
/** dist/skiff's shebang flags (scripts/build.ts), for the bare-Deno floor. */
const DENO_FLAGS = ["run", "-A", "--quiet", "--no-config", "--no-lock", "--no-remote", "--no-npm"];
const CALLS = ["state", "start", "list", "kill", "delete", "features", "--version"] as const;
type Call = (typeof CALLS)[number];

interface Sample {
  wall: number;
  /** The `exit` trace line's +ms; NaN without one. */
  own: number;
  stdout: string;
}

function run(command: string, args: string[]): Sample {
  const start = performance.now();
  const out = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1", SKIFF_TRACE: "1" },
  }).outputSync();
  const wall = performance.now() - start;
  const exit = new TextDecoder().decode(out.stderr).match(/\+([\d.]+)ms @\S+ exit\n/);
  return { wall, own: exit ? Number(exit[1]) : NaN, stdout: new TextDecoder().decode(out.stdout) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dir = await Deno.makeTempDir({ prefix: "skiff-light-bench-" });
try {
  const spec = defaultSpec();
  spec.process!.args = ["sleep", "100000"];
  spec.process!.terminal = false;
  spec.root = { path: buildBusyboxRootfs(dir), readonly: true };
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(spec));
  const empty = join(dir, "empty.js");
  await Deno.writeTextFile(empty, "");

  type Series = { own: number[]; wall: number[]; overBare: number[] };
  const results = new Map<string, Series>();
  const bare: number[] = [];
  for (let round = -2; round < runs; round++) {
    const record = round >= 0;
    for (const [label, skiff] of builds) {
      const global = ["--root", join(dir, `root-${label}`)];
      const id = `c${round + 2}`;
      const timed = async (call: Call, args: string[]) => {
        await sleep(30); // Let what the previous call left (a starting init) settle.
        const floor = run(deno, [...DENO_FLAGS, empty]);
        const sample = run(skiff, args);
        if (!record) return;
        const key = `${call}\0${label}`;
        const series = results.get(key) ?? { own: [], wall: [], overBare: [] };
        series.own.push(sample.own);
        series.wall.push(sample.wall);
        series.overBare.push(sample.wall - floor.wall);
        results.set(key, series);
        bare.push(floor.wall);
      };
      // A created container inherits stdio: /dev/null, not a pipe that would stay open.
      const create = new Deno.Command(skiff, {
        args: [...global, "create", "-b", dir, id],
        stdin: "null",
        stdout: "null",
        stderr: "inherit",
      }).outputSync();
      if (!create.success) throw new Error(`${skiff} create failed`);
      await timed("state", [...global, "state", id]);
      await timed("start", [...global, "start", id]);
      await timed("list", [...global, "list"]);
      await timed("kill", [...global, "kill", id, "KILL"]);
      // delete of a stopped container, as an engine does it after the init's exit.
      for (let i = 0; i < 200; i++) {
        if (run(skiff, [...global, "state", id]).stdout.includes('"stopped"')) break;
        await sleep(10);
      }
      await timed("delete", [...global, "delete", id]);
      await timed("features", ["features"]);
      await timed("--version", ["--version"]);
    }
  }
  const fmt = (xs: number[]) => median(xs.filter((x) => !Number.isNaN(x))).toFixed(1);
  console.log(`runs: ${runs} (interleaved); bare \`deno run\` of an empty file: ${fmt(bare)} ms`);
  console.log(
    `| call | ${
      builds.map(([l]) => `${l}: own ms | ${l}: wall ms | ${l}: wall - bare ms`).join(" | ")
    } |`,
  );
  console.log(`| --- | ${builds.map(() => "--: | --: | --:").join(" | ")} |`);
  for (const call of CALLS) {
    const cells = builds.map(([label]) => {
      const s = results.get(`${call}\0${label}`)!;
      return `${fmt(s.own)} | ${fmt(s.wall)} | ${fmt(s.overBare)}`;
    });
    console.log(`| \`${call}\` | ${cells.join(" | ")} |`);
  }
} finally {
  // Containers left by a failed round: kill and delete them; then the directory.
  for (const [label, skiff] of builds) {
    const root = join(dir, `root-${label}`);
    try {
      for (const entry of Deno.readDirSync(root)) {
        new Deno.Command(skiff, {
          args: ["--root", root, "delete", "--force", entry.name],
          stdout: "null",
          stderr: "null",
        }).outputSync();
      }
    } catch {
      // No root: nothing was created.
    }
  }
  await Deno.remove(dir, { recursive: true });
}
