import assert from "node:assert/strict";

const MOD = new URL("./mod.ts", import.meta.url).href;
const PROCESS = new URL("../../../ffi/process.ts", import.meta.url).href;

const CHILD = `
import { installSeccomp } from "${MOD}";
import { prctl } from "${PROCESS}";
prctl(38 /* PR_SET_NO_NEW_PRIVS */, 1);
const lines = [];
const { listenerFd } = installSeccomp({
  defaultAction: "SCMP_ACT_ALLOW",
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
  syscalls: [{ names: ["rmdir", "unlinkat", "no_such_call"], action: "SCMP_ACT_ERRNO", errnoRet: 30 }],
}, { debug: (line) => lines.push(line) });
let removed;
try {
  Deno.removeSync(Deno.args[0]);
  removed = "ok";
} catch (err) {
  removed = String(err);
}
console.log(JSON.stringify({ lines, listenerFd: listenerFd ?? null, removed }));
`;

Deno.test("installSeccomp() loads the profile on this thread and reports skipped syscall names to debug", async () => {
  const dir = await Deno.makeTempDir({ prefix: "skiff-seccomp-" });
  try {
    await Deno.mkdir(`${dir}/victim`);
    await Deno.writeTextFile(`${dir}/child.ts`, CHILD);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", `${dir}/child.ts`, `${dir}/victim`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const report = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      lines: string[];
      listenerFd: number | null;
      removed: string;
    };
    assert.equal(report.listenerFd, null);
    assert.match(report.removed, /os error 30/);
    const native = Deno.build.arch;
    assert.ok(
      report.lines.some((l) =>
        l.startsWith(`seccomp: ${native}: unknown syscalls skipped: `) && l.includes("no_such_call")
      ),
    );
    assert.ok(report.lines.some((l) => /^seccomp: \d+ BPF instructions for /.test(l)));
    // The directory is still there: rmdir was refused.
    assert.ok((await Deno.stat(`${dir}/victim`)).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
