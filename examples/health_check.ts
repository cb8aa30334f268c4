/**
 * An exec-based health check: starts a long-running container, then runs a probe in it every
 * second (as a Kubernetes exec probe does) and reports each result.
 *
 *   sudo deno run -A examples/health_check.ts BUNDLE [PROBES]
 */
import { Runtime } from "../mod.ts";
import { join } from "node:path";

const [bundle, probesArg = "3"] = Deno.args;
if (!bundle) throw new Error("usage: health_check.ts BUNDLE [PROBES]");
const spec = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
spec.process.args = ["sh", "-c", "touch /tmp/healthy; exec sleep 1000"];
spec.process.terminal = false;
// A writable /tmp for the marker file, whatever the image's root is.
spec.mounts.push({ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid"] });

const rt = new Runtime({ root: "/run/skiff-examples" });
await using c = await rt.create(`health-${Deno.pid}`, {
  spec,
  rootfs: join(bundle, spec.root.path),
});
await c.start();
const results: number[] = [];
for (let i = 0; i < Number(probesArg); i++) {
  const { code } = await c.exec({ args: ["test", "-e", "/tmp/healthy"] }, { stdio: "null" });
  results.push(code);
  console.error(`probe ${i + 1}: ${code === 0 ? "healthy" : `unhealthy (${code})`}`);
  await new Promise((r) => setTimeout(r, 1000));
}
console.log(JSON.stringify({ probes: results }));
