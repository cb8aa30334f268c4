import assert from "node:assert/strict";
import { parseCpuList } from "./cpu_list.ts";

Deno.test("parseCpuList() reads ranges and single ids, sorted and distinct", () => {
  assert.deepEqual(parseCpuList("0-3,7"), [0, 1, 2, 3, 7]);
  assert.deepEqual(parseCpuList(" 7 , 1-2,,2 "), [1, 2, 7]);
  assert.deepEqual(parseCpuList(""), []);
});

Deno.test("parseCpuList() refuses what is not a list, naming the item", () => {
  assert.throws(() => parseCpuList("0-"), /"0-" is not a number or a range/);
  assert.throws(() => parseCpuList("a"), /"a" is not a number or a range/);
  assert.throws(() => parseCpuList("-1"), /"-1" is not a number or a range/);
  assert.throws(() => parseCpuList("5-2"), /"5-2" is a range that ends before it starts/);
  assert.throws(() => parseCpuList("70000"), /70000 is larger than 65536/);
});
