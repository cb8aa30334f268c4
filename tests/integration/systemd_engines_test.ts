/**
 * Podman with `cgroup_manager = "systemd"` and containerd with the runc shim's systemd cgroup
 * option (ctr `--runc-systemd-cgroup`, what the CRI plugin's `SystemdCgroup = true` sets), each
 * driving Skiff on a real systemd: the VM of `deno task test:systemd`
 * (tests/systemd/run_in_vm.sh). The engine passes `--systemd-cgroup` and a cgroupsPath
 * slice:prefix:name; the test checks the scope systemd shows, its MemoryMax, and that nothing is
 * left after the engine removes the container. Elsewhere these tests are ignored.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { testId } from "../_helpers/bundle.ts";
import { BUSYBOX_BUNDLE, SKIFF } from "../_helpers/paths.ts";
import { exists, hasCommand } from "../_helpers/host.ts";
import { killProcessesUnder, unmountUnder } from "../_helpers/leftovers.ts";
import { systemctlShow, SYSTEMD_HERE } from "../../runtime/cgroups/_testing.ts";

const LIMIT = 64 << 20;

/** The result of a command, bounded by `timeoutMs` (killed after it). */
async function sh(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; out: string }> {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone.
    }
  }, options.timeoutMs ?? 240_000);
  try {
    const result = await child.output();
    const text = new TextDecoder();
    const stdout = text.decode(result.stdout);
    return { code: result.code, stdout, out: stdout + text.decode(result.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** A tar of the busybox fixture's rootfs in `dir`, for the engines' image. */
async function rootfsTar(dir: string): Promise<string> {
  const tar = join(dir, "rootfs.tar");
  const made = await sh("tar", ["-C", join(BUSYBOX_BUNDLE, "rootfs"), "-cf", tar, "."]);
  assert.equal(made.code, 0, made.out);
  return tar;
}

/** The scope systemd shows for a running container with the limit, and its cgroup's file. */
async function assertScope(unit: string, controlGroup: string): Promise<void> {
  assert.deepEqual(
    await systemctlShow(unit, "ActiveState", "Delegate", "MemoryMax", "ControlGroup"),
    {
      ActiveState: "active",
      Delegate: "yes",
      MemoryMax: String(LIMIT),
      ControlGroup: controlGroup,
    },
  );
  assert.equal(
    Deno.readTextFileSync(`/sys/fs/cgroup${controlGroup}/memory.max`).trim(),
    String(LIMIT),
  );
}

/** No unit and no cgroup left for `unit`. */
async function assertGone(unit: string, controlGroup: string): Promise<void> {
  assert.equal((await systemctlShow(unit, "LoadState")).LoadState, "not-found");
  assert.ok(!exists(`/sys/fs/cgroup${controlGroup}`), `${controlGroup} is still there`);
}

Deno.test({
  name: "podman with cgroup_manager=systemd runs Skiff in a machine.slice scope with its limit",
  ignore: !SYSTEMD_HERE || !hasCommand("podman") || !hasCommand("conmon"),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "skiff-sd-podman-" });
    const conf = join(dir, "containers.conf");
    Deno.writeTextFileSync(
      conf,
      [
        "[engine]",
        'cgroup_manager = "systemd"',
        'events_logger = "file"',
        `events_logfile_path = "${dir}/events.log"`,
        'lock_type = "file"',
        "[network]",
        `network_config_dir = "${dir}/net"`,
        "",
      ].join("\n"),
    );
    const env = { CONTAINERS_CONF: conf, TMPDIR: dir };
    const podman = (...args: string[]) =>
      sh("podman", [
        ...["--root", `${dir}/root`, "--runroot", `${dir}/run`, "--tmpdir", `${dir}/tmp`],
        ...["--cgroup-manager", "systemd", "--events-backend", "file", "--runtime", SKIFF],
        ...args,
      ], { env });
    const image = "localhost/skiff-sd:latest";
    const name = testId("sdpodman");
    try {
      const imported = await podman("import", await rootfsTar(dir), image);
      assert.equal(imported.code, 0, imported.out);
      const run = await podman(
        ...["run", "-d", "--pull=never", "--network", "none", "--name", name],
        ...["--memory", "64m", image, "sleep", "600"],
      );
      assert.equal(run.code, 0, run.out);
      const id = run.stdout.trim();
      assert.match(id, /^[0-9a-f]{64}$/);
      // Podman's cgroupsPath is machine.slice:libpod:<id>.
      const unit = `libpod-${id}.scope`;
      const cgroup = `/machine.slice/${unit}`;
      await assertScope(unit, cgroup);
      const removed = await podman("rm", "-f", "-t", "0", name);
      assert.equal(removed.code, 0, removed.out);
      await assertGone(unit, cgroup);
    } finally {
      await podman("rm", "-a", "-f", "-t", "0");
      killProcessesUnder(dir);
      await unmountUnder(dir);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/** Writes an OCI image layout archive of one layer (`layer`, a tar) named `ref`, as ctr imports. */
async function ociArchive(dir: string, layer: string, ref: string): Promise<string> {
  const blobs = join(dir, "oci", "blobs", "sha256");
  Deno.mkdirSync(blobs, { recursive: true });
  const blob = async (data: Uint8Array<ArrayBuffer>): Promise<{ digest: string; size: number }> => {
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const hex = [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
    Deno.writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const tar = await blob(Deno.readFileSync(layer));
  const config = await blob(json({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin:/usr/bin"], Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: [tar.digest] },
  }));
  const manifest = await blob(json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...tar }],
  }));
  Deno.writeFileSync(
    join(dir, "oci", "index.json"),
    json({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "org.opencontainers.image.ref.name": ref },
      }],
    }),
  );
  Deno.writeFileSync(join(dir, "oci", "oci-layout"), json({ imageLayoutVersion: "1.0.0" }));
  const out = join(dir, "image.tar");
  const made = await sh("tar", [
    "-C",
    join(dir, "oci"),
    "-cf",
    out,
    "oci-layout",
    "index.json",
    "blobs",
  ]);
  assert.equal(made.code, 0, made.out);
  return out;
}

