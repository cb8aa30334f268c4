/**
 * Differential runs against runc: the same config, in two identical bundles, under `runc run` and
 * `skiff run`; the probe (probe.c) prints what the container process sees and the two outputs are
 * compared key by key. docs/conformance.md describes the harness and the known differences.
 */
import { basename, join } from "node:path";
import type { Mount, Spec } from "../../spec/config.ts";
import { initsUnder, removeCgroupsNamed } from "../_helpers/bundle.ts";
import { exists, hasCommand } from "../_helpers/host.ts";
import { BUSYBOX_BUNDLE, REPO, SKIFF } from "../_helpers/paths.ts";
import { EXPECTED_DIFFERENCES, EXPECTED_REFUSALS, type ExpectedRefusal } from "./expected.ts";
import { generateConfigs } from "./generator.ts";

export const CORPUS_DIR = join(REPO, "tests", "differential", "corpus");
/** The reference runtime: runc 1.1.5 from apt, or $SKIFF_DIFF_RUNC. */
export const RUNC = Deno.env.get("SKIFF_DIFF_RUNC") ?? "/usr/sbin/runc";

/** One config of the corpus. */
export interface CorpusEntry {
  /** The file name without .json, or gen-SEED-N for generated configs. */
  name: string;
  config: Spec;
}

/** Why the differential runs cannot happen on this host, or undefined when they can. */
export function skipReason(): string | undefined {
  const missing: string[] = [];
  if (!hasCommand(RUNC)) missing.push(`runc (${RUNC})`);
  if (!hasCommand("gcc")) missing.push("gcc");
  if (!exists(SKIFF)) missing.push(`${SKIFF} (deno task build)`);
  if (!exists(join(BUSYBOX_BUNDLE, "rootfs"))) {
    missing.push("the busybox rootfs (deno task fixtures)");
  }
  if (Deno.uid() !== 0) missing.push("root");
  return missing.length ? `needs ${missing.join(", ")}` : undefined;
}

/** The seed of the generated configs: $SKIFF_DIFF_SEED, or a fixed one so CI runs are stable. */
export function corpusSeed(): number {
  const env = Deno.env.get("SKIFF_DIFF_SEED");
  return env ? Number(env) : 20261130;
}

/** The committed engine configs followed by the generated ones. */
export function loadCorpus(seed = corpusSeed(), generated = 30): CorpusEntry[] {
  const files = [...Deno.readDirSync(CORPUS_DIR)]
    .filter((e) => e.isFile && e.name.endsWith(".json"))
    .map((e) => e.name)
    .sort();
  const fixtures = files.map((file) => ({
    name: file.slice(0, -".json".length),
    config: JSON.parse(Deno.readTextFileSync(join(CORPUS_DIR, file))) as Spec,
  }));
  const podman = fixtures.find((f) => f.name === "podman-default")?.config.linux?.seccomp;
  return [...fixtures, ...generateConfigs(seed, generated, { podmanSeccomp: podman })];
}

/** The host's namespace inodes, as `TYPE=INODE,...` for the probe's --ns. */
export function hostNamespaces(): string {
  const types = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];
  return types.map((t) => `${t}=${Deno.statSync(`/proc/self/ns/${t}`).ino}`).join(",");
}

/** The host's hard rlimits by RLIMIT_ name (a runtime without CAP_SYS_RESOURCE cannot exceed them). */
export function hostHardLimits(): Map<string, number> {
  const names: Record<string, string> = {
    "Max cpu time": "RLIMIT_CPU",
    "Max file size": "RLIMIT_FSIZE",
    "Max data size": "RLIMIT_DATA",
    "Max stack size": "RLIMIT_STACK",
    "Max core file size": "RLIMIT_CORE",
    "Max resident set": "RLIMIT_RSS",
    "Max processes": "RLIMIT_NPROC",
    "Max open files": "RLIMIT_NOFILE",
    "Max locked memory": "RLIMIT_MEMLOCK",
    "Max address space": "RLIMIT_AS",
    "Max file locks": "RLIMIT_LOCKS",
    "Max pending signals": "RLIMIT_SIGPENDING",
    "Max msgqueue size": "RLIMIT_MSGQUEUE",
    "Max nice priority": "RLIMIT_NICE",
    "Max realtime priority": "RLIMIT_RTPRIO",
    "Max realtime timeout": "RLIMIT_RTTIME",
  };
  const out = new Map<string, number>();
  for (const line of Deno.readTextFileSync("/proc/self/limits").split("\n").slice(1)) {
    const name = Object.keys(names).find((n) => line.startsWith(n));
    if (!name) continue;
    const hard = line.slice(name.length).trim().split(/\s+/)[1];
    out.set(names[name], hard === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(hard));
  }
  return out;
}

