import assert from "node:assert/strict";

const MOD = new URL("./mod.ts", import.meta.url).href;
const SECCOMP = new URL("../../../ffi/seccomp.ts", import.meta.url).href;
const PROCESS = new URL("../../../ffi/process.ts", import.meta.url).href;

/**
 * The two steps the runtime takes: the CLI compiles the profile, reporting names this machine does
 * not know (create.ts compileFilter), and the init loads the program on its own thread after
 * no_new_privs (init/finalize.ts). Deno's removeSync runs on the main thread, the filtered one.
 */
const CHILD = `
import { compileSeccomp } from "${MOD}";
import { loadSeccompFilter } from "${SECCOMP}";
import { prctl } from "${PROCESS}";
prctl(38 /* PR_SET_NO_NEW_PRIVS */, 1);
const skipped = [];
const filter = compileSeccomp({
  defaultAction: "SCMP_ACT_ALLOW",
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
  syscalls: [{ names: ["rmdir", "unlinkat", "no_such_call"], action: "SCMP_ACT_ERRNO", errnoRet: 30 }],
}, { onUnknownSyscall: (name, arch) => skipped.push({ name, arch }) });
const listenerFd = loadSeccompFilter(filter.bytes(), filter.flags);
let removed;
try {
  Deno.removeSync(Deno.args[0]);
  removed = "ok";
} catch (err) {
  removed = String(err);
}
console.log(JSON.stringify({
  skipped,
  instructions: filter.instructions.length,
  listenerFd: listenerFd ?? null,
  removed,
}));
`;

Deno.test("compileSeccomp() then loadSeccompFilter() filters this thread and reports the syscall names skipped", async () => {
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
      skipped: { name: string; arch: string }[];
      instructions: number;
      listenerFd: number | null;
      removed: string;
    };
    assert.equal(report.listenerFd, null);
    assert.match(report.removed, /os error 30/);
    const native = Deno.build.arch;
    assert.ok(report.skipped.some((s) => s.arch === native && s.name === "no_such_call"));
    assert.ok(report.instructions > 0);
    // The directory is still there: rmdir was refused.
    assert.ok((await Deno.stat(`${dir}/victim`)).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
