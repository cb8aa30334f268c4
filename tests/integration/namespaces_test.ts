import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, runIn, startDetached, testId } from "../_helpers/bundle.ts";
import { exists } from "../_helpers/host.ts";

const HOST_NS = (name: string) => Deno.readLinkSync(`/proc/self/ns/${name}`);

Deno.test("each namespace in linux.namespaces is new for the container and the host keeps its own", async () => {
  await using bundle = await makeBundle();
  const names = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];
  const result = await runIn(bundle, [
    "sh",
    "-c",
    names.map((n) => `readlink /proc/self/ns/${n}`).join(";"),
  ]);
  const inside = result.stdout.trim().split("\n");
  assert.equal(inside.length, names.length, result.stderr);
  names.forEach((name, i) => {
    assert.notEqual(inside[i], HOST_NS(name), `${name} namespace is new`);
  });
});

Deno.test("a namespace type that is not listed is shared with the host", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "network");
  });
  const result = await runIn(bundle, ["readlink", "/proc/self/ns/net"]);
  assert.equal(result.stdout.trim(), HOST_NS("net"));
});

Deno.test("a namespace with a path is joined: two containers share one network namespace", async () => {
  await using first = await makeBundle();
  const { pid } = await startDetached(first, ["sleep", "30"]);
  const netns = `/proc/${pid}/ns/net`;
  await using second = await makeBundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.map((n) =>
      n.type === "network" ? { type: "network", path: netns } : n
    );
  });
  const result = await runIn(second, ["readlink", "/proc/self/ns/net"]);
  assert.equal(result.stdout.trim(), Deno.readLinkSync(netns));
});

Deno.test("joining a namespace of the wrong type is an error naming the field", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.map((n) =>
      n.type === "network" ? { type: "network", path: "/proc/self/ns/ipc" } : n
    );
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /linux\.namespaces\[1\]\.path: \/proc\/self\/ns\/ipc is not a network namespace/,
  );
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("joining a user namespace by a path of another type names the field too (not setns's EINVAL)", async () => {
  // runtime-tools linux_ns_path_type: the trampoline joins a user namespace first, before any check.
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces!.push({ type: "user", path: "/proc/self/ns/uts" });
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /config\.json: linux\.namespaces\[\d+\]\.path: \/proc\/self\/ns\/uts is not a user namespace/,
  );
  assert.equal(exists(join(bundle.root, id)), false);
});

Deno.test("the UTS namespace carries hostname and domainname", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.hostname = "box";
    spec.domainname = "example.test";
  });
  const result = await runIn(bundle, ["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"]);
  assert.equal(result.stdout, "box\nexample.test\n");
});

Deno.test("a time namespace applies linux.timeOffsets to the boottime clock", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces!.push({ type: "time" });
    spec.linux!.timeOffsets = { boottime: { secs: 86400 * 365, nanosecs: 0 } };
  });
  const result = await runIn(bundle, ["cat", "/proc/uptime"]);
  const inside = Number(result.stdout.split(" ")[0]);
  const host = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  assert.ok(inside - host > 86400 * 364, `uptime inside ${inside} vs host ${host}`);
});

Deno.test("the container's PID namespace shows only its own processes", async () => {
  await using bundle = await makeBundle();
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "ls /proc | grep -E '^[0-9]+$' | sort -n | head -1",
  ]);
  assert.equal(result.stdout.trim(), "1");
});

Deno.test("a new user namespace without maps is refused naming the field, and nothing is made", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces!.push({ type: "user" });
  });
  const id = testId();
  const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /linux\.uidMappings: a new user namespace \(linux\.namespaces type user\) needs mappings/,
  );
  assert.equal(exists(join(bundle.root, id)), false);
});

/** Mount points at or below `dir` in the host's mount table. */
function hostMountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point) => point === dir || point?.startsWith(`${dir}/`));
}

Deno.test("without a mount namespace the container keeps the host's, chrooted into its rootfs; delete unmounts", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "mount");
  });
  await Deno.writeTextFile(join(bundle.rootfs, "marker"), "inside\n");
  const { id } = await startDetached(bundle, ["sleep", "30"]);
  // The container's /proc is mounted in the host's namespace, below the rootfs.
  assert.ok(hostMountsUnder(bundle.rootfs).includes(`${bundle.rootfs}/proc`));
  const exec = await bundle.skiff([
    "exec",
    id,
    "sh",
    "-c",
    "readlink /proc/self/ns/mnt; cat /marker",
  ]);
  assert.equal(exec.code, 0, exec.stderr);
  assert.equal(exec.stdout, `${HOST_NS("mnt")}\ninside\n`);
  const deleted = await bundle.skiff(["delete", "--force", id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.deepEqual(hostMountsUnder(bundle.rootfs), []);
});

Deno.test("a failed create without a mount namespace leaves no mount on the host", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "mount");
    spec.process!.args = ["/no/such/program"];
  });
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.notEqual(result.code, 0);
  assert.deepEqual(hostMountsUnder(bundle.rootfs), []);
});

Deno.test("a mount namespace with a path is joined (runtime-tools linux_ns_path)", async () => {
  const holder = new Deno.Command("unshare", { args: ["--mount", "sleep", "30"] }).spawn();
  try {
    let nsPath = "";
    for (let i = 0; i < 100; i++) {
      const children = Deno.readTextFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`)
        .trim();
      const pid = children ? Number(children.split(" ")[0]) : holder.pid;
      nsPath = `/proc/${pid}/ns/mnt`;
      if (Deno.readLinkSync(nsPath) !== HOST_NS("mnt")) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await using bundle = await makeBundle((spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.map((n) =>
        n.type === "mount" ? { type: "mount", path: nsPath } : n
      );
    });
    const result = await runIn(bundle, ["readlink", "/proc/self/ns/mnt"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), Deno.readLinkSync(nsPath));
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
  }
});
