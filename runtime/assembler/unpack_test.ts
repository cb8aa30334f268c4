import assert from "node:assert/strict";
import { normalizeEntryPath, unpackLayer, UnsafeEntryError } from "./unpack.ts";
import { type TarWriterEntry, writeTar } from "./tar_writer.ts";
import { statx, type StatxResult } from "../../ffi/file_attrs.ts";
import { AT_FDCWD } from "../../ffi/constants.ts";
import { lgetxattr } from "../../ffi/xattr.ts";

const S_IFMT = 0o170000;

/** A stream of `data` in awkward chunk sizes, to cross every block boundary. */
function chunked(
  data: Uint8Array,
  sizes = [1, 7, 511, 513, 4096, 100_000],
): ReadableStream<Uint8Array> {
  let offset = 0;
  let i = 0;
  return new ReadableStream({
    pull(controller): void {
      if (offset >= data.length) return controller.close();
      const n = sizes[i++ % sizes.length];
      controller.enqueue(data.slice(offset, offset + n));
      offset += n;
    },
  });
}

function lst(path: string): StatxResult {
  return statx(AT_FDCWD, path);
}

function fileType(path: string): number {
  return lst(path).mode & S_IFMT;
}

/** A temp dir with `layer/` (where layers go) and `outside/secret` (which must never change). */
async function sandbox(): Promise<
  { base: string; layer: string; outside: string; [Symbol.asyncDispose](): Promise<void> }
> {
  const base = await Deno.makeTempDir({ prefix: "skiff-unpack-" });
  const layer = `${base}/layer`;
  const outside = `${base}/outside`;
  await Deno.mkdir(layer);
  await Deno.mkdir(outside);
  await Deno.writeTextFile(`${outside}/secret`, "secret");
  return {
    base,
    layer,
    outside,
    async [Symbol.asyncDispose](): Promise<void> {
      await Deno.remove(base, { recursive: true });
    },
  };
}

async function assertOutsideUntouched(outside: string): Promise<void> {
  const names = [];
  for await (const e of Deno.readDir(outside)) names.push(e.name);
  assert.deepEqual(names, ["secret"]);
  assert.equal(await Deno.readTextFile(`${outside}/secret`), "secret");
  assert.equal(lst(`${outside}/secret`).nlink, 1);
}

async function unpack(entries: TarWriterEntry[], dir: string): Promise<void> {
  await unpackLayer(chunked(writeTar(entries)), dir);
}

Deno.test("normalizeEntryPath() strips leading slashes and dots, and refuses '..'", () => {
  assert.equal(normalizeEntryPath("./etc/passwd"), "etc/passwd");
  assert.equal(normalizeEntryPath("/etc//passwd/"), "etc/passwd");
  assert.equal(normalizeEntryPath("./"), "");
  assert.equal(normalizeEntryPath("/"), "");
  assert.throws(() => normalizeEntryPath("a/../b"), UnsafeEntryError);
  assert.throws(() => normalizeEntryPath("../b"), /refusing layer entry "..\/b"/);
  assert.throws(() => normalizeEntryPath("a\0b"), /NUL/);
});

