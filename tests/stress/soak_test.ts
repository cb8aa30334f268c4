/**
 * Soak (issue 15): many sequential lifecycles (create, start, state, kill, delete) and many execs
 * into one container. Nothing may leak on the host (state entries, cgroups, mounts, processes,
 * open files, slab memory), nothing in the long-lived container (its init's fds and RSS, its
 * cgroup's process count), and the latency must stay flat: the median of the last tenth of the
 * calls may not be more than twice the first tenth's (plus 50 ms of noise from a busy host).
 *
 * SOAK_COUNT lifecycles (default 60) and SOAK_EXECS execs (default 200) fit CI; the full run is
 * SOAK_COUNT=1000. The latencies go to $SOAK_OUT/soak.json and soak.svg (a temp dir by default;
 * SOAK_OUT=docs/bench gives the committed picture).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle } from "../_helpers/bundle.ts";
import {
  cgroupsNamed,
  fdCount,
  killProcessesUnder,
  leftovers,
  removeCgroupsWithPrefix,
} from "../_helpers/leftovers.ts";
import { decileMedians, trendSvg } from "../../scripts/bench/svg.ts";
import { describe } from "./_pool.ts";

const LIFECYCLES = Number(Deno.env.get("SOAK_COUNT") ?? "60");
const EXECS = Number(Deno.env.get("SOAK_EXECS") ?? "200");
const PREFIX = `sts-${Deno.pid}-`;

/** What the host has that a leak would grow. */
interface HostCounters {
  mounts: number;
  /** Allocated file handles (/proc/sys/fs/file-nr, first field). */
  files: number;
  /** Slab memory in KiB (/proc/meminfo Slab). */
  slabKiB: number;
  /** Processes on the host. */
  processes: number;
}

function hostCounters(): HostCounters {
  const meminfo = Deno.readTextFileSync("/proc/meminfo");
  return {
    mounts: Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter(Boolean).length,
    files: Number(Deno.readTextFileSync("/proc/sys/fs/file-nr").split(/\s+/)[0]),
    slabKiB: Number(/^Slab:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0),
    processes: [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).length,
  };
}

/** RSS of `pid` in KiB. */
function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1] ?? 0);
}

/** Fails when the last tenth's median latency is clearly above the first tenth's. */
function assertFlat(name: string, samples: number[]): void {
  const tenths = decileMedians(samples);
  const first = tenths[0];
  const last = tenths[tenths.length - 1];
  assert.ok(
    last <= 2 * first + 50,
    `${name}: latency grew from ${first.toFixed(0)} ms (first tenth) to ${
      last.toFixed(0)
    } ms (last tenth); tenths: ${tenths.map((t) => t.toFixed(0)).join(" ")}`,
  );
}

const results: { lifecycle: number[]; exec: number[] } = { lifecycle: [], exec: [] };
const counters: Record<string, unknown> = {};

Deno.test(`soak: ${LIFECYCLES} sequential lifecycles leave nothing and keep a flat latency`, async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "600"];
  });
  try {
    const before = hostCounters();
    const fdsBefore = fdCount(Deno.pid);
    for (let i = 0; i < LIFECYCLES; i++) {
      const id = `${PREFIX}l${i}`;
      const t0 = performance.now();
      for (
        const args of [
          ["create", "--bundle", bundle.dir, id],
          ["start", id],
          ["state", id],
          ["kill", id, "KILL"],
          ["delete", "--force", id],
        ]
      ) {
        const r = await bundle.skiff(args);
        assert.equal(r.code, 0, `lifecycle ${i}: ${describe(args, r)}`);
      }
      results.lifecycle.push(performance.now() - t0);
    }
    const after = hostCounters();
    counters.lifecycles = { before, after };
    const left = leftovers({ root: bundle.root, prefix: PREFIX, dir: bundle.dir });
    assert.deepEqual(left, [], `left on the host:\n${left.join("\n")}`);
    // Other tests and helpers share this host: bounds that a leak of one item per lifecycle
    // would break, and noise would not.
    assert.ok(after.mounts - before.mounts < Math.max(20, LIFECYCLES / 2), "mounts grew");
    assert.ok(after.files - before.files < 500 + LIFECYCLES, "open files grew");
    assert.ok(after.slabKiB - before.slabKiB < 65536 + LIFECYCLES * 64, "slab memory grew");
    assert.ok(fdCount(Deno.pid) - fdsBefore < 5, "the test's own fds grew");
    assertFlat("lifecycle", results.lifecycle);
  } finally {
    killProcessesUnder(bundle.dir);
    removeCgroupsWithPrefix(PREFIX);
  }
});