Deno.test({
  name: "containerd with the runc shim's SystemdCgroup runs Skiff in a system.slice scope",
  ignore: !SYSTEMD_HERE || !hasCommand("containerd") || !hasCommand("ctr"),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "skiff-sd-ctd-" });
    const sock = join(dir, "containerd.sock");
    Deno.writeTextFileSync(
      join(dir, "config.toml"),
      [
        "version = 2",
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        `  address = "${sock}"`,
        "[ttrpc]",
        `  address = "${sock}.ttrpc"`,
        "[debug]",
        `  address = "${dir}/debug.sock"`,
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = "${dir}/opt"`,
        "",
      ].join("\n"),
    );
    const daemon = new Deno.Command("containerd", {
      args: ["--config", join(dir, "config.toml")],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ctr = (...args: string[]) => sh("ctr", ["-a", sock, "-n", "skiffsd", ...args]);
    const image = "localhost/skiff-sd:latest";
    const id = testId("sdctd");
    try {
      const deadline = Date.now() + 60_000;
      while ((await ctr("version")).code !== 0) {
        assert.ok(Date.now() < deadline, "containerd did not answer in 60 s");
        await new Promise((r) => setTimeout(r, 300));
      }
      const archive = await ociArchive(dir, await rootfsTar(dir), image);
      const imported = await ctr("image", "import", archive);
      assert.equal(imported.code, 0, imported.out);
      // The shim passes --systemd-cgroup to the runtime and this cgroupsPath.
      const run = await ctr(
        ...["run", "-d", "--runc-binary", SKIFF, "--runc-systemd-cgroup"],
        ...["--cgroup", `system.slice:skiffctd:${id}`, "--memory-limit", String(LIMIT)],
        ...[image, id, "sleep", "600"],
      );
      assert.equal(run.code, 0, run.out);
      const unit = `skiffctd-${id}.scope`;
      const cgroup = `/system.slice/${unit}`;
      await assertScope(unit, cgroup);
      // Killed with SIGKILL, then removed by the engine: nothing is left.
      const killed = await ctr("task", "kill", "-s", "SIGKILL", id);
      assert.equal(killed.code, 0, killed.out);
      const stopBy = Date.now() + 60_000;
      while (!(await ctr("task", "ls")).out.match(new RegExp(`^${id}\\s+\\d+\\s+STOPPED`, "m"))) {
        assert.ok(Date.now() < stopBy, "the task did not stop in 60 s");
        await new Promise((r) => setTimeout(r, 300));
      }
      const removed = await ctr("task", "rm", id);
      assert.equal(removed.code, 0, removed.out);
      assert.equal((await ctr("container", "rm", id)).code, 0);
      await assertGone(unit, cgroup);
    } finally {
      await ctr("task", "rm", "-f", id);
      await ctr("container", "rm", id);
      try {
        daemon.kill("SIGTERM");
      } catch {
        // Gone.
      }
      await daemon.status;
      killProcessesUnder(dir); // The shims (their command lines name the socket).
      await unmountUnder(dir);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
