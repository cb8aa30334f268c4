import assert from "node:assert/strict";
import { INIT_DENO_DIR, initEnv } from "./self_command.ts";

Deno.test("initEnv() gives a root CLI's inits the shared cache, readable by any uid", () => {
  assert.equal(Deno.uid(), 0, "the tests run as root");
  const env = initEnv();
  assert.equal(env.DENO_NO_UPDATE_CHECK, "1");
  assert.equal(env.DENO_DIR, INIT_DENO_DIR);
  const info = Deno.statSync(INIT_DENO_DIR);
  assert.equal(info.uid, 0);
  // Others may read and search it, but only root writes: the cache is code the inits run.
  assert.equal(info.mode! & 0o777 & 0o022, 0);
  assert.equal(info.mode! & 0o005, 0o005);
});