Deno.test("unpackLayer() round-trips every entry type and attribute", async () => {
  await using box = await sandbox();
  const cap = new Uint8Array([1, 0, 0, 2, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const longName = `deep/${"d".repeat(120)}/${"f".repeat(150)}`;
  await unpack([
    { name: "./", type: "directory", mode: 0o755, mtime: 1_600_000_000 },
    {
      name: "./etc/",
      type: "directory",
      mode: 0o750,
      uid: 1000,
      gid: 1001,
      mtime: { sec: 1_500_000_000, nsec: 123_456_789 },
    },
    {
      name: "./etc/hosts",
      data: "127.0.0.1 localhost\n",
      mode: 0o644,
      uid: 1000,
      gid: 1001,
      mtime: { sec: 1_400_000_000, nsec: 5 },
    },
    {
      name: "./bin/ping",
      data: "ELF",
      mode: 0o4755,
      uid: 0,
      gid: 0,
      xattrs: { "security.capability": cap, "user.note": "hello" },
    },
    { name: "./bin/sgid", data: "x", mode: 0o2711, uid: 5, gid: 6 },
    { name: "./tmp/", type: "directory", mode: 0o1777 },
    {
      name: "./bin/sh",
      type: "symlink",
      linkname: "/bin/busybox",
      uid: 7,
      gid: 8,
      mtime: 1_300_000_000,
    },
    { name: "./etc/hosts.link", type: "hardlink", linkname: "./etc/hosts" },
    { name: "./dev/null", type: "chardev", devmajor: 1, devminor: 3, mode: 0o666 },
    { name: "./dev/loop0", type: "blockdev", devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
    { name: "./run/fifo", type: "fifo", mode: 0o620, mtime: 1_200_000_000 },
    { name: longName, data: "long", mode: 0o600 },
    { name: "./empty", data: "", mode: 0o400 },
  ], box.layer);
  const L = box.layer;

  const etc = lst(`${L}/etc`);
  assert.equal(etc.mode, 0o040750);
  assert.deepEqual([etc.uid, etc.gid], [1000, 1001]);
  assert.deepEqual(
    etc.mtime,
    { sec: 1_500_000_000, nsec: 123_456_789 },
    "dir mtime set after its children",
  );
  assert.equal(lst(L).mtime.sec, 1_600_000_000);

  const hosts = lst(`${L}/etc/hosts`);
  assert.equal(await Deno.readTextFile(`${L}/etc/hosts`), "127.0.0.1 localhost\n");
  assert.equal(hosts.mode, 0o100644);
  assert.deepEqual([hosts.uid, hosts.gid, hosts.nlink], [1000, 1001, 2]);
  assert.deepEqual(hosts.mtime, { sec: 1_400_000_000, nsec: 5 });
  assert.equal(lst(`${L}/etc/hosts.link`).ino, hosts.ino);

  assert.equal(lst(`${L}/bin/ping`).mode, 0o104755, "setuid kept");
  assert.deepEqual(lgetxattr(`${L}/bin/ping`, "security.capability"), cap);
  assert.equal(new TextDecoder().decode(lgetxattr(`${L}/bin/ping`, "user.note")), "hello");
  const sgid = lst(`${L}/bin/sgid`);
  assert.equal(sgid.mode, 0o102711, "setgid kept after chown");
  assert.deepEqual([sgid.uid, sgid.gid], [5, 6]);
  assert.equal(lst(`${L}/tmp`).mode, 0o041777, "sticky bit kept");

  const sh = lst(`${L}/bin/sh`);
  assert.equal(sh.mode & S_IFMT, 0o120000);
  assert.equal(await Deno.readLink(`${L}/bin/sh`), "/bin/busybox");
  assert.deepEqual([sh.uid, sh.gid], [7, 8], "symlink owner set with lchown");
  assert.equal(sh.mtime.sec, 1_300_000_000, "symlink mtime set without following it");

  const dnull = lst(`${L}/dev/null`);
  assert.equal(dnull.mode, 0o020666);
  assert.deepEqual([dnull.rdevMajor, dnull.rdevMinor], [1, 3]);
  const loop = lst(`${L}/dev/loop0`);
  assert.equal(loop.mode, 0o060660);
  assert.deepEqual([loop.rdevMajor, loop.rdevMinor, loop.gid], [7, 0, 6]);
  const fifo = lst(`${L}/run/fifo`);
  assert.equal(fifo.mode, 0o010620);
  assert.equal(fifo.mtime.sec, 1_200_000_000);

  assert.equal(await Deno.readTextFile(`${L}/${longName}`), "long");
  assert.equal(lst(`${L}/empty`).size, 0);
  assert.equal(lst(`${L}/dev`).mode, 0o040755, "implicit parent directories are 0755");
});

Deno.test("unpackLayer() reads GNU long names and link names", async () => {
  await using box = await sandbox();
  const name = `${"n".repeat(90)}/${"m".repeat(90)}/file`;
  const link = `${"l".repeat(90)}/${"k".repeat(90)}/link`;
  const tar = writeTar([
    { name, data: "x" },
    { name: link, type: "symlink", linkname: "/".repeat(1) + name },
  ], { gnuLongNames: true });
  await unpackLayer(chunked(tar), box.layer);
  assert.equal(await Deno.readTextFile(`${box.layer}/${name}`), "x");
  assert.equal(await Deno.readLink(`${box.layer}/${link}`), `/${name}`);
});

Deno.test("unpackLayer() writes whiteouts and opaque directories in overlayfs form", async () => {
  await using box = await sandbox();
  await unpack([
    { name: "etc/", type: "directory" },
    { name: "etc/.wh.motd", data: "" },
    { name: "var/lib/.wh..wh..opq", data: "" },
    { name: "var/lib/new", data: "n" },
    { name: "usr/.wh..wh.plnk", type: "directory" },
  ], box.layer);
  const wh = lst(`${box.layer}/etc/motd`);
  assert.equal(wh.mode & S_IFMT, 0o020000);
  assert.deepEqual([wh.rdevMajor, wh.rdevMinor], [0, 0]);
  assert.equal(
    new TextDecoder().decode(lgetxattr(`${box.layer}/var/lib`, "trusted.overlay.opaque")),
    "y",
  );
  assert.equal(await Deno.readTextFile(`${box.layer}/var/lib/new`), "n");
  await assert.rejects(Deno.lstat(`${box.layer}/etc/.wh.motd`), Deno.errors.NotFound);
  await assert.rejects(Deno.lstat(`${box.layer}/usr/.wh..wh.plnk`), Deno.errors.NotFound);
});

Deno.test("unpackLayer() does not take trusted.overlay.* xattrs from the tar", async () => {
  await using box = await sandbox();
  const stats = await unpackLayer(
    chunked(writeTar([{
      name: "d/",
      type: "directory",
      xattrs: { "trusted.overlay.redirect": "/etc", "user.ok": "1" },
    }])),
    box.layer,
  );
  assert.equal(stats.skippedXattrs, 1);
  assert.equal(lgetxattr(`${box.layer}/d`, "trusted.overlay.redirect"), undefined);
});

Deno.test("unpackLayer() replaces an earlier entry of the same name", async () => {
  await using box = await sandbox();
  await unpack([
    { name: "a/", type: "directory" },
    { name: "a/inner", data: "1" },
    { name: "a", data: "now a file" },
    { name: "b", data: "file" },
    { name: "b/", type: "directory", mode: 0o711 },
    { name: "b/c", data: "c" },
    { name: "d/", type: "directory", mode: 0o700 },
    { name: "d/keep", data: "k" },
    { name: "d/", type: "directory", mode: 0o755 },
  ], box.layer);
  assert.equal(await Deno.readTextFile(`${box.layer}/a`), "now a file");
  assert.equal(lst(`${box.layer}/b`).mode, 0o040711);
  assert.equal(await Deno.readTextFile(`${box.layer}/b/c`), "c");
  assert.equal(await Deno.readTextFile(`${box.layer}/d/keep`), "k", "a directory entry merges");
  assert.equal(lst(`${box.layer}/d`).mode, 0o040755);
});

Deno.test("unpackLayer() strips a leading '/' and keeps absolute entries inside the layer", async () => {
  await using box = await sandbox();
  await unpack([{ name: `/${box.outside.slice(1)}/secret`, data: "pwned" }], box.layer);
  await assertOutsideUntouched(box.outside);
  assert.equal(await Deno.readTextFile(`${box.layer}${box.outside}/secret`), "pwned");
});

const hostile: {
  title: string;
  entries: (outside: string) => TarWriterEntry[];
  message: RegExp;
}[] = [
  {
    title: "a name with '..'",
    entries: () => [{ name: "../outside/secret", data: "pwned" }],
    message: /refusing layer entry "..\/outside\/secret": name contains a ".." component/,
  },
  {
    title: "a name whose '..' would stay inside",
    entries: () => [{ name: "a/../b", data: "x" }],
    message: /refusing layer entry "a\/..\/b"/,
  },
  {
    title: "a PAX path with '..'",
    entries: () => [{ name: `../${"x".repeat(120)}`, data: "pwned" }],
    message: /name contains a ".." component/,
  },
  {
    title: "a file written through a symlinked parent",
    entries: (outside) => [
      { name: "evil", type: "symlink", linkname: outside },
      { name: "evil/secret", data: "pwned" },
    ],
    message: /refusing layer entry "evil\/secret": parent "evil" is a symlink/,
  },
  {
    title: "a file written through a relative symlink chain",
    entries: () => [
      { name: "a/", type: "directory" },
      { name: "a/up", type: "symlink", linkname: "../.." },
      { name: "a/up/outside/secret", data: "pwned" },
    ],
    message: /parent "a\/up" is a symlink/,
  },
  {
    title: "a directory created through a symlinked parent",
    entries: (outside) => [
      { name: "evil", type: "symlink", linkname: outside },
      { name: "evil/newdir/", type: "directory" },
    ],
    message: /parent "evil" is a symlink/,
  },
  {
    title: "a hardlink to a file outside the layer",
    entries: () => [{ name: "h", type: "hardlink", linkname: "../outside/secret" }],
    message:
      /refusing layer entry "h": hardlink target "..\/outside\/secret": name contains a ".." component/,
  },
  {
    title: "a hardlink to an absolute host path",
    entries: (outside) => [{ name: "h", type: "hardlink", linkname: `${outside}/secret` }],
    message: /refusing layer entry "h": hardlink target ".*" is not in this layer/,
  },
  {
    title: "a hardlink through a symlinked parent",
    entries: (outside) => [
      { name: "evil", type: "symlink", linkname: outside },
      { name: "h", type: "hardlink", linkname: "evil/secret" },
    ],
    message: /refusing layer entry "h": parent "evil" is a symlink/,
  },
  {
    title: "a whiteout through a symlinked parent",
    entries: (outside) => [
      { name: "evil", type: "symlink", linkname: outside },
      { name: "evil/.wh.secret", data: "" },
    ],
    message: /parent "evil" is a symlink/,
  },
  {
    title: "an opaque marker through a symlinked parent",
    entries: (outside) => [
      { name: "evil", type: "symlink", linkname: outside },
      { name: "evil/.wh..wh..opq", data: "" },
    ],
    message: /parent "evil" is a symlink/,
  },
  {
    title: "an unsupported entry type",
    entries: () => [{ name: "sparse", typeflag: "S", data: "x" }],
    message: /refusing layer entry "sparse": unsupported entry type 'S'/,
  },
];

for (const h of hostile) {
  Deno.test(`unpackLayer() refuses ${h.title} and touches nothing outside`, async () => {
    await using box = await sandbox();
    await assert.rejects(unpack(h.entries(box.outside), box.layer), (err: Error) => {
      assert.ok(err instanceof UnsafeEntryError, `${err}`);
      assert.match(err.message, h.message);
      return true;
    });
    await assertOutsideUntouched(box.outside);
  });
}

Deno.test("unpackLayer() links a symlink itself, not its target, for a hardlink to a symlink", async () => {
  await using box = await sandbox();
  await unpack([
    { name: "s", type: "symlink", linkname: `${box.outside}/secret` },
    { name: "h", type: "hardlink", linkname: "s" },
  ], box.layer);
  assert.equal(fileType(`${box.layer}/h`), 0o120000);
  assert.equal(lst(`${box.layer}/h`).ino, lst(`${box.layer}/s`).ino);
  await assertOutsideUntouched(box.outside);
});

Deno.test("unpackLayer() replaces a symlink instead of writing through it", async () => {
  await using box = await sandbox();
  await unpack([
    { name: "f", type: "symlink", linkname: `${box.outside}/secret` },
    { name: "f", data: "inside" },
    { name: "d", type: "symlink", linkname: box.outside },
    { name: "d/", type: "directory" },
    { name: "d/secret", data: "inside" },
  ], box.layer);
  assert.equal(await Deno.readTextFile(`${box.layer}/f`), "inside");
  assert.equal(fileType(`${box.layer}/d`), 0o040000);
  await assertOutsideUntouched(box.outside);
});

Deno.test("unpackLayer() refuses a hardlink to a directory or to a missing file", async () => {
  await using box = await sandbox();
  await assert.rejects(
    unpack(
      [{ name: "d/", type: "directory" }, { name: "h", type: "hardlink", linkname: "d" }],
      box.layer,
    ),
    /refusing layer entry "h": hardlink target "d" is a directory/,
  );
  await assert.rejects(
    unpack([{ name: "h2", type: "hardlink", linkname: "nope" }], box.layer),
    /refusing layer entry "h2": hardlink target "nope" is not in this layer/,
  );
});

Deno.test("unpackLayer() reports a truncated archive naming the offset", async () => {
  await using box = await sandbox();
  const tar = writeTar([{ name: "big", data: "x".repeat(5000) }]);
  await assert.rejects(unpackLayer(chunked(tar.subarray(0, 2000)), box.layer), (err: Error) => {
    assert.match(err.message, /Cannot unpack layer entry "big"/);
    assert.match(
      String(err.cause),
      /unexpected end of archive \(3512 bytes missing\) \(at byte 2000\)/,
    );
    return true;
  });
});

Deno.test("unpackLayer() keeps hardlinks right across more directories than it keeps open", async () => {
  await using box = await sandbox();
  const entries: TarWriterEntry[] = [];
  for (let i = 0; i < 700; i++) {
    entries.push({ name: `d${i}/sub/f`, data: String(i), mtime: 1_000_000 + i });
    if (i > 0) {
      entries.push({ name: `d${i}/sub/prev`, type: "hardlink", linkname: `d${i - 1}/sub/f` });
    }
  }
  await unpack(entries, box.layer);
  for (const i of [1, 300, 699]) {
    assert.equal(lst(`${box.layer}/d${i}/sub/prev`).ino, lst(`${box.layer}/d${i - 1}/sub/f`).ino);
  }
  assert.equal(lst(`${box.layer}/d699/sub/f`).mtime.sec, 1_000_699);
});

Deno.test("unpackLayer() refuses a hardlink that would replace its own target's directory", async () => {
  await using box = await sandbox();
  await assert.rejects(
    unpack(
      [{ name: "a/b", data: "x" }, { name: "a", type: "hardlink", linkname: "a/b" }],
      box.layer,
    ),
    /refusing layer entry "a": hardlink to itself or to a path below itself/,
  );
});
