/**
 * The CLI's stdout.
 * @module
 */

/**
 * Writes `text` and a newline to stdout, the bytes console.log writes for one string, for less:
 * the first console.log of a process costs ~1 ms (Deno's console), a write ~0.2 ms (issue 11). As
 * with console.log, a reader that has gone (EPIPE) is no error; any other failure is thrown.
 */
export function printLine(text: string): void {
  const data = new TextEncoder().encode(`${text}\n`);
  try {
    for (let done = 0; done < data.length;) done += Deno.stdout.writeSync(data.subarray(done));
  } catch (err) {
    if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
  }
}
