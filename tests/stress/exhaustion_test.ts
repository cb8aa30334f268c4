/**
 * Running out of resources (issue 15): a full state filesystem, a full and a read-only layer store,
 * too few file descriptors, and a pids limit hit during create. Each must fail with one clear error
 * line (or succeed), and leave nothing half-made: no state entry, cgroup, mount, process, and no
 * temp file in the store. The full filesystems are small tmpfs mounts the test makes and removes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, type TestBundle } from "../_helpers/bundle.ts";
import {
  killProcessesUnder,
  leftovers,
  removeCgroupsWithPrefix,
  unmountUnder,
} from "../_helpers/leftovers.ts";
import { runSkiff, type SkiffResult } from "../_helpers/skiff.ts";
import { buildFixtures } from "../../scripts/fixtures/oci_image.ts";
import { describe, lines } from "./_pool.ts";

const PREFIX = `stx-${Deno.pid}-`;
let serial = 0;
const newId = (name: string) => `${PREFIX}${name}-${++serial}`;

/** Mounts a tmpfs with `options` at `dir` (made first). */
async function mountTmpfs(dir: string, options: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const r = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", options, "tmpfs", dir] })
    .output();
  assert.ok(r.success, `mount tmpfs ${dir}: ${new TextDecoder().decode(r.stderr)}`);
}

/** Fills the filesystem of `dir` until it has no free block (ENOSPC), with one file. */
function fill(dir: string): void {
  const file = Deno.openSync(join(dir, "filler"), { write: true, create: true });
  const chunk = new Uint8Array(4096);
  try {
    for (;;) file.writeSync(chunk);
  } catch (err) {
    assert.ok(err instanceof Error && /No space left|os error 28/.test(err.message), String(err));
  } finally {
    file.close();
  }
}

/** A bundle whose process sleeps; on dispose: containers deleted, tmpfs unmounted, cgroups gone. */
async function bundleWithMounts(): Promise<TestBundle & { clean(root?: string): string[] }> {
  const bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "600"];
    // The default RLIMIT_NOFILE of the template (1024) is above the limits the EMFILE test sets.
    delete spec.process!.rlimits;
  });
  const dispose = bundle[Symbol.asyncDispose].bind(bundle);
  return Object.assign(bundle, {
    /** What is left of this test's containers, besides the tmpfs mounts the test made itself. */
    clean(root = bundle.root) {
      return leftovers({ root, prefix: PREFIX, dir: bundle.dir }).filter((l) =>
        !l.startsWith("mount ") || !/\/(full|store|ro)$/.test(l)
      );
    },
    async [Symbol.asyncDispose]() {
      killProcessesUnder(bundle.dir);
      await unmountUnder(bundle.dir);
      await dispose();
      removeCgroupsWithPrefix(PREFIX);
    },
  });
}

/** Asserts a failure of one line that matches `message`, without a stack trace. */
function assertOneError(args: string[], r: SkiffResult, message: RegExp): void {
  assert.notEqual(r.code, 0, describe(args, r));
  assert.equal(lines(r.stderr).length, 1, describe(args, r));
  assert.match(r.stderr, message, describe(args, r));
  assert.doesNotMatch(r.stderr, /Uncaught|panicked|\n\s+at /, describe(args, r));
}

Deno.test("a full state filesystem (no free block, then no free inode): create fails with ENOSPC and leaves nothing", async () => {
  await using bundle = await bundleWithMounts();
  const root = join(bundle.dir, "full");
  for (const options of ["size=64k", "size=1m,nr_inodes=3"]) {
    await mountTmpfs(root, options);
    if (options.includes("nr_inodes")) {
      // The root directory and two files use the three inodes.
      Deno.writeTextFileSync(join(root, "a"), "");
      Deno.writeTextFileSync(join(root, "b"), "");
    } else {
      fill(root);
    }
    const before = [...Deno.readDirSync(root)].map((e) => e.name).sort();
    const id = newId("full");
    const args = ["create", "--bundle", bundle.dir, id];
    const r = await runSkiff(args, { root });
    assertOneError(args, r, /No space left on device|ENOSPC/);
    const after = [...Deno.readDirSync(root)].map((e) => e.name).sort();
    assert.deepEqual(after, before, "no state entry left in the full root");
    assert.deepEqual(bundle.clean(join(bundle.dir, "no-root")), []);
    await unmountUnder(root);
  }
});

Deno.test("too few file descriptors (RLIMIT_NOFILE 20 to 40): create fails with EMFILE in one line or succeeds, nothing half-made", async () => {
  await using bundle = await bundleWithMounts();
  // Below about 20 fds Deno itself cannot start, before any of Skiff runs: at 16 it panics setting
  // up stdio, at 18 it cannot import the bundle's chunks, and around 20 it sometimes panics in its
  // own I/O setup (seen with Deno 2.9.6 and this bundle, under load). That is Deno's floor, not a
  // Skiff error path: below 24 such a start is let pass; from 24 on Skiff must run.
  let reachedSkiff = 0;
  for (const limit of [20, 22, 24, 28, 32, 40]) {
    const id = newId(`fd${limit}`);
    const args = ["create", "--bundle", bundle.dir, id];
    const r = await bundle.skiff(args, { prefix: ["prlimit", `--nofile=${limit}:${limit}`] });
    const denoFailed = /Deno has panicked|error: Import '.*' failed/.test(r.stderr);
    if (denoFailed && limit < 24) {
      assert.deepEqual(bundle.clean(), [], `limit ${limit}: ${describe(args, r)}`);
      continue;
    }
    reachedSkiff++;
    if (r.code === 0) {
      const del = await bundle.skiff(["delete", "--force", id]);
      assert.equal(del.code, 0, describe(["delete", id], del));
    } else {
      assertOneError(args, r, /EMFILE|Too many open files/);
    }
    assert.deepEqual(bundle.clean(), [], `limit ${limit}: ${describe(args, r)}`);
  }
  assert.ok(reachedSkiff >= 4, "Skiff ran at 24 fds and more");
});

