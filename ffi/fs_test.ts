import assert from "node:assert/strict";
import { join } from "node:path";
import { close, openat2 } from "./fs.ts";
import { O_CLOEXEC, O_DIRECTORY, O_RDONLY, RESOLVE_IN_ROOT } from "./constants.ts";

// Renames in a loop until the shared flag is set, then says so.
const RENAMER = `
self.onmessage = (e) => {
  const { dir, stop } = e.data;
  const flag = new Int32Array(stop);
  Deno.writeTextFileSync(dir + "/r1", "");
  while (Atomics.load(flag, 0) === 0) {
    Deno.renameSync(dir + "/r1", dir + "/r2");
    Deno.renameSync(dir + "/r2", dir + "/r1");
  }
  self.postMessage("stopped");
};
`;

Deno.test("openat2() retries the EAGAIN a rename elsewhere gives a RESOLVE_IN_ROOT walk with '..'", async () => {
  const dir = await Deno.makeTempDir();
  const stop = new SharedArrayBuffer(4);
  const url = URL.createObjectURL(new Blob([RENAMER], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  const stopped = new Promise((resolve) => worker.onmessage = resolve);
  const root = openat2(-100, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  try {
    await Deno.mkdir(join(dir, "a/b/c"), { recursive: true });
    await Deno.mkdir(join(dir, "spin"));
    worker.postMessage({ dir: join(dir, "spin"), stop });
    // Without the retry, about 3% of these walks failed with EAGAIN on a 2-core machine.
    let walks = 0;
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      close(openat2(root, "a/b/c/../../b/c/../..", O_RDONLY | O_CLOEXEC, RESOLVE_IN_ROOT));
      walks++;
    }
    assert.ok(walks > 1000, `only ${walks} walks`);
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    await stopped;
    worker.terminate();
    URL.revokeObjectURL(url);
    close(root);
    await Deno.remove(dir, { recursive: true });
  }
});
