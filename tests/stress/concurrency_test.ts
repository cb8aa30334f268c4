/**
 * Concurrency (issue 15): many skiff processes on one state root, and on one container ID, at
 * once. Each test ends with nothing of its containers left on the host (state entries, cgroups in
 * every hierarchy, mounts, processes) and every state JSON that was read parsed whole.
 */
import assert from "node:assert/strict";
import { makeBundle, type TestBundle } from "../_helpers/bundle.ts";
import { killProcessesUnder, leftovers, removeCgroupsWithPrefix } from "../_helpers/leftovers.ts";
import type { SkiffResult } from "../_helpers/skiff.ts";
import { delay, describe, lines, pool } from "./_pool.ts";

/** Every ID of this file starts with this, so that its cgroups can be found by name. */
const PREFIX = `stc-${Deno.pid}-`;
let serial = 0;
const newId = (name: string) => `${PREFIX}${name}-${++serial}`;

/** A bundle whose process sleeps, and a check on dispose that nothing of it is left. */
async function sleeperBundle(): Promise<TestBundle & { assertClean(): void }> {
  const bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "600"];
  });
  const dispose = bundle[Symbol.asyncDispose].bind(bundle);
  return Object.assign(bundle, {
    assertClean() {
      const left = leftovers({ root: bundle.root, prefix: PREFIX, dir: bundle.dir });
      assert.deepEqual(left, [], `left on the host:\n${left.join("\n")}`);
    },
    async [Symbol.asyncDispose]() {
      killProcessesUnder(bundle.dir);
      await dispose();
      removeCgroupsWithPrefix(PREFIX);
    },
  });
}

/** Parses `skiff state` output, failing with the whole result when it is not one JSON object. */
function parseState(args: string[], r: SkiffResult): { id: string; status: string; pid: number } {
  assert.equal(r.code, 0, describe(args, r));
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.fail(`state printed broken JSON: ${describe(args, r)}`);
  }
}

Deno.test("10 concurrent creates of one ID: one wins, the others fail with one clear line and leave its state intact", async () => {
  await using bundle = await sleeperBundle();
  const id = newId("same");
  const results = await Promise.all(
    Array.from({ length: 10 }, () => bundle.skiff(["create", "--bundle", bundle.dir, id])),
  );
  const winners = results.filter((r) => r.code === 0);
  assert.equal(winners.length, 1, results.map((r) => describe(["create", id], r)).join("\n"));
  for (const loser of results.filter((r) => r.code !== 0)) {
    assert.equal(loser.code, 1, describe(["create", id], loser));
    const errors = lines(loser.stderr);
    assert.equal(errors.length, 1, describe(["create", id], loser));
    assert.match(errors[0], /container with id "stc-[^"]+" already exists/);
    assert.doesNotMatch(loser.stderr, /\n\s+at /, "no stack trace");
  }
  const state = parseState(["state", id], await bundle.skiff(["state", id]));
  assert.equal(state.id, id);
  assert.equal(state.status, "created");
  assert.ok(state.pid > 0);
  Deno.kill(state.pid, "SIGCONT"); // Throws when the init the winner recorded is gone.
  assert.equal((await bundle.skiff(["start", id])).code, 0);
  assert.equal(parseState(["state", id], await bundle.skiff(["state", id])).status, "running");
  const del = await bundle.skiff(["delete", "--force", id]);
  assert.equal(del.code, 0, describe(["delete", id], del));
  bundle.assertClean();
});

Deno.test("100 lifecycles, 10 at a time on one state root: each step succeeds and nothing is left", async () => {
  await using bundle = await sleeperBundle();
  const count = Number(Deno.env.get("STRESS_LIFECYCLES") ?? "100");
  const failures: string[] = [];
  await pool(count, 10, async (i) => {
    const id = newId(`life${i}`);
    const steps: string[][] = [
      ["create", "--bundle", bundle.dir, id],
      ["start", id],
      ["state", id],
      ["kill", id, "KILL"],
      ["delete", "--force", id],
    ];
    for (const args of steps) {
      const r = await bundle.skiff(args);
      if (r.code !== 0) {
        failures.push(describe(args, r));
        await bundle.skiff(["delete", "--force", id]);
        return;
      }
      if (args[0] === "state") {
        const state = parseState(args, r);
        if (state.status !== "running") failures.push(`${id}: status ${state.status}`);
      }
    }
  });
  assert.deepEqual(failures, []);
  const list = await bundle.skiff(["list", "-q"]);
  assert.equal(list.stdout.trim(), "", describe(["list"], list));
  bundle.assertClean();
});

