/** Resolves after `ms` milliseconds (the polling loops' pause). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
