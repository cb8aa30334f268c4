import assert from "node:assert/strict";
import { loadSeccompFilter, supportedSeccompFlags } from "./seccomp.ts";
import { dockerProfileToSeccomp, readPodmanProfile } from "../runtime/security/seccomp/_testing.ts";

const COMPILE = new URL("../runtime/security/seccomp/compile.ts", import.meta.url).href;
const SECCOMP = new URL("./seccomp.ts", import.meta.url).href;
const PROCESS = new URL("./process.ts", import.meta.url).href;

/**
 * A child that sets no_new_privs on its main thread, loads the profile given as argv[0] and
 * reports what mkdir(2) of two directories (mode 0o755, then 0o711) did, one JSON line each.
 * Deno's mkdirSync runs on the main thread, which is the one the filter applies to.
 */
const CHILD = `
import { compileSeccomp } from "${COMPILE}";
import { loadSeccompFilter } from "${SECCOMP}";
import { prctl } from "${PROCESS}";
const PR_SET_NO_NEW_PRIVS = 38;
const [profile, dir] = Deno.args;
prctl(PR_SET_NO_NEW_PRIVS, 1);
const filter = compileSeccomp(JSON.parse(profile));
const fd = loadSeccompFilter(filter.bytes(), filter.flags);
console.log(JSON.stringify({ listenerFd: fd ?? null }));
for (const [name, mode] of [["a", 0o755], ["b", 0o711]]) {
  try {
    Deno.mkdirSync(dir + "/" + name, { mode });
    console.log(JSON.stringify({ name, ok: true }));
  } catch (err) {
    console.log(JSON.stringify({ name, ok: false, message: String(err) }));
  }
}
`;

interface ChildResult {
  code: number;
  signal: Deno.Signal | null;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

async function runChild(profile: unknown): Promise<ChildResult> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-seccomp-" });
  try {
    const script = `${dir}/child.ts`;
    await Deno.writeTextFile(script, CHILD);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", script, JSON.stringify(profile), dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return {
      code: out.code,
      signal: out.signal,
      lines,
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadSeccompFilter() makes mkdir fail with the profile's errno in the filtered process", async () => {
  const result = await runChild({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 38 }],
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.lines[0], { listenerFd: null });
  for (const line of result.lines.slice(1)) {
    assert.equal(line.ok, false);
    assert.match(String(line.message), /os error 38/);
  }
  assert.equal(result.lines.length, 3);
});

Deno.test("loadSeccompFilter() applies argument conditions in the kernel: only mode 0o711 is refused", async () => {
  const result = await runChild({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      {
        names: ["mkdir"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 95,
        args: [{ index: 1, value: 0o711, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["mkdirat"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 95,
        args: [{ index: 2, value: 0o711, op: "SCMP_CMP_EQ" }],
      },
    ],
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.lines[1], { name: "a", ok: true });
  assert.equal(result.lines[2].ok, false);
  assert.match(String(result.lines[2].message), /os error 95/);
});

Deno.test("loadSeccompFilter() with SCMP_ACT_KILL_PROCESS kills the process with SIGSYS at mkdir", async () => {
  const result = await runChild({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_KILL_PROCESS" }],
  });
  assert.equal(result.signal, "SIGSYS", `code ${result.code}, ${result.stderr}`);
  assert.equal(result.lines.length, 1);
});

Deno.test("loadSeccompFilter() returns a listener fd when the profile uses SCMP_ACT_NOTIFY", async () => {
  const result = await runChild({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["acct"], action: "SCMP_ACT_NOTIFY" }],
  });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(typeof result.lines[0].listenerFd === "number" && result.lines[0].listenerFd > 2);
  assert.deepEqual(result.lines[1], { name: "a", ok: true });
});

const podman = readPodmanProfile();

Deno.test({
  name: `loadSeccompFilter() loads Podman's default profile and the process keeps working${
    podman ? "" : " (needs /usr/share/containers/seccomp.json)"
  }`,
  ignore: podman === undefined,
  async fn() {
    const profile = dockerProfileToSeccomp(podman!, Deno.build.arch);
    const result = await runChild(profile);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.lines.slice(1), [{ name: "a", ok: true }, { name: "b", ok: true }]);
  },
});

Deno.test("loadSeccompFilter() refuses a program that is not whole sock_filter entries", () => {
  assert.throws(() => loadSeccompFilter(new Uint8Array(12), 0), /whole sock_filter entries/);
});

Deno.test("supportedSeccompFlags() finds TSYNC and LOG on this kernel", () => {
  const flags = supportedSeccompFlags();
  assert.ok(flags.includes("SECCOMP_FILTER_FLAG_TSYNC"), flags.join(","));
  assert.ok(flags.includes("SECCOMP_FILTER_FLAG_LOG"), flags.join(","));
});
