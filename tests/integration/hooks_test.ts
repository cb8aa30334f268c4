import assert from "node:assert/strict";
import { join } from "../../runtime/path.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { exists, newInits, skiffInits } from "../_helpers/host.ts";
import { runSkiff } from "../_helpers/skiff.ts";
import type { Hooks } from "../../spec/config.ts";

/** A hook script that records its kind, its state, its args/env and its namespaces under `dir`. */
async function recorder(dir: string, name = "hook.sh"): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
out="$OUT_DIR/$1"
cat > "$out.state"
echo "$@" > "$out.args"
echo "HOOK_ENV=$HOOK_ENV HOME=$HOME" > "$out.env"
readlink /proc/self/ns/mnt > "$out.mnt"
readlink /proc/self/ns/net > "$out.net"
echo "$1" >> "$OUT_DIR/order"
`,
    { mode: 0o755 },
  );
  return path;
}

function hook(path: string, kind: string, outDir: string) {
  return { path, args: [path, kind], env: [`OUT_DIR=${outDir}`, "HOOK_ENV=set"] };
}

Deno.test("hooks run at their lifecycle points with the state on stdin, their args and env", async () => {
  await using bundle = await makeBundle();
  const out = join(bundle.dir, "hook-out");
  await Deno.mkdir(out);
  const host = await recorder(bundle.dir);
  // startContainer runs after pivot_root: its path is resolved in the container.
  const inside = await recorder(bundle.rootfs, "hook-in-container.sh");
  bundle.spec.process!.args = ["sleep", "30"];
  bundle.spec.hooks = {
    prestart: [hook(host, "prestart", out)],
    createRuntime: [hook(host, "createRuntime", out)],
    createContainer: [hook(host, "createContainer", out)],
    startContainer: [hook("/hook-in-container.sh", "startContainer", "/tmp")],
    poststart: [hook(host, "poststart", out)],
    poststop: [hook(host, "poststop", out)],
  } as Hooks;
  void inside;
  await bundle.writeSpec();
  const id = testId();
  const created = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(
    await Deno.readTextFile(join(out, "order")),
    "prestart\ncreateRuntime\ncreateContainer\n",
  );
  const initPid = JSON.parse((await bundle.skiff(["state", id])).stdout).pid;
  const hostNet = Deno.readLinkSync("/proc/self/ns/net");
  const containerNet = Deno.readLinkSync(`/proc/${initPid}/ns/net`);
  for (const kind of ["prestart", "createRuntime"]) {
    const state = JSON.parse(await Deno.readTextFile(join(out, `${kind}.state`)));
    assert.equal(state.status, "creating", kind);
    assert.equal(state.id, id);
    assert.equal(state.pid, initPid);
    assert.equal(state.bundle, bundle.dir);
    assert.equal(
      (await Deno.readTextFile(join(out, `${kind}.net`))).trim(),
      hostNet,
      `${kind} in the runtime namespace`,
    );
  }
  assert.equal(
    (await Deno.readTextFile(join(out, "createContainer.net"))).trim(),
    containerNet,
    "createContainer in the container namespace",
  );
  assert.equal(await Deno.readTextFile(join(out, "prestart.args")), "prestart\n");
  assert.equal(
    await Deno.readTextFile(join(out, "prestart.env")),
    "HOOK_ENV=set HOME=\n",
    "only the hook's env",
  );

  assert.equal((await bundle.skiff(["start", id])).code, 0);
  assert.equal(
    await Deno.readTextFile(join(out, "order")),
    "prestart\ncreateRuntime\ncreateContainer\npoststart\n",
  );
  assert.equal(JSON.parse(await Deno.readTextFile(join(out, "poststart.state"))).status, "running");
  for (let i = 0; i < 100 && !exists(join(bundle.rootfs, "tmp/order")); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await Deno.readTextFile(join(bundle.rootfs, "tmp/order")), "startContainer\n");
  assert.equal(
    (await Deno.readTextFile(join(bundle.rootfs, "tmp/startContainer.net"))).trim(),
    containerNet,
  );

  assert.equal((await bundle.skiff(["delete", "--force", id])).code, 0);
  assert.equal(JSON.parse(await Deno.readTextFile(join(out, "poststop.state"))).status, "stopped");
  assert.match(await Deno.readTextFile(join(out, "order")), /poststart\npoststop\n$/);
});

Deno.test("a failing prestart hook fails create and leaves nothing behind", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.hooks = {
      prestart: [{ path: "/bin/sh", args: ["sh", "-c", "echo no-network >&2; exit 3"] }],
    };
  });
  const id = testId();
  const inits = skiffInits();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /prestart hook #0 \(\/bin\/sh\) failed: exit status 3: no-network/);
  assert.equal(exists(join(bundle.root, id)), false);
  assert.deepEqual(newInits(inits), []);
});

Deno.test("a failing createContainer hook fails create", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.hooks = { createContainer: [{ path: "/bin/false" }] };
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /createContainer hook #0 \(\/bin\/false\) failed: exit status 1/);
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("a hook that outlives its timeout is killed and fails the operation", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.hooks = { createRuntime: [{ path: "/bin/sleep", args: ["sleep", "30"], timeout: 1 }] };
  });
  const started = Date.now();
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /createRuntime hook #0 \(\/bin\/sleep\) failed: timed out after 1s/);
  assert.ok(Date.now() - started < 20_000);
});

Deno.test("a failing poststart hook fails start and stops the container", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["sleep", "30"];
    spec.hooks = { poststart: [{ path: "/bin/false" }] };
  });
  const id = testId();
  await bundle.skiff(["create", "-b", bundle.dir, id]);
  const result = await bundle.skiff(["start", id]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /poststart hook #0 \(\/bin\/false\) failed/);
  let status = "";
  for (let i = 0; i < 100 && status !== "stopped"; i++) {
    status = JSON.parse((await bundle.skiff(["state", id])).stdout).status;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, "stopped");
});

Deno.test("a failing poststop hook is only a warning: delete succeeds", async () => {
  await using bundle = await makeBundle();
  // The hook after the failing one still runs (runtime.md: the remaining hooks continue).
  bundle.spec.hooks = {
    poststop: [{ path: "/bin/false" }, {
      path: "/bin/sh",
      args: ["sh", "-c", `touch ${join(bundle.dir, "second-ran")}`],
    }],
  };
  await bundle.writeSpec();
  const id = testId();
  await bundle.skiff(["run", "--keep", "-b", bundle.dir, id]);
  const result = await bundle.skiff(["delete", id]);
  assert.equal(result.code, 0);
  assert.match(result.stderr, /level=warning msg=".*poststop hook #0 \(\/bin\/false\) failed/);
  assert.equal(exists(join(bundle.root, id)), false);
  assert.ok(exists(join(bundle.dir, "second-ran")), "the second poststop hook ran");
});

Deno.test("a poststop hook's warning follows --log and --log-format json (delete imports the hooks on use)", async () => {
  await using bundle = await makeBundle();
  bundle.spec.hooks = { poststop: [{ path: "/bin/false" }] };
  await bundle.writeSpec();
  const id = testId();
  await bundle.skiff(["run", "--keep", "-b", bundle.dir, id]);
  const log = join(bundle.dir, "skiff.log");
  // dist/skiff's delete is one file that imports the hooks from the split bundle: both copies of
  // the log module must write where the flags said (runtime/log.ts keeps them per process).
  const result = await runSkiff(["delete", id], {
    root: bundle.root,
    global: ["--log", log, "--log-format", "json"],
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  const lines = (await Deno.readTextFile(log)).trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(
    lines.some((l) =>
      l.level === "warning" && /poststop hook #0 \(\/bin\/false\) failed/.test(l.msg)
    ),
    JSON.stringify(lines),
  );
});
