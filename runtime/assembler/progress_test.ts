import assert from "node:assert/strict";
import { formatBytes, type LayerLine, pullProgressDisplay, renderPullFrame } from "./progress.ts";

const ID = "sha256:" + "ab".repeat(32);
const ID2 = "sha256:" + "cd".repeat(32);

Deno.test("formatBytes() picks a binary unit", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(12 << 20), "12.0 MiB");
  assert.equal(formatBytes(3 * 2 ** 30), "3.00 GiB");
});

Deno.test("renderPullFrame() draws a bar per layer and a total, fitting the width", () => {
  const layers: LayerLine[] = [
    { id: "abababababab", state: "downloading", bytes: 5 << 20, size: 10 << 20, speed: 1 << 20 },
    { id: "cdcdcdcdcdcd", state: "stored", bytes: 0, size: 3 << 20 },
    { id: "efefefefefef", state: "done", bytes: 2 << 20, size: 2 << 20 },
  ];
  for (const columns of [30, 80, 200]) {
    const lines = renderPullFrame(layers, { speed: 2 << 20 }, columns);
    assert.equal(lines.length, 4);
    for (const l of lines) assert.ok(l.length <= columns - 1, `${JSON.stringify(l)} > ${columns}`);
  }
  const [a, b, c, total] = renderPullFrame(layers, { speed: 2 << 20 }, 80);
  assert.match(a, /^abababababab \[=+>\s+\] 5\.0 MiB \/ 10\.0 MiB {2}1\.0 MiB\/s$/);
  const filled = /\[(=*)>( *)\]/.exec(a)!;
  assert.ok(Math.abs(filled[1].length - filled[2].length) <= 1, "half the bar is filled");
  assert.equal(b, "cdcdcdcdcdcd already stored");
  assert.match(c, /^efefefefefef \[=+\] 2\.0 MiB {2}done$/);
  assert.match(total, /^total 1\/2 {4}\[=+>\s+\] 7\.0 MiB \/ 12\.0 MiB {2}2\.0 MiB\/s$/);
  assert.deepEqual(
    renderPullFrame([{ id: "x", state: "stored", bytes: 0, size: 1 }], {}, 80).at(-1),
    "total        all 1 layers already stored",
  );
});

Deno.test("pullProgressDisplay() on a terminal redraws in place, throttled, and ends cleanly", () => {
  let out = "";
  const display = pullProgressDisplay("r/x:1", {
    terminal: true,
    columns: () => 60,
    write: (t) => out += t,
  });
  display.onProgress({
    kind: "resolved",
    imageId: "f".repeat(64),
    layers: 2,
    totalBytes: 200,
    sizes: [100, 100],
  });
  display.onProgress({ kind: "layer-start", index: 0, diffId: ID, size: 100, stored: false });
  display.onProgress({ kind: "layer-start", index: 1, diffId: ID2, size: 100, stored: true });
  for (let b = 1; b <= 100; b++) {
    display.onProgress({ kind: "layer-bytes", index: 0, bytes: b, size: 100 });
  }
  // 104 events in well under 100 ms: the first drew, the rest wait for the next tick.
  assert.equal(out.split("\x1b[?25l").length, 2, "the cursor is hidden once");
  assert.equal(out.match(/total/g)?.length, 1, `one frame so far: ${JSON.stringify(out)}`);
  display.onProgress({ kind: "layer-done", index: 0, diffId: ID, stored: false });
  display.onProgress({ kind: "layer-done", index: 1, diffId: ID2, stored: true });
  display.onProgress({ kind: "done", imageId: "f".repeat(64) });
  display.close();
  display[Symbol.dispose]();
  assert.equal(out.match(/total/g)?.length, 2, "the final frame is drawn once");
  assert.ok(out.endsWith("\x1b[?25h"), "the cursor is shown again at the end");
  const final = out.slice(out.lastIndexOf("\x1b[3A") + 4);
  assert.deepEqual(
    final.replace("\x1b[?25h", "").split("\n").map((l) => l.replace("\r\x1b[K", "")),
    [
      "abababababab [=========] 100 B  done",
      "cdcdcdcdcdcd already stored",
      "total 1/1    [=========] 100 B / 100 B",
      "",
    ],
  );
});

Deno.test("pullProgressDisplay() closed on a failure marks the layer under way failed", () => {
  let out = "";
  const display = pullProgressDisplay("r/x:1", {
    terminal: true,
    columns: () => 80,
    write: (t) => out += t,
  });
  display.onProgress({
    kind: "resolved",
    imageId: "f".repeat(64),
    layers: 1,
    totalBytes: 2048,
    sizes: [2048],
  });
  display.onProgress({ kind: "layer-start", index: 0, diffId: ID, size: 2048, stored: false });
  display.onProgress({ kind: "layer-bytes", index: 0, bytes: 1024, size: 2048 });
  display[Symbol.dispose]();
  assert.match(out, /abababababab \[=+>\s+\] 1\.0 KiB \/ 2\.0 KiB {2}failed\n/);
  assert.match(out, /total 0\/1 {4}\[=+>\s+\] 1\.0 KiB \/ 2\.0 KiB\n/);
  assert.ok(out.endsWith("2.0 KiB\n\x1b[?25h"), "the total is last, then the cursor is shown");
});

Deno.test("pullProgressDisplay() without a terminal writes one summary line", () => {
  let out = "";
  const display = pullProgressDisplay("r/x:1", { terminal: false, write: (t) => out += t });
  display.onProgress({
    kind: "resolved",
    imageId: "f".repeat(64),
    layers: 2,
    totalBytes: 200,
    sizes: [100, 100],
  });
  display.onProgress({ kind: "layer-start", index: 0, diffId: ID, size: 100, stored: false });
  display.onProgress({ kind: "layer-start", index: 1, diffId: ID2, size: 100, stored: true });
  display.onProgress({ kind: "layer-bytes", index: 0, bytes: 100, size: 100 });
  display.onProgress({ kind: "layer-done", index: 0, diffId: ID, stored: false });
  display.onProgress({ kind: "layer-done", index: 1, diffId: ID2, stored: true });
  display.onProgress({ kind: "done", imageId: "f".repeat(64) });
  display.close();
  assert.match(
    out,
    /^pulled r\/x:1 \(ffffffffffff\): 2 layers, 1 downloaded \(100 B\), 1 already stored, in [0-9.]+ s\n$/,
  );
});
