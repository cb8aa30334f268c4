/**
 * Runs the differential corpus standalone and prints a diff per config and a summary.
 *   deno run -A tests/differential/run.ts [--only REGEX] [--seed N] [--count N] [--verbose] [--keep]
 * --verbose also shows the expected differences; --keep leaves the bundles in /tmp.
 * Exits 1 when a config shows an unexpected difference or a refusal did not happen.
 */
import { parseArgs } from "node:util";
import {
  compare,
  corpusSeed,
  formatComparison,
  loadCorpus,
  runBoth,
  skipReason,
} from "./harness.ts";
import { EXPECTED_DIFFERENCES } from "./expected.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    seed: { type: "string" },
    count: { type: "string" },
    verbose: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});

const reason = skipReason();
if (reason) {
  console.log(`differential runs skipped: ${reason}`);
  Deno.exit(0);
}
const seed = values.seed ? Number(values.seed) : corpusSeed();
const only = values.only ? new RegExp(values.only) : undefined;
const corpus = loadCorpus(seed, values.count ? Number(values.count) : undefined)
  .filter((e) => !only || only.test(e.name));
console.log(`differential runs: ${corpus.length} configs, generator seed ${seed}`);

const started = Date.now();
let same = 0, expectedOnly = 0, refused = 0;
const failed: string[] = [];
const used = new Set<number>();
for (const entry of corpus) {
  const { runc, skiff, dir } = await runBoth(entry, { keep: values.keep });
  const c = compare(entry.name, runc, skiff, entry.config);
  for (const d of c.expected) {
    used.add(EXPECTED_DIFFERENCES.findIndex((e) => d.reason === e.reason));
  }
  const bad = c.unexpected.length > 0 || (c.refusal !== undefined && !c.refusal.ok);
  if (bad) failed.push(entry.name);
  else if (c.refusal) refused++;
  else if (c.expected.length) expectedOnly++;
  else same++;
  const status = bad ? "DIFF" : c.refusal ? "refused" : c.expected.length ? "expected" : "same";
  console.log(`${status.padEnd(8)} ${entry.name}${values.keep ? `  (${dir})` : ""}`);
  if (bad || (values.verbose && (c.expected.length || c.refusal))) {
    console.log(formatComparison(c, values.verbose).replace(/^/gm, "    "));
  }
}
const unused = EXPECTED_DIFFERENCES.filter((_, i) => !used.has(i));
console.log(
  `\nsummary: ${corpus.length} configs in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
    `${same} same, ${expectedOnly} with expected differences only, ${refused} refused as expected, ` +
    `${failed.length} with unexpected differences${failed.length ? ` (${failed.join(", ")})` : ""}`,
);
if (unused.length && !only) {
  console.log(`expected differences that matched nothing (remove them?):`);
  for (const e of unused) console.log(`  ${e.configs} ${e.keys}: ${e.reason}`);
}
Deno.exit(failed.length ? 1 : 0);
