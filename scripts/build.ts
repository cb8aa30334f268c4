/**
 * Builds Skiff's artifacts.
 *
 * - default: `deno bundle` -> dist/skiff.d/ (the split bundle) and dist/skiff, a native launcher
 *   that runs the Deno binary that built it on dist/skiff.d/launch.js (absolute paths, so engines
 *   with a minimal PATH, symlinks and copies can run it).
 * - `--compile`: `deno compile` -> dist/skiff-bin, a single binary. It needs Deno's `denort`
 *   runtime: set DENORT_BIN=/path/to/denort where Deno's download host is unreachable.
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildLauncher } from "../runtime/trampoline/launcher.ts";
import { GLOBAL_FLAGS } from "../runtime/cli/mod.ts";
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

/**
 * Records the commit for `skiff --version` where spec/version.ts's marker is: in the one chunk of
 * the split bundle that holds it, and in each command's one-file entry.
 */
function withCommit(files: Map<string, string>): void {
  const holders = [...files].filter(([, body]) => body.includes(COMMIT_MARKER));
  for (const [name, body] of holders) {
    const count = body.split(COMMIT_MARKER).length - 1;
    if (count !== 1) throw new Error(`expected one ${COMMIT_MARKER} in ${name}, found ${count}`);
  }
  if (holders.length === 0) throw new Error(`no ${COMMIT_MARKER} in the bundle`);
  const commit = gitCommit();
  if (!commit) return;
  for (const [name, body] of holders) {
    files.set(name, body.replace(COMMIT_MARKER, JSON.stringify(commit)));
  }
}

/** The split bundle's entry chunk in CHUNK_DIR (cli.ts). */
const ENTRY_CHUNK = "main.js";

/**
 * The commands that dist/skiff starts from an entry of their own, CHUNK_DIR/<name>.js: the calls
 * an engine makes for every container, and the exec of probes (issue 11). Such an entry imports
 * its command statically, with the CLI, and runs the same start() as launch.js, from one file
 * (bundleOneFile()): no dynamic import of the command (~1.5 ms), no 17-23 files to load for a
 * light call (~2.5-5 ms), no ~60 for create and run (~15 ms). The native launcher picks it by the
 * command in its argv (LauncherRoutes); every other call, and dist/skiff as a script, runs
 * launch.js. A module can then be loaded twice, the entry's copy and the split bundle's: the
 * error classes that callers test with instanceof are branded (spec/brand.ts).
 */
export const ENTRY_COMMANDS = [
  "state",
  "start",
  "kill",
  "delete",
  "list",
  "features",
  "create",
  "run",
  "exec",
] as const;

/** An absolute import specifier of `path` in the checkout, for the generated entries. */
const sourceUrl = (path: string) => JSON.stringify(pathToFileURL(join(root, path)).href);

/** The source of `name`'s entry. */
function commandEntry(name: string): string {
  // `skiff init` and the waiter's command line start from launch.js, which runs any command, not
  // from this entry (the main module), which holds one.
  return `import { command } from ${sourceUrl(`runtime/cli/${name}.ts`)};\n` +
    `import { start } from ${sourceUrl("cli.ts")};\n` +
    `import { useEntry } from ${sourceUrl("runtime/process/self_command.ts")};\n` +
    `useEntry(new URL(${JSON.stringify(`./${LAUNCH_MODULE}`)}, import.meta.url).href);\n` +
    `start(Deno.args, command);\n`;
}

/**
 * Moves the generated entries `names` that deno bundle wrote under `chunks`/`nested` (it keeps
 * their paths relative to cli.ts's directory) up into `chunks`, beside the chunks they import.
 */
function liftEntries(chunks: string, nested: string, names: readonly string[]): void {
  for (const name of names) {
    const path = join(chunks, nested, `${name}.js`);
    const up = "../".repeat(nested.split("/").length);
    const body = Deno.readTextFileSync(path).replaceAll(`"${up}`, '"./')
      .replace(/^\/\/ .*\/(\w+\.ts)$/m, "// $1, generated by scripts/build.ts");
    if (body.includes('"../')) throw new Error(`${path} imports a file outside ${chunks}`);
    // createNew: a chunk of the same name would be overwritten otherwise.
    Deno.writeTextFileSync(join(chunks, `${name}.js`), body, { createNew: true });
  }
  Deno.removeSync(join(chunks, nested.split("/")[0]), { recursive: true });
}