Deno.test("delete --force racing start: delete always succeeds, start wins or finds no container, nothing is left", async () => {
  await using bundle = await sleeperBundle();
  for (let round = 0; round < 8; round++) {
    const id = newId(`ds${round}`);
    const create = await bundle.skiff(["create", "--bundle", bundle.dir, id]);
    assert.equal(create.code, 0, describe(["create"], create));
    // The order is shifted by a few ms each round, so that each lands in another step of the other.
    const [start, del] = await Promise.all([
      delay(round % 2 ? 0 : round * 3).then(() => bundle.skiff(["start", id])),
      delay(round % 2 ? round * 3 : 0).then(() => bundle.skiff(["delete", "--force", id])),
    ]);
    assert.equal(del.code, 0, describe(["delete", "--force", id], del));
    if (start.code !== 0) {
      assert.equal(lines(start.stderr).length, 1, describe(["start", id], start));
      assert.match(start.stderr, /does not exist|stopped/, describe(["start", id], start));
    }
    const state = await bundle.skiff(["state", id]);
    assert.notEqual(state.code, 0, "the container is gone");
  }
  bundle.assertClean();
});

Deno.test("delete --force racing kill: delete always succeeds, kill fails with one line at most, nothing is left", async () => {
  await using bundle = await sleeperBundle();
  for (let round = 0; round < 8; round++) {
    const id = newId(`dk${round}`);
    const run = await bundle.skiff(["run", "-d", "--bundle", bundle.dir, id]);
    assert.equal(run.code, 0, describe(["run", "-d"], run));
    const [kill, del] = await Promise.all([
      delay(round % 2 ? 0 : round * 3).then(() => bundle.skiff(["kill", id, "KILL"])),
      delay(round % 2 ? round * 3 : 0).then(() => bundle.skiff(["delete", "--force", id])),
    ]);
    assert.equal(del.code, 0, describe(["delete", "--force", id], del));
    if (kill.code !== 0) {
      assert.equal(lines(kill.stderr).length, 1, describe(["kill", id], kill));
      assert.match(kill.stderr, /does not exist|not running/, describe(["kill", id], kill));
    }
  }
  bundle.assertClean();
});

Deno.test("exec racing delete --force: delete succeeds, the exec'd process does not outlive the container", async () => {
  await using bundle = await sleeperBundle();
  for (let round = 0; round < 8; round++) {
    const id = newId(`ed${round}`);
    const run = await bundle.skiff(["run", "-d", "--bundle", bundle.dir, id]);
    assert.equal(run.code, 0, describe(["run", "-d"], run));
    const [exec, del] = await Promise.all([
      delay(round % 2 ? 0 : round * 25).then(() =>
        bundle.skiff(["exec", "-d", id, "sleep", "600"])
      ),
      delay(round % 2 ? round * 25 : 0).then(() => bundle.skiff(["delete", "--force", id])),
    ]);
    assert.equal(del.code, 0, describe(["delete", "--force", id], del));
    if (exec.code !== 0) {
      assert.equal(lines(exec.stderr).length, 1, describe(["exec", id], exec));
      assert.doesNotMatch(exec.stderr, /\n\s+at /, "no stack trace");
    }
  }
  // An exec'd process killed with its PID namespace is gone at once; give reaping a moment.
  await delay(200);
  bundle.assertClean();
});

Deno.test("delete --force racing create, with list reading the root: delete succeeds, create wins whole or fails in one line, list always parses", async () => {
  await using bundle = await sleeperBundle();
  for (let round = 0; round < 6; round++) {
    const id = newId(`dc${round}`);
    const [create, del, list] = await Promise.all([
      bundle.skiff(["create", "--bundle", bundle.dir, id]),
      delay(round * 40).then(() => bundle.skiff(["delete", "--force", id])),
      delay(round * 20).then(() => bundle.skiff(["list", "--format", "json"])),
    ]);
    assert.equal(del.code, 0, describe(["delete", "--force", id], del));
    assert.equal(list.code, 0, describe(["list"], list));
    const listed = JSON.parse(list.stdout) as { id: string; status: string }[] | null;
    for (const c of listed ?? []) {
      assert.match(c.status, /^(creating|created|running|stopped|paused)$/);
    }
    if (create.code !== 0) {
      assert.equal(lines(create.stderr).length, 1, describe(["create", id], create));
    }
    // Whatever create made is whole: deletable, or already gone.
    const cleanup = await bundle.skiff(["delete", "--force", id]);
    assert.equal(cleanup.code, 0, describe(["delete", "--force", id], cleanup));
  }
  bundle.assertClean();
});
