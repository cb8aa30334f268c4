/**
 * Differential runs against runc: every config of the corpus (tests/differential/corpus/ and the
 * seeded generator) runs under runc and under Skiff, and what the probe sees must be the same, or
 * a difference listed in expected.ts. `deno run -A tests/differential/run.ts` runs the same corpus
 * standalone with a summary. SKIFF_DIFF_SEED picks another generator seed.
 */
import assert from "node:assert/strict";
import { EXPECTED_REFUSALS } from "./expected.ts";
import {
  compare,
  corpusSeed,
  formatComparison,
  loadCorpus,
  runBoth,
  skipReason,
} from "./harness.ts";

const reason = skipReason();
const seed = corpusSeed();
// Loaded even when skipped, so the skipped tests are listed with their names.
const corpus = loadCorpus(seed);
if (reason) console.log(`differential runs skipped: ${reason}`);

for (const entry of corpus) {
  Deno.test({
    name: `differential (seed ${seed}): ${entry.name} ${
      EXPECTED_REFUSALS.some((r) => r.config.test(entry.name))
        ? "runs under runc and is refused by Skiff with a clear error"
        : "shows the same under runc and Skiff"
    }${reason ? ` (skipped: ${reason})` : ""}`,
    ignore: reason !== undefined,
    async fn() {
      const { runc, skiff } = await runBoth(entry);
      const c = compare(entry.name, runc, skiff, entry.config);
      if (c.refusal) {
        assert.ok(c.refusal.ok, formatComparison(c));
        assert.equal(runc.code, 0, `runc should run ${entry.name}: ${runc.stderr}`);
        return;
      }
      assert.equal(c.unexpected.length, 0, `\n${formatComparison(c)}`);
      // Not vacuous: the probe ran to its end under both runtimes, or both refused the config.
      if (runc.code === 0 && skiff.code === 0) {
        assert.match(runc.stdout, /^syscall\.getpid=ok$/m, runc.stdout);
      }
    },
  });
}
