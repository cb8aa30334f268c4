/**
 * The OCI runtime-tools validation suite against dist/skiff: ../shared/conformance/build.sh builds
 * it once (Go from apt), run.sh runs its 58 programs with a private --root each, and every program
 * becomes one test here that passes when what failed is exactly what expected_failures.ts lists,
 * with its reason. The suite's own totals are printed too ("runtime-tools: N passed, ..."), for
 * the comparison with runc's figures in docs/conformance.md.
 *
 * Environment: SKIFF_CONFORMANCE_BIN (where the suite is built; default
 * /var/tmp/skiff-conformance/bin), SKIFF_CONFORMANCE_PROGRAMS (space-separated subset).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO, SKIFF } from "../_helpers/paths.ts";
import { EXPECTED_FAILURES } from "./expected_failures.ts";

const SHARED = join(REPO, "..", "shared", "conformance");
const BIN = Deno.env.get("SKIFF_CONFORMANCE_BIN") ?? "/var/tmp/skiff-conformance/bin";

/** One program's line of run.sh output, with the failing assertions from its TAP. */
interface ProgramResult {
  name: string;
  ok: number;
  notok: number;
  skip: number;
  note: string;
  failing: string[];
}

async function sh(args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const out = await new Deno.Command("bash", { args, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { ok: out.success, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

/** "not ok 3 - text # TODO" lines at column 0, as run.sh counts them, without number and TODOs. */
export function failingAssertions(tap: string): string[] {
  return tap.split("\n")
    .filter((line) => /^not ok\b/.test(line) && !/#\s*(todo|skip)/i.test(line))
    .map((line) => line.replace(/^not ok\s*\d*\s*-?\s*/, "").trim());
}

/** Parses run.sh's per-program lines: `NAME ok=N notok=N skip=N rc=RC [note]`. */
export function parseRunLine(line: string): Omit<ProgramResult, "failing"> | undefined {
  const m = /^(\S+) ok=(\d+) notok=(\d+) skip=(\d+) rc=(\d+)(?: (.+))?$/.exec(line);
  if (!m) return undefined;
  return { name: m[1], ok: +m[2], notok: +m[3], skip: +m[4], note: m[6] ?? "" };
}

/** Runs run.sh for `programs` (all when empty) and reads each program's result and TAP. */
async function runPrograms(
  programs: string[],
): Promise<{ results: ProgramResult[]; totals: string; err: string }> {
  const logs = await Deno.makeTempDir({ prefix: "skiff-rt-logs-" });
  try {
    const run = await sh([join(SHARED, "run.sh"), "-o", logs, BIN, SKIFF, ...programs]);
    const results: ProgramResult[] = [];
    for (const line of run.out.split("\n")) {
      const parsed = parseRunLine(line);
      if (!parsed) continue;
      let tap = "";
      try {
        tap = Deno.readTextFileSync(join(logs, `${parsed.name}.tap`));
      } catch {
        // No TAP at all: the note says so.
      }
      const failing = failingAssertions(tap);
      // A program whose failure is the runner's own (no TAP, exit status, error block) shows it.
      if (parsed.note.endsWith("(+1 notok)")) failing.push(`(${parsed.note.split("(")[0]})`);
      results.push({ ...parsed, failing });
    }
    const totals = run.out.split("\n").filter((l) => /^(total|skipped|programs):/.test(l));
    return { results, totals: totals.join("; "), err: run.err };
  } finally {
    await Deno.remove(logs, { recursive: true });
  }
}

/** True when `program` failed exactly as expected_failures.ts says (a racy one: no more). */
function asExpected(program: ProgramResult): boolean {
  const expected = EXPECTED_FAILURES[program.name]?.failing ?? [];
  if (EXPECTED_FAILURES[program.name]?.racy) {
    return program.failing.every((f) => expected.includes(f));
  }
  return JSON.stringify([...program.failing].sort()) === JSON.stringify([...expected].sort());
}

async function runSuite(): Promise<
  { results: ProgramResult[]; totals: string; retried: Set<string> } | string
> {
  if (!Deno.statSync(SHARED).isDirectory) return `${SHARED} is not there`;
  const built = await sh([join(SHARED, "build.sh"), BIN]);
  if (!built.ok) return `build.sh failed: ${built.err.trim()}`;
  const programs = (Deno.env.get("SKIFF_CONFORMANCE_PROGRAMS") ?? "").split(/\s+/).filter(
    Boolean,
  );
  const first = await runPrograms(programs);
  // Every program must be accounted for: one that run.sh printed but this parser missed would
  // otherwise pass by not being tested.
  const wanted = programs.length ||
    [...Deno.readDirSync(BIN)].filter((e) => e.name.endsWith(".t")).length;
  if (first.results.length !== wanted) {
    return `run.sh reported ${first.results.length} of ${wanted} programs: ${
      first.err.trim().slice(-500)
    }`;
  }
  // Several programs time their containers (kill, state and cgroup reads right after start): on
  // a loaded machine one of them can fail once. A program that does not match is run once more,
  // alone; the test names say so, and the second result is the one judged.
  const retried = new Set<string>();
  const results = [];
  for (const program of first.results) {
    if (asExpected(program)) {
      results.push(program);
      continue;
    }
    retried.add(program.name);
    const again = await runPrograms([program.name]);
    results.push(again.results[0] ?? program);
  }
  return { results, totals: first.totals, retried };
}

const suite = await runSuite();

if (typeof suite === "string") {
  Deno.test("the runtime-tools suite runs", () => {
    assert.fail(`the OCI runtime-tools suite cannot run: ${suite}`);
  });
} else {
  console.log(`runtime-tools against dist/skiff: ${suite.totals}`);
  if (suite.retried.size) console.log(`run a second time: ${[...suite.retried].join(" ")}`);
  for (const program of suite.results) {
    const expected = EXPECTED_FAILURES[program.name];
    const again = suite.retried.has(program.name) ? " (second run)" : "";
    const title = expected
      ? `runtime-tools ${program.name}: fails only as expected (${expected.kind})${again}`
      : `runtime-tools ${program.name}: passes${again}`;
    Deno.test(title, () => {
      if (expected?.racy) {
        const unexpected = program.failing.filter((f) => !expected.failing.includes(f));
        assert.deepEqual(unexpected, [], `only ${expected.failing} may fail (${expected.why})`);
        return;
      }
      assert.deepEqual(
        [...program.failing].sort(),
        [...(expected?.failing ?? [])].sort(),
        expected
          ? `expected failures changed (${expected.why}); update tests/conformance/expected_failures.ts and docs/conformance.md`
          : "a program that passed now fails",
      );
      if (!expected) assert.ok(program.ok + program.skip > 0, "the program checked nothing");
    });
  }
}