/** The modules of the checkout that some module imports with a literal `import("./x.ts")`. */
function dynamicImportTargets(): string[] {
  const targets = new Set<string>();
  const visit = (dir: string): void => {
    for (const entry of Deno.readDirSync(join(root, dir))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) visit(path);
      if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
      const text = Deno.readTextFileSync(join(root, path));
      for (const [, spec] of text.matchAll(/\bimport\(\s*"(\.\.?\/[^"]+\.ts)"\s*\)/g)) {
        targets.add(join(root, dirname(path), spec));
      }
    }
  };
  for (const dir of ["runtime", "spec", "ffi"]) visit(dir);
  return [...targets].sort();
}

/** The split bundle's name for the entry that re-exports the module at `path` (absolute). */
function lazyName(path: string): string {
  return `lazy-${relative(root, path).replace(/\.ts$/, "").replaceAll("/", "_")}`;
}

/** The source modules (absolute paths) whose code the chunk `name` and its static imports hold. */
function staticModules(chunks: string, name: string): Set<string> {
  const modules = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const body = Deno.readTextFileSync(join(chunks, file));
    // deno bundle starts each module's code with a comment naming it, relative to the checkout.
    for (const [, path] of body.matchAll(/^\/\/ ([\w./-]+\.ts)$/gm)) modules.add(join(root, path));
    for (const [, next] of body.matchAll(/(?:\bfrom|^import)\s*"\.\/([\w.-]+\.js)"/gm)) visit(next);
  };
  visit(name);
  return modules;
}

/**
 * Bundles the command entry `source` as one file, `out`: the command, the CLI and every module they
 * import statically (`inFile`), in one module. Each module it imports dynamically that is not one
 * of those stays out and is imported on use from the split bundle, as CHUNK_DIR/lazy-*.js. One file
 * instead of ~17 saves a light call ~2.5 ms (docs/benchmarks.md, "Per-command entries").
 *
 * Such a process can hold two copies of a module: its own, and the split bundle's that a module
 * imported on use brings with it (hooks, the cgroup managers, the default root). The state that
 * must be one per process is on globalThis (spec/brand.ts processWide(): the log options, the
 * registered exit, the entry to start again), the error classes callers test with instanceof are
 * branded (spec/brand.ts), and the modules imported on use take plain data from the entry's
 * (records, paths, the state store).
 */
