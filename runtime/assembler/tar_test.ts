import assert from "node:assert/strict";
import { parsePaxRecords, parsePaxTime, readTar, type TarHeader } from "./tar.ts";
import { writeTar } from "./tar_writer.ts";
import {
  compressionForMediaType,
  detectCompression,
  DigestTransform,
  openLayer,
  verifyingStream,
} from "./decompress.ts";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { loadNodeBuiltins } from "./node_builtins.ts";

await loadNodeBuiltins();

function streamOf(data: Uint8Array, chunk = 777): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(c): void {
      if (offset >= data.length) return c.close();
      c.enqueue(data.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

async function entries(data: Uint8Array): Promise<{ header: TarHeader; body: string }[]> {
  const out = [];
  for await (const e of readTar(streamOf(data))) {
    let body = "";
    for await (const c of e.body) body += new TextDecoder().decode(c);
    out.push({ header: e.header, body });
  }
  return out;
}

function sha256(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

Deno.test("readTar() reads ustar headers, bodies and the ustar prefix field", async () => {
  const data = writeTar([
    {
      name: "a.txt",
      data: "hello",
      mode: 0o640,
      uid: 12,
      gid: 34,
      uname: "u",
      gname: "g",
      mtime: 1234,
    },
    { name: "dir/", type: "directory" },
    { name: "dev", type: "blockdev", devmajor: 8, devminor: 1 },
  ]);
  const got = await entries(data);
  assert.equal(got.length, 3);
  const [a, dir, dev] = got;
  assert.equal(a.body, "hello");
  assert.deepEqual(
    [
      a.header.name,
      a.header.type,
      a.header.mode,
      a.header.uid,
      a.header.gid,
      a.header.uname,
      a.header.gname,
    ],
    ["a.txt", "file", 0o640, 12, 34, "u", "g"],
  );
  assert.deepEqual(a.header.mtime, { sec: 1234, nsec: 0 });
  assert.equal(dir.header.type, "directory");
  assert.deepEqual([dev.header.type, dev.header.devmajor, dev.header.devminor], ["blockdev", 8, 1]);

  // GNU tar splits long names into prefix + name in ustar format.
  const dirName = "p".repeat(120);
  const out = await new Deno.Command("tar", {
    args: [
      "--format=ustar",
      "-cf",
      "-",
      "-C",
      "/",
      "--transform",
      `s|^|${dirName}/|`,
      "etc/hostname",
    ],
    stdout: "piped",
  }).output();
  const [gnu] = await entries(out.stdout);
  assert.equal(gnu.header.name, `${dirName}/etc/hostname`);
});

Deno.test("readTar() applies PAX path, linkpath, size, ids, times and SCHILY.xattr records", async () => {
  const name = `${"n".repeat(150)}/file`;
  const data = writeTar([
    {
      name,
      data: "x",
      uid: 3_000_000,
      mtime: { sec: 1_700_000_000, nsec: 42 },
      xattrs: { "user.a": "1" },
    },
    { name: "l", type: "symlink", linkname: "t".repeat(200) },
  ]);
  const [f, l] = await entries(data);
  assert.equal(f.header.name, name);
  assert.equal(f.header.uid, 3_000_000);
  assert.deepEqual(f.header.mtime, { sec: 1_700_000_000, nsec: 42 });
  assert.deepEqual([...f.header.xattrs.keys()], ["user.a"]);
  assert.equal(l.header.linkname, "t".repeat(200));
  assert.equal(l.header.xattrs.size, 0, "PAX records apply to one entry only");
});

Deno.test("readTar() reads what GNU tar writes in pax format, incl. xattrs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/f`, "data");
    const setfattr = await new Deno.Command("setfattr", {
      args: ["-n", "user.k", "-v", "v", `${dir}/f`],
    }).output();
    assert.equal(setfattr.code, 0);
    const out = await new Deno.Command("tar", {
      args: ["--format=pax", "--xattrs", "--xattrs-include=*", "-cf", "-", "-C", dir, "f"],
      stdout: "piped",
    }).output();
    const [f] = await entries(out.stdout);
    assert.equal(f.body, "data");
    assert.equal(new TextDecoder().decode(f.header.xattrs.get("user.k")), "v");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readTar() skips bodies the consumer does not read and drains the stream to the end", async () => {
  const data = writeTar([{ name: "a", data: "x".repeat(3000) }, { name: "b", data: "y" }]);
  const padded = new Uint8Array(data.length + 10240);
  padded.set(data);
  const digest = new DigestTransform();
  const names = [];
  for await (const e of readTar(streamOf(padded).pipeThrough(digest))) names.push(e.header.name);
  assert.deepEqual(names, ["a", "b"]);
  assert.equal(digest.digest, sha256(padded), "the digest covers the trailing padding");
});

Deno.test("readTar() refuses a header with a bad checksum, naming the offset", async () => {
  const data = writeTar([{ name: "a", data: "x" }, { name: "b", data: "y" }]);
  data[1024 + 10] ^= 1;
  await assert.rejects(entries(data), /header checksum mismatch.*\(at byte 1024\)/);
});

Deno.test("parsePaxTime() and parsePaxRecords() handle fractions, negatives and binary values", () => {
  assert.deepEqual(parsePaxTime("1.5"), { sec: 1, nsec: 500_000_000 });
  assert.deepEqual(parsePaxTime("-1.25"), { sec: -2, nsec: 750_000_000 });
  const body = new TextEncoder().encode("14 a=\u0000\u0001\n");
  // "7 a=" + the bytes 0x00 0x01 + "\n" is 7 bytes, counting the length field itself.
  const fixed = new TextEncoder().encode("7 a=\u0000\u0001\n");
  assert.deepEqual(parsePaxRecords(fixed).map((r) => [r.key, [...r.value]]), [["a", [0, 1]]]);
  assert.throws(() => parsePaxRecords(body), /bad length/);
});

Deno.test("detectCompression() and compressionForMediaType() agree on gzip, zstd and tar", () => {
  assert.equal(detectCompression(new Uint8Array(zlib.gzipSync("x"))), "gzip");
  assert.equal(detectCompression(new Uint8Array(zlib.zstdCompressSync("x"))), "zstd");
  assert.equal(detectCompression(new TextEncoder().encode("file")), "none");
  assert.equal(compressionForMediaType("application/vnd.oci.image.layer.v1.tar+zstd"), "zstd");
  assert.equal(
    compressionForMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip"),
    "gzip",
  );
  assert.equal(compressionForMediaType("application/vnd.oci.image.layer.v1.tar"), "none");
  assert.equal(compressionForMediaType("application/vnd.oci.image.config.v1+json"), undefined);
});

for (const c of ["gzip", "zstd", "none"] as const) {
  Deno.test(`openLayer() streams a ${c} layer and computes its blob digest and diffID`, async () => {
    const tar = writeTar([{ name: "f", data: "z".repeat(200_000) }]);
    const blob = c === "gzip"
      ? new Uint8Array(zlib.gzipSync(tar))
      : c === "zstd"
      ? new Uint8Array(zlib.zstdCompressSync(tar))
      : tar;
    const mediaType = c === "none"
      ? "application/vnd.oci.image.layer.v1.tar"
      : `application/vnd.oci.image.layer.v1.tar+${c}`;
    const layer = await openLayer(streamOf(blob, 1000), mediaType, "test layer");
    let size = 0;
    for await (const e of readTar(layer.tar)) {
      for await (const chunk of e.body) size += chunk.length;
    }
    assert.equal(size, 200_000);
    assert.equal(layer.blob.digest, sha256(blob));
    assert.equal(layer.diff.digest, sha256(tar));
    assert.equal(layer.diff.size, tar.length);
  });
}

Deno.test("openLayer() refuses a blob whose magic bytes contradict its media type", async () => {
  const tar = writeTar([{ name: "f", data: "x" }]);
  await assert.rejects(
    openLayer(streamOf(tar), "application/vnd.oci.image.layer.v1.tar+gzip", "layer 0"),
    /layer 0: media type ".*\+gzip" says gzip but the blob starts like none/,
  );
});

Deno.test("verifyingStream() errors at the end on a digest or size mismatch", async () => {
  const data = new TextEncoder().encode("content");
  const read = async (s: ReadableStream<Uint8Array>): Promise<void> => {
    for await (const _ of s) { /* drain */ }
  };
  await read(verifyingStream(streamOf(data), { digest: sha256(data), size: data.length }, "blob"));
  await assert.rejects(
    read(
      verifyingStream(
        streamOf(data),
        { digest: sha256(new Uint8Array(1)), size: data.length },
        "blob",
      ),
    ),
    /blob: digest mismatch/,
  );
  await assert.rejects(
    read(verifyingStream(streamOf(data), { digest: sha256(data), size: 3 }, "blob")),
    /blob: blob is larger than its descriptor's size 3/,
  );
  await assert.rejects(
    read(verifyingStream(streamOf(data), { digest: sha256(data), size: 99 }, "blob")),
    /size mismatch: descriptor says 99, blob has 7/,
  );
});
