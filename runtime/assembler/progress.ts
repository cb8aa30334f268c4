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

/** Redraws per second at most (the last state is always drawn). */
const REDRAWS_PER_SECOND = 10;
/** The width used when the terminal's cannot be read. */
const DEFAULT_COLUMNS = 80;

/** Bytes with a binary unit: "512 B", "3.4 KiB", "12.0 MiB", "1.25 GiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1 << 30) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
}

/** One layer of a pull, as the display sees it. */
export interface LayerLine {
  /** The first 12 hex digits of the diffID ("" until the layer starts). */
  id: string;
  state: "waiting" | "stored" | "downloading" | "done" | "failed";
  bytes: number;
  size: number;
  /** Bytes per second; undefined until it can be told. */
  speed?: number;
}

/** `[=====>    ]` filled to `fraction`, `width` columns in all. */
function bar(fraction: number, width: number): string {
  const inner = width - 2;
  const full = Math.floor(Math.max(0, Math.min(1, fraction)) * inner);
  const head = full < inner ? ">" : "";
  return `[${"=".repeat(full)}${head}${" ".repeat(Math.max(0, inner - full - head.length))}]`;
}

/** Columns kept right of the bars for "12.3 MiB / 45.6 MiB  3.4 MiB/s". */
const RIGHT_COLUMNS = 34;
const LABEL_COLUMNS = 12;

/** The width of the bars of a frame `columns` wide: all alike, so that they line up; 0 for none. */
function barWidth(columns: number): number {
  // One column stays free: a line as wide as the terminal moves the cursor on some terminals.
  const room = columns - 1 - LABEL_COLUMNS - 1 - 1 - RIGHT_COLUMNS;
  return room >= 7 ? Math.min(room, 42) : 0;
}

/** `label [bar] right`, cut to `columns - 1`. */
function barLine(label: string, fraction: number, right: string, columns: number): string {
  const width = barWidth(columns);
  const line = width > 0 ? `${label} ${bar(fraction, width)} ${right}` : `${label} ${right}`;
  return line.slice(0, Math.max(0, columns - 1));
}

function speedText(speed: number | undefined): string {
  return speed === undefined ? "" : `  ${formatBytes(Math.round(speed))}/s`;
}

/**
 * The lines of one frame: one per layer, then the total (the bytes of the layers to download),
 * each at most `columns - 1` wide.
 */
export function renderPullFrame(
  layers: readonly LayerLine[],
  total: { speed?: number },
  columns: number,
): string[] {
  const lines = layers.map((l, i) => {
    const label = (l.id || `layer ${i + 1}`).padEnd(LABEL_COLUMNS);
    const amount = `${formatBytes(l.bytes)} / ${formatBytes(l.size)}`;
    switch (l.state) {
      case "waiting":
        return `${label} waiting`.slice(0, columns - 1);
      case "stored":
        return `${label} already stored`.slice(0, columns - 1);
      case "downloading":
        return barLine(label, l.bytes / l.size, amount + speedText(l.speed), columns);
      case "done":
        return barLine(label, 1, `${formatBytes(l.size)}  done`, columns);
      case "failed":
        return barLine(label, l.bytes / l.size, `${amount}  failed`, columns);
    }
  });
  const fetched = layers.filter((l) => l.state !== "stored");
  const bytes = fetched.reduce((n, l) => n + l.bytes, 0);
  const size = fetched.reduce((n, l) => n + l.size, 0);
  const done = fetched.filter((l) => l.state === "done").length;
  if (layers.length > 0 && fetched.length === 0) {
    lines.push(`total        all ${layers.length} layers already stored`.slice(0, columns - 1));
  } else {
    // "total 1/3": layers downloaded of those to download.
    const label = `total ${done}/${fetched.length}`.padEnd(LABEL_COLUMNS);
    const right = `${formatBytes(bytes)} / ${formatBytes(size)}${speedText(total.speed)}`;
    lines.push(barLine(label, size > 0 ? bytes / size : 0, right, columns));
  }
  return lines;
}

/** What pullProgressDisplay() returns: feed it events, close it when the pull ends. */
export interface PullDisplay extends Disposable {
  onProgress: (event: ImportProgress) => void;
  /**
   * Ends the display: on a terminal the final state stays on screen (layers under way marked
   * failed when `failed`) and the cursor is shown again. Idempotent; disposing closes too.
   */
  close(failed?: boolean): void;
}

/** Options of pullProgressDisplay() (tests give all). */
export interface PullDisplayOptions {
  terminal?: boolean;
  /** The terminal's width; default read per frame (80 when it cannot be). */
  columns?: () => number;
  write?: (text: string) => void;
}

function terminalColumns(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns > 0 ? columns : DEFAULT_COLUMNS;
  } catch {
    return DEFAULT_COLUMNS;
  }
}