Deno.test("a pids limit in the container (linux.resources.pids.limit 1 to 8) with a forking process: create succeeds, the forks fail inside, delete leaves nothing", async () => {
  await using bundle = await bundleWithMounts();
  for (const limit of [1, 3, 8]) {
    bundle.spec.process!.args = ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9; do sleep 9 & done; wait"];
    bundle.spec.linux!.resources = { ...bundle.spec.linux!.resources, pids: { limit } };
    await bundle.writeSpec();
    const id = newId(`pids${limit}`);
    const r = await bundle.skiff(["run", "--bundle", bundle.dir, id]);
    // The init joins the cgroup once its threads exist, so create itself fits in any limit; the
    // container's own forks hit it (busybox sh: "can't fork").
    assert.match(r.stderr, /can't fork/, describe(["run", id], r));
    assert.notEqual(r.code, 0);
    assert.deepEqual(bundle.clean(), [], `limit ${limit}`);
  }
});

Deno.test("a pids limit on skiff itself (its cgroup's pids.max 4 to 24): create fails in one line or succeeds, and delete --force leaves nothing", async () => {
  await using bundle = await bundleWithMounts();
  const group = `/sys/fs/cgroup/pids/skiff-test-pids-${Deno.pid}`;
  try {
    Deno.mkdirSync(group);
  } catch {
    return; // No v1 pids hierarchy (a cgroup v2 host): the VM part covers v2.
  }
  try {
    // 4-12: the spawn of the init fails with EAGAIN; 24: enough. Around 15, the CLI's own Deno can
    // die for want of a worker thread half-way through create (docs/reliability.md): its cgroup
    // is then found only through the write-ahead record, which this test does not exercise.
    for (const limit of [4, 8, 12, 24]) {
      Deno.writeTextFileSync(`${group}/pids.max`, String(limit));
      const id = newId(`host${limit}`);
      const args = ["create", "--bundle", bundle.dir, id];
      const r = await bundle.skiff(args, {
        prefix: ["sh", "-c", `echo $$ > ${group}/cgroup.procs && exec "$@"`, "sh"],
      });
      if (r.code !== 0) {
        // Skiff's own line, or, when not even Deno's worker threads can start (in the CLI or in
        // the init it spawned), Deno's banner "Deno could not start: unable to create worker
        // threads": the runtime's, before or outside Skiff's code.
        const ours = lines(r.stderr).filter((l) => l.startsWith("skiff: "));
        assert.ok(
          ours.length === 1 || /Deno could not start/.test(r.stderr),
          describe(args, r),
        );
        assert.match(r.stderr, /Resource temporarily unavailable|EAGAIN|worker threads/);
        assert.doesNotMatch(r.stderr, /Uncaught|\n\s+at /, describe(args, r));
      }
      const del = await bundle.skiff(["delete", "--force", id]);
      assert.equal(del.code, 0, describe(["delete", id], del));
      assert.deepEqual(bundle.clean(), [], `limit ${limit}: ${describe(args, r)}`);
    }
  } finally {
    removeCgroupsWithPrefix(PREFIX);
    try {
      Deno.removeSync(group);
    } catch {
      // Reported by the leftover check.
    }
  }
});

Deno.test("a full and a read-only layer store: image import and run --image fail in one line, the store stays consistent", async () => {
  await using bundle = await bundleWithMounts();
  const fixtures = await buildFixtures(join(bundle.dir, "fixtures"));
  const store = join(bundle.dir, "store");
  const env = { SKIFF_STORE: store };
  // Full: a store too small for the image's layers.
  await mountTmpfs(store, "size=256k");
  const importArgs = ["image", "import", `${fixtures.layout}:app`];
  const full = await runSkiff(importArgs, { root: bundle.root, env });
  assertOneError(importArgs, full, /No space left on device|ENOSPC/);
  const ls = await runSkiff(["image", "ls", "-q"], { root: bundle.root, env });
  assert.equal(ls.code, 0, describe(["image", "ls"], ls));
  assert.equal(ls.stdout.trim(), "", "no image half-imported");
  const tmp = (() => {
    try {
      return [...Deno.readDirSync(join(store, "tmp"))].map((e) => e.name);
    } catch {
      return [];
    }
  })();
  assert.deepEqual(tmp, [], "no temp layer left in the store");
  await unmountUnder(store);

  // Read-only: import refuses; run --image of an image stored before refuses too.
  await mountTmpfs(store, "size=64m");
  const imported = await runSkiff(importArgs, { root: bundle.root, env });
  assert.equal(imported.code, 0, describe(importArgs, imported));
  const remount = await new Deno.Command("mount", { args: ["-o", "remount,ro", store] }).output();
  assert.ok(remount.success);
  const again = await runSkiff([...importArgs.slice(0, 2), fixtures.dockerArchive], {
    root: bundle.root,
    env,
  });
  assertOneError(importArgs, again, /Read-only file system|EROFS/);
  const id = newId("ro");
  const runArgs = ["run", "--image", `${fixtures.layout}:app`, id];
  const run = await runSkiff(runArgs, { root: bundle.root, env });
  assertOneError(runArgs, run, /Read-only file system|EROFS/);
  assert.deepEqual(bundle.clean(), []);
  const check = await runSkiff(["image", "ls", "-q"], { root: bundle.root, env });
  assert.equal(lines(check.stdout).length, 1, "the stored image is still listed");
});
