/**
 * Builds Skiff's artifacts.
 *
 * - default: `deno bundle` -> dist/skiff, one self-contained executable script whose shebang runs
 *   the Deno binary that built it (an absolute path, so engines with a minimal PATH can run it).
 * - `--compile`: `deno compile` -> dist/skiff-bin, a single binary. It needs Deno's `denort`
 *   runtime: set DENORT_BIN=/path/to/denort where Deno's download host is unreachable.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const deno = Deno.execPath();

function run(args: string[], env: Record<string, string> = {}): void {
  const result = new Deno.Command(deno, {
    args,
    cwd: root,
    env,
    stdout: "inherit",
    stderr: "inherit",
  })
    .outputSync();
  if (!result.success) throw new Error(`deno ${args.join(" ")} failed with ${result.code}`);
}

const COMMIT_MARKER = '"@@SKIFF_GIT_COMMIT@@"';

/** The commit being built (`git rev-parse HEAD`, "-dirty" with local changes), "" without git. */
function gitCommit(): string {
  const git = (args: string[]) => {
    try {
      const out = new Deno.Command("git", { args, cwd: root, stdout: "piped", stderr: "null" })
        .outputSync();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
    } catch {
      return undefined; // No git on this machine.
    }
  };
  const head = git(["rev-parse", "HEAD"]);
  if (!head) return "";
  const dirty = git(["status", "--porcelain", "--untracked-files=no"]);
  return dirty ? `${head}-dirty` : head;
}

/** Records the commit in the bundle for `skiff --version` (spec/version.ts holds the marker). */
function withCommit(body: string): string {
  const count = body.split(COMMIT_MARKER).length - 1;
  if (count !== 1) throw new Error(`expected one ${COMMIT_MARKER} in the bundle, found ${count}`);
  const commit = gitCommit();
  return commit ? body.replace(COMMIT_MARKER, JSON.stringify(commit)) : body;
}

/** Builds dist/skiff with deno bundle and returns its path. */
export function buildBundle(): string {
  Deno.mkdirSync(dist, { recursive: true });
  const js = join(dist, "skiff.js");
  run(["bundle", "--quiet", "--platform", "deno", "--output", js, "mod.ts"]);
  const body = withCommit(Deno.readTextFileSync(js).replace(/^#!.*\n/, ""));
  const shebang = `#!/usr/bin/env -S DENO_NO_UPDATE_CHECK=1 ${deno} run -A --quiet --no-config ` +
    "--no-lock --no-remote --no-npm";
  const out = join(dist, "skiff");
  const tmp = `${out}.tmp`;
  Deno.writeTextFileSync(tmp, `${shebang}\n${body}`, { mode: 0o755 });
  Deno.chmodSync(tmp, 0o755);
  Deno.renameSync(tmp, out);
  Deno.removeSync(js);
  return out;
}

/** Builds dist/skiff-bin with deno compile (honours DENORT_BIN). */
export function buildCompiled(): string {
  Deno.mkdirSync(dist, { recursive: true });
  const out = join(dist, "skiff-bin");
  const env: Record<string, string> = {};
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) env.DENORT_BIN = denort;
  try {
    run(["compile", "-A", "--no-check", "--output", out, "mod.ts"], env);
  } catch (err) {
    throw new Error(
      "deno compile failed: it needs Deno's denort runtime, downloaded from Deno's own host " +
        "unless DENORT_BIN=/path/to/denort is set; `deno task build` (dist/skiff) works offline",
      { cause: err },
    );
  }
  return out;
}

if (import.meta.main) {
  const path = Deno.args.includes("--compile") ? buildCompiled() : buildBundle();
  console.log(`built ${path}`);
}
