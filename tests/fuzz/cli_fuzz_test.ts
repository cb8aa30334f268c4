/**
 * Seeded fuzzing of skiff's command line (issue 15, "Fuzzing, seeded, in CI": the command-line
 * part). Each case starts from a valid command line of one command (every command, the hidden init
 * included, with global flags such as `--log-format json --log FILE`) and applies 0-4 mutations:
 * an unknown flag, a dropped token or flag value, a bad ID ("../x", "", 5,000 characters), a flag
 * value of the wrong type, a duplicated or swapped token, a global flag after the command, another
 * command name. The oracle, per case:
 * - it ends within a time bound, and an unmutated valid line exits 0;
 * - on failure there is exactly one error line (one JSON line with `--log-format json`, in the
 *   --log file when one is given), and on success none;
 * - no uncaught exception, stack trace or Deno panic anywhere in the output;
 * - nothing is left: no state entry, cgroup, mount or process but those of the one long-lived
 *   container the cases act on (and of containers a valid create made, which are deleted).
 *
 * Every case runs with `--root` and SKIFF_STORE inside one temp dir, and paths in the cases stay
 * in it. A failing seed is printed with its command line; `FUZZ_SEED=N CLI_FUZZ_COUNT=1` replays
 * it, and it goes into REGRESSION_SEEDS. Prints `fuzz-count cli N`. The count: CLI_FUZZ_COUNT,
 * else FUZZ_COUNT / 10 (`deno task fuzz`: 1,000), else 150 (one to two minutes on 2 cores).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { prng } from "../differential/generator.ts";
import { COMMAND_NAMES, GLOBAL_FLAGS, loadCommands } from "../../runtime/cli/mod.ts";
import { type FlagSpec, parseArgs } from "../../runtime/cli/args.ts";
import { makeBundle } from "../_helpers/bundle.ts";
import { runSkiff, type SkiffResult } from "../_helpers/skiff.ts";
import {
  cgroupsNamed,
  killProcessesUnder,
  mountsUnder,
  processesUnder,
  removeCgroupsWithPrefix,
  stateEntries,
} from "../_helpers/leftovers.ts";

const FUZZ_COUNT = Deno.env.get("FUZZ_COUNT");
const COUNT = Number(
  Deno.env.get("CLI_FUZZ_COUNT") ?? (FUZZ_COUNT ? Math.ceil(Number(FUZZ_COUNT) / 10) : "150"),
);
const FIRST_SEED = Number(Deno.env.get("FUZZ_SEED") ?? "20261130");
/** Seeds that once failed, replayed first on every run (each comment says what broke). */
const REGRESSION_SEEDS: number[] = [
  // `--log` with a 20,000-character path: the error line fell back to stderr and was followed by a
  // second, human one (runtime/log.ts fatal()).
  20261326,
];
/** A case that runs longer is a hang (a valid `run` takes about half a second). */
const TIME_BOUND_MS = 20_000;

const PREFIX = `clf-${Deno.pid}-`;

/** One generated command line: global flags (after --root), then the command's arguments. */
interface Case {
  seed: number;
  argv: string[];
  /** The unmutated line is valid and must exit 0. */
  valid: boolean;
  mutations: string[];
}

/** Paths and IDs a case may use; all files live under `work`. */
interface World {
  work: string;
  root: string;
  bundle: string;
  /** The long-lived created container most cases act on. */
  live: string;
  cwd: string;
  flagsOf: Map<string, FlagSpec[]>;
}

const BAD_IDS = [
  "../x",
  "",
  ".",
  "..",
  "a/b",
  "-",
  "--",
  "x".repeat(5000),
  "id with space",
  "ïd",
  "a\tb",
  "-x",
  "/abs",
];

const WRONG_VALUES = [
  "abc",
  "-1",
  "0",
  "1.5",
  "99999999999999999999999",
  "",
  "0x10",
  "1e3",
  "NaN",
  "true",
  "512q",
  "9g",
  "-",
  "=",
  "x".repeat(3000),
];

const SIGNALS = ["KILL", "SIGKILL", "9", "0", "65", "-1", "FOO", "sigterm", "", "SIGRTMIN+1"];

