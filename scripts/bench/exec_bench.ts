/**
 * `exec` of `true` into a running container, Skiff builds side by side with runc, interleaved
 * (issue 11's exec target: at most 1.5x runc). Each runtime gets its own `sleep` container on the
 * same busybox rootfs (the default `skiff spec` config, and once more in a user namespace), then
 * every round execs `true` once per runtime.
 *
 *   deno run -A scripts/bench/exec_bench.ts [--runs 30] [--skiff dist/skiff ...] [--runc runc]
 *
 * `--skiff` may be given several times (e.g. a build of main and one of a branch): each is a
 * column, labelled by its path.
 */
import { parseArgs } from "node:util";
import { join, resolve } from "../../runtime/path.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { median } from "./svg.ts";
import { DENO_RUN_FLAGS } from "../launch_info.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "30" },
    skiff: { type: "string", multiple: true, default: ["dist/skiff"] },
    runc: { type: "string", default: "runc" },
  },
});
const runs = Number(values.runs);
const skiffs = values.skiff!.map((s) => resolve(s));

// stdio is /dev/null: a detached container inherits it, and a pipe would stay open until it exits.
function time(command: string, args: string[]): number {
  const start = performance.now();
  const out = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).outputSync();
  const elapsed = performance.now() - start;
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed with ${out.code}`);
  return elapsed;
}

const dir = await Deno.makeTempDir({ prefix: "skiff-exec-bench-" });
interface Runtime {
  label: string;
  bin: string;
  root: string;
}
const runtimes: Runtime[] = [
  ...skiffs.map((bin, i) => ({ label: `skiff ${bin}`, bin, root: join(dir, `skiff${i}`) })),
  { label: `runc`, bin: values.runc!, root: join(dir, "runc") },
];
const started: [Runtime, string][] = [];
try {
  const rootfs = buildBusyboxRootfs(dir);
  const spec = defaultSpec();
  spec.process!.args = ["sleep", "100000"];
  spec.process!.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  const plain = join(dir, "plain");
  await Deno.mkdir(plain);
  await Deno.writeTextFile(join(plain, "config.json"), JSON.stringify(spec));
  const userns = join(dir, "userns");
  await Deno.mkdir(userns);
  spec.linux!.namespaces!.push({ type: "user" });
  spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  await Deno.writeTextFile(join(userns, "config.json"), JSON.stringify(spec));
  await Deno.chmod(dir, 0o755);
  const kinds = [["exec", plain], ["exec (user namespace)", userns]] as const;
  for (const r of runtimes) {
    for (const [kind, bundle] of kinds) {
      const id = `${kind === "exec" ? "plain" : "userns"}-${Deno.pid}`;
      time(r.bin, ["--root", r.root, "run", "-d", "-b", bundle, id]);
      started.push([r, id]);
    }
  }
  const samples = new Map<string, number[]>();
  // The floor of any Deno program: `deno run` of an empty file with the flags dist/skiff uses.
  const empty = join(dir, "empty.js");
  await Deno.writeTextFile(empty, "");
  const bare: number[] = [];
  const deno = Deno.execPath();
  const DENO_FLAGS = DENO_RUN_FLAGS;
  const round = (record: boolean) => {
    const ms = time(deno, [...DENO_FLAGS, empty]);
    if (record) bare.push(ms);
    for (const [kind] of kinds) {
      for (const r of runtimes) {
        const id = `${kind === "exec" ? "plain" : "userns"}-${Deno.pid}`;
        const ms = time(r.bin, ["--root", r.root, "exec", id, "true"]);
        const key = `${kind}\t${r.label}`;
        if (record) samples.set(key, [...(samples.get(key) ?? []), ms]);
      }
    }
  };
  for (let i = 0; i < 3; i++) round(false);
  for (let i = 0; i < runs; i++) round(true);
  console.log(`runs: ${runs}, interleaved; median and min in ms; ratio = median / runc's median`);
  console.log(
    `${"bare Deno (empty file)".padEnd(63)} ${median(bare).toFixed(1).padStart(7)} ${
      Math.min(...bare).toFixed(1).padStart(7)
    }`,
  );
  for (const [kind] of kinds) {
    const runcMedian = median(samples.get(`${kind}\trunc`)!);
    for (const r of runtimes) {
      const xs = samples.get(`${kind}\t${r.label}`)!;
      console.log(
        `${kind.padEnd(22)} ${r.label.padEnd(40)} ${median(xs).toFixed(1).padStart(7)} ${
          Math.min(...xs).toFixed(1).padStart(7)
        } ${(median(xs) / runcMedian).toFixed(2).padStart(5)}x`,
      );
    }
  }
} finally {
  for (const [r, id] of started) {
    new Deno.Command(r.bin, {
      args: ["--root", r.root, "delete", "--force", id],
      stdout: "null",
      stderr: "null",
    }).outputSync();
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
