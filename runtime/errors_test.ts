import assert from "node:assert/strict";
import { errnoOf, SyscallError } from "../ffi/errno.ts";
import { SpecError } from "../spec/errors.ts";
import { errorChain, errorData, errorFromData } from "./errors.ts";

Deno.test("errorFromData(errorData()) through structuredClone keeps the chain, the errno name and the field", () => {
  const syscall = new SyscallError("mount", 2, "src=/x, dst=/y");
  const outer = new Error("mounts[3]: cannot mount /x on /y", { cause: syscall });
  const back = errorFromData(structuredClone(errorData(outer)));
  assert.equal(errorChain(back), errorChain(outer));
  assert.equal(errnoOf(back.cause), "ENOENT");
  assert.equal((back.cause as { syscall?: string }).syscall, "mount");
  assert.equal((back.cause as Error).name, "SyscallError");
  // Deno's own I/O errors carry their errno name as `code` too.
  let notFound: unknown;
  try {
    Deno.readFileSync("/no/such/file");
  } catch (err) {
    notFound = err;
  }
  assert.equal(errnoOf(errorFromData(structuredClone(errorData(notFound)))), "ENOENT");
  const spec = errorFromData(structuredClone(errorData(new SpecError("process.cwd", "x"))));
  assert.equal((spec as { path?: string }).path, "process.cwd");
  assert.equal(errorChain(errorFromData(errorData("a string"))), "a string");
});
