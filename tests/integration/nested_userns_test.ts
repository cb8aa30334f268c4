/**
 * Skiff itself in a nested user namespace, as under rootless Podman (here: `unshare --user
 * --map-root-user`, root of a user namespace below the host's): create builds the container on a
 * throw-away Worker thread (runtime/container/namespace_work.ts) instead of a second Deno, and no
 * thread of the CLI stays in the container's namespaces.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, type TestBundle, testId } from "../_helpers/bundle.ts";
import { exists, hasCommand } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";
import type { Spec } from "../../spec/config.ts";

const STRACE = hasCommand("strace");

/**
 * A bundle for a user namespace that maps only root: devpts gets no gid= (gid 5 is unmapped), and
 * the process shows its PID, hostname, processes, a sysctl of its own network namespace and its
 * mounts.
 */
function nestedBundle(edit: (spec: Spec) => void = () => {}): Promise<TestBundle> {
  return makeBundle((spec) => {
    for (const m of spec.mounts ?? []) {
      if (m.type === "devpts") m.options = m.options?.filter((o) => !o.startsWith("gid="));
    }
    spec.hostname = "nested-worker";
    spec.linux!.sysctl = { "net.ipv4.ip_default_ttl": "42" };
    spec.mounts!.push({
      destination: "/data",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "size=1m"],
    });
    spec.process!.args = [
      "sh",
      "-c",
      "echo pid=$$ $(hostname); ls -d /proc/[0-9]*; cat /proc/sys/net/ipv4/ip_default_ttl; " +
      "grep -c ' /data tmpfs ' /proc/self/mounts",
    ];
    edit(spec);
  });
}

/** `dist/skiff --debug --root <bundle's> args` as root of a new user namespace (strace -f: its execs). */
async function nestedSkiff(
  bundle: TestBundle,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string; execs: string[] }> {
  const log = join(bundle.dir, `strace-${testId()}.log`);
  const skiff = ["unshare", "--user", "--map-root-user", SKIFF, "--debug", "--root", bundle.root];
  const cmd = STRACE
    ? ["strace", "-f", "-qq", "-e", "trace=execve,execveat", "-o", log, ...skiff, ...args]
    : [...skiff, ...args];
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), env, stdin: "null" }).output();
  const execs = STRACE
    ? Deno.readTextFileSync(log).split("\n").filter((l) => / execve(at)?\(/.test(l))
    : [];
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    execs,
  };
}

/**
 * The execs of a Deno binary that did not fail (strace may split one into "<unfinished ...>" and a
 * "resumed" line when another process's call comes between).
 */
function denos(execs: string[]): string[] {
  return execs.filter((l) => /execve\("[^"]*\/deno"/.test(l) && !/= -1 /.test(l));
}

Deno.test({
  name: "Skiff in a nested user namespace runs a container with one Deno: hostname, a mount, " +
    "its own /proc, a sysctl (strace -f)" + (STRACE ? "" : " (needs strace)"),
  ignore: !STRACE,
  fn: async () => {
    await using bundle = await nestedBundle();
    const id = testId("nested");
    bundle.ids.add(id);
    const run = await nestedSkiff(bundle, ["run", "--bundle", bundle.dir, id]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "pid=1 nested-worker\n/proc/1\n42\n1\n");
    assert.doesNotMatch(run.stderr, /the Deno init/);
    assert.equal(denos(run.execs).length, 1, run.execs.join("\n"));
    // PID 1 ran the trampoline's second stage from its memfd, not a Deno.
    assert.ok(run.execs.some((l) => /execveat\(\d+, "", /.test(l)), run.execs.join("\n"));
    // The Deno init, for comparison: a second Deno, the same container.
    const fallback = await nestedSkiff(bundle, ["run", "--bundle", bundle.dir, id], {
      SKIFF_DENO_INIT: "1",
    });
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.equal(fallback.stdout, run.stdout);
    assert.equal(denos(fallback.execs).length, 2, fallback.execs.join("\n"));
  },
});

Deno.test("Skiff in a nested user namespace: an error on the worker reads as on the main thread, and nothing is left", async () => {
  // A bind mount whose source is missing fails in the first step, a program the rootfs lacks in
  // the second.
  for (
    const [edit, expected] of [
      [
        (s: Spec) =>
          s.mounts!.push({
            destination: "/mnt",
            type: "bind",
            source: "/no/such/dir",
            options: ["bind"],
          }),
        /mounts\[\d+\]: cannot mount \/no\/such\/dir on \/mnt .*No such file or directory/,
      ],
      [(s: Spec) => (s.process!.args = ["no-such-program"]), /no-such-program/],
    ] as const
  ) {
    await using bundle = await nestedBundle(edit);
    const id = testId("nestederr");
    bundle.ids.add(id);
    const mountsBefore = () =>
      Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) =>
        l.includes(bundle.dir)
      );
    const before = mountsBefore();
    const created = await nestedSkiff(bundle, ["create", "--bundle", bundle.dir, id]);
    assert.equal(created.code, 1, created.stderr);
    assert.match(created.stderr, expected);
    assert.doesNotMatch(created.stderr, /the Deno init/);
    assert.equal(exists(join(bundle.root, id)), false, "no state left");
    assert.deepEqual(mountsBefore(), before);
    // Word for word what the main thread reports as the host's root.
    const hostId = testId("hosterr");
    const onHost = await bundle.skiff(["create", "--bundle", bundle.dir, hostId]);
    assert.equal(onHost.code, 1, onHost.stderr);
    const errorLine = (stderr: string) => stderr.split("\n").find((l) => l.startsWith("skiff: "));
    assert.equal(errorLine(created.stderr), errorLine(onHost.stderr));
  }
});

Deno.test("Skiff in a nested user namespace keeps the Deno init for createContainer hooks, and says why", async () => {
  await using bundle = await nestedBundle((s) => {
    s.hooks = { createContainer: [{ path: "/bin/true" }] };
  });
  const id = testId("nestedhook");
  bundle.ids.add(id);
  const run = await nestedSkiff(bundle, ["run", "--bundle", bundle.dir, id]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "pid=1 nested-worker\n/proc/1\n42\n1\n");
  assert.match(
    run.stderr,
    /create: the Deno init \(hooks\.createContainer with Skiff in a nested user namespace\)/,
  );
});

Deno.test("the library in a nested user namespace: no thread of the process stays in PID 1's namespaces", async () => {
  await using bundle = await nestedBundle((s) => (s.process!.args = ["sleep", "30"]));
  const id = testId("nestedlib");
  bundle.ids.add(id);
  const probe = new URL("../_helpers/nested_probe.ts", import.meta.url).pathname;
  const out = await new Deno.Command("unshare", {
    args: [
      "--user",
      "--map-root-user",
      Deno.execPath(),
      "run",
      "-A",
      probe,
      join(bundle.dir, "config.json"),
      bundle.rootfs,
      bundle.root,
      id,
    ],
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const result = JSON.parse(new TextDecoder().decode(out.stdout));
  // The container has namespaces of its own, and the process's main thread is back in its own.
  for (const kind of ["uts", "ipc", "net", "mnt"]) {
    assert.notEqual(result.theirs[kind], result.mine[kind], kind);
  }
  assert.deepEqual(result.inside, [], `threads in PID 1's namespaces: ${JSON.stringify(result)}`);
  assert.equal(exists(join(bundle.root, id)), false, "deleted");
});
