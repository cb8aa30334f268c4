import assert from "node:assert/strict";
import { decileMedians, distributionSvg, median, quantile, trendSvg } from "./svg.ts";

Deno.test("quantile() interpolates between the closest ranks, median() is the 0.5 quantile", () => {
  assert.equal(quantile([4, 1, 3, 2], 0), 1);
  assert.equal(quantile([4, 1, 3, 2], 1), 4);
  assert.equal(quantile([1, 2, 3, 4], 0.25), 1.75);
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([1, 2, 3, 4]), 2.5);
  assert.throws(() => quantile([], 0.5), RangeError);
});

Deno.test("distributionSvg() draws a row per runtime: a dot per sample, the quartile box and the median", () => {
  const svg = distributionSvg("state <&>", [
    { label: "skiff", samples: [50, 52, 54, 56], color: "#1f6feb" },
    { label: "runc", samples: [10, 11, 12], color: "#d1242f" },
    { label: "nothing", samples: [], color: "#000" },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.match(svg, /state &lt;&amp;&gt;/);
  assert.equal(svg.match(/<circle /g)?.length, 7);
  assert.match(svg, />skiff<\/text>/);
  assert.match(svg, />runc<\/text>/);
  assert.doesNotMatch(svg, />nothing<\/text>/);
  assert.match(svg, /median 53.0 ms/);
  assert.match(svg, /median 11.0 ms/);
  // Ticks reach past the largest sample (56 ms -> 60).
  assert.match(svg, />60<\/text>/);
});

Deno.test("decileMedians() gives the median of each tenth, in order", () => {
  const xs = Array.from({ length: 100 }, (_, i) => i);
  const tenths = decileMedians(xs);
  assert.equal(tenths.length, 10);
  assert.equal(tenths[0], 4.5);
  assert.equal(tenths[9], 94.5);
  assert.deepEqual(decileMedians([3, 1]), [3, 1]);
});

Deno.test("trendSvg() draws a panel per series: a dot per call and the line of the tenths' medians", () => {
  const svg = trendSvg("soak <1>", [
    {
      label: "lifecycle",
      samples: Array.from({ length: 50 }, (_, i) => 100 + i),
      color: "#1f6feb",
    },
    { label: "nothing", samples: [], color: "#000" },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /soak &lt;1&gt;/);
  assert.equal(svg.match(/<circle /g)?.length, 50);
  assert.equal(svg.match(/<polyline /g)?.length, 1);
  assert.match(svg, /lifecycle: call number \(1 to 50\)/);
  assert.match(svg, /first tenth 102 ms/);
  assert.match(svg, /last tenth 147 ms/);
  assert.doesNotMatch(svg, /nothing/);
});
