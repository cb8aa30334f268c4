import assert from "node:assert/strict";
import { join } from "node:path";
import type { IdMapping, Mount, Spec } from "../../spec/config.ts";
import { makeBundle, runIn, testId } from "../_helpers/bundle.ts";
import { exists, hostMounts, newInits, skiffInits } from "../_helpers/host.ts";
import { SKIFF } from "../_helpers/paths.ts";

// An idmapped mount's mappings read like a user namespace's (config.md): containerID is the id on
// the source filesystem, hostID the id it shows as through the mount. So ids 1000-1001 on disk
// show as 0-1 in the container (whose root is the host's), and what its root creates lands as 1000.
const MAP: IdMapping[] = [{ containerID: 1000, hostID: 0, size: 2 }];

function idmapped(source: string, destination: string, options: string[]): Mount {
  return { destination, type: "bind", source, options, uidMappings: MAP, gidMappings: MAP };
}

/** A host directory owned by 1000:1000 with files owned by 1000, 1001 and 0 (unmapped). */
async function sourceDir(parent: string): Promise<string> {
  const dir = join(parent, "src");
  await Deno.mkdir(dir);
  for (const [name, id] of [["a", 1000], ["b", 1001], ["c", 0]] as const) {
    await Deno.writeTextFile(join(dir, name), name);
    await Deno.chown(join(dir, name), id, id);
  }
  await Deno.chown(dir, 1000, 1000);
  return dir;
}

/**
 * The fds of process `pid` on directory `dir` itself. An open_tree() fd reads as the path its mount
 * is attached at (or none), so it is found by device and inode, through the /proc magic link.
 */
function fdsOn(pid: number, dir: string): string[] {
  const want = Deno.statSync(dir);
  const found: string[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const info = Deno.statSync(`/proc/${pid}/fd/${entry.name}`);
      if (info.dev === want.dev && info.ino === want.ino) found.push(entry.name);
    } catch {
      // Closed meanwhile.
    }
  }
  return found;
}

Deno.test("an idmapped bind mount shows the source's ids through its mappings, and files created inside land mapped back", async () => {
  await using bundle = await makeBundle();
  const src = await sourceDir(bundle.dir);
  bundle.spec.mounts!.push(idmapped(src, "/data", ["bind", "idmap"]));
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "stat -c '%n %u:%g' /data /data/a /data/b /data/c; touch /data/new && mkdir /data/dir; " +
    "grep ' /data ' /proc/self/mountinfo | cut -d' ' -f6",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.deepEqual(lines.slice(0, 4), [
    "/data 0:0",
    "/data/a 0:0",
    "/data/b 1:1",
    // Unmapped on-disk ids show as the overflow id.
    "/data/c 65534:65534",
  ]);
  assert.match(lines[4], /(^|,)idmapped(,|$)/);
  for (const name of ["new", "dir"]) {
    const info = await Deno.stat(join(src, name));
    assert.deepEqual([info.uid, info.gid], [1000, 1000], `${name} created by the container's root`);
  }
});

Deno.test("mappings without the idmap option still idmap the mount (runc), and ro is kept", async () => {
  await using bundle = await makeBundle();
  const src = await sourceDir(bundle.dir);
  bundle.spec.mounts!.push(idmapped(src, "/ro", ["bind", "ro", "nosuid"]));
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "stat -c %u:%g /ro/a; touch /ro/x 2>/dev/null && echo written || echo refused; " +
    "grep ' /ro ' /proc/self/mountinfo | cut -d' ' -f6",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const [ids, write, options] = result.stdout.trim().split("\n");
  assert.equal(ids, "0:0");
  assert.equal(write, "refused");
  const flags = options.split(",");
  for (const flag of ["ro", "nosuid", "idmapped"]) assert.ok(flags.includes(flag), options);
  assert.equal(exists(join(src, "x")), false);
});

Deno.test("ridmap idmaps every mount of an rbind tree; idmap only its top", async () => {
  await using bundle = await makeBundle();
  const src = await sourceDir(bundle.dir);
  // A submount on the host: a tmpfs (idmappable since Linux 6.3) with a file owned by 1000.
  const sub = join(src, "sub");
  await Deno.mkdir(sub);
  const mounted = await new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", sub] })
    .output();
  assert.ok(mounted.success, new TextDecoder().decode(mounted.stderr));
  try {
    await Deno.writeTextFile(join(sub, "f"), "f");
    await Deno.chown(join(sub, "f"), 1000, 1000);
    bundle.spec.mounts!.push(
      idmapped(src, "/r", ["rbind", "ridmap"]),
      idmapped(src, "/i", ["rbind", "idmap"]),
    );
    const result = await runIn(bundle, [
      "sh",
      "-c",
      "stat -c '%n %u:%g' /r/a /r/sub/f /i/a /i/sub/f",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "/r/a 0:0",
      "/r/sub/f 0:0",
      "/i/a 0:0",
      // Not idmapped: the tmpfs's own ids.
      "/i/sub/f 1000:1000",
    ]);
  } finally {
    await new Deno.Command("umount", { args: ["-l", sub] }).output();
  }
});