function bundleOneFile(
  source: string,
  out: string,
  inFile: Set<string>,
  lazy: readonly string[],
): string {
  const external = lazy.filter((path) => !inFile.has(path));
  run([
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    ...external.flatMap((path) => ["--external", path]),
    "--output",
    out,
    source,
  ]);
  let body = Deno.readTextFileSync(out).replace(/^#!.*\n/, "");
  for (const path of external) {
    body = body.replaceAll(
      `import(${JSON.stringify(path)})`,
      `import(String(${JSON.stringify(`./${lazyName(path)}.js`)}))`,
    );
  }
  // Anything else that names a source file would load TypeScript from the checkout at run time.
  const left = body.match(/(?:\bfrom|\bimport)\s*\(?\s*"\/[^"]*"/);
  if (left) throw new Error(`${out} still imports ${left[0]}: not in the split bundle`);
  return body;
}

/**
 * Runs each command entry once as `COMMAND --help`, which ends with the event loop, so that Deno
 * writes the V8 code cache of the entry and its chunks in the builder's DENO_DIR: a call of a
 * per-command entry exits before Deno writes it (cli.ts, start()).
 */
function warmCommandEntries(info: LaunchInfo): void {
  for (const [name, module] of Object.entries(info.commandModules ?? {})) {
    const out = new Deno.Command(info.deno, {
      args: [...DENO_RUN_FLAGS, module, name, "--help"],
      env: info.env,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!out.success) {
      throw new Error(`${module} ${name} --help failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
}

/**
 * The module dist/skiff runs for every command but ENTRY_COMMANDS: it starts the CLI. It is an
 * entry of the bundle, so it imports the chunks it needs itself (a module that imported the entry
 * chunk cost one file more). A static import costs least: finding the directory at run time (URL,
 * realpath, stat, a dynamic import) cost ~3 ms per call.
 */
function launchModule(): string {
  return `import { start } from ${sourceUrl("cli.ts")};\nstart(Deno.args);\n`;
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
    routes: {
      valueFlags: GLOBAL_FLAGS.filter((f) => f.type === "string")
        .flatMap((f) => f.alias ? [f.name, f.alias] : [f.name]),
      byName: info.commandModules ?? {},
    },
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
 * flags, the command table), one chunk per command and the chunks they share, launch.js (starts
 * the CLI), lazy-*.js (the modules imported on use, by name) and launch.json (how dist/skiff
 * starts Deno: scripts/launch_info.ts); beside them one file per ENTRY_COMMANDS command.
 * dist/skiff is the launcher. A call loads only its own command's code (issue 11): the
 * whole program in one file cost ~20 ms of loading on every call. dist/skiff may be copied or
 * linked elsewhere; dist/skiff.d/ stays where it was built, like the Deno binary it names.
 */
export function buildBundle(): string {
  Deno.mkdirSync(dist, { recursive: true });
  const staging = Deno.makeTempDirSync({ dir: dist, prefix: ".bundle-" });
  try {
    const chunks = join(staging, CHUNK_DIR);
    const entries = join(staging, "entries");
    Deno.mkdirSync(entries);
    const launchName = LAUNCH_MODULE.replace(/\.js$/, "");
    Deno.writeTextFileSync(join(entries, `${launchName}.ts`), launchModule());
    // The command entries as entries of the split bundle too ("split-NAME"): what they import
    // statically there is what their one-file bundle holds.
    for (const name of ENTRY_COMMANDS) {
      Deno.writeTextFileSync(join(entries, `${name}.ts`), commandEntry(name));
      Deno.writeTextFileSync(join(entries, `split-${name}.ts`), commandEntry(name));
    }
    // Each module imported on use gets an entry of a known name, which the one-file bundles
    // import it from.
    const lazy = dynamicImportTargets();
    for (const path of lazy) {
      const url = JSON.stringify(pathToFileURL(path).href);
      Deno.writeTextFileSync(join(entries, `${lazyName(path)}.ts`), `export * from ${url};\n`);
    }
    const names = [
      launchName,
      ...ENTRY_COMMANDS.map((name) => `split-${name}`),
      ...lazy.map(lazyName),
    ];
    run([
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--code-splitting",
      "--outdir",
      chunks,
      "cli.ts",
      ...names.map((name) => join(entries, `${name}.ts`)),
    ]);
    liftEntries(chunks, relative(root, entries), names);
    for (const name of ENTRY_COMMANDS) {
      const inFile = staticModules(chunks, `split-${name}.js`);
      Deno.removeSync(join(chunks, `split-${name}.js`));
      const body = bundleOneFile(
        join(entries, `${name}.ts`),
        join(staging, `${name}.js`),
        inFile,
        lazy,
      );
      Deno.writeTextFileSync(join(chunks, `${name}.js`), body, { createNew: true });
    }
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

    if (files.has(LAUNCH_JSON)) {
      throw new Error(`deno bundle wrote a chunk named like ${LAUNCH_JSON} to ${chunks}`);
    }
    const finalChunks = join(dist, CHUNK_DIR);
    const module = join(finalChunks, LAUNCH_MODULE);
    const info: LaunchInfo = {
      deno,
      args: [...DENO_RUN_FLAGS, module],
      module,
      env: { ...LAUNCH_ENV },
      commandModules: Object.fromEntries(
        ENTRY_COMMANDS.map((name) => [name, join(finalChunks, `${name}.js`)]),
      ),
    };
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
    warmCommandEntries(info);
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
