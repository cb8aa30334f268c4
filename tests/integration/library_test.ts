/**
 * The library (mod.ts): real containers created, started, waited for, exec'd into, limited, paused
 * and deleted from this test's own Deno process, and what a long-running program needs: the
 * caller's namespaces untouched, typed errors, no leaked fds or state, and examples that run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ConflictError,
  type Container,
  defaultSpec,
  NotFoundError,
  Runtime,
  type Spec,
  SpecError,
} from "../../mod.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { BUSYBOX_BUNDLE, REPO } from "../_helpers/paths.ts";
import { exists } from "../_helpers/host.ts";

function busyboxSpec(args: string[], edit: (spec: Spec) => void = () => {}): Spec {
  const spec = defaultSpec();
  spec.process!.args = args;
  spec.process!.terminal = false;
  spec.root = { path: "rootfs", readonly: true };
  edit(spec);
  return spec;
}

const ROOTFS = join(BUSYBOX_BUNDLE, "rootfs");

/** A runtime with its own state directory, removed afterwards. */
async function withRuntime(body: (rt: Runtime, root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "skiff-lib-" });
  try {
    await body(new Runtime({ root }), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function namespaces(): string[] {
  return ["mnt", "pid", "net", "ipc", "uts", "cgroup", "user"].map((ns) =>
    Deno.readLinkSync(`/proc/thread-self/ns/${ns}`)
  );
}

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

Deno.test("library: create, start, wait gives the exit code; stdout and stderr as streams", async () => {
  await withRuntime(async (rt, root) => {
    const id = testId("lib");
    const c = await rt.create(id, {
      spec: busyboxSpec(["sh", "-c", "read x; echo out $x; echo err >&2; exit 7"]),
      rootfs: ROOTFS,
    }, { stdio: "piped" });
    assert.equal(c.state().status, "created");
    // The trampoline init takes the pipes: the created container's PID 1 is no second Deno.
    assert.notEqual(Deno.readLinkSync(`/proc/${c.pid}/exe`), Deno.execPath());
    await c.start();
    const writer = c.stdin!.getWriter();
    await writer.write(new TextEncoder().encode("in\n"));
    await writer.close();
    const [out, err, status] = await Promise.all([
      new Response(c.stdout).text(),
      new Response(c.stderr).text(),
      c.wait(),
    ]);
    assert.deepEqual({ out, err, status }, {
      out: "out in\n",
      err: "err\n",
      status: { code: 7, signal: null },
    });
    assert.equal(c.state().status, "stopped");
    await c.delete();
    assert.equal(exists(join(root, id)), false, "no state directory");
  });
});

Deno.test("library: kill reports the signal; await using deletes a running container", async () => {
  await withRuntime(async (rt, root) => {
    const id = testId("lib");
    {
      await using c = await rt.create(id, { spec: busyboxSpec(["sleep", "100"]), rootfs: ROOTFS });
      await c.start();
      assert.equal(c.state().status, "running");
      assert.deepEqual(rt.list().map((s) => s.id), [id]);
      // PID 1 of a PID namespace ignores SIGTERM without a handler: SIGKILL.
      await c.kill("SIGKILL");
      assert.deepEqual(await c.wait(), { code: 128 + 9, signal: "SIGKILL" });
      const other = testId("lib");
      await using d = await rt.create(other, {
        spec: busyboxSpec(["sleep", "100"]),
        rootfs: ROOTFS,
      });
      await d.start();
    }
    assert.deepEqual(rt.list(), [], "await using deleted both");
    assert.equal(exists(join(root, id)), false);
  });
});

Deno.test("library: exec runs a process in the container and gives its exit code", async () => {
  await withRuntime(async (rt) => {
    await using c = await rt.create(testId("lib"), {
      spec: busyboxSpec(["sleep", "100"]),
      rootfs: ROOTFS,
    });
    await c.start();
    const ok = await c.exec({ args: ["sh", "-c", "test $$ -gt 1 && exit 4"] }, { stdio: "null" });
    assert.deepEqual(ok, { code: 4, signal: null });
  });
});

/** Reads `stream` until its text matches `pattern` (or it ends); the text so far. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pattern: RegExp,
  seen = { text: "" },
): Promise<string> {
  const decoder = new TextDecoder();
  while (!pattern.test(seen.text)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen.text += decoder.decode(value, { stream: true });
  }
  return seen.text;
}

Deno.test("library: a process.terminal container's pty as streams, with resize", async () => {
  await withRuntime(async (rt) => {
    const spec = busyboxSpec(["sh", "-c", "tty; read x; stty size; echo got $x"], (s) => {
      s.process!.terminal = true;
    });
    // Detached ("null" stdio, the default) and no console socket: the library keeps the pty.
    await using c = await rt.create(testId("lib"), { spec, rootfs: ROOTFS });
    const terminal = c.terminal;
    assert.ok(terminal, "a terminal for process.terminal");
    terminal.resize(91, 37);
    await c.start();
    const reader = terminal.readable.getReader();
    const seen = { text: "" };
    assert.match(await readUntil(reader, /\/dev\/pts\/\d+\r?\n/, seen), /^\/dev\/pts\/\d+\r?\n/);
    const writer = terminal.writable.getWriter();
    await writer.write(new TextEncoder().encode("hello\r"));
    const text = await readUntil(reader, /got hello/, seen);
    // The pty echoes the input, then stty reports the size set before start.
    assert.match(text, /37 91\r?\n/);
    assert.match(text, /got hello/);
    assert.deepEqual(await c.wait(), { code: 0, signal: null });
    writer.releaseLock();
    reader.releaseLock();
  });
});

Deno.test("library: spawn with terminal: true gives the exec's pty; resize reaches it", async () => {
  await withRuntime(async (rt) => {
    await using c = await rt.create(testId("lib"), {
      spec: busyboxSpec(["sleep", "100"]),
      rootfs: ROOTFS,
    });
    assert.equal(c.terminal, undefined, "no pty without process.terminal");
    await c.start();
    const p = await c.spawn({
      args: ["sh", "-c", "tty; read x; stty size; echo bye"],
      terminal: true,
    });
    const terminal = p.terminal;
    assert.ok(terminal);
    const reader = terminal.readable.getReader();
    const seen = { text: "" };
    const first = await readUntil(reader, /\/dev\/pts\/\d+\r?\n/, seen);
    assert.match(first, /^\/dev\/pts\/\d+\r?\n/);
    terminal.resize(120, 50);
    const writer = terminal.writable.getWriter();
    await writer.write(new TextEncoder().encode("go\r"));
    const text = await readUntil(reader, /bye/, seen);
    assert.match(text.slice(first.length), /50 120\r?\n/);
    assert.deepEqual(await p.wait(), { code: 0, signal: null });
    await assert.rejects(
      () => c.exec({ args: ["true"], terminal: true }),
      TypeError,
    );
    writer.releaseLock();
    reader.releaseLock();
  });
});

Deno.test("library: update, pause, resume, stats and events of a running container", async () => {
  await withRuntime(async (rt) => {
    await using c = await rt.create(testId("lib"), {
      spec: busyboxSpec(["sleep", "100"]),
      rootfs: ROOTFS,
    });
    await c.start();
    await c.update({ pids: { limit: 50 } });
    assert.equal((await c.stats()).pids?.limit, 50);
    await c.pause();
    assert.equal(c.state().status, "paused");
    await c.resume();
    assert.equal(c.state().status, "running");
    for await (const event of c.events(50)) {
      assert.equal(event.type, "stats");
      break;
    }
  });
});

Deno.test("library: typed errors: SpecError with the JSON path, ConflictError, NotFoundError", async () => {
  await withRuntime(async (rt, root) => {
    const bad = busyboxSpec(["true"], (s) => s.process!.cwd = "relative");
    await assert.rejects(
      () => rt.create(testId("lib"), { spec: bad, rootfs: ROOTFS }),
      (err) => err instanceof SpecError && err.path === "process.cwd",
    );
    const id = testId("lib");
    await using _c = await rt.create(id, { spec: busyboxSpec(["true"]), rootfs: ROOTFS });
    await assert.rejects(
      () => rt.create(id, { spec: busyboxSpec(["true"]), rootfs: ROOTFS }),
      ConflictError,
    );
    assert.throws(() => rt.get("no-such-container"), NotFoundError);
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), [id], "nothing else left");
  });
});

Deno.test("library: a bundle source, and get() of another handle's container", async () => {
  await using bundle = await makeBundle((s) => s.process!.args = ["sh", "-c", "exit 3"]);
  await bundle.writeSpec();
  await withRuntime(async (rt) => {
    const id = testId("lib");
    const c = await rt.create(id, { bundle: bundle.dir });
    const again: Container = rt.get(id);
    await again.start();
    assert.deepEqual(await c.wait(), { code: 3, signal: null });
    await again.delete();
  });
});

Deno.test("library: the caller's namespaces and fds are unchanged after many containers", async () => {
  await withRuntime(async (rt) => {
    const before = namespaces();
    // Warm-up: the first container opens what Deno keeps open (the libc handle, caches).
    {
      await using c = await rt.create(testId("lib"), {
        spec: busyboxSpec(["true"]),
        rootfs: ROOTFS,
      });
      await c.start();
      await c.wait();
    }
    const fds = openFds();
    await Promise.all([0, 1, 2, 3].map(async () => {
      for (let i = 0; i < 5; i++) {
        await using c = await rt.create(testId("lib"), {
          spec: busyboxSpec(["true"]),
          rootfs: ROOTFS,
        });
        await c.start();
        assert.equal((await c.wait()).code, 0);
      }
    }));
    assert.deepEqual(namespaces(), before, "this thread's namespaces");
    assert.equal(Deno.cwd(), REPO, "cwd");
    assert.equal(openFds(), fds, "no fd leaked over 20 containers");
  });
});

Deno.test("library: the examples run", async () => {
  for (
    const [example, args, expect] of [
      ["run_capture.ts", ["echo", "captured"], /"stdout":"captured\\n"/],
      ["pool.ts", ["8", "4"], /"jobs":8,"exitCodes":\{"0":3,"1":3,"2":2\}/],
      ["health_check.ts", ["2"], /"probes":\[0,0\]/],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO, "examples", example), BUSYBOX_BUNDLE, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, `${example}: ${new TextDecoder().decode(out.stderr)}`);
    assert.match(text, expect, example);
  }
});
