/**
 * Builds Skiff's artifacts.
 *
 * - default: `deno bundle` -> dist/skiff.d/ (the split bundle) and dist/skiff, a native launcher
 *   that runs the Deno binary that built it on dist/skiff.d/launch.js (absolute paths, so engines
 *   with a minimal PATH, symlinks and copies can run it).
 * - `--compile`: `deno compile` -> dist/skiff-bin, a single binary. It needs Deno's `denort`
 *   runtime: set DENORT_BIN=/path/to/denort where Deno's download host is unreachable.
 */
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildLauncher } from "../runtime/trampoline/launcher.ts";
import {
  CHUNK_DIR,
  DENO_RUN_FLAGS,
  LAUNCH_ENV,
  LAUNCH_JSON,
  LAUNCH_MODULE,
  type LaunchInfo,
} from "./launch_info.ts";

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

/** The split bundle's entry chunk in CHUNK_DIR (cli.ts). */
const ENTRY_CHUNK = "main.js";

/**
 * The module dist/skiff runs: it imports the entry chunk beside it and starts the CLI. A static
 * import costs least: finding the directory at run time (URL, realpath, stat, a dynamic import)
 * cost ~3 ms per call.
 */
function launchModule(): string {
  return `import { start } from "./${ENTRY_CHUNK}";\nstart(Deno.args);\n`;
}

/**
 * dist/skiff where the trampoline's machine-code writer has no encoder (neither x86_64 nor
 * aarch64): a script whose shebang runs Deno through env(1), importing the entry chunk by the
 * absolute path it was built at, so that a symlink to it or a copy of it runs too (Deno resolves
 * relative imports against the symlink's own path).
 */
function shebangScript(info: LaunchInfo, chunkDir: string): string {
  const env = Object.entries(info.env).map(([k, v]) => `${k}=${v}`).join(" ");
  const url = pathToFileURL(join(chunkDir, ENTRY_CHUNK)).href;
  return `#!/usr/bin/env -S ${env} ${info.deno} ${DENO_RUN_FLAGS.join(" ")}\n` +
    `import { start } from ${JSON.stringify(url)};\nstart(Deno.args);\n`;
}

/**
 * dist/skiff: a static executable that execve()s Deno on the launcher module, with its own
 * arguments appended and LAUNCH_ENV put before the caller's environment (runtime/trampoline/
 * launcher.ts). Going through `#!/usr/bin/env -S` cost 3-6 ms per call (docs/benchmarks.md,
 * "Launcher"). Where no encoder exists, the shebang script as before.
 */
function launcherFile(info: LaunchInfo, chunkDir: string): Uint8Array | string {
  const arch = Deno.build.arch;
  if (Deno.build.os !== "linux" || (arch !== "x86_64" && arch !== "aarch64")) {
    return shebangScript(info, chunkDir);
  }
  return buildLauncher({
    path: info.deno,
    argv: [info.deno, ...info.args],
    env: Object.entries(info.env).map(([k, v]) => `${k}=${v}`),
  }, arch);
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
 * flags, the command table), one chunk per command and the chunks they share, plus launch.js (runs
 * the entry chunk) and launch.json (how dist/skiff starts Deno: scripts/launch_info.ts).
 * dist/skiff is the launcher. A call loads only its own command's code (issue 11): the
 * whole program in one file cost ~20 ms of loading on every call. dist/skiff may be copied or
 * linked elsewhere; dist/skiff.d/ stays where it was built, like the Deno binary it names.
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

    if (files.has(LAUNCH_MODULE) || files.has(LAUNCH_JSON)) {
      throw new Error(`deno bundle wrote a chunk named like the launcher's files to ${chunks}`);
    }
    const finalChunks = join(dist, CHUNK_DIR);
    const module = join(finalChunks, LAUNCH_MODULE);
    const info: LaunchInfo = {
      deno,
      args: [...DENO_RUN_FLAGS, module],
      module,
      env: { ...LAUNCH_ENV },
    };
    Deno.writeTextFileSync(join(chunks, LAUNCH_MODULE), launchModule());
    Deno.writeTextFileSync(join(chunks, LAUNCH_JSON), `${JSON.stringify(info, null, 2)}\n`);
    const out = join(dist, "skiff");
    const tmp = `${out}.tmp`;
    const launcher = launcherFile(info, finalChunks);
    // Readable and executable by all: rootless callers run it (tests/_helpers/rootless.ts).
    if (typeof launcher === "string") Deno.writeTextFileSync(tmp, launcher, { mode: 0o755 });
    else Deno.writeFileSync(tmp, launcher, { mode: 0o755 });
    Deno.chmodSync(tmp, 0o755);
    // The chunks first, then the launcher. An older build left other chunk names, or one file.
    try {
      Deno.removeSync(join(dist, CHUNK_DIR), { recursive: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    Deno.renameSync(chunks, finalChunks);
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
