import assert from "node:assert/strict";
import { ERRNO, errnoOf, isErrno, SyscallError } from "./errno.ts";

Deno.test("errnoOf() reads the errno name of a SyscallError and of Deno's I/O errors", () => {
  assert.equal(errnoOf(new SyscallError("openat", ERRNO.ENOENT, "path=x")), "ENOENT");
  let denoError: unknown;
  try {
    Deno.statSync("/nonexistent/skiff-errno-test");
  } catch (err) {
    denoError = err;
  }
  assert.ok(denoError instanceof Deno.errors.NotFound);
  assert.equal(errnoOf(denoError), "ENOENT");
});

Deno.test("errnoOf() is undefined for errors without an errno name", () => {
  assert.equal(errnoOf(new Error("plain")), undefined);
  assert.equal(
    errnoOf(Object.assign(new TypeError("x"), { code: "ERR_INVALID_ARG_TYPE" })),
    undefined,
  );
  assert.equal(errnoOf(Object.assign(new Error("x"), { code: 2 })), undefined);
  assert.equal(errnoOf(null), undefined);
  assert.equal(errnoOf("ENOENT"), undefined);
});

Deno.test("isErrno() is true only for one of the names given", () => {
  const err = new SyscallError("mkdirat", ERRNO.EEXIST);
  assert.equal(isErrno(err, "EEXIST"), true);
  assert.equal(isErrno(err, "ENOENT", "EEXIST"), true);
  assert.equal(isErrno(err, "ENOENT"), false);
  assert.equal(isErrno(new Error("EEXIST"), "EEXIST"), false);
});
