/**
 * Soak of the library (issue 13: "no fd or memory leak over 1,000 containers"): one Deno process
 * (this test's) creates, starts, waits for and deletes LIBRARY_SOAK_COUNT busybox containers
 * through mod.ts, in turn: `true` with stdio "null", `sh` with stdio "piped" (its output read),
 * a running `sleep` with an exec into it, and `true` through `await using`. After a warm-up (a
 * tenth, at least 8) and at the end it compares this process's open fds, threads, RSS and JS heap
 * with its buffers (both after a forced GC), its namespaces and cwd, and what is left on the host
 * (state entries, cgroups, mounts, processes, private bundles in the temp dir).
 *
 * LIBRARY_SOAK_COUNT containers (default 48) fit CI; the full run is LIBRARY_SOAK_COUNT=1000.
 * The figures go to stdout as one JSON line ("library soak: {...}").
 */
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { join } from "node:path";
import { defaultSpec, Runtime, type Spec } from "../../mod.ts";
import { BUSYBOX_BUNDLE } from "../_helpers/paths.ts";
import {
  cgroupsNamed,
  fdCount,
  killProcessesUnder,
  leftovers,
  removeCgroupsWithPrefix,
} from "../_helpers/leftovers.ts";

const COUNT = Number(Deno.env.get("LIBRARY_SOAK_COUNT") ?? "48");
const WARMUP = Math.max(8, Math.floor(COUNT / 10));
const PREFIX = `lsk-${Deno.pid}-`;
const ROOTFS = join(BUSYBOX_BUNDLE, "rootfs");

/**
 * Bounds, for the containers after the warm-up (`n`). A leak of one fd or one thread per container
 * exceeds them from n = 40 on; the slack is for Deno's own pools (a blocking-pool thread that
 * starts or idles out, an fd of the runtime's I/O in flight). Memory, after a forced GC: the JS
 * heap and the buffers it holds (heapUsed + external) grew by 0.7-0.75 MiB both over 40 and over 900
 * containers without a leak (code and caches that the first hundreds of calls warm), so it gets
 * 2 MiB plus 1 KiB a container: a leak of a few KiB a container (a handle, a spec, a stream kept
 * alive) fails the 1,000-container run. RSS also counts pages the allocator keeps after a free: it
 * grew 3.6 MiB over 40 and 6 MiB over 900, and fell by 120 MiB after `deno test`'s type check,
 * which runs in this process, so it gets 32 MiB plus 8 KiB a container: it catches a
 * native leak (memory outside V8) of some 45 KiB a container over 1,000.
 */
const FD_SLACK = 3;
const THREAD_SLACK = 8;
const rssBoundKiB = (n: number) => 32 * 1024 + 8 * n;
const heapBoundKiB = (n: number) => 2 * 1024 + n;

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

interface Sample {
  fds: number;
  threads: number;
  rssKiB: number;
  heapKiB: number;
  namespaces: string[];
  cwd: string;
}

/** This process's counters, after a forced GC (twice: the second frees what finalizers let go). */
function sample(): Sample {
  gc();
  gc();
  const status = Deno.readTextFileSync("/proc/self/status");
  const memory = Deno.memoryUsage();
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  return {
    fds: fdCount(Deno.pid),
    threads: field("Threads"),
    rssKiB: field("VmRSS"),
    heapKiB: Math.round((memory.heapUsed + memory.external) / 1024),
    namespaces: ["mnt", "pid", "net", "ipc", "uts", "cgroup", "user"].map((ns) =>
      `${ns}:${Deno.readLinkSync(`/proc/thread-self/ns/${ns}`)}`
    ),
    cwd: Deno.cwd(),
  };
}

/** The library's private bundles (named by container ID) and exec dirs left in the temp dir. */
function tempLeft(): { bundles: string[]; execDirs: number } {
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  const names = [...Deno.readDirSync(tmp)].map((e) => e.name);
  return {
    bundles: names.filter((n) => n.startsWith(`skiff-api-${PREFIX}`)).map((n) => join(tmp, n)),
    execDirs: names.filter((n) => n.startsWith("skiff-api-exec-")).length,
  };
}

function spec(args: string[]): Spec {
  const s = defaultSpec();
  s.process!.args = args;
  s.process!.terminal = false;
  s.root = { path: "rootfs", readonly: true };
  return s;
}

