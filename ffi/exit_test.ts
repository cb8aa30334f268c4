import assert from "node:assert/strict";
const LIBC = new URL("./_libc.ts", import.meta.url).href;
const EXIT = new URL("./exit.ts", import.meta.url).href;

/**
 * A child that writes `bytes` to stdout and a line to stderr, then ends with immediateExit(7),
 * having opened libc when `openLibc`. Its reader starts reading only after `delayMs`: the writes
 * fill the pipe and block first.
 */
async function child(openLibc: boolean, bytes: number, delayMs: number, exitModule = EXIT) {
  const script = `
    import { libc } from ${JSON.stringify(LIBC)};
    import { immediateExit } from ${JSON.stringify(exitModule)};
    if (${openLibc}) libc().getpid();
    Deno.exitCode = 3;
    console.log("x".repeat(${bytes}));
    Deno.stderr.writeSync(new TextEncoder().encode("last words"));
    if (!immediateExit(7)) console.log("not ended");
  `;
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  const [status, stdout, stderr] = await Promise.all([
    proc.status,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { code: status.code, stdout, stderr };
}

Deno.test("immediateExit() ends a process that opened libc with its code, its output all read", async () => {
  // 1 MB: far more than a pipe holds, read only after 300 ms.
  const { code, stdout, stderr } = await child(true, 1_000_000, 300);
  assert.equal(code, 7);
  assert.equal(stdout, "x".repeat(1_000_000) + "\n");
  assert.equal(stderr, "last words");
});

Deno.test("immediateExit() does nothing in a process that has not opened libc", async () => {
  const { code, stdout } = await child(false, 10, 0);
  assert.equal(code, 3);
  assert.equal(stdout, "x".repeat(10) + "\nnot ended\n");
});

Deno.test("immediateExit() of a second copy of its module ends a process that the first opened libc in", async () => {
  // dist/skiff's one-file command entries hold their own copy of ffi/exit.ts, and libc may be
  // opened by the split bundle's copy that a module imported on use brings (scripts/build.ts).
  const { code, stdout } = await child(true, 10, 0, `${EXIT}?copy`);
  assert.equal(code, 7);
  assert.equal(stdout, "x".repeat(10) + "\n");
});
