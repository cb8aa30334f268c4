/** The list format of CPUs and NUMA nodes in config.json ("0-3,7"), as cpuset(7) writes it. */

/** The highest CPU or node number accepted: a sanity bound, as runc has (64 Ki). */
export const MAX_CPU_ID = 64 * 1024;

/**
 * Returns the sorted, distinct ids of a list such as "0-3,7"; spaces around items and empty items
 * are allowed (runc accepts them too).
 * @throws Error saying what is wrong with the list (the caller adds the JSON path).
 */
export function parseCpuList(text: string): number[] {
  const ids = new Set<number>();
  const number = (s: string, item: string): number => {
    if (!/^\d+$/.test(s)) throw new Error(`${JSON.stringify(item)} is not a number or a range`);
    const n = Number(s);
    if (n > MAX_CPU_ID) throw new Error(`${n} is larger than ${MAX_CPU_ID}`);
    return n;
  };
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const dash = item.indexOf("-");
    const start = number(dash < 0 ? item : item.slice(0, dash), item);
    const end = dash < 0 ? start : number(item.slice(dash + 1), item);
    if (start > end) {
      throw new Error(`${JSON.stringify(item)} is a range that ends before it starts`);
    }
    for (let i = start; i <= end; i++) ids.add(i);
  }
  return [...ids].sort((a, b) => a - b);
}