/** One container of kind i % 4, created, started, waited for and deleted. */
async function one(rt: Runtime, i: number): Promise<void> {
  const id = `${PREFIX}${i}`;
  switch (i % 4) {
    case 0: {
      const c = await rt.create(id, { spec: spec(["true"]), rootfs: ROOTFS });
      await c.start();
      assert.deepEqual(await c.wait(), { code: 0, signal: null }, id);
      await c.delete();
      return;
    }
    case 1: {
      const c = await rt.create(id, {
        spec: spec(["sh", "-c", "read x; echo out $x; echo err >&2"]),
        rootfs: ROOTFS,
      }, { stdio: "piped" });
      await c.start();
      const writer = c.stdin!.getWriter();
      await writer.write(new TextEncoder().encode(`${i}\n`));
      await writer.close();
      const [out, err, status] = await Promise.all([
        new Response(c.stdout).text(),
        new Response(c.stderr).text(),
        c.wait(),
      ]);
      assert.deepEqual({ out, err, status }, {
        out: `out ${i}\n`,
        err: "err\n",
        status: { code: 0, signal: null },
      }, id);
      await c.delete();
      return;
    }
    case 2: {
      const c = await rt.create(id, { spec: spec(["sleep", "100"]), rootfs: ROOTFS });
      await c.start();
      assert.deepEqual(
        await c.exec({ args: ["true"] }, { stdio: "null" }),
        { code: 0, signal: null },
        `${id} exec`,
      );
      await c.kill("SIGKILL");
      assert.equal((await c.wait()).signal, "SIGKILL", id);
      await c.delete();
      return;
    }
    default: {
      await using c = await rt.create(id, { spec: spec(["true"]), rootfs: ROOTFS });
      await c.start();
      assert.deepEqual(await c.wait(), { code: 0, signal: null }, id);
    }
  }
}

Deno.test(`library soak: ${COUNT} containers from one program leak no fd, thread, memory or state`, async () => {
  const dir = await Deno.makeTempDir({ prefix: "skiff-lib-soak-" });
  const root = join(dir, "state");
  try {
    const rt = new Runtime({ root });
    const execDirsBefore = tempLeft().execDirs;
    const times: number[] = [];
    let warm: Sample | undefined;
    for (let i = 0; i < COUNT; i++) {
      if (i === WARMUP) warm = sample();
      const t0 = performance.now();
      await one(rt, i);
      times.push(performance.now() - t0);
    }
    const end = sample();
    const start = warm!;
    const measured = COUNT - WARMUP;
    const perContainer = times.slice(WARMUP).sort((a, b) => a - b);
    const figures = {
      containers: COUNT,
      warmup: WARMUP,
      fds: [start.fds, end.fds],
      threads: [start.threads, end.threads],
      rssKiB: [start.rssKiB, end.rssKiB],
      heapKiB: [start.heapKiB, end.heapKiB],
      msPerContainer: {
        median: Math.round(perContainer[Math.floor(perContainer.length / 2)]),
        mean: Math.round(perContainer.reduce((a, b) => a + b, 0) / perContainer.length),
      },
    };
    console.log(`library soak: ${JSON.stringify(figures)}`);

    const left = leftovers({ root, prefix: PREFIX, dir });
    assert.deepEqual(left, [], `left on the host:\n${left.join("\n")}`);
    const temp = tempLeft();
    assert.deepEqual(temp.bundles, [], "private bundles left");
    // Other tests may exec at the same time: a bound that one left per exec would break.
    assert.ok(temp.execDirs - execDirsBefore < 4, `${temp.execDirs} exec dirs left`);
    assert.deepEqual(end.namespaces, start.namespaces, "this thread's namespaces");
    assert.equal(end.cwd, start.cwd, "cwd");
    assert.ok(
      end.fds - start.fds <= FD_SLACK,
      `open fds grew from ${start.fds} to ${end.fds} over ${measured} containers`,
    );
    assert.ok(
      end.threads - start.threads <= THREAD_SLACK,
      `threads grew from ${start.threads} to ${end.threads} over ${measured} containers`,
    );
    assert.ok(
      end.rssKiB - start.rssKiB <= rssBoundKiB(measured),
      `RSS grew from ${start.rssKiB} to ${end.rssKiB} KiB over ${measured} containers`,
    );
    assert.ok(
      end.heapKiB - start.heapKiB <= heapBoundKiB(measured),
      `the JS heap and its buffers grew from ${start.heapKiB} to ${end.heapKiB} KiB over ${measured} containers`,
    );
  } finally {
    killProcessesUnder(dir);
    removeCgroupsWithPrefix(PREFIX);
    if (cgroupsNamed(PREFIX).length === 0) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
});
