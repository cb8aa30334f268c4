/**
 * `skiff check` against create on the configs of the OCI runtime-tools validation suite
 * (../shared/conformance). The suite's Go programs generate their config.json files as they run,
 * so the suite is run with check_shim.sh as its runtime: before each create it records the
 * bundle's config.json and `skiff check --format json` on it, then runs the real create and
 * records its exit status and stderr. For every recorded create:
 *
 * - create refused it with an error naming a JSON path: check reports an error at that path;
 * - create accepted it: check reports no error (warnings are fine);
 * - check ran to its end: exit 0 or 1, a JSON report, nothing on stderr.
 *
 * Each program becomes one test over its creates. Environment: SKIFF_CONFORMANCE_BIN (where the
 * suite is built), SKIFF_CONFORMANCE_PROGRAMS (a space-separated subset), SKIFF_CHECK_KEEP (a
 * directory to keep the recorded creates in, e.g. to look at a failure), SKIFF_CHECK_CORPUS (a
 * file to write the refused configs to, for the replay in tests/integration/check_test.ts:
 * tests/conformance/check_corpus.json).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { REPO, SKIFF } from "../_helpers/paths.ts";
import {
  corpusOf,
  disagreements,
  readRecords,
  type Recorded,
  refusedPath,
} from "./check_records.ts";

const SHARED = join(REPO, "..", "shared", "conformance");
const BIN = Deno.env.get("SKIFF_CONFORMANCE_BIN") ?? "/var/tmp/skiff-conformance/bin";
const SHIM = join(REPO, "tests", "conformance", "check_shim.sh");
/** run.sh kills a program after this long (the whole suite takes about 2 minutes when idle). */
const PROGRAM_TIMEOUT_S = 60;

async function recordSuite(): Promise<{ records: Recorded[]; programs: string[] } | string> {
  try {
    if (!Deno.statSync(SHARED).isDirectory) return `${SHARED} is not a directory`;
  } catch {
    return `${SHARED} is not there`;
  }
  const sh = async (args: string[], env: Record<string, string> = {}) => {
    const out = await new Deno.Command("bash", { args, env, stdin: "null" }).output();
    const dec = new TextDecoder();
    return { ok: out.success, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
  };
  const built = await sh([join(SHARED, "build.sh"), BIN]);
  if (!built.ok) return `build.sh failed: ${built.err.trim()}`;
  const capture = await Deno.makeTempDir({ prefix: "skiff-check-capture-" });
  const logs = await Deno.makeTempDir({ prefix: "skiff-check-logs-" });
  try {
    const subset = (Deno.env.get("SKIFF_CONFORMANCE_PROGRAMS") ?? "").split(/\s+/).filter(Boolean);
    const started = Date.now();
    const run = await sh(
      [join(SHARED, "run.sh"), "-t", String(PROGRAM_TIMEOUT_S), "-o", logs, BIN, SHIM, ...subset],
      { SKIFF_REAL: SKIFF, SKIFF_CHECK_CAPTURE: capture },
    );
    const programs = run.out.split("\n").flatMap((l) => /^(\S+) ok=\d+/.exec(l)?.[1] ?? []);
    console.log(
      `runtime-tools through check_shim.sh: ${programs.length} programs in ${
        Math.round((Date.now() - started) / 1000)
      } s`,
    );
    const keep = Deno.env.get("SKIFF_CHECK_KEEP");
    if (keep) await new Deno.Command("cp", { args: ["-a", `${capture}/.`, keep] }).output();
    const records = readRecords(capture);
    const corpus = Deno.env.get("SKIFF_CHECK_CORPUS");
    if (corpus) Deno.writeTextFileSync(corpus, JSON.stringify(corpusOf(records), null, 2) + "\n");
    return { records, programs };
  } finally {
    await Deno.remove(capture, { recursive: true });
    await Deno.remove(logs, { recursive: true });
  }
}

const suite = await recordSuite();

if (typeof suite === "string") {
  Deno.test("the runtime-tools suite runs through check_shim.sh", () => {
    assert.fail(`the OCI runtime-tools suite cannot run: ${suite}`);
  });
} else {
  const { records, programs } = suite;
  const refused = records.filter((r) => r.createRc !== 0);
  const named = refused.filter((r) => refusedPath(r) !== undefined);
  console.log(
    `check_shim.sh recorded ${records.length} creates: ${refused.length} refused, ${named.length} of them naming a field`,
  );
  Deno.test("the runtime-tools suite's configs were recorded", () => {
    const subset = Deno.env.get("SKIFF_CONFORMANCE_PROGRAMS");
    if (!subset) {
      const all = [...Deno.readDirSync(BIN)].filter((e) => e.name.endsWith(".t")).length;
      assert.equal(programs.length, all, "every program ran");
      // Enough creates that the test means something: about 110 on this host, a dozen of them
      // refused with a JSON path.
      assert.ok(records.length >= 80, `${records.length} creates recorded`);
      assert.ok(named.length >= 8, `${named.length} creates refused with a JSON path`);
    }
    assert.ok(records.length > 0, "no create recorded");
  });
  for (const program of new Set(records.map((r) => r.program))) {
    const ours = records.filter((r) => r.program === program);
    const counts = `${ours.length} create(s), ${
      ours.filter((r) => r.createRc !== 0).length
    } refused`;
    Deno.test(`check agrees with create on runtime-tools ${program}'s configs (${counts})`, () => {
      const found = ours.flatMap((r) => disagreements(r).map((d) => `${r.bundle}: ${d}`));
      assert.deepEqual(found, [], found.join("\n"));
    });
  }
}
