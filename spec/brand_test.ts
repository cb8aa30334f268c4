import assert from "node:assert/strict";
import * as spec from "./errors.ts";
import * as runtime from "../runtime/errors.ts";

// dist/skiff's one-file command entries can hold a second copy of these modules (scripts/build.ts):
// a `?copy=` URL is such a second copy here.
const copyOf = async <T>(path: string): Promise<T> =>
  await import(`${path}?copy=${crypto.randomUUID()}`);

Deno.test("an error made by another copy of its module is still instanceof the class, both ways", async () => {
  const specCopy = await copyOf<typeof spec>("./errors.ts");
  const runtimeCopy = await copyOf<typeof runtime>("../runtime/errors.ts");
  assert.notEqual(specCopy.SpecError, spec.SpecError);
  assert.ok(new specCopy.SpecError("process.cwd", "x") instanceof spec.SpecError);
  assert.ok(new spec.SpecError("process.cwd", "x") instanceof specCopy.SpecError);
  // withFile() names the file of a copy's SpecError, as create does for the cgroup drivers'.
  const named = spec.withFile(new specCopy.SpecError("linux.resources", "bad"), "/b/config.json");
  assert.equal((named as Error).message, "/b/config.json: linux.resources: bad");
  const pairs: [new (...a: never[]) => Error, new (...a: never[]) => Error, unknown[]][] = [
    [runtime.ContainerNotExistError, runtimeCopy.ContainerNotExistError, ["id"]],
    [runtime.ConflictError, runtimeCopy.ConflictError, ["id"]],
    [runtime.UsageError, runtimeCopy.UsageError, ["bad flag"]],
    [runtime.ExitError, runtimeCopy.ExitError, ["", 3]],
  ];
  for (const [mine, theirs, args] of pairs) {
    assert.notEqual(mine, theirs);
    assert.ok(new (theirs as new (...a: unknown[]) => Error)(...args) instanceof mine, mine.name);
    assert.ok(new (mine as new (...a: unknown[]) => Error)(...args) instanceof theirs, mine.name);
  }
});

Deno.test("a branded class is no instance test for other errors, and subclasses test their own chain", () => {
  assert.ok(!(new Error("container does not exist") instanceof runtime.ContainerNotExistError));
  assert.ok(!(new TypeError("x") instanceof spec.SpecError));
  assert.ok(!(new runtime.UsageError("x") instanceof runtime.ExitError));
  for (const value of [null, undefined, "x", 3] as unknown[]) {
    assert.ok(!((value as object) instanceof spec.SpecError));
  }
  class Narrower extends spec.SpecError {}
  assert.ok(new Narrower("a", "b") instanceof spec.SpecError);
  assert.ok(new Narrower("a", "b") instanceof Narrower);
  assert.ok(!(new spec.SpecError("a", "b") instanceof Narrower));
});

Deno.test("processWide() gives every copy of a module the first copy's object", async () => {
  const brand = await import("./brand.ts");
  const copy: typeof brand = await copyOf("./brand.ts");
  const name = `test-${crypto.randomUUID()}`;
  const first = brand.processWide(name, { n: 1 });
  assert.equal(copy.processWide(name, { n: 2 }), first);
  assert.deepEqual(first, { n: 1 });
  assert.notEqual(copy.processWide(`${name}-other`, { n: 3 }), first);
});
