import type { ImportProgress } from "./layer_store.ts";

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * A progress display for image imports: one line on stderr, rewritten in place (layers and
 * bytes), when stderr is a terminal; silent otherwise, so logs and pipes stay clean.
 */
export function progressDisplay(
  enabled = Deno.stderr.isTerminal(),
): (event: ImportProgress) => void {
  if (!enabled) return () => {};
  const encoder = new TextEncoder();
  let layers = 0;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}`));
  return (event) => {
    switch (event.kind) {
      case "resolved":
        layers = event.layers;
        write(`image ${event.imageId.slice(0, 12)}: ${layers} layers, ${mib(event.totalBytes)}`);
        break;
      case "layer-start":
        write(
          `layer ${event.index + 1}/${layers} ${event.diffId.slice(7, 19)} ${
            event.stored ? "already stored" : `0.0 / ${mib(event.size)}`
          }`,
        );
        break;
      case "layer-bytes":
        write(`layer ${event.index + 1}/${layers} ${mib(event.bytes)} / ${mib(event.size)}`);
        break;
      case "layer-done":
        write(`layer ${event.index + 1}/${layers} done`);
        break;
      case "done":
        write(`image ${event.imageId.slice(0, 12)} ready\n`);
        break;
    }
  };
}

/**
 * The display of `skiff image pull`, on stderr. On a terminal one line per layer (bytes, speed)
 * and a total line, redrawn in place; otherwise one summary line when the pull is done.
 */
export function pullProgressDisplay(
  name: string,
  terminal = Deno.stderr.isTerminal(),
): (event: ImportProgress) => void {
  const encoder = new TextEncoder();
  const out = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  const start = performance.now();
  let lines: string[] = [];
  let sizes: number[] = [];
  const bytes: number[] = [];
  const began: number[] = [];
  let downloaded = 0;
  let stored = 0;
  let drawn = false;
  const speed = (i: number) => {
    const s = (performance.now() - began[i]) / 1000;
    return s > 0.05 ? `${mib(bytes[i] / s)}/s` : "";
  };
  const draw = () => {
    if (!terminal) return;
    const total = bytes.reduce((a, b) => a + b, 0);
    const all = [...lines, `total ${mib(total)} / ${mib(sizes.reduce((a, b) => a + b, 0))}`];
    out((drawn ? `\x1b[${all.length}A` : "") + all.map((l) => `\r\x1b[K${l}\n`).join(""));
    drawn = true;
  };
  return (event) => {
    switch (event.kind) {
      case "resolved":
        lines = Array.from({ length: event.layers }, (_, i) => `layer ${i + 1}/${event.layers}`);
        sizes = new Array(event.layers).fill(0);
        break;
      case "layer-start":
        sizes[event.index] = event.size;
        bytes[event.index] = 0;
        began[event.index] = performance.now();
        if (event.stored) stored++;
        lines[event.index] = `${event.diffId.slice(7, 19)} ${
          event.stored ? "already stored" : `0.0 MiB / ${mib(event.size)}`
        }`;
        break;
      case "layer-bytes":
        bytes[event.index] = event.bytes;
        lines[event.index] = `${lines[event.index].slice(0, 12)} ${mib(event.bytes)} / ${
          mib(event.size)
        } ${speed(event.index)}`;
        break;
      case "layer-done":
        if (!event.stored) downloaded++;
        lines[event.index] = `${event.diffId.slice(7, 19)} ${
          event.stored ? "already stored" : `done ${mib(bytes[event.index] ?? 0)}`
        }`;
        break;
      case "done": {
        if (terminal) {
          draw();
          break;
        }
        const seconds = ((performance.now() - start) / 1000).toFixed(1);
        const total = bytes.reduce((a, b) => a + b, 0);
        out(
          `pulled ${name} (${event.imageId.slice(0, 12)}): ${lines.length} layers, ` +
            `${downloaded} downloaded (${mib(total)}), ${stored} already stored, in ${seconds} s\n`,
        );
        return;
      }
    }
    draw();
  };
}