Deno.test(`soak: ${EXECS} execs into one container leak nothing in it or on the host, latency flat`, async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "3600"];
  });
  const id = `${PREFIX}exec`;
  try {
    const run = await bundle.skiff(["run", "-d", "--bundle", bundle.dir, id]);
    assert.equal(run.code, 0, describe(["run", "-d", id], run));
    const pid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid as number;
    const before = hostCounters();
    const fds = fdCount(pid);
    const rss = rssKiB(pid);
    const cgroups = cgroupsNamed(PREFIX).length;
    for (let i = 0; i < EXECS; i++) {
      const t0 = performance.now();
      const args = ["exec", id, "true"];
      const r = await bundle.skiff(args);
      assert.equal(r.code, 0, `exec ${i}: ${describe(args, r)}`);
      results.exec.push(performance.now() - t0);
    }
    const after = hostCounters();
    counters.execs = {
      before,
      after,
      init: { fdsBefore: fds, fdsAfter: fdCount(pid), rssBefore: rss, rssAfter: rssKiB(pid) },
    };
    assert.equal(fdCount(pid), fds, "the container's init holds more fds");
    assert.ok(rssKiB(pid) - rss < 1024, "the container's init grew");
    assert.equal(cgroupsNamed(PREFIX).length, cgroups, "cgroups were added");
    const ps = await bundle.skiff(["ps", "--format", "json", id]);
    assert.deepEqual(JSON.parse(ps.stdout), [pid], "only the init is left in the cgroup");
    assert.ok(after.processes - before.processes < 50, "processes grew");
    assert.ok(after.files - before.files < 500 + EXECS, "open files grew");
    assert.ok(after.slabKiB - before.slabKiB < 65536 + EXECS * 64, "slab memory grew");
    assertFlat("exec", results.exec);
    const del = await bundle.skiff(["delete", "--force", id]);
    assert.equal(del.code, 0, describe(["delete", id], del));
    const left = leftovers({ root: bundle.root, prefix: PREFIX, dir: bundle.dir });
    assert.deepEqual(left, [], `left on the host:\n${left.join("\n")}`);
  } finally {
    await bundle.skiff(["delete", "--force", id]);
    killProcessesUnder(bundle.dir);
    removeCgroupsWithPrefix(PREFIX);
    await writeResults();
  }
});

/** Writes the latencies (and the host counters) as JSON and the SVG of their trend. */
async function writeResults(): Promise<void> {
  const out = Deno.env.get("SOAK_OUT") ?? await Deno.makeTempDir({ prefix: "skiff-soak-" });
  await Deno.mkdir(out, { recursive: true });
  const round = (xs: number[]) => xs.map((x) => Math.round(x * 10) / 10);
  await Deno.writeTextFile(
    join(out, "soak.json"),
    JSON.stringify(
      {
        lifecycles: LIFECYCLES,
        execs: EXECS,
        date: new Date().toISOString(),
        counters,
        lifecycleMs: round(results.lifecycle),
        execMs: round(results.exec),
      },
      null,
      1,
    ) + "\n",
  );
  await Deno.writeTextFile(
    join(out, "soak.svg"),
    trendSvg(`Skiff soak: ${results.lifecycle.length} lifecycles, ${results.exec.length} execs`, [
      {
        label: "create+start+state+kill+delete",
        samples: results.lifecycle,
        color: "#1f6feb",
      },
      { label: "exec true", samples: results.exec, color: "#d1242f" },
    ]),
  );
  console.log(`soak: latencies in ${out}/soak.json and ${out}/soak.svg`);
}