/**
 * The display of `skiff image pull` (and of `skiff run --image` when it pulls), on stderr. On a
 * terminal: one bar per layer (bytes, speed) and a total, redrawn in place by moving the cursor
 * up over the previous frame (ECMA-48 CUU, then EL per line) at most REDRAWS_PER_SECOND times a
 * second, the cursor hidden meanwhile. Otherwise: one summary line when the pull is done.
 */
export function pullProgressDisplay(name: string, options: PullDisplayOptions = {}): PullDisplay {
  const terminal = options.terminal ?? Deno.stderr.isTerminal();
  const columns = options.columns ?? terminalColumns;
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => {
    const bytes = encoder.encode(text);
    for (let n = 0; n < bytes.length;) n += Deno.stderr.writeSync(bytes.subarray(n));
  });
  const start = performance.now();
  let layers: LayerLine[] = [];
  const began: number[] = [];
  let firstByte: number | undefined;
  let drawnLines = 0;
  let lastDraw = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  // SIGINT or SIGTERM while the cursor is hidden: show it, then die of the signal as before.
  const onSignal = (signal: Deno.Signal) => () => {
    close(true);
    Deno.kill(Deno.pid, signal);
  };
  const signalHandlers = new Map<Deno.Signal, () => void>(
    (["SIGINT", "SIGTERM"] as const).map((s) => [s, onSignal(s)]),
  );
  const listen = (on: boolean) => {
    for (const [signal, handler] of signalHandlers) {
      if (on) Deno.addSignalListener(signal, handler);
      else Deno.removeSignalListener(signal, handler);
    }
  };

  const speeds = (now: number) => {
    for (const [i, l] of layers.entries()) {
      const seconds = (now - began[i]) / 1000;
      l.speed = l.state === "downloading" && seconds >= 0.2 ? l.bytes / seconds : undefined;
    }
    const seconds = firstByte === undefined ? 0 : (now - firstByte) / 1000;
    const bytes = layers.reduce((n, l) => n + (l.state === "stored" ? 0 : l.bytes), 0);
    return { speed: seconds >= 0.2 ? bytes / seconds : undefined };
  };
  const draw = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const now = performance.now();
    lastDraw = now;
    const lines = renderPullFrame(layers, speeds(now), columns());
    let text = drawnLines > 0 ? `\x1b[${drawnLines}A` : "\x1b[?25l";
    if (drawnLines === 0) listen(true);
    for (const line of lines) text += `\r\x1b[K${line}\n`;
    write(text);
    drawnLines = lines.length;
  };
  const schedule = () => {
    if (!terminal || closed || layers.length === 0 || timer !== undefined) return;
    const wait = lastDraw + 1000 / REDRAWS_PER_SECOND - performance.now();
    if (wait <= 0) draw();
    else {
      const t = setTimeout(draw, wait);
      Deno.unrefTimer(t);
      timer = t;
    }
  };
  const close = (failed = false) => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (!terminal || drawnLines === 0) return;
    if (failed) {
      for (const l of layers) {
        if (l.state === "downloading") l.state = "failed";
      }
    }
    draw();
    write("\x1b[?25h");
    listen(false);
  };
  const onProgress = (event: ImportProgress) => {
    if (closed) return;
    switch (event.kind) {
      case "resolved":
        layers = Array.from({ length: event.layers }, (_, i) => ({
          id: "",
          state: "waiting",
          bytes: 0,
          size: event.sizes[i],
        }));
        break;
      case "layer-start":
        began[event.index] = performance.now();
        layers[event.index] = {
          id: event.diffId.slice(event.diffId.indexOf(":") + 1).slice(0, 12),
          state: event.stored ? "stored" : "downloading",
          bytes: 0,
          size: event.size,
        };
        break;
      case "layer-bytes":
        firstByte ??= performance.now();
        // Speeds count from the first byte, not from the request.
        if (layers[event.index].bytes === 0) began[event.index] = performance.now();
        layers[event.index].bytes = event.bytes;
        break;
      case "layer-done":
        if (!event.stored) layers[event.index].state = "done";
        break;
      case "done": {
        if (terminal) {
          close();
          return;
        }
        closed = true;
        const seconds = ((performance.now() - start) / 1000).toFixed(1);
        const fetched = layers.filter((l) => l.state !== "stored");
        const bytes = fetched.reduce((n, l) => n + l.bytes, 0);
        write(
          `pulled ${name} (${event.imageId.slice(0, 12)}): ${layers.length} layers, ` +
            `${fetched.length} downloaded (${formatBytes(bytes)}), ` +
            `${layers.length - fetched.length} already stored, in ${seconds} s\n`,
        );
        return;
      }
    }
    schedule();
  };
  return { onProgress, close, [Symbol.dispose]: () => close(true) };
}
