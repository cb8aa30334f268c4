/**
 * The native launcher (runtime/trampoline/launcher.ts, dist/skiff): built for real, pointed at
 * /bin/sh running a script that dumps its own /proc/$$/cmdline and /proc/$$/environ, which are the
 * argv and envp exactly as execve(2) received them. aarch64 runs under qemu-aarch64-static, whose
 * execve starts the host's /bin/sh natively.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildLauncher, type LauncherTarget } from "../../runtime/trampoline/launcher.ts";
import type { TrampolineArch } from "../../runtime/trampoline/syscalls.ts";
import { readLaunchInfo } from "../../scripts/launch_info.ts";
import { exists } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";
import { ENTRY_COMMANDS } from "../../scripts/build.ts";

const QEMU_AARCH64 = "/usr/bin/qemu-aarch64-static";
const HOST_ARCH = Deno.build.arch as TrampolineArch;

const DUMP: LauncherTarget = {
  path: "/bin/sh",
  argv: ["sh", "-c", 'cat /proc/$$/cmdline; printf "\\001"; cat /proc/$$/environ', "sh"],
  env: ["SKIFF_LAUNCHER_TEST=1", "SKIFF_LAUNCHER_EMPTY="],
};

interface Run {
  code: number;
  argv: string[];
  envp: string[];
  stderr: string;
}

/** Builds a launcher for `arch` into a temp dir, runs it with `args` and `env`, removes it. */
async function launch(
  target: LauncherTarget,
  arch: TrampolineArch,
  args: string[],
  env: Record<string, string>,
): Promise<Run> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-launcher-" });
  try {
    const file = join(dir, "launcher");
    await Deno.writeFile(file, buildLauncher(target, arch), { mode: 0o755 });
    const [command, argv] = arch === HOST_ARCH ? [file, args] : [QEMU_AARCH64, [file, ...args]];
    const out = await new Deno.Command(command, {
      args: argv,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const [cmdline, environ] = text.includes("\x01") ? text.split("\x01") : [text, ""];
    const list = (s: string) => s === "" ? [] : s.replace(/\0$/, "").split("\0");
    return {
      code: out.code,
      argv: list(cmdline),
      envp: list(environ),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const ODD_ARGS = [
  "state",
  "",
  "two words",
  "--",
  "-x",
  "ünïcødé",
  "*",
  "$HOME",
  "a\nb",
  "",
  ...Array.from({ length: 200 }, (_, i) => `arg${i}`),
];

const ARCHES: { arch: TrampolineArch; ignore: boolean; why: string }[] = [
  { arch: "x86_64", ignore: HOST_ARCH !== "x86_64", why: " (needs an x86_64 host)" },
  {
    arch: "aarch64",
    ignore: HOST_ARCH !== "aarch64" && !exists(QEMU_AARCH64),
    why: HOST_ARCH === "aarch64" ? "" : " (qemu-aarch64-static)",
  },
];

for (const { arch, ignore, why } of ARCHES) {
  Deno.test({
    name: `${arch} launcher: execve gets the fixed argv, then its own argv[1..] in order${why}`,
    ignore,
    async fn() {
      const run = await launch(DUMP, arch, ODD_ARGS, { FOO: "bar", EMPTY: "" });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.argv, [...DUMP.argv, ...ODD_ARGS]);
      assert.equal(run.argv.length, DUMP.argv.length + 210);
    },
  });

  Deno.test({
    name: `${arch} launcher: env comes first, then the caller's envp, all of it${why}`,
    ignore,
    async fn() {
      const env: Record<string, string> = { FOO: "bar", EMPTY: "", SPACED: "a b" };
      for (let i = 0; i < 50; i++) env[`MANY_${i}`] = `${i}`;
      const run = await launch(DUMP, arch, ["x"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.envp.slice(0, DUMP.env.length), DUMP.env);
      // qemu-user hands its guest the environment in its own order; the set is what passes through.
      assert.deepEqual(
        run.envp.slice(DUMP.env.length).sort(),
        Object.entries(env).map(([k, v]) => `${k}=${v}`).sort(),
      );
      assert.deepEqual(run.argv, [...DUMP.argv, "x"]);
    },
  });

  Deno.test({
    name: `${arch} launcher: no arguments and no environment pass nothing extra${why}`,
    ignore,
    async fn() {
      const run = await launch(DUMP, arch, [], {});
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.argv, DUMP.argv);
      assert.deepEqual(run.envp.slice(0, DUMP.env.length), DUMP.env);
    },
  });

  Deno.test({
    name:
      `${arch} launcher: routes pick the last argv entry by the first argument after the flags${why}`,
    ignore,
    async fn() {
      // The last fixed entry is sh's $0: the route's module takes its place in the dump.
      const routed: LauncherTarget = {
        ...DUMP,
        routes: {
          valueFlags: ["root", "log", "log-format"],
          byName: { state: "state.js", kill: "kill.js", "log-format": "odd.js" },
        },
      };
      const cases: [string[], string][] = [
        [["state", "x"], "state.js"],
        [["--root", "/r", "state", "x"], "state.js"],
        [["-root", "/r", "--debug", "kill", "x", "9"], "kill.js"],
        [["--root=/r", "--log-format", "json", "-log", "/l", "kill"], "kill.js"],
        // A value flag's value is never the command, however it is spelt.
        [["--root", "state", "kill"], "kill.js"],
        [["--log", "kill", "list"], "sh"],
        [["--root"], "sh"],
        [["--root", "state"], "sh"],
        // A flag the walk does not know takes one argument, as a boolean does.
        [["--rootx", "state"], "state.js"],
        [["--", "state"], "state.js"],
        // Only a whole name routes.
        [["stat"], "sh"],
        [["states"], "sh"],
        [["STATE"], "sh"],
        [["st"], "sh"],
        [[""], "sh"],
        [["log-format"], "odd.js"],
        [["list", "state"], "sh"],
        [["help", "state"], "sh"],
        [["--help"], "sh"],
        [[], "sh"],
      ];
      for (const [args, module] of cases) {
        const run = await launch(routed, arch, args, {});
        assert.equal(run.code, 0, run.stderr);
        const expected = [...DUMP.argv.slice(0, -1), module, ...args];
        assert.deepEqual(run.argv, expected, `argv ${JSON.stringify(args)}`);
      }
      // Routes keep the environment as it was.
      const run = await launch(routed, arch, ["kill", ...ODD_ARGS], { FOO: "bar" });
      assert.deepEqual(run.argv, [...DUMP.argv.slice(0, -1), "kill.js", "kill", ...ODD_ARGS]);
      assert.deepEqual(run.envp.slice(0, DUMP.env.length), DUMP.env);
      assert.ok(run.envp.includes("FOO=bar"));
    },
  });

  Deno.test({
    name: `${arch} launcher: a missing program is "skiff: cannot run PATH: ENOENT", exit 127${why}`,
    ignore,
    async fn() {
      const missing = { ...DUMP, path: "/nonexistent/skiff-launcher-test/deno" };
      const run = await launch(missing, arch, ["--version"], {});
      assert.equal(run.code, 127);
      assert.equal(
        run.stderr,
        "skiff: cannot run /nonexistent/skiff-launcher-test/deno: ENOENT (No such file or directory)\n",
      );
      const dir = await launch({ ...DUMP, path: "/" }, arch, [], {});
      assert.equal(dir.code, 127);
      assert.equal(dir.stderr, "skiff: cannot run /: EACCES (Permission denied)\n");
    },
  });
}

const nativeSkiff = (() => {
  try {
    const head = Deno.readFileSync(SKIFF).subarray(0, 4);
    return head.length === 4 && head.every((b, i) => b === [0x7f, 0x45, 0x4c, 0x46][i]);
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "dist/skiff is a native launcher that runs as a symlink and as a copy (needs deno task build)",
  ignore: !nativeSkiff,
  async fn() {
    const info = readLaunchInfo(SKIFF);
    assert.ok(info, "launch.json beside dist/skiff");
    assert.equal((await Deno.stat(SKIFF)).mode! & 0o777, 0o755);
    const dir = await Deno.makeTempDir({ prefix: "skiff-launcher-" });
    try {
      await Deno.symlink(SKIFF, join(dir, "link"));
      await Deno.copyFile(SKIFF, join(dir, "copy"));
      for (const program of [SKIFF, join(dir, "link"), join(dir, "copy")]) {
        const out = await new Deno.Command(program, {
          args: ["--version"],
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.match(new TextDecoder().decode(out.stdout), /^skiff version /);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Runs `program` with `args` under strace; returns its result and the Deno module it exec'd. */
async function tracedModule(
  args: string[],
): Promise<
  { code: number; stdout: string; stderr: string; module: string | undefined; loaded: string[] }
> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-launcher-trace-" });
  try {
    const log = join(dir, "strace");
    const out = await new Deno.Command("strace", {
      args: ["-f", "-qq", "-e", "trace=execve,openat", "-s", "4096", "-o", log, SKIFF, ...args],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    // execve("/path/deno", ["/path/deno", "run", ..., "/abs/dist/skiff.d/state.js", ...], ...)
    const trace = await Deno.readTextFile(log);
    const module = trace.match(/execve\(.*?"([^"]*\/skiff\.d\/[^"/]+\.js)"/)?.[1];
    // The files of dist/skiff.d that Deno opened: the modules it loaded.
    const loaded = [
      ...new Set(
        [...trace.matchAll(/openat\(.*?"([^"]*\/skiff\.d\/[^"/]+\.js)"/g)].map((m) => m[1]),
      ),
    ];
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr), module, loaded };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "dist/skiff runs an entry command's own one-file entry, launch.js for the rest (needs deno task build, strace)",
  ignore: !nativeSkiff || !exists("/usr/bin/strace"),
  async fn() {
    const info = readLaunchInfo(SKIFF);
    assert.ok(info?.commandModules, "launch.json lists the command entries");
    assert.deepEqual(Object.keys(info.commandModules), [...ENTRY_COMMANDS]);
    const root = await Deno.makeTempDir({ prefix: "skiff-launcher-root-" });
    try {
      for (const name of ENTRY_COMMANDS) {
        const args = ["--root", root, "--log-format", "text", name, "--help"];
        const run = await tracedModule(args);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, new RegExp(`skiff ${name} - `));
        assert.equal(run.module, info.commandModules[name], name);
        // One file: the command, the CLI and what they import statically, bundled together.
        assert.deepEqual(run.loaded, [info.commandModules[name]], name);
      }
      const others = [["--version"], ["help", "state"], ["spec", "--help"], [
        "--log",
        "list",
        "--help",
      ]];
      for (const args of [...others, []]) {
        const run = await tracedModule(["--root", root, ...args]);
        assert.equal(run.module, info.module, JSON.stringify(args));
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "an entry command's own entry answers as launch.js does, odd argv included (needs deno task build)",
  ignore: !nativeSkiff,
  async fn() {
    const info = readLaunchInfo(SKIFF)!;
    const root = await Deno.makeTempDir({ prefix: "skiff-launcher-root-" });
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    try {
      const cases = [
        ["list"],
        ["list", "--format", "json"],
        ["list", "-q", "extra"],
        ["state"],
        ["state", "nothere"],
        ["state", "--bogus", "x"],
        ["--log-format", "json", "kill", "nothere", "KILL"],
        ["kill", "nothere", "NOSUCHSIGNAL"],
        ["delete", "nothere"],
        ["delete", "--force", "nothere"],
        ["start", "nothere"],
        ["features", "extra"],
        ["--rootless", "maybe", "state", "x"],
        ["--criu", "/x", "list"],
        ["--", "state", "x"],
        ["-", "state", "x"],
        ["--debug", "--bogus", "state", "x"],
        ["exec", "nothere", "true"],
        ["exec", "--bogus", "nothere", "true"],
        ["run", "--bundle", "/nonexistent", "x"],
        ["create", "--bundle", "/nonexistent", "x"],
        ["create"],
      ];
      const features = ["features"];
      for (const args of [...cases, features]) {
        const argv = ["--root", root, ...args];
        const viaEntry = await new Deno.Command(SKIFF, { args: argv, stdin: "null" }).output();
        const viaLaunch = await new Deno.Command(info.deno, {
          args: [...info.args, ...argv],
          env: info.env,
          stdin: "null",
        }).output();
        const label = JSON.stringify(args);
        assert.equal(viaEntry.code, viaLaunch.code, label);
        assert.equal(text(viaEntry.stdout), text(viaLaunch.stdout), label);
        // --debug lines carry their time; the rest must match.
        const stable = (b: Uint8Array) => text(b).replace(/time="[^"]*"|"time":"[^"]*"/g, "");
        assert.equal(stable(viaEntry.stderr), stable(viaLaunch.stderr), label);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
