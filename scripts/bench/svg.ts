/**
 * Hand-written SVG pictures for the benchmarks: the latency distribution of one call, one row per
 * runtime (Skiff, runc, bare Deno ...), every sample as a dot over a box of its quartiles.
 */

/** One row of a distribution picture: a runtime's samples of one call, in ms. */
export interface Series {
  label: string;
  samples: number[];
  /** A CSS colour for the dots and the box. */
  color: string;
}

/** The q-quantile (0..1) of `xs` by linear interpolation between the closest ranks. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new RangeError("quantile of no samples");
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** A round step for axis ticks so that `span` gets about five of them. */
function tickStep(span: number): number {
  const raw = span / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/**
 * Returns an SVG (a complete document) of the latency distributions of one call: a row per series,
 * each sample a dot (jittered vertically by its index, so the picture is the same for the same
 * data), the box from the first to the third quartile and a bar at the median, whose value is
 * written at the right.
 */
export function distributionSvg(title: string, series: readonly Series[]): string {
  const rows = series.filter((s) => s.samples.length > 0);
  const width = 720;
  const left = 110;
  const right = 120;
  const top = 36;
  const rowHeight = 44;
  const axis = 34;
  const height = top + rows.length * rowHeight + axis;
  const all = rows.flatMap((s) => s.samples);
  const max = all.length ? Math.max(...all) : 1;
  const step = tickStep(max || 1);
  const end = Math.ceil((max || 1) / step) * step;
  const x = (ms: number): number => left + (ms / end) * (width - left - right);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  const axisY = top + rows.length * rowHeight;
  for (let t = 0; t <= end + step / 2; t += step) {
    const tx = x(t).toFixed(1);
    out.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${axisY}" stroke="#e4e4e4"/>`,
      `<text x="${tx}" y="${axisY + 16}" text-anchor="middle" fill="#444">${
        Number(t.toPrecision(6))
      }</text>`,
    );
  }
  out.push(
    `<line x1="${left}" y1="${axisY}" x2="${width - right}" y2="${axisY}" stroke="#888"/>`,
    `<text x="${(left + width - right) / 2}" y="${axisY + 30}" text-anchor="middle" fill="#444">` +
      `ms (wall clock per call)</text>`,
  );
  rows.forEach((s, i) => {
    const mid = top + i * rowHeight + rowHeight / 2;
    const q1 = quantile(s.samples, 0.25);
    const q2 = median(s.samples);
    const q3 = quantile(s.samples, 0.75);
    out.push(
      `<text x="${left - 8}" y="${mid + 4}" text-anchor="end">${escapeXml(s.label)}</text>`,
      `<rect x="${x(q1).toFixed(1)}" y="${mid - 12}" width="${
        Math.max(1, x(q3) - x(q1)).toFixed(1)
      }" height="24" fill="${s.color}" fill-opacity="0.15" stroke="${s.color}"/>`,
      `<line x1="${x(q2).toFixed(1)}" y1="${mid - 14}" x2="${x(q2).toFixed(1)}" y2="${
        mid + 14
      }" stroke="${s.color}" stroke-width="2.5"/>`,
    );
    s.samples.forEach((v, j) => {
      const jitter = ((j * 7919) % 17) - 8;
      out.push(
        `<circle cx="${x(v).toFixed(1)}" cy="${(mid + jitter).toFixed(1)}" r="2.2" ` +
          `fill="${s.color}" fill-opacity="0.55"/>`,
      );
    });
    out.push(
      `<text x="${width - right + 8}" y="${mid + 4}">median ${q2.toFixed(1)} ms</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/**
 * Returns an SVG of latencies in the order they were measured (a soak run): one panel per series,
 * each sample a dot at (its index, its ms), and the median of each tenth of the run as a line, so
 * that a trend (a leak slowing every call down) shows as a rising line.
 */
export function trendSvg(title: string, series: readonly Series[]): string {
  const rows = series.filter((s) => s.samples.length > 0);
  const width = 720;
  const left = 60;
  const right = 150;
  const panel = 150;
  const gap = 46;
  const top = 36;
  const height = top + rows.length * (panel + gap);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  rows.forEach((s, i) => {
    const y0 = top + i * (panel + gap);
    const max = Math.max(...s.samples) || 1;
    const step = tickStep(max);
    const end = Math.ceil(max / step) * step;
    const n = s.samples.length;
    const x = (index: number): number =>
      left + (index / Math.max(1, n - 1)) * (width - left - right);
    const y = (ms: number): number => y0 + panel - (ms / end) * panel;
    for (let t = 0; t <= end + step / 2; t += step) {
      out.push(
        `<line x1="${left}" y1="${y(t).toFixed(1)}" x2="${width - right}" y2="${
          y(t).toFixed(1)
        }" stroke="#e4e4e4"/>`,
        `<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#444">${
          Number(t.toPrecision(6))
        }</text>`,
      );
    }
    out.push(
      `<line x1="${left}" y1="${y0 + panel}" x2="${width - right}" y2="${
        y0 + panel
      }" stroke="#888"/>`,
      `<text x="${(left + width - right) / 2}" y="${y0 + panel + 30}" text-anchor="middle" ` +
        `fill="#444">${escapeXml(s.label)}: call number (1 to ${n}), ms per call</text>`,
    );
    s.samples.forEach((v, j) => {
      out.push(
        `<circle cx="${x(j).toFixed(1)}" cy="${y(v).toFixed(1)}" r="1.6" fill="${s.color}" ` +
          `fill-opacity="0.45"/>`,
      );
    });
    const tenths = decileMedians(s.samples);
    const points = tenths.map((m, k) => `${x(((k + 0.5) * n) / 10).toFixed(1)},${y(m).toFixed(1)}`);
    out.push(
      `<polyline points="${points.join(" ")}" fill="none" stroke="${s.color}" stroke-width="2.5"/>`,
      `<text x="${width - right + 8}" y="${y0 + 20}">first tenth ${tenths[0].toFixed(0)} ms</text>`,
      `<text x="${width - right + 8}" y="${y0 + 38}">last tenth ${
        tenths[tenths.length - 1].toFixed(0)
      } ms</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** The medians of the ten consecutive tenths of `xs` (fewer when there are fewer samples). */
export function decileMedians(xs: readonly number[]): number[] {
  const parts = Math.min(10, xs.length);
  const out: number[] = [];
  for (let k = 0; k < parts; k++) {
    out.push(
      median(
        xs.slice(Math.floor((k * xs.length) / parts), Math.floor(((k + 1) * xs.length) / parts)),
      ),
    );
  }
  return out;
}
