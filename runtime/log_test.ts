import assert from "node:assert/strict";
import { configureLog, logOptions } from "./log.ts";

Deno.test("a second copy of the log module sees the options the first was given (one state per process)", async () => {
  // dist/skiff's one-file command entries hold their own copy of this module and import rare paths
  // from the split bundle, which holds another (scripts/build.ts).
  const copy: typeof import("./log.ts") = await import(`./log.ts?copy=${crypto.randomUUID()}`);
  const before = logOptions();
  try {
    configureLog({ file: "/nonexistent/skiff.log", format: "json", debug: true });
    assert.deepEqual(copy.logOptions(), {
      file: "/nonexistent/skiff.log",
      format: "json",
      debug: true,
    });
    assert.match(copy.formatLine("warning", "x"), /^\{"level":"warning","msg":"x","time":/);
    copy.configureLog({ format: "text", debug: false });
    assert.deepEqual(logOptions(), { format: "text", debug: false });
  } finally {
    configureLog(before);
  }
});
