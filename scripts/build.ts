/**
 * Builds Skiff's artifacts.
 *
 * - default: `deno bundle` -> dist/skiff, one self-contained executable script whose shebang runs
 *   the Deno binary that built it (an absolute path, so engines with a minimal PATH can run it).
 * - `--compile`: `deno compile` -> dist/skiff-bin, a single binary. It needs Deno's `denort`
 *   runtime: set DENORT_BIN=/path/to/denort where Deno's download host is unreachable.
 */
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

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

/** Records the commit for `skiff --version` in the one chunk that holds spec/version.ts's marker. */
function withCommit(files: Map<string, string>): void {
  const holders = [...files].filter(([, body]) => body.includes(COMMIT_MARKER));
  const count = holders.reduce((n, [, body]) => n + body.split(COMMIT_MARKER).length - 1, 0);
  if (count !== 1) throw new Error(`expected one ${COMMIT_MARKER} in the bundle, found ${count}`);
  const commit = gitCommit();
  if (commit) {
    files.set(holders[0][0], holders[0][1].replace(COMMIT_MARKER, JSON.stringify(commit)));
  }
}

/** The directory beside dist/skiff that holds the split bundle. */
export const CHUNK_DIR = "skiff.d";

/** The split bundle's entry chunk in CHUNK_DIR (cli.ts). */
const ENTRY_CHUNK = "main.js";

/**
 * dist/skiff itself: imports the entry chunk by the absolute path it was built at, as its shebang
 * names the Deno binary by its absolute path, so that a symlink to dist/skiff or a copy of it runs
 * too (Deno resolves relative imports against the symlink's own path). A static import costs least:
 * finding the directory at run time (URL, realpath, stat, a dynamic import) cost ~3 ms per call.
 */
function launcher(chunkDir: string): string {
  const url = pathToFileURL(join(chunkDir, ENTRY_CHUNK)).href;
  return `import { start } from ${JSON.stringify(url)};\nstart(Deno.args);\n`;
}

/**
 * Makes the chunks' dynamic imports opaque to Deno's module graph: Deno loads and parses every
 * literal `import("./x.js")` of a module up front, with the module (all 18 commands' chunks, ~6 ms
 * per call), although only one runs. `import(String("./x.js"))` resolves the same way, on use.
 */
function deferDynamicImports(files: Map<string, string>): void {
  for (const [name, body] of files) {
    files.set(
      name,
      body.replace(/\bimport\("(\.\/[\w.-]+\.js)"\)/g, (_, path: string) => {
        if (!files.has(path.slice(2))) {
          throw new Error(`${name} imports ${path}, which is not built`);
        }
        return `import(String(${JSON.stringify(path)}))`;
      }),
    );
  }
}

/**
 * Builds dist/skiff with deno bundle and returns its path.
 *
 * The bundle is split (`--code-splitting`) into dist/skiff.d/: the entry chunk (argv, global
 * flags, the command table), one chunk per command and the chunks they share. dist/skiff is a
 * launcher that imports the entry chunk. A call loads only its own command's code (issue 11): the
 * whole program in one file cost ~20 ms of loading on every call. dist/skiff may be copied or
 * linked elsewhere; dist/skiff.d/ stays where it was built, like the Deno binary of the shebang.
 */
export function buildBundle(): string {
  Deno.mkdirSync(dist, { recursive: true });
  const staging = Deno.makeTempDirSync({ dir: dist, prefix: ".bundle-" });
  try {
    const chunks = join(staging, CHUNK_DIR);
    run([
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--code-splitting",
      "--outdir",
      chunks,
      "cli.ts",
    ]);
    const files = new Map<string, string>();
    for (const entry of Deno.readDirSync(chunks)) {
      if (!entry.isFile || !entry.name.endsWith(".js")) {
        throw new Error(`deno bundle wrote an unexpected ${entry.name} to ${chunks}`);
      }
      files.set(entry.name, Deno.readTextFileSync(join(chunks, entry.name)));
    }
    const entry = files.get("cli.js");
    if (entry === undefined) throw new Error(`deno bundle wrote no cli.js to ${chunks}`);
    files.delete("cli.js");
    Deno.removeSync(join(chunks, "cli.js"));
    files.set(ENTRY_CHUNK, entry.replace(/^#!.*\n/, ""));
    withCommit(files);
    deferDynamicImports(files);
    for (const [name, body] of files) Deno.writeTextFileSync(join(chunks, name), body);

    // --min-semi-space-size=4 (MB): with V8's 1 MB default, every `run` paid two young-generation
    // GCs of 3-9 ms each (nearly all of its ~4 MB heap survives them) and `exec` one; with 4 MB
    // none happen, at the same peak RSS: run -8 ms, exec -5 ms on their own clock (issue 11;
    // docs/benchmarks.md, "Trimming run, create and exec").
    const shebang = `#!/usr/bin/env -S DENO_NO_UPDATE_CHECK=1 ${deno} run -A --quiet --no-config ` +
      "--no-lock --no-remote --no-npm --v8-flags=--min-semi-space-size=4";
    const out = join(dist, "skiff");
    const tmp = `${out}.tmp`;
    Deno.writeTextFileSync(tmp, `${shebang}\n${launcher(join(dist, CHUNK_DIR))}`, { mode: 0o755 });
    Deno.chmodSync(tmp, 0o755);
    // The chunks first, then the launcher. An older build left other chunk names, or one file.
    try {
      Deno.removeSync(join(dist, CHUNK_DIR), { recursive: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    Deno.renameSync(chunks, join(dist, CHUNK_DIR));
    Deno.renameSync(tmp, out);
    return out;
  } finally {
    Deno.removeSync(staging, { recursive: true });
  }
}

/** Builds dist/skiff-bin with deno compile (honours DENORT_BIN). */
export function buildCompiled(): string {
  Deno.mkdirSync(dist, { recursive: true });
  const out = join(dist, "skiff-bin");
  const env: Record<string, string> = {};
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) env.DENORT_BIN = denort;
  try {
    run(["compile", "-A", "--no-check", "--output", out, "cli.ts"], env);
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
