/**
 * `--preserve-fds`, shared by create, run and exec. Its own module: `exec` importing it from
 * create.ts loaded create's whole chunk (the container/create.ts and init_trampoline.ts code,
 * ~75 KB) into every `skiff exec` (issue 11).
 */

/** Parses --preserve-fds. */
export function preserveFds(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`--preserve-fds: ${JSON.stringify(value)} is not a non-negative integer`);
  }
  return n;
}
