#!/usr/bin/env -S deno run -A
/**
 * Skiff: an OCI container runtime. Entry point: argv -> runtime/cli, and the only place that turns
 * an error into a log line and an exit code.
 * @module
 */
import { main } from "./runtime/cli/mod.ts";
import { errorChain, ExitError, UsageError } from "./runtime/errors.ts";
import { fatal, trace } from "./runtime/log.ts";

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    fatal(errorChain(err));
    code = err instanceof ExitError ? err.code : err instanceof UsageError ? 1 : 1;
  }
  trace("exit");
  Deno.exit(code);
}

export { main };