const UNKNOWN_FLAGS = ["--bogus", "-zz", "--bogus=1", "---triple", "--=x", "-", "--root="];

function templates(w: World, fresh: string, dir: string): { argv: string[]; valid: boolean }[] {
  const log = join(w.work, "logs", `${fresh}.log`);
  return [
    { argv: ["state", w.live], valid: true },
    { argv: ["list"], valid: true },
    { argv: ["list", "--format", "json"], valid: true },
    { argv: ["list", "-q"], valid: true },
    { argv: ["ps", w.live], valid: true },
    { argv: ["ps", "--format", "json", w.live], valid: true },
    { argv: ["kill", w.live, "0"], valid: true },
    { argv: ["kill", w.live, "KILL"], valid: true },
    { argv: ["exec", w.live, "true"], valid: true },
    { argv: ["exec", "--env", "A=b", "--cwd", "/", w.live, "/bin/true"], valid: true },
    { argv: ["run", "--bundle", w.bundle, fresh], valid: true },
    { argv: ["run", "-d", "--bundle", w.bundle, fresh], valid: true },
    { argv: ["create", "--bundle", w.bundle, "--pid-file", join(dir, "pid"), fresh], valid: true },
    { argv: ["start", w.live], valid: true },
    { argv: ["delete", "--force", fresh], valid: true },
    { argv: ["delete", w.live], valid: true },
    { argv: ["pause", w.live], valid: false },
    { argv: ["resume", w.live], valid: false },
    { argv: ["update", "--pids-limit", "100", w.live], valid: true },
    { argv: ["update", "--memory", "64m", w.live], valid: true },
    { argv: ["events", "--stats", w.live], valid: true },
    { argv: ["spec", "--bundle", dir], valid: true },
    { argv: ["features"], valid: true },
    { argv: ["--version"], valid: true },
    { argv: ["--help"], valid: true },
    { argv: ["help", "exec"], valid: true },
    { argv: ["image", "ls"], valid: true },
    { argv: ["image", "gc"], valid: true },
    { argv: ["image", "import", join(dir, "no-such-image")], valid: false },
    { argv: ["bundle", "create", "--image", "nothing", dir], valid: false },
    { argv: ["init", "3", "4"], valid: false },
    { argv: ["--log-format", "json", "state", w.live], valid: true },
    { argv: ["--log", log, "--log-format", "json", "delete", fresh], valid: false },
    { argv: ["--log", log, "--debug", "state", fresh], valid: false },
    { argv: ["--log-format", "json", "kill", fresh], valid: false },
    { argv: ["--rootless", "auto", "list"], valid: true },
  ];
}

