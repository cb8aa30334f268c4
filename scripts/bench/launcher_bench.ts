/**
 * What dist/skiff's launcher costs per call (issue 11, docs/benchmarks.md "Launcher"): the native
 * launcher (dist/skiff) against the `#!/usr/bin/env -S` script it replaced (written here, on the
 * same chunks), and both against running Deno directly on the launch module and a bare `deno run`
 * of an empty file, with and without DENO_NO_UPDATE_CHECK. Interleaved, wall time from here;
 * median and min in ms. The callers' environment is PATH and HOME only, as an engine's would be.
 * Deno's own start-up varies by several ms from call to call, so a second table times the two
 * launchers alone: each built to exec /bin/true with the same arguments, run 200 times in a row by
 * one shell, against /bin/true itself (median per call over --rounds interleaved rounds).
 * Needs root (it creates one container for `state`) and `deno task build`.
 *
 *   deno run -A scripts/bench/launcher_bench.ts [--runs 40] [--skiff dist/skiff]
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { median } from "./svg.ts";
import { DENO_RUN_FLAGS, LAUNCH_ENV, readLaunchInfo } from "../launch_info.ts";
import { buildLauncher } from "../../runtime/trampoline/launcher.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "40" },
    rounds: { type: "string", default: "9" },
    skiff: { type: "string", default: "dist/skiff" },
  },
});
const runs = Number(values.runs);
const skiff = resolve(values.skiff!);
const info = readLaunchInfo(skiff);
if (!info) throw new Error(`${skiff} has no skiff.d/launch.json beside it: deno task build`);
const BASE_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root" };
const NO_UPDATE = { ...BASE_ENV, DENO_NO_UPDATE_CHECK: "1" };

function time(command: string, args: string[], env: Record<string, string>): number {
  const start = performance.now();
  const out = new Deno.Command(command, {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).outputSync();
  const elapsed = performance.now() - start;
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed with ${out.code}`);
  return elapsed;
}

const dir = Deno.makeTempDirSync({ prefix: "skiff-launcher-bench-" });
const root = join(dir, "state");
const id = `launcher-bench-${Deno.pid}`;
let created = false;
try {
  const empty = join(dir, "empty.js");
  Deno.writeTextFileSync(empty, "");
  // The launcher before this change, on the same chunks.
  const script = join(dir, "skiff-script");
  const main = pathToFileURL(join(info.module, "..", "main.js")).href;
  Deno.writeTextFileSync(
    script,
    `#!/usr/bin/env -S DENO_NO_UPDATE_CHECK=1 ${info.deno} ${DENO_RUN_FLAGS.join(" ")}\n` +
      `import { start } from ${JSON.stringify(main)};\nstart(Deno.args);\n`,
    { mode: 0o755 },
  );

  const rootfs = buildBusyboxRootfs(dir);
  const spec = defaultSpec();
  spec.process!.args = ["sleep", "100000"];
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  const bundle = join(dir, "bundle");
  Deno.mkdirSync(bundle);
  Deno.writeTextFileSync(join(bundle, "config.json"), JSON.stringify(spec));
  time(skiff, ["--root", root, "create", "-b", bundle, id], BASE_ENV);
  created = true;

  const direct = [...info.args];
  const cases: [string, () => number][] = [
    [
      "bare deno run empty.js, DENO_NO_UPDATE_CHECK=1",
      () => time(info.deno, [...DENO_RUN_FLAGS, empty], NO_UPDATE),
    ],
    [
      "bare deno run empty.js, no DENO_NO_UPDATE_CHECK",
      () => time(info.deno, [...DENO_RUN_FLAGS, empty], BASE_ENV),
    ],
    [
      "--version: deno run launch.js directly",
      () => time(info.deno, [...direct, "--version"], NO_UPDATE),
    ],
    ["--version: native launcher (dist/skiff)", () => time(skiff, ["--version"], BASE_ENV)],
    ["--version: #!/usr/bin/env -S script", () => time(script, ["--version"], BASE_ENV)],
    [
      "state: deno run launch.js directly",
      () => time(info.deno, [...direct, "--root", root, "state", id], NO_UPDATE),
    ],
    [
      "state: native launcher (dist/skiff)",
      () => time(skiff, ["--root", root, "state", id], BASE_ENV),
    ],
    [
      "state: #!/usr/bin/env -S script",
      () => time(script, ["--root", root, "state", id], BASE_ENV),
    ],
  ];
  const samples = cases.map(() => [] as number[]);
  for (let round = -3; round < runs; round++) {
    cases.forEach(([, run], i) => {
      const ms = run();
      if (round >= 0) samples[i].push(ms);
    });
  }
  console.log(
    `runs: ${runs}, interleaved; wall ms; ${Deno.osRelease()}, load ${Deno.loadavg()[0]}`,
  );
  console.log(`| call | median | min |\n|---|--:|--:|`);
  cases.forEach(([name], i) => {
    console.log(
      `| ${name} | ${median(samples[i]).toFixed(1)} | ${Math.min(...samples[i]).toFixed(1)} |`,
    );
  });

  // The launchers alone: exec /bin/true instead of Deno, same arguments and environment.
  const env = Object.entries(LAUNCH_ENV).map(([k, v]) => `${k}=${v}`);
  const elfTrue = join(dir, "native-true");
  Deno.writeFileSync(
    elfTrue,
    buildLauncher({ path: "/bin/true", argv: ["/bin/true", ...info.args], env }),
    { mode: 0o755 },
  );
  const scriptTrue = join(dir, "script-true");
  Deno.writeTextFileSync(
    scriptTrue,
    `#!/usr/bin/env -S ${env.join(" ")} /bin/true ${DENO_RUN_FLAGS.join(" ")}\nstart();\n`,
    { mode: 0o755 },
  );
  const loops = 200;
  const perCall = (program: string): number => {
    const start = performance.now();
    const out = new Deno.Command("/bin/bash", {
      args: ["-c", `for i in $(seq ${loops}); do "$0" state ${id}; done`, program],
      env: BASE_ENV,
      clearEnv: true,
    }).outputSync();
    if (!out.success) throw new Error(`${program} failed in a loop`);
    return (performance.now() - start) / loops;
  };
  const alone: [string, string][] = [
    ["/bin/true itself", "/bin/true"],
    ["native launcher -> /bin/true", elfTrue],
    ["#!/usr/bin/env -S script -> /bin/true", scriptTrue],
  ];
  const perCallSamples = alone.map(() => [] as number[]);
  for (let round = 0; round < Number(values.rounds); round++) {
    alone.forEach(([, program], i) => perCallSamples[i].push(perCall(program)));
  }
  console.log(`\n${loops} calls in a shell loop, ${values.rounds} interleaved rounds; ms per call`);
  console.log(`| program | median | min |\n|---|--:|--:|`);
  alone.forEach(([name], i) => {
    const xs = perCallSamples[i];
    console.log(`| ${name} | ${median(xs).toFixed(2)} | ${Math.min(...xs).toFixed(2)} |`);
  });
} finally {
  if (created) {
    new Deno.Command(skiff, {
      args: ["--root", root, "delete", "--force", id],
      stdout: "null",
      stderr: "null",
    }).outputSync();
  }
  Deno.removeSync(dir, { recursive: true });
}
