import assert from "node:assert/strict";
import { join } from "./path.ts";
import { writeProcFile } from "./procfs.ts";

Deno.test("writeProcFile() writes a procfs file", () => {
  // This process's own score, written back as it is: nothing changes.
  const current = Deno.readTextFileSync("/proc/self/oom_score_adj").trim();
  writeProcFile("/proc/self/oom_score_adj", current);
  assert.equal(Deno.readTextFileSync("/proc/self/oom_score_adj").trim(), current);
});

Deno.test("writeProcFile() refuses a file that is not on procfs, and a symlink, untouched", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-procfs-" });
  try {
    const file = join(dir, "canary");
    Deno.writeTextFileSync(file, "canary\n");
    assert.throws(() => writeProcFile(file, "1"), new RegExp(`${file} is not on procfs`));
    const link = join(dir, "link");
    Deno.symlinkSync(file, link);
    assert.throws(() => writeProcFile(link, "1"), /ELOOP/);
    assert.equal(Deno.readTextFileSync(file), "canary\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
