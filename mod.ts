#!/usr/bin/env -S deno run -A
/**
 * Skiff: an OCI container runtime. Entry point: argv -> runtime/cli, and the only place that turns
 * an error into a log line and an exit code.
 * @module
 */
import { main } from "./runtime/cli/mod.ts";
import { errorChain, ExitError } from "./runtime/errors.ts";
import { fatal, trace } from "./runtime/log.ts";

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    if (!(err instanceof ExitError && err.message === "")) fatal(errorChain(err));
    code = err instanceof ExitError ? err.code : 1;
  }
  trace("exit");
  Deno.exit(code);
}

export { main };
