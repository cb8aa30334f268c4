/**
 * The records check_shim.sh leaves for each create the runtime-tools suite makes, and how
 * check_conformance_test.ts judges them: check's report against create's exit status and error.
 */
import { join } from "node:path";

/** One create the shim recorded. */
export interface Recorded {
  /** The runtime-tools program that made it (from the bundle's path under run.sh's scratch dir). */
  program: string;
  bundle: string;
  config: string;
  checkRc: number;
  checkStdout: string;
  checkStderr: string;
  createRc: number;
  createStderr: string;
}

/** The top-level fields of a runtime-spec config: a JSON path in create's error starts with one. */
const TOP_LEVEL = new Set([
  "ociVersion",
  "process",
  "root",
  "hostname",
  "domainname",
  "mounts",
  "hooks",
  "annotations",
  "linux",
  "solaris",
  "windows",
  "vm",
  "zos",
]);

/**
 * The JSON path that create's error names: "skiff: FILE/config.json: PATH: what" when create
 * refused the config, "skiff: PATH: what" when its init or the cgroup writes did. Undefined for an
 * error that names no field (a failing hook, a usage error, an id that exists).
 */
export function createErrorPath(stderr: string): string | undefined {
  for (const line of stderr.split("\n")) {
    const m = /^skiff: (?:\S*config\.json: )?([A-Za-z]\w*(?:\[\d+\]|\.[^\s:[]+)*): /.exec(line);
    if (m && TOP_LEVEL.has(/^\w+/.exec(m[1])![0])) return m[1];
  }
  return undefined;
}

/** create's error (runc's words) for a process.args[0] that is not in the rootfs. */
const MISSING_PROGRAM =
  /^skiff: exec: ".*": (stat .*: no such file or directory|executable file not found in \$PATH)$/m;

/**
 * The field a refused create names, check's way: runc's words for a program that is not in the
 * rootfs name no field, and check names process.args[0] for them.
 */
export function refusedPath(r: Pick<Recorded, "createRc" | "createStderr">): string | undefined {
  if (r.createRc === 0) return undefined;
  return createErrorPath(r.createStderr) ??
    (MISSING_PROGRAM.test(r.createStderr) ? "process.args[0]" : undefined);
}

/** What is wrong with check's answer to one recorded create (empty: it agrees with create). */
export function disagreements(r: Recorded): string[] {
  if (r.checkStderr.trim() !== "" || (r.checkRc !== 0 && r.checkRc !== 1)) {
    return [`check crashed (exit ${r.checkRc}): ${r.checkStderr.trim().slice(0, 500)}`];
  }
  let report: { errors: { path?: string; message: string }[] };
  try {
    report = JSON.parse(r.checkStdout);
  } catch {
    return [`check printed no JSON report: ${r.checkStdout.slice(0, 500)}`];
  }
  const errors = report.errors.map((e) => `${e.path ?? "(config)"}: ${e.message}`);
  if (r.checkRc !== (errors.length ? 1 : 0)) {
    return [`check exits ${r.checkRc} with ${errors.length} error(s)`];
  }
  if (r.createRc === 0) {
    return errors.length ? [`create accepted it, check reports ${errors.join("; ")}`] : [];
  }
  const path = refusedPath(r);
  if (path === undefined || report.errors.some((e) => e.path === path)) return [];
  return [
    `create refused ${path} (${r.createStderr.trim()}), check reports ${
      errors.length ? errors.join("; ") : "no error"
    }`,
  ];
}

/** Reads the shim's records under `dir`. */
export function readRecords(dir: string): Recorded[] {
  const text = (d: string, f: string) => {
    try {
      return Deno.readTextFileSync(join(dir, d, f));
    } catch {
      return "";
    }
  };
  const records: Recorded[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.isDirectory) continue;
    const d = entry.name;
    const bundle = text(d, "bundle").trim();
    records.push({
      program: /\/oci-validation-work\.[^/]+\/([^/]+)\//.exec(bundle)?.[1] ?? "(unknown)",
      bundle,
      config: text(d, "config.json"),
      checkRc: Number(text(d, "check.rc").trim() || -1),
      checkStdout: text(d, "check.json"),
      checkStderr: text(d, "check.stderr"),
      createRc: Number(text(d, "create.rc").trim() || -1),
      createStderr: text(d, "create.stderr"),
    });
  }
  return records.sort((a, b) => a.program.localeCompare(b.program));
}

/** The replay corpus: configs as JSON merge patches (RFC 7386) of one base config. */
export interface Corpus {
  base: Record<string, unknown>;
  /** PROGRAM-N: the merge patch that turns `base` into that config. */
  configs: Record<string, unknown>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** RFC 7386: `target` with `patch` merged in (null removes a key, arrays are replaced). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Json = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** The merge patch that turns `from` into `to`. */
export function diffPatch(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return structuredClone(to);
  const patch: Json = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    if (JSON.stringify(from[key]) !== JSON.stringify(value)) {
      patch[key] = diffPatch(from[key], value);
    }
  }
  return patch;
}

/**
 * The configs create refused naming a field, as a Corpus for the replay in
 * tests/integration/check_test.ts (which runs without Go). root.path becomes "rootfs".
 */
export function corpusOf(records: Recorded[]): Corpus {
  const configs: Json[] = [];
  const names: string[] = [];
  const seen = new Set<string>();
  const count = new Map<string, number>();
  for (const r of records) {
    if (r.createRc === 0 || refusedPath(r) === undefined) continue;
    const config = JSON.parse(r.config);
    config.root = { ...config.root, path: "rootfs" };
    const text = JSON.stringify(config);
    if (seen.has(text)) continue;
    seen.add(text);
    const n = (count.get(r.program) ?? 0) + 1;
    count.set(r.program, n);
    configs.push(config);
    names.push(`${r.program}-${n}`);
  }
  const base = configs[0] ?? {};
  return {
    base,
    configs: Object.fromEntries(names.map((name, i) => [name, diffPatch(base, configs[i])])),
  };
}
