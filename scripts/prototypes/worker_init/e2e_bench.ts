/**
 * PROTOTYPE (issue 11, question 6): wall time of the one-Deno prototype (e2e.ts, from sources and
 * bundled) against `skiff run` (dist/skiff of /work/main) and `runc run` of the same busybox
 * rootfs and command, interleaved, medians of N (default 15).
 *
 *   deno run -A scripts/prototypes/worker_init/e2e_bench.ts [N]
 *
 * SKIFF (default /work/main/dist/skiff) and BUSYBOX_ROOTFS may be set. Needs root and runc.
 */
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const n = Number(Deno.args[0] ?? 15);
const SKIFF = Deno.env.get("SKIFF") ?? "/work/main/dist/skiff";
const FIXTURE = Deno.env.get("BUSYBOX_ROOTFS") ?? "/work/main/tests/.fixtures/busybox/rootfs";
const ARGV = ["/bin/sh", "-c", "echo $$; hostname; ls /"];
const deno = Deno.execPath();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function sh(cmd: string, args: string[], env: Record<string, string> = {}): void {
  const out = new Deno.Command(cmd, { args, env, stdout: "null", stderr: "inherit" }).outputSync();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (${out.code})`);
}

const tmp = Deno.makeTempDirSync({ prefix: "skiff-proto-e2e-" });
try {
  const bundle = join(tmp, "bundle");
  Deno.mkdirSync(bundle);
  sh("cp", ["-a", FIXTURE, join(bundle, "rootfs")]);
  sh("runc", ["spec", "--bundle", bundle]);
  const config = JSON.parse(Deno.readTextFileSync(join(bundle, "config.json")));
  config.process.terminal = false;
  config.process.args = ARGV;
  config.hostname = "proto-e2e";
  Deno.writeTextFileSync(join(bundle, "config.json"), JSON.stringify(config, null, 2));
  const mainJs = join(tmp, "e2e.js");
  const workerJs = join(tmp, "e2e_worker.js");
  sh(deno, ["bundle", "--quiet", "--platform", "deno", "--output", mainJs, join(here, "e2e.ts")]);
  sh(deno, [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--output",
    workerJs,
    join(here, "e2e_worker.ts"),
  ]);
  const rootfs = join(bundle, "rootfs");
  let id = 0;
  const cases: Record<string, () => string[]> = {
    "prototype e2e.ts (sources)": () => [deno, "run", "-A", join(here, "e2e.ts"), rootfs, ...ARGV],
    "prototype e2e bundle": () => [deno, "run", "-A", mainJs, rootfs, ...ARGV],
    "skiff run": () => [SKIFF, "run", "-b", bundle, `proto-skiff-${Deno.pid}-${id++}`],
    "runc run": () => ["runc", "run", "-b", bundle, `proto-runc-${Deno.pid}-${id++}`],
    "deno run (empty file)": () => [deno, "run", "-A", join(here, "tiny_module.ts")],
  };
  const times: Record<string, number[]> = {};
  for (let i = -1; i < n; i++) {
    for (const [name, argv] of Object.entries(cases)) {
      const [cmd, ...args] = argv();
      const t0 = performance.now();
      const out = await new Deno.Command(cmd, {
        args,
        stdout: "piped",
        stderr: "piped",
        env: { DENO_NO_UPDATE_CHECK: "1", PROTO_WORKER_URL: pathToFileURL(workerJs).href },
      }).output();
      const ms = performance.now() - t0;
      const text = new TextDecoder().decode(out.stdout);
      if (
        !out.success || (name !== "deno run (empty file)" && !text.startsWith("1\nproto-e2e\n"))
      ) {
        throw new Error(
          `${name}: exit ${out.code}: ${text}${new TextDecoder().decode(out.stderr)}`,
        );
      }
      if (i >= 0) (times[name] ??= []).push(ms);
    }
  }
  console.log(`median wall of ${n} runs, interleaved (ms):`);
  for (const [name, xs] of Object.entries(times)) {
    console.log(
      `  ${name.padEnd(28)} ${median(xs).toFixed(1).padStart(7)}  (min ${
        Math.min(...xs).toFixed(1)
      })`,
    );
  }
} finally {
  Deno.removeSync(tmp, { recursive: true });
}
