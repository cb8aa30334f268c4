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
  // runc's words for a program that is not in the rootfs name no field; check names process.args[0].
  const path = createErrorPath(r.createStderr) ??
    (MISSING_PROGRAM.test(r.createStderr) ? "process.args[0]" : undefined);
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
