import assert from "node:assert/strict";
import { join } from "../path.ts";
import { ContainerNotExistError } from "../errors.ts";
import { StateStore } from "./store.ts";

/** A store in a fresh temporary root, removed when disposed. */
function tempStore(): StateStore & Disposable {
  const root = Deno.makeTempDirSync({ prefix: "skiff-store-" });
  return Object.assign(new StateStore(root), {
    [Symbol.dispose]: () => Deno.removeSync(root, { recursive: true }),
  });
}

Deno.test("StateStore.read() and lock() report a missing container as ContainerNotExistError", () => {
  using store = tempStore();
  assert.throws(() => store.read("absent"), ContainerNotExistError);
  assert.throws(() => store.lock("absent"), ContainerNotExistError);
  // A directory without state.json: a create that died half-way (delete cleans it).
  Deno.mkdirSync(store.dir("half"));
  assert.throws(() => store.read("half"), ContainerNotExistError);
});

Deno.test("StateStore.read() keeps the cause of a failure other than ENOENT", () => {
  using store = tempStore();
  Deno.mkdirSync(join(store.dir("web"), "state.json"), { recursive: true });
  assert.throws(() => store.read("web"), (err: unknown) => {
    assert.ok(!(err instanceof ContainerNotExistError), `got ${err}`);
    assert.match((err as Error).message, /cannot read the state of container "web"/);
    assert.match(String((err as Error).cause), /directory/i);
    return true;
  });
});

Deno.test("StateStore.lock() keeps the cause of a failure other than ENOENT", () => {
  using store = tempStore();
  Deno.writeTextFileSync(store.dir("web"), "not a directory");
  assert.throws(() => store.lock("web"), (err: unknown) => {
    assert.ok(!(err instanceof ContainerNotExistError), `got ${err}`);
    assert.match((err as Error).message, /cannot lock container "web"/);
    assert.match(String((err as Error).cause), /ENOTDIR/);
    return true;
  });
});
