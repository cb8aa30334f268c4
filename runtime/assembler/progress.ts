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
