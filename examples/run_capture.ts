/**
 * Runs a command in a container and captures its output.
 *
 *   sudo deno run -A examples/run_capture.ts BUNDLE [ARGS...]
 *
 * BUNDLE is an OCI bundle (config.json + rootfs; `skiff spec` writes a config); ARGS replace its
 * process.args (default: `echo hello from a container`).
 */
import { Runtime } from "../mod.ts";
import { join } from "node:path";

const [bundle, ...args] = Deno.args;
if (!bundle) throw new Error("usage: run_capture.ts BUNDLE [ARGS...]");
const spec = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
spec.process.args = args.length ? args : ["echo", "hello from a container"];
spec.process.terminal = false;

const rt = new Runtime({ root: "/run/skiff-examples" });
await using c = await rt.create(`capture-${Deno.pid}`, {
  spec,
  rootfs: join(bundle, spec.root.path),
}, { stdio: "piped" });
await c.stdin!.close();
await c.start();
const [stdout, stderr, status] = await Promise.all([
  new Response(c.stdout).text(),
  new Response(c.stderr).text(),
  c.wait(),
]);
console.log(JSON.stringify({ code: status.code, stdout, stderr }));