Deno.test("a created container's init holds no fd of an idmapped mount once it is attached", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["true"];
    // The Deno init (SKIFF_DENO_INIT=1 below) with a startContainer hook waits for start as itself
    // (no exec that would close a forgotten fd): it must have closed the mount's fd itself.
    spec.hooks = { startContainer: [{ path: "/bin/true", timeout: 30 }] };
  });
  const src = await sourceDir(bundle.dir);
  bundle.spec.mounts!.push(idmapped(src, "/data", ["bind", "idmap"]));
  await bundle.writeSpec();
  const id = testId();
  const pidFile = join(bundle.dir, "pid");
  const created = await bundle.skiff(["create", "-b", bundle.dir, "--pid-file", pidFile, id], {
    env: { SKIFF_DENO_INIT: "1" },
  });
  assert.equal(created.code, 0, created.stderr);
  const pid = Number(await Deno.readTextFile(pidFile));
  assert.equal(Deno.readTextFileSync(`/proc/${pid}/comm`), "deno\n", "the Deno init waits");
  assert.match(await Deno.readTextFile(`/proc/${pid}/mountinfo`), / \/data \S*idmapped/);
  assert.deepEqual(fdsOn(pid, src), []);
});

Deno.test("neither the init nor the CLI of `run` keeps an fd of an idmapped mount once it is attached", async () => {
  await using bundle = await makeBundle();
  const src = await sourceDir(bundle.dir);
  bundle.spec.mounts!.push(idmapped(src, "/data", ["bind", "idmap"]));
  bundle.spec.process!.args = ["sh", "-c", "touch /data/started; sleep 30"];
  await bundle.writeSpec();
  const id = testId();
  // `run` in the foreground: the CLI stays alive, the parent of the container, while it runs.
  const cli = new Deno.Command(SKIFF, {
    args: ["--root", bundle.root, "run", "-b", bundle.dir, id],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const deadline = Date.now() + 30_000;
    while (!exists(join(src, "started"))) {
      assert.ok(Date.now() < deadline, "the container did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    const state = JSON.parse((await bundle.skiff(["state", id])).stdout);
    assert.match(await Deno.readTextFile(`/proc/${state.pid}/mountinfo`), / \/data \S*idmapped/);
    assert.deepEqual(fdsOn(cli.pid, src), [], "the CLI's fds");
    assert.deepEqual(fdsOn(state.pid, src), [], "the container's fds");
  } finally {
    await bundle.skiff(["kill", id, "KILL"]);
    await cli.status;
  }
});

/** A config edit that create must refuse, and what the one error line must say. */
interface BadCase {
  name: string;
  edit: (spec: Spec, src: string) => void;
  message: RegExp;
}

const BAD: BadCase[] = [
  {
    name: "uidMappings without gidMappings",
    edit: (s, src) => {
      s.mounts!.push({ destination: "/d", source: src, options: ["bind"], uidMappings: MAP });
    },
    message: /config\.json: mounts\[7\]\.gidMappings: is required when uidMappings is given$/,
  },
  {
    name: "mappings on a mount that is not a bind mount",
    edit: (s) => {
      s.mounts!.push({
        destination: "/d",
        type: "tmpfs",
        source: "tmpfs",
        options: ["idmap"],
        uidMappings: MAP,
        gidMappings: MAP,
      });
    },
    message:
      /config\.json: mounts\[7\]\.options: an idmapped mount must be a bind mount: add "bind" or "rbind" \(type is "tmpfs"\)$/,
  },
  {
    name: "idmap without mappings in a container without a user namespace",
    edit: (s, src) => {
      s.mounts!.push({ destination: "/d", source: src, options: ["rbind", "ridmap"] });
    },
    message:
      /config\.json: mounts\[7\]\.uidMappings: option "ridmap" without uidMappings and gidMappings takes the container's user namespace mappings, but the container has no user namespace$/,
  },
  {
    name: "overlapping mappings",
    edit: (s, src) => {
      s.mounts!.push({
        ...idmapped(src, "/d", ["bind", "idmap"]),
        gidMappings: [{ containerID: 0, hostID: 0, size: 10 }, {
          containerID: 10,
          hostID: 5,
          size: 1,
        }],
      });
    },
    message:
      /config\.json: mounts\[7\]\.gidMappings\[1\]: its hostID range overlaps that of mounts\[7\]\.gidMappings\[0\]/,
  },
  {
    name: "an idmapped mount of a filesystem that cannot be idmapped (procfs)",
    edit: (s) => {
      s.mounts!.push(idmapped("/proc", "/d", ["bind", "idmap"]));
    },
    message:
      /mounts\[7\]: cannot make an idmapped mount of \/proc \(does its filesystem support idmapped mounts on this kernel\?\): mount_setattr fd=\d+ \(\/proc\), flags=AT_EMPTY_PATH, attr_set=MOUNT_ATTR_IDMAP, userns_fd=\d+: EINVAL/,
  },
  {
    name: "a mount after an idmapped one that fails",
    edit: (s, src) => {
      s.mounts!.push(
        idmapped(src, "/d", ["bind", "idmap"]),
        { destination: "/x", type: "bind", source: "/no/such/source", options: ["bind"] },
      );
    },
    message: /mounts\[8\]: cannot mount \/no\/such\/source on \/x \(type bind\)/,
  },
];

for (const c of BAD) {
  Deno.test(`create refuses ${c.name}, names the field, and leaves nothing behind`, async () => {
    await using bundle = await makeBundle();
    assert.equal(bundle.spec.mounts!.length, 7, "the cases count on 7 default mounts");
    const src = await sourceDir(bundle.dir);
    c.edit(bundle.spec, src);
    await bundle.writeSpec();
    const mountsBefore = hostMounts();
    const initsBefore = skiffInits();
    const id = testId();
    const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
    assert.equal(result.code, 1);
    assert.match(result.stderr.trim(), c.message);
    assert.equal(result.stderr.trim().split("\n").length, 1, "one line");
    assert.equal(exists(join(bundle.root, id)), false, "no state directory");
    assert.deepEqual(hostMounts(), mountsBefore, "no mount");
    assert.deepEqual(newInits(initsBefore), [], "no process");
    // A detached mount lives as long as an fd holds it: no process may hold one of the source.
    const holders = [...Deno.readDirSync("/proc")]
      .filter((e) => /^\d+$/.test(e.name))
      .filter((e) => {
        try {
          return Number(e.name) !== Deno.pid && fdsOn(Number(e.name), src).length > 0;
        } catch {
          return false;
        }
      });
    assert.deepEqual(holders, [], "no fd of the source left open");
  });
}

Deno.test("an idmapped mount in a container with its own user namespace shows host root's files as the container root's", async () => {
  // The usual pairing (Kubernetes hostUsers: false): the mount's mappings equal the user
  // namespace's, so what root owns on disk is owned by the container's root, which would otherwise
  // see it as nobody; what the container's root creates there lands as root on disk.
  const map: IdMapping[] = [{ containerID: 0, hostID: 100000, size: 65536 }];
  await using bundle = await makeBundle((spec) => {
    spec.linux!.namespaces!.push({ type: "user" });
    spec.linux!.uidMappings = map;
    spec.linux!.gidMappings = map;
  });
  // The init (host uid 100000) reaches the rootfs through the bundle directory, as with runc.
  await Deno.chmod(bundle.dir, 0o755);
  // Behind a directory the container's root (host uid 100000) cannot search: the init reaches
  // the mount through the CLI's fd only.
  const hidden = await Deno.makeTempDir({ dir: bundle.dir, prefix: "hidden-" });
  await Deno.chmod(hidden, 0o700);
  const src = join(hidden, "src");
  await Deno.mkdir(src, { mode: 0o755 });
  await Deno.writeTextFile(join(src, "by-root"), "r");
  await Deno.writeTextFile(join(src, "by-1000"), "u");
  await Deno.chown(join(src, "by-1000"), 1000, 1000);
  // Mount points that exist: the rootfs still belongs to the host's root here.
  for (const dir of ["explicit", "auto", "ro"]) await Deno.mkdir(join(bundle.rootfs, dir));
  bundle.spec.mounts!.push(
    {
      destination: "/explicit",
      type: "bind",
      source: src,
      options: ["bind", "idmap"],
      uidMappings: map,
      gidMappings: map,
    },
    // The option alone takes the container's own mappings (config.md).
    { destination: "/auto", type: "bind", source: src, options: ["bind", "idmap"] },
    { destination: "/ro", type: "bind", source: src, options: ["bind", "ro", "idmap"] },
  );
  const result = await runIn(bundle, [
    "sh",
    "-c",
    "stat -c '%n %u:%g' /explicit /explicit/by-root /explicit/by-1000 /auto/by-root /ro/by-root; " +
    "touch /explicit/made && echo made; touch /ro/x 2>/dev/null && echo written || echo ro",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split("\n"), [
    "/explicit 0:0",
    "/explicit/by-root 0:0",
    "/explicit/by-1000 1000:1000",
    "/auto/by-root 0:0",
    "/ro/by-root 0:0",
    "made",
    "ro",
  ]);
  const made = await Deno.stat(join(src, "made"));
  assert.deepEqual([made.uid, made.gid], [0, 0]);
});
