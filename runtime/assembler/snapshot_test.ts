import assert from "node:assert/strict";
import { copyRoot, mountOverlayRoot, prepareOverlayRoot, releaseOverlayRoot } from "./snapshot.ts";
import { LayerStore, type StoredImage } from "./layer_store.ts";
import {
  CAP_NET_RAW_XATTR,
  fixtureImages,
  writeOciLayout,
} from "../../scripts/fixtures/oci_image.ts";
import { statx } from "../../ffi/file_attrs.ts";
import { AT_FDCWD } from "../../ffi/constants.ts";
import { lgetxattr, llistxattr } from "../../ffi/xattr.ts";
import { umount } from "../../ffi/mount.ts";

interface Box {
  dir: string;
  store: LayerStore;
  app: StoredImage;
  mounts: string[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** A store with the fixture "app" image; unmounts whatever the test mounted, even on failure. */
async function box(): Promise<Box> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-snapshot-test-" });
  const store = new LayerStore(`${dir}/store`, { durable: false });
  const mounts: string[] = [];
  try {
    await writeOciLayout(`${dir}/layout`, await fixtureImages());
    const app = await store.importImage(`${dir}/layout:app`);
    return {
      dir,
      store,
      app,
      mounts,
      async [Symbol.asyncDispose](): Promise<void> {
        for (const m of mounts.reverse()) {
          try {
            umount(m, 2);
          } catch {
            // already unmounted by the test
          }
        }
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function list(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(path)) out.push(e.name);
  return out.sort();
}

/** Every path under `root` with type, mode, owner, size, link target, content digest and xattrs. */
async function describeTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of await list(rel ? `${root}/${rel}` : root)) {
      const r = rel ? `${rel}/${name}` : name;
      const p = `${root}/${r}`;
      const st = statx(AT_FDCWD, p);
      const type = st.mode & 0o170000;
      const xattrs = llistxattr(p).sort().map((n) => `${n}=${lgetxattr(p, n)?.join(",")}`).join(
        ";",
      );
      let extra = "";
      if (type === 0o120000) extra = await Deno.readLink(p);
      else if (type === 0o100000) {
        extra = String((await Deno.readFile(p)).reduce((a, b) => (a * 31 + b) >>> 0, 7));
      } else if (type === 0o020000 || type === 0o060000) extra = `${st.rdevMajor}:${st.rdevMinor}`;
      const mtime = type === 0o040000 ? "" : `${st.mtime.sec}.${st.mtime.nsec}`;
      out.set(r, [st.mode.toString(8), st.uid, st.gid, st.size, mtime, extra, xattrs].join(" "));
      if (type === 0o040000) await walk(r);
    }
  };
  await walk("");
  return out;
}

Deno.test("mountOverlayRoot() hides files deleted by whiteouts and opaque dirs in upper layers", async () => {
  await using b = await box();
  const root = await prepareOverlayRoot(b.store.layerDirs(b.app), `${b.dir}/c1`);
  b.mounts.push(root.rootfs);
  const r = root.rootfs;
  assert.equal(await exists(`${r}/etc/to-delete`), false, "file whiteout");
  assert.equal(await exists(`${r}/usr/share/doc`), false, "directory whiteout");
  assert.deepEqual(await list(`${r}/olddir`), ["c"], "opaque directory");
  assert.equal(await Deno.readTextFile(`${r}/etc/hostname`), "app\n", "upper layer wins");
  assert.equal(await Deno.readTextFile(`${r}/etc/motd`), "layer 2\n");
  assert.equal((await Deno.stat(`${r}/usr/bin/suid-tool`)).mode! & 0o7777, 0o4755);
  assert.deepEqual(lgetxattr(`${r}/usr/bin/captool`, "security.capability"), CAP_NET_RAW_XATTR);
  assert.equal(
    statx(AT_FDCWD, `${r}/bin/busybox`).ino,
    statx(AT_FDCWD, `${r}/bin/busybox.hardlink`).ino,
  );
  const out = await new Deno.Command(`${r}/bin/busybox`, { args: ["cat", `${r}/olddir/c`] })
    .output();
  assert.equal(new TextDecoder().decode(out.stdout), "c\n");
  await releaseOverlayRoot(`${b.dir}/c1`);
  assert.equal(await exists(`${b.dir}/c1`), false);
});

Deno.test("prepareOverlayRoot() gives each container its own read/write layer; release removes it", async () => {
  await using b = await box();
  const lower = b.store.layerDirs(b.app);
  const one = await prepareOverlayRoot(lower, `${b.dir}/c1`);
  b.mounts.push(one.rootfs);
  const two = await prepareOverlayRoot(lower, `${b.dir}/c2`);
  b.mounts.push(two.rootfs);
  await Deno.writeTextFile(`${one.rootfs}/etc/hostname`, "changed\n");
  await Deno.writeTextFile(`${one.rootfs}/new-file`, "mine\n");
  await Deno.remove(`${one.rootfs}/etc/motd`);
  assert.equal(await Deno.readTextFile(`${two.rootfs}/etc/hostname`), "app\n");
  assert.equal(await exists(`${two.rootfs}/new-file`), false);
  assert.equal(await exists(`${two.rootfs}/etc/motd`), true);
  assert.equal(await Deno.readTextFile(`${one.upper}/new-file`), "mine\n", "writes land in upper");
  for (const d of lower) {
    assert.equal(await exists(`${d}/new-file`), false, "stored layers are not written");
  }
  assert.equal(await Deno.readTextFile(`${lower[2]}/etc/hostname`), "app\n");
  await releaseOverlayRoot(`${b.dir}/c1`);
  assert.equal(await exists(`${b.dir}/c1`), false);
  assert.equal(await Deno.readTextFile(`${two.rootfs}/etc/hostname`), "app\n");
  await releaseOverlayRoot(`${b.dir}/c2`);
});

Deno.test("mountOverlayRoot() refuses paths overlayfs would misparse", () => {
  assert.throws(
    () => mountOverlayRoot(["/a:b"], "/u", "/w", "/t"),
    /Cannot use "\/a:b" as an overlay lowerdir/,
  );
  assert.throws(() => mountOverlayRoot([], "/u", "/w", "/t"), /without layers/);
});

Deno.test("mountOverlayRoot() mounts more layers than fit in one page of options", async () => {
  await using b = await box();
  // 60 layers of ~70-byte paths: about 4.3 KB of lowerdir=, over the 4095-byte limit.
  const layers: string[] = [];
  const parent = `${b.dir}/${"p".repeat(40)}`;
  for (let i = 0; i < 60; i++) {
    const d = `${parent}/${String(i).padStart(64, "0")}`;
    await Deno.mkdir(d, { recursive: true });
    await Deno.writeTextFile(`${d}/f${i}`, String(i));
    layers.push(d);
  }
  for (const d of ["u", "w", "t"]) await Deno.mkdir(`${b.dir}/${d}`);
  const cwd = Deno.cwd();
  mountOverlayRoot(layers, `${b.dir}/u`, `${b.dir}/w`, `${b.dir}/t`);
  b.mounts.push(`${b.dir}/t`);
  assert.equal(Deno.cwd(), cwd, "the working directory is restored");
  assert.equal((await list(`${b.dir}/t`)).length, 60);
});

Deno.test("copyRoot() produces the same tree as the overlay mount", async () => {
  await using b = await box();
  const lower = b.store.layerDirs(b.app);
  const root = await prepareOverlayRoot(lower, `${b.dir}/ov`);
  b.mounts.push(root.rootfs);
  await Deno.mkdir(`${b.dir}/copy`);
  const stats = copyRoot(lower, `${b.dir}/copy`);
  assert.ok(stats.whiteouts >= 3);
  const expected = await describeTree(root.rootfs);
  const actual = await describeTree(`${b.dir}/copy`);
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [path, desc] of expected) assert.equal(actual.get(path), desc, path);
  assert.equal(
    statx(AT_FDCWD, `${b.dir}/copy/bin/busybox`).ino,
    statx(AT_FDCWD, `${b.dir}/copy/bin/busybox.hardlink`).ino,
    "hardlinks stay hardlinks",
  );
  await releaseOverlayRoot(`${b.dir}/ov`);
});

Deno.test("copyRoot() never writes through a symlink of a lower layer", async () => {
  await using b = await box();
  const outside = `${b.dir}/outside`;
  await Deno.mkdir(outside);
  const lower = `${b.dir}/l1`;
  const upper = `${b.dir}/l2`;
  await Deno.mkdir(lower);
  await Deno.symlink(outside, `${lower}/d`);
  await Deno.mkdir(`${upper}/d`, { recursive: true });
  await Deno.writeTextFile(`${upper}/d/x`, "inside");
  await Deno.mkdir(`${b.dir}/copy`);
  copyRoot([lower, upper], `${b.dir}/copy`);
  assert.deepEqual(await list(outside), []);
  assert.equal(await Deno.readTextFile(`${b.dir}/copy/d/x`), "inside");
  assert.ok((await Deno.lstat(`${b.dir}/copy/d`)).isDirectory);
});
