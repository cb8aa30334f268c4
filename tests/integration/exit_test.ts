/**
 * How the CLI ends (cli.ts, start()): _exit(2) once libc is open, Deno.exit() once a command is
 * loaded, the end of the event loop for --version and help. Each way through launch.js must leave
 * Deno's V8 code cache written, or such calls compile their code again on every call
 * (docs/benchmarks.md, "Per-call floor"). A per-command entry (dist/skiff.d/state.js...) exits at
 * once without waiting for it: waiting costs more than the cache saves (docs/benchmarks.md,
 * "Per-command entries"); its help, which ends with the event loop, writes it (as the build does).
 * Each call here runs with a fresh DENO_DIR, whose v8_code_cache_v2 then shows what Deno wrote.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { makeBundle, startDetached } from "../_helpers/bundle.ts";
import { runSkiff, type SkiffResult } from "../_helpers/skiff.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { readLaunchInfo } from "../../scripts/launch_info.ts";

/** The files of dist/skiff.d whose code Deno cached in `denoDir`, by name. */
function cachedChunks(denoDir: string): string[] {
  const db = new DatabaseSync(join(denoDir, "v8_code_cache_v2"), { readOnly: true });
  try {
    const rows = db.prepare("SELECT specifier FROM codecache").all() as { specifier: string }[];
    return rows.map((r) => r.specifier).filter((s) => s.includes("/skiff.d/"))
      .map((s) => s.slice(s.lastIndexOf("/") + 1));
  } finally {
    db.close();
  }
}

/**
 * Runs dist/skiff with an empty DENO_DIR of its own; also returns the chunks it cached. With
 * `viaLaunch`, Deno runs launch.js itself, as dist/skiff does for every command without an entry
 * of its own (and the shebang script for all).
 */
async function withFreshCache(
  args: string[],
  root?: string,
  viaLaunch = false,
): Promise<SkiffResult & { chunks: string[] }> {
  const denoDir = await Deno.makeTempDir({ prefix: "skiff-deno-dir-" });
  try {
    let result: SkiffResult;
    if (viaLaunch) {
      const info = readLaunchInfo(SKIFF);
      assert.ok(info, `launch.json beside ${SKIFF}`);
      const out = await new Deno.Command(info.deno, {
        args: [...info.args, ...(root ? ["--root", root] : []), ...args],
        env: { ...info.env, DENO_DIR: denoDir },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = (b: Uint8Array) => new TextDecoder().decode(b);
      result = { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
    } else {
      result = await runSkiff(args, { root, env: { DENO_DIR: denoDir } });
    }
    return { ...result, chunks: cachedChunks(denoDir) };
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

Deno.test("--version (the event loop ends) leaves the entry's code cache written", async () => {
  const r = await withFreshCache(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^skiff version /);
  assert.ok(r.chunks.includes("launch.js"), `cached: ${r.chunks.join(", ")}`);
});

Deno.test("a command without FFI (Deno.exit at once) leaves its chunks' code cache written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "skiff-exit-spec-" });
  try {
    const r = await withFreshCache(["spec", "--bundle", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await Deno.stat(join(dir, "config.json"))).isFile);
    assert.ok(r.chunks.includes("launch.js"), `cached: ${r.chunks.join(", ")}`);
    assert.ok(r.chunks.some((c) => c.startsWith("spec-")), `cached: ${r.chunks.join(", ")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a per-command entry's help (the event loop ends) leaves the entry's code cache written", async () => {
  const r = await withFreshCache(["list", "--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /skiff list - /);
  // Through dist/skiff.d/list.js, which imports the command itself: no list-HASH.js facade.
  assert.ok(r.chunks.includes("list.js"), `cached: ${r.chunks.join(", ")}`);
  assert.ok(!r.chunks.includes("launch.js"), `cached: ${r.chunks.join(", ")}`);
  assert.ok(!r.chunks.some((c) => c.startsWith("list-")), `cached: ${r.chunks.join(", ")}`);
});

Deno.test("kill through launch.js (libc open, _exit) leaves its chunks' code cache written and its exit code", async () => {
  await using bundle = await makeBundle();
  const { id } = await startDetached(bundle);
  const r = await withFreshCache(["kill", id, "0"], bundle.root, true);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.chunks.includes("launch.js"), `cached: ${r.chunks.join(", ")}`);
  assert.ok(r.chunks.some((c) => c.startsWith("kill-")), `cached: ${r.chunks.join(", ")}`);
  // An error after FFI: the message is written and the code kept. The init is gone, its state
  // still says running: kill(2) fails with ESRCH.
  const gone = await bundle.skiff(["kill", id, "KILL"]);
  assert.equal(gone.code, 0, gone.stderr);
  for (let i = 0; i < 100; i++) {
    if (JSON.parse((await bundle.skiff(["state", id])).stdout).status === "stopped") break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const late = await bundle.skiff(["kill", id, "0"]);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /container not running/);
});