/** Generates case `seed`: a template and 0-4 mutations. */
export function generate(seed: number, w: World): Case {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const fresh = `${PREFIX}${seed}`;
  const dir = join(w.work, "dirs", String(seed));
  const template = pick(templates(w, fresh, dir));
  const argv = [...template.argv];
  const mutations: string[] = [];
  const count = random() < 0.2 ? 0 : 1 + Math.floor(random() * 4);
  const commandAt = () => argv.findIndex((a) => COMMAND_NAMES.includes(a) || a === "help");
  const at = (extra = 1) => Math.floor(random() * (argv.length + extra));
  const pathValue = () =>
    pick([
      join(w.work, "file"),
      join(w.work, "nonexistent", "x"),
      "relative/path",
      "../up",
      "",
      dir,
      w.bundle,
      join(w.work, "x".repeat(300)),
      join(w.work, "deep", ..."y".repeat(50).split("")),
    ]);
  for (let m = 0; m < count; m++) {
    const kind = Math.floor(random() * 11);
    switch (kind) {
      case 0: {
        const flag = pick(UNKNOWN_FLAGS);
        argv.splice(at(), 0, flag);
        mutations.push(`insert ${flag}`);
        break;
      }
      case 1: {
        if (argv.length === 0) break;
        const i = at(0);
        mutations.push(`drop ${JSON.stringify(argv[i].slice(0, 40))}`);
        argv.splice(i, 1);
        break;
      }
      case 2: {
        // A flag with its value missing: the line ends at a string flag.
        const flags = w.flagsOf.get(argv[commandAt()] ?? "") ?? GLOBAL_FLAGS;
        const strings = flags.filter((f) => f.type === "string");
        if (strings.length === 0) break;
        const flag = pick(strings);
        argv.push(`--${flag.name}`);
        mutations.push(`trailing --${flag.name} without a value`);
        break;
      }
      case 3: {
        const id = pick(BAD_IDS);
        const i = argv.findIndex((a) => a === w.live || a === fresh);
        if (i >= 0) argv[i] = id;
        else argv.push(id);
        mutations.push(`bad ID ${JSON.stringify(id.slice(0, 40))}`);
        break;
      }
      case 4: {
        // A known flag of the command with a value of the wrong type (or a signal).
        const flags = w.flagsOf.get(argv[commandAt()] ?? "") ?? GLOBAL_FLAGS;
        if (flags.length === 0) break;
        const flag = pick(flags);
        const value = flag.path ? pathValue() : pick([...WRONG_VALUES, ...SIGNALS]);
        const tokens = flag.type === "boolean"
          ? [random() < 0.5 ? `--${flag.name}` : `--${flag.name}=${value}`]
          : random() < 0.5
          ? [`--${flag.name}`, value]
          : [`-${flag.alias ?? flag.name}=${value}`];
        argv.splice(Math.max(commandAt() + 1, at()), 0, ...tokens);
        mutations.push(`flag ${tokens.join(" ").slice(0, 60)}`);
        break;
      }
      case 5: {
        const long = pick(["a", "-", "/", "é"]).repeat(20_000);
        argv.splice(at(), 0, long);
        mutations.push(`insert a 20,000-character argument`);
        break;
      }
      case 6: {
        if (argv.length === 0) break;
        const i = at(0);
        argv.splice(i, 0, argv[i]);
        mutations.push(`duplicate ${JSON.stringify(argv[i].slice(0, 40))}`);
        break;
      }
      case 7: {
        // A global flag in any place, before or after the command.
        const flag = pick(GLOBAL_FLAGS.filter((f) => f.name !== "help" && f.name !== "version"));
        const value = flag.name === "log-format"
          ? pick(["json", "text", "xml", ""])
          : flag.name === "log"
          ? pick([join(w.work, "logs", `${fresh}.g.log`), w.work, "", join(w.work, "no", "x")])
          : flag.name === "root"
          ? pick([join(w.work, "root2"), join(w.work, "file"), "rel-root", ""])
          : flag.name === "rootless"
          ? pick(["true", "false", "auto", "maybe"])
          : pick(WRONG_VALUES);
        const tokens = flag.type === "boolean" ? [`--${flag.name}`] : [`--${flag.name}`, value];
        argv.splice(random() < 0.6 ? 0 : at(), 0, ...tokens);
        mutations.push(`global ${tokens.join(" ")}`);
        break;
      }
      case 8: {
        if (argv.length < 2) break;
        const i = at(0);
        const j = at(0);
        [argv[i], argv[j]] = [argv[j], argv[i]];
        mutations.push(`swap ${i} ${j}`);
        break;
      }
      case 9: {
        const i = commandAt();
        const name = pick([...COMMAND_NAMES, "Create", "", "stat", "help", "-h", "image"]);
        if (i >= 0) argv[i] = name;
        else argv.unshift(name);
        mutations.push(`command ${JSON.stringify(name)}`);
        break;
      }
      default: {
        // Everything after a random point dropped.
        const i = at(0);
        mutations.push(`truncate at ${i}`);
        argv.length = i;
      }
    }
  }
  // `events` without --stats streams until the container exits, which is its job, not a hang.
  const command = argv[commandAt()];
  if (command === "events" && !argv.some((a) => /^--?stats(=true)?$/.test(a))) {
    argv.push("--stats");
  }
  return { seed, argv, valid: template.valid && mutations.length === 0, mutations };
}

/** How the case's errors are logged, found as cli.ts does from the global flags. */
function logSetup(argv: string[]): { json: boolean; file?: string } {
  try {
    const global = parseArgs(argv, GLOBAL_FLAGS, true);
    const format = global.flags["log-format"] ?? "text";
    if (format !== "text" && format !== "json") return { json: false };
    const file = global.flags.log as string | undefined;
    return { json: format === "json", file: file || undefined };
  } catch {
    return { json: false };
  }
}

