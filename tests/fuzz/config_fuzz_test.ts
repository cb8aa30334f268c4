/**
 * Seeded fuzzing of config.json validation (issue 15, "Fuzzing, seeded, in CI": the config part).
 * Each case is `defaultSpec()` plus a few mutations: a value replaced by one of another type or an
 * edge value, a key removed, an unknown key added, an array entry duplicated. The oracle: the
 * validator accepts the config or refuses it with a SpecError that names a JSON path. Any other
 * exception (a TypeError from reading a property of undefined, a RangeError...) is a bug; the
 * failing seed is printed, and `FUZZ_SEED=N FUZZ_COUNT=1` replays it.
 */
import assert from "node:assert/strict";
import { defaultSpec } from "../../spec/defaults.ts";
import { validateSpec } from "../../spec/validate.ts";
import { SpecError } from "../../spec/errors.ts";
import { prng } from "../differential/generator.ts";

const COUNT = Number(Deno.env.get("FUZZ_COUNT") ?? "2000");
const FIRST_SEED = Number(Deno.env.get("FUZZ_SEED") ?? "20261130");

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const EDGE_VALUES: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  4294967295,
  4294967296,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  "",
  "/",
  "..",
  "a\u0000b",
  "x".repeat(5000),
  "../../etc/passwd",
  [],
  [null],
  [""],
  {},
  { "": null },
];

/** Every path (list of keys) to a value inside `value`. */
function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  }
  return out;
}

function mutate(spec: Json, random: () => number): Json {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const all = paths(spec).filter((p) => p.length > 0);
  const path = pick(all);
  const parentPath = path.slice(0, -1);
  let parent = spec as Record<string | number, Json>;
  for (const key of parentPath) parent = parent[key] as Record<string | number, Json>;
  const key = path[path.length - 1];
  const kind = random();
  if (kind < 0.55) {
    parent[key] = structuredClone(pick(EDGE_VALUES));
  } else if (kind < 0.7) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else if (kind < 0.8) {
    if (!Array.isArray(parent)) parent[`x-unknown-${Math.floor(random() * 100)}`] = 1;
  } else if (kind < 0.9) {
    if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number]));
  } else {
    // The same value, one level down: { a: v } becomes { a: [v] } or { a: { v } }.
    parent[key] = random() < 0.5 ? [parent[key]] : { value: parent[key] };
  }
  return spec;
}

Deno.test(`validateSpec() accepts or refuses with a SpecError, never crashes (${COUNT} seeded configs)`, () => {
  const base = JSON.parse(JSON.stringify(defaultSpec())) as Json;
  let refused = 0;
  for (let i = 0; i < COUNT; i++) {
    const seed = FIRST_SEED + i;
    const random = prng(seed);
    let config = structuredClone(base);
    const mutations = 1 + Math.floor(random() * 4);
    for (let m = 0; m < mutations; m++) config = mutate(config, random);
    try {
      validateSpec(structuredClone(config));
    } catch (err) {
      if (err instanceof SpecError && err.path) {
        refused++;
        continue;
      }
      assert.fail(
        `seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_COUNT=1): ${
          (err as Error)?.stack ?? String(err)
        }\nconfig: ${JSON.stringify(config).slice(0, 2000)}`,
      );
    }
  }
  // The generator must produce both outcomes, or it tests nothing.
  assert.ok(refused > COUNT / 10, `only ${refused} of ${COUNT} configs refused`);
  assert.ok(refused < COUNT, "every config was refused");
  // scripts/test.sh sums these lines into the CI summary.
  console.log(`fuzz-count config ${COUNT}`);
});