/** File names that engines bind-mount as files (the rest of their missing sources are directories). */
const FILE_DESTINATIONS = new Set([
  "hosts",
  "hostname",
  "resolv.conf",
  ".containerenv",
  "passwd",
  "group",
  "catatonit",
]);

/**
 * Makes an engine's config runnable in `bundle` on this host. Each step is host-specific data, not
 * behaviour, and both runtimes get the result:
 * - root.path becomes "rootfs" (the copy of the busybox rootfs in the bundle);
 * - process.args becomes the probe; terminal is off (nothing to attach a console to);
 * - hooks, linux.cgroupsPath (each runtime picks its default from the container ID), the
 *   namespace paths (a fresh namespace instead) and the LSM labels (no AppArmor/SELinux here) go;
 * - bind sources that don't exist (the engine's per-container files, volumes of the capture run)
 *   and `{{bundle}}` in sources point into the bundle, created as files or directories;
 * - rlimits are capped at the host's hard limits (root here lacks CAP_SYS_RESOURCE).
 */
export function adaptConfig(
  input: Spec,
  bundle: string,
  probeArgs: { hostNs: string; extraPaths?: string[] },
  hardLimits = hostHardLimits(),
): Spec {
  const config = structuredClone(input);
  config.root = { ...config.root, path: "rootfs" };
  delete config.hooks;
  const linux = config.linux ??= {};
  delete linux.cgroupsPath;
  delete linux.mountLabel;
  for (const ns of linux.namespaces ?? []) delete ns.path;
  const process = config.process ??= { cwd: "/", args: [], user: { uid: 0, gid: 0 } };
  process.terminal = false;
  delete process.consoleSize;
  delete process.apparmorProfile;
  delete process.selinuxLabel;
  for (const rlimit of process.rlimits ?? []) {
    const hard = hardLimits.get(rlimit.type);
    if (hard === undefined) continue;
    rlimit.hard = Math.min(rlimit.hard, hard);
    rlimit.soft = Math.min(rlimit.soft, rlimit.hard);
  }
  let made = 0;
  for (const mount of config.mounts ?? []) {
    if (!isBind(mount) || mount.source === undefined) continue;
    mount.source = mount.source.replaceAll("{{bundle}}", bundle);
    if (exists(mount.source)) continue;
    const name = basename(mount.destination);
    const path = join(bundle, "host", `${++made}-${name}`);
    if (FILE_DESTINATIONS.has(name) || mount.source.endsWith(".file")) {
      Deno.mkdirSync(join(bundle, "host"), { recursive: true });
      Deno.writeTextFileSync(path, `${name} from the differential harness\n`);
    } else {
      Deno.mkdirSync(path, { recursive: true });
      Deno.writeTextFileSync(join(path, "content"), "a file in a bind-mounted directory\n");
    }
    mount.source = path;
  }
  const paths = new Set<string>(["/", "/tmp", ...(probeArgs.extraPaths ?? [])]);
  for (const p of [...(linux.maskedPaths ?? []), ...(linux.readonlyPaths ?? [])]) paths.add(p);
  for (const m of config.mounts ?? []) paths.add(m.destination);
  const sysctls = Object.keys(linux.sysctl ?? {});
  process.args = [
    "/probe",
    "--ns",
    probeArgs.hostNs,
    "--sysctl",
    sysctls.join(",") || ",",
    "--path",
    [...paths].join(","),
  ];
  return config;
}

function isBind(mount: Mount): boolean {
  return mount.type === "bind" ||
    ((mount.type === undefined || mount.type === "none") &&
      (mount.options ?? []).some((o) => o === "bind" || o === "rbind"));
}