const CRASH = /Uncaught|panicked|RUST_BACKTRACE|\n\s+at [^\n]*[(:]\d+|^\s+at /m;

/** The oracle's findings for one result; empty when the case passed. */
function judge(c: Case, r: SkiffResult, logText: string, logFile?: string): string[] {
  const problems: string[] = [];
  if (r.timedOut) return [`no exit within ${TIME_BOUND_MS} ms (a hang)`];
  for (const [name, text] of [["stdout", r.stdout], ["stderr", r.stderr], ["log", logText]]) {
    if (CRASH.test(text)) problems.push(`${name} shows a crash or stack trace`);
  }
  if (![0, 1, 3, 255].includes(r.code)) problems.push(`exit status ${r.code}`);
  if (c.valid && r.code !== 0) problems.push("a valid command line failed");
  const { json, file } = logSetup(c.argv);
  const stderrLines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  const isErrorLine = (line: string): boolean => {
    if (json) {
      try {
        return JSON.parse(line).level === "error";
      } catch {
        return false;
      }
    }
    return /(^|\s)level=error(\s|$)/.test(line) || line.startsWith("skiff: ");
  };
  // Debug and warning lines may come with an error: count error lines only.
  const noise = (line: string) =>
    json
      ? (() => {
        try {
          return ["debug", "warning", "info"].includes(JSON.parse(line).level);
        } catch {
          return false;
        }
      })()
      : /(^|\s)level=(debug|warning|info)(\s|$)/.test(line);
  const expected = r.code === 0 ? 0 : 1;
  if (file && logFile !== undefined) {
    const logLines = logText.split("\n").filter(Boolean);
    const errors = logLines.filter((l) =>
      json ? isErrorLine(l) : /(^|\s)level=error(\s|$)/.test(l)
    );
    if (errors.length !== expected) {
      problems.push(`${errors.length} error lines in the --log file, expected ${expected}`);
    }
    if (json && logLines.some((l) => !isJson(l))) problems.push("a --log line is not JSON");
    const human = stderrLines.filter((l) => !noise(l));
    if (human.length !== expected) {
      problems.push(`${human.length} lines on stderr besides the log, expected ${expected}`);
    }
  } else {
    const errors = stderrLines.filter((l) => !noise(l));
    if (errors.length !== expected) {
      problems.push(`${errors.length} error lines on stderr, expected ${expected}`);
    }
    if (json && errors.length === 1 && !isErrorLine(errors[0])) {
      problems.push("the error line is not one JSON line with level error");
    }
  }
  return problems;
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

Deno.test(`skiff's command line: one error line, no crash, no hang, nothing left (${COUNT} seeded cases)`, async () => {
  await using bundle = await makeBundle();
  const work = bundle.dir;
  const root = join(work, "fuzz-root");
  const cwd = join(work, "cwd", "a", "b");
  for (const d of [cwd, join(work, "logs"), join(work, "dirs"), join(work, "store")]) {
    await Deno.mkdir(d, { recursive: true });
  }
  await Deno.writeTextFile(join(work, "file"), "not a directory\n");
  const flagsOf = new Map((await loadCommands()).map((c) => [c.name, c.flags]));
  const w: World = { work, root, bundle: work, live: `${PREFIX}live`, cwd, flagsOf };
  const env = { SKIFF_STORE: join(work, "store") };
  const skiff = (argv: string[], timeoutMs = TIME_BOUND_MS) =>
    runSkiff(["--root", root, ...argv], { cwd, env, timeoutMs });

  /** The live container's init pid, read from its state file; undefined once it is gone. */
  const livePid = (): number | undefined => {
    try {
      const pid = JSON.parse(Deno.readTextFileSync(join(root, w.live, "state.json"))).pid;
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      return /\) [ZX] /.test(stat) ? undefined : pid;
    } catch {
      return undefined;
    }
  };
  /** Recreates the live container when a case killed, started to completion or deleted it. */
  const liveOk = async () => {
    if (livePid() !== undefined) return;
    await skiff(["delete", "--force", w.live]);
    const c = await skiff(["create", "--bundle", work, w.live]);
    assert.equal(c.code, 0, `cannot create the live container: ${c.stderr}`);
  };

  let failed = 0;
  let ran = 0;
  let succeeded = 0;
  try {
    const seeds = [
      ...REGRESSION_SEEDS,
      ...Array.from({ length: COUNT }, (_, i) => FIRST_SEED + i),
    ];
    for (const seed of seeds) {
      await liveOk();
      const c = generate(seed, w);
      await Deno.mkdir(join(work, "dirs", String(seed)), { recursive: true });
      const { file } = logSetup(c.argv);
      const t0 = performance.now();
      const result = await skiff(c.argv);
      if (Deno.env.get("CLI_FUZZ_VERBOSE")) {
        console.log(
          `${seed} ${(performance.now() - t0).toFixed(0)}ms ${result.code} ${
            c.argv.join(" ").slice(0, 120)
          }`,
        );
      }
      ran++;
      if (result.code === 0) succeeded++;
      let logText = "";
      let logWritten: string | undefined;
      try {
        if (file) {
          logText = await Deno.readTextFile(file);
          logWritten = file;
        }
      } catch {
        // Not written (a directory, a missing parent): the error line went to stderr.
      }
      const problems = judge(c, result, logText, logWritten);
      // A case that paused the live container: the next ones expect it to run.
      if (c.argv.includes("pause")) await skiff(["resume", w.live]);
      // Nothing left: containers a successful command made are deleted first (they are valid).
      const entries = stateEntries(root).filter((e) => e !== w.live);
      if (result.code === 0) {
        for (const e of entries) await skiff(["delete", "--force", e]);
      } else if (entries.length > 0) {
        problems.push(`left state entries ${entries.join(" ")}`);
        for (const e of entries) await skiff(["delete", "--force", e]);
      }
      const live = livePid();
      const cgroups = cgroupsNamed(PREFIX).filter((g) => !g.endsWith(`/${w.live}`));
      if (cgroups.length) problems.push(`left cgroups ${cgroups.join(" ")}`);
      const mounts = mountsUnder(work);
      if (mounts.length) problems.push(`left mounts ${mounts.join(" ")}`);
      const procs = processesUnder(work).filter((p) => p !== live);
      if (procs.length) {
        // An exec'd `true` or a container on its way out may need a moment.
        await new Promise((r) => setTimeout(r, 300));
        const still = processesUnder(work).filter((p) => p !== live);
        if (still.length) problems.push(`left processes ${still.join(" ")}`);
      }
      if (problems.length > 0) {
        failed++;
        console.log(
          `FAILED seed ${seed} (replay: FUZZ_SEED=${seed} CLI_FUZZ_COUNT=1; keep it in REGRESSION_SEEDS): ${
            problems.join("; ")
          }\n  argv: ${
            JSON.stringify(c.argv.map((a) => a.length > 80 ? `${a.slice(0, 20)}…(${a.length})` : a))
          }\n  mutations: ${c.mutations.join(", ")}\n  exit ${result.code}\n  stdout: ${
            result.stdout.slice(0, 300)
          }\n  stderr: ${result.stderr.slice(0, 600)}\n  log: ${logText.slice(0, 600)}`,
        );
        removeCgroupsWithPrefix(PREFIX);
        if (failed >= 5) break;
      }
    }
  } finally {
    await skiff(["delete", "--force", w.live]);
    for (const e of stateEntries(root)) await skiff(["delete", "--force", e]);
    killProcessesUnder(work);
    removeCgroupsWithPrefix(PREFIX);
  }
  console.log(`fuzz-count cli ${ran}`);
  assert.equal(failed, 0, `${failed} failing seeds (printed above)`);
  // The generator must produce both outcomes, or it tests one path only.
  if (ran >= 50) {
    assert.ok(succeeded > ran / 20 && succeeded < ran * 0.8, `${succeeded} of ${ran} exit 0`);
  }
  assert.deepEqual(cgroupsNamed(PREFIX), [], "no cgroup left");
});
