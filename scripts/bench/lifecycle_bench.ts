/**
 * `deno task bench`: times `skiff run` against `runc run` on the same busybox bundle, interleaved,
 * and prints medians and the ratio. Also times the pieces of a skiff run (Deno start-up of the CLI,
 * create, start, delete) so the report can say where the time goes.
 *
 *   deno run -A scripts/bench/lifecycle_bench.ts [--runs N] [--skiff dist/skiff] [--runc runc]
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { buildFixtures } from "../fixtures/oci_image.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "30" },
    skiff: { type: "string", default: "dist/skiff" },
    runc: { type: "string", default: "runc" },
  },
});
const runs = Number(values.runs);
const skiff = resolve(values.skiff!);

// stdio is /dev/null: a created container inherits it, and a pipe would stay open until it exits.
function time(command: string, args: string[]): number {
  const start = performance.now();
  const out = new Deno.Command(command, { args, stdin: "null", stdout: "null", stderr: "null" })
    .outputSync();
  const elapsed = performance.now() - start;
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed with ${out.code}`);
  return elapsed;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function hasRunc(): boolean {
  try {
    return new Deno.Command(values.runc!, { args: ["--version"], stdout: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

const dir = await Deno.makeTempDir({ prefix: "skiff-bench-" });
try {
  buildBusyboxRootfs(dir);
  const spec = defaultSpec();
  spec.process!.args = ["true"];
  spec.process!.terminal = false;
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(spec));
  const skiffRoot = join(dir, "skiff-state");
  const runcRoot = join(dir, "runc-state");
  const withRunc = hasRunc();
  const samples: Record<string, number[]> = {
    "skiff run": [],
    "runc run": [],
    "skiff --version (Deno start-up + CLI load)": [],
    "skiff create": [],
    "skiff start": [],
    "skiff delete": [],
    "runc create": [],
    "runc start": [],
    "runc delete": [],
    "skiff run --image (stored image, overlay root)": [],
  };
  const images = await buildFixtures(join(dir, "images"));
  const store = join(dir, "store");
  time(skiff, ["image", "import", "--store", store, `${images.layout}:base`]);
  // Warm up page cache and Deno's code cache.
  for (let i = 0; i < 3; i++) {
    time(skiff, ["--root", skiffRoot, "run", "-b", dir, `warm${i}`]);
    if (withRunc) time(values.runc!, ["--root", runcRoot, "run", "-b", dir, `warm${i}`]);
  }
  for (let i = 0; i < runs; i++) {
    samples["skiff run"].push(time(skiff, ["--root", skiffRoot, "run", "-b", dir, `s${i}`]));
    if (withRunc) {
      samples["runc run"].push(time(values.runc!, ["--root", runcRoot, "run", "-b", dir, `r${i}`]));
    }
    samples["skiff --version (Deno start-up + CLI load)"].push(time(skiff, ["--version"]));
    samples["skiff run --image (stored image, overlay root)"].push(
      time(skiff, [
        "--root",
        skiffRoot,
        "run",
        "--image",
        "base",
        "--store",
        store,
        `i${i}`,
        "--",
        "true",
      ]),
    );
    samples["skiff create"].push(time(skiff, ["--root", skiffRoot, "create", "-b", dir, `c${i}`]));
    samples["skiff start"].push(time(skiff, ["--root", skiffRoot, "start", `c${i}`]));
    await new Promise((r) => setTimeout(r, 20));
    samples["skiff delete"].push(time(skiff, ["--root", skiffRoot, "delete", "--force", `c${i}`]));
    if (withRunc) {
      samples["runc create"].push(
        time(values.runc!, ["--root", runcRoot, "create", "-b", dir, `c${i}`]),
      );
      samples["runc start"].push(time(values.runc!, ["--root", runcRoot, "start", `c${i}`]));
      await new Promise((r) => setTimeout(r, 20));
      samples["runc delete"].push(
        time(values.runc!, ["--root", runcRoot, "delete", "--force", `c${i}`]),
      );
    }
  }
  console.log(`runs: ${runs} (interleaved), bundle: busybox, process: true`);
  console.log(`${"operation".padEnd(44)} median ms   min ms`);
  for (const [name, xs] of Object.entries(samples)) {
    if (xs.length === 0) continue;
    console.log(
      `${name.padEnd(44)} ${median(xs).toFixed(1).padStart(9)} ${
        Math.min(...xs).toFixed(1).padStart(8)
      }`,
    );
  }
  if (withRunc) {
    const ratio = median(samples["skiff run"]) / median(samples["runc run"]);
    console.log(`ratio skiff run / runc run (medians): ${ratio.toFixed(2)}`);
    const triple = (p: string) =>
      median(samples[`${p} create`]) + median(samples[`${p} start`]) +
      median(samples[`${p} delete`]);
    console.log(
      `ratio create+start+delete skiff / runc (sum of medians): ${
        (triple("skiff") / triple("runc")).toFixed(2)
      }`,
    );
  } else {
    console.log("runc not found: install it with `apt-get install runc` to get the ratio");
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