/** What one runtime did with a config. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

let probeBuild: Promise<string> | undefined;

/** Compiles the probe once per process (gcc -static) and returns its path. */
export function buildProbe(): Promise<string> {
  probeBuild ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "skiff-diff-probe-" });
    const out = join(dir, "probe");
    const built = await new Deno.Command("gcc", {
      args: ["-static", "-O1", "-o", out, join(REPO, "tests", "differential", "probe.c")],
    }).output();
    if (!built.success) {
      throw new Error(`gcc failed on probe.c: ${new TextDecoder().decode(built.stderr)}`);
    }
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return out;
  })();
  return probeBuild;
}

let counter = 0;

/**
 * Runs `argv` through `probe --launch` (default signal dispositions) with stdout and stderr on
 * pipes, for both runtimes alike: runc's foreground `run` hands the container pipes of its own
 * anyway, and a pipe is not subject to RLIMIT_FSIZE.
 */
async function runTo(probe: string, argv: string[], timeoutMs: number): Promise<RunResult> {
  const child = new Deno.Command(probe, {
    args: ["--launch", ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const output = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return {
    code: output.signal ? 128 : output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Makes a bundle with a copy of the busybox rootfs, the probe and the adapted config. */
async function makeDiffBundle(dir: string, config: Spec, probe: string, hostNs: string) {
  await Deno.mkdir(dir, { recursive: true });
  const copy = await new Deno.Command("cp", {
    args: ["-a", join(BUSYBOX_BUNDLE, "rootfs"), join(dir, "rootfs")],
  }).output();
  if (!copy.success) throw new Error("cannot copy the busybox rootfs: run deno task fixtures");
  await Deno.copyFile(probe, join(dir, "rootfs", "probe"));
  await Deno.chmod(join(dir, "rootfs", "probe"), 0o755);
  const adapted = adaptConfig(config, dir, { hostNs });
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(adapted, null, 2));
}

/** Runs `entry` under runc and under Skiff, side by side, and cleans up after both. */
export async function runBoth(
  entry: CorpusEntry,
  options: { timeoutMs?: number; keep?: boolean } = {},
): Promise<{ runc: RunResult; skiff: RunResult; dir: string }> {
  const probe = await buildProbe();
  const hostNs = hostNamespaces();
  const dir = await Deno.makeTempDir({ prefix: `skiff-diff-${entry.name}-` });
  const n = ++counter;
  const ids = { runc: `diff-${Deno.pid}-${n}-r`, skiff: `diff-${Deno.pid}-${n}-s` };
  const timeout = options.timeoutMs ?? 30_000;
  try {
    await makeDiffBundle(join(dir, "runc"), entry.config, probe, hostNs);
    await makeDiffBundle(join(dir, "skiff"), entry.config, probe, hostNs);
    const [runc, skiff] = await Promise.all([
      runTo(
        probe,
        [RUNC, "--root", join(dir, "runc-state"), "run", "--bundle", join(dir, "runc"), ids.runc],
        timeout,
      ),
      runTo(
        probe,
        [
          SKIFF,
          "--root",
          join(dir, "skiff-state"),
          "run",
          "--bundle",
          join(dir, "skiff"),
          ids.skiff,
        ],
        timeout,
      ),
    ]);
    // The container IDs show in cgroup paths: one placeholder for both.
    runc.stdout = runc.stdout.replaceAll(ids.runc, "<id>");
    skiff.stdout = skiff.stdout.replaceAll(ids.skiff, "<id>");
    if (options.keep) {
      for (const [name, result] of Object.entries({ runc, skiff })) {
        await Deno.writeTextFile(join(dir, `${name}.out`), result.stdout);
        await Deno.writeTextFile(join(dir, `${name}.err`), result.stderr);
      }
    }
    return { runc, skiff, dir };
  } finally {
    await new Deno.Command(RUNC, {
      args: ["--root", join(dir, "runc-state"), "delete", "--force", ids.runc],
      stdout: "null",
      stderr: "null",
    }).output();
    await new Deno.Command(SKIFF, {
      args: ["--root", join(dir, "skiff-state"), "delete", "--force", ids.skiff],
      stdout: "null",
      stderr: "null",
    }).output();
    removeCgroupsNamed(Object.values(ids));
    for (const pid of initsUnder(dir)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    if (!options.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The probe's facts by key; "exit" is 0 or "failed" (the runtimes' exit codes are not compared). */
export function facts(result: RunResult): Map<string, string> {
  const map = new Map<string, string>();
  map.set("exit", result.code === 0 ? "0" : "failed");
  for (const line of result.stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) map.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return map;
}

/** One key whose value differs; undefined = the key is absent on that side. */
export interface Difference {
  key: string;
  runc?: string;
  skiff?: string;
  /** Why it is expected, when an entry of expected.ts matches. */
  reason?: string;
}

/** The outcome of comparing one config. */
export interface Comparison {
  name: string;
  unexpected: Difference[];
  expected: Difference[];
  /** Set when the config is an expected refusal: whether Skiff refused it as it should. */
  refusal?: { reason: string; ok: boolean };
  runc: RunResult;
  skiff: RunResult;
}

/** Compares the two runs of config `name`, sorting each difference into expected or not. */
export function compare(
  name: string,
  runc: RunResult,
  skiff: RunResult,
  config?: Spec,
  refusals: readonly ExpectedRefusal[] = EXPECTED_REFUSALS,
): Comparison {
  const refusal = refusals.find((r) => r.config.test(name));
  if (refusal) {
    const ok = skiff.code !== 0 && refusal.skiffError.test(skiff.stderr) && skiff.stdout === "";
    return {
      name,
      unexpected: [],
      expected: [],
      refusal: { reason: refusal.reason, ok },
      runc,
      skiff,
    };
  }
  // A run that failed before the probe printed anything is compared by its exit status only.
  const failedEarly = (r: RunResult) => r.code !== 0 && r.stdout === "";
  const only = (r: RunResult) =>
    failedEarly(runc) || failedEarly(skiff)
      ? new Map([["exit", r.code === 0 ? "0" : "failed"]])
      : facts(r);
  const a = only(runc);
  const b = only(skiff);
  const unexpected: Difference[] = [];
  const expected: Difference[] = [];
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const key of keys) {
    if (a.get(key) === b.get(key)) continue;
    const diff: Difference = { key, runc: a.get(key), skiff: b.get(key) };
    const known = EXPECTED_DIFFERENCES.find((e) =>
      e.configs.test(name) && e.keys.test(key) &&
      (e.runc === undefined || e.runc.test(diff.runc ?? "")) &&
      (e.skiff === undefined || e.skiff.test(diff.skiff ?? "")) &&
      (e.runcStderr === undefined || e.runcStderr.test(runc.stderr)) &&
      (e.skiffStderr === undefined || e.skiffStderr.test(skiff.stderr)) &&
      (e.when === undefined || (config !== undefined && e.when(config)))
    );
    if (known) expected.push({ ...diff, reason: known.reason });
    else unexpected.push(diff);
  }
  return { name, unexpected, expected, runc, skiff };
}

/** A readable report of one comparison: a unified-style diff per key and the stderr of failures. */
export function formatComparison(c: Comparison, verbose = false): string {
  const lines: string[] = [];
  if (c.refusal) {
    lines.push(
      c.refusal.ok
        ? `${c.name}: refused by Skiff as expected (${c.refusal.reason})`
        : `${c.name}: Skiff should refuse (${c.refusal.reason}) but exited ${c.skiff.code}`,
    );
    lines.push(`  skiff stderr: ${c.skiff.stderr.trim()}`);
    return lines.join("\n");
  }
  lines.push(`--- ${c.name} (runc)`, `+++ ${c.name} (skiff)`);
  const show = (d: Difference, note = "") => {
    if (d.runc !== undefined) lines.push(`-${d.key}=${d.runc}`);
    if (d.skiff !== undefined) lines.push(`+${d.key}=${d.skiff}${note}`);
    if (d.skiff === undefined && note) lines.push(`+${d.key} absent${note}`);
  };
  for (const d of c.unexpected) show(d);
  if (verbose) { for (const d of c.expected) show(d, `   (expected: ${d.reason})`); }
  if (c.runc.code !== 0) lines.push(`  runc exited ${c.runc.code}: ${c.runc.stderr.trim()}`);
  if (c.skiff.code !== 0) lines.push(`  skiff exited ${c.skiff.code}: ${c.skiff.stderr.trim()}`);
  return lines.join("\n");
}
