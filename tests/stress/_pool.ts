/** Small helpers shared by the stress, soak and fuzz tests. */
import type { SkiffResult } from "../_helpers/skiff.ts";

/** Runs `task(i)` for i in 0..count-1 with at most `width` running at once; results in order. */
export async function pool<T>(
  count: number,
  width: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return results;
}

/** A result in one line, for assertion messages. */
export function describe(args: string[], r: SkiffResult): string {
  return `skiff ${args.join(" ").slice(0, 300)} -> ${r.code}\nstdout: ${
    r.stdout.slice(0, 500)
  }\nstderr: ${r.stderr.slice(0, 1000)}`;
}

/** Non-empty lines of `text`. */
export function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

/** A promise that resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
