/**
 * Unpack benchmark: a real-size image layer unpacked by Skiff (LayerStore.importImage: verify +
 * decompress + unpack), by `umoci unpack` and by GNU tar, side by side; then the time to a second
 * container root from the already stored image (an overlay mount, no copying; target < 50 ms).
 *
 * Usage: deno run -A scripts/bench/unpack_bench.ts [--rootfs DIR] [--work DIR] [--runs N]
 *   --rootfs  the tree to pack as the layer (default /var/tmp/skiff-bench/rootfs, made with
 *             `debootstrap --variant=minbase bookworm DIR`; falls back to /usr/share)
 *   --work    scratch directory (default /var/tmp/skiff-bench/work), on the same fs as the store
 */
import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { LayerStore } from "../../runtime/assembler/layer_store.ts";
import { prepareOverlayRoot, releaseOverlayRoot } from "../../runtime/assembler/snapshot.ts";
import { MEDIA_TYPES, REF_NAME_ANNOTATION } from "../../spec/image.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rootfs: { type: "string", default: "/var/tmp/skiff-bench/rootfs" },
    work: { type: "string", default: "/var/tmp/skiff-bench/work" },
    runs: { type: "string", default: "3" },
  },
});
const runs = Number(values.runs);
const work = values.work!;

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function fileDigest(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  const f = await Deno.open(path);
  for await (const c of f.readable) {
    hash.update(c);
    size += c.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

async function writeBlob(
  layout: string,
  bytes: Uint8Array,
): Promise<{ digest: string; size: number }> {
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  await Deno.writeFile(`${layout}/blobs/sha256/${digest.slice(7)}`, bytes);
  return { digest, size: bytes.length };
}

/** Packs the rootfs as one gzip layer of an OCI layout named "bench". */
async function prepare(rootfs: string): Promise<{ layout: string; tar: string; tgz: string }> {
  const tar = `${work}/layer.tar`;
  const tgz = `${work}/layer.tar.gz`;
  const layout = `${work}/layout`;
  if (!(await exists(tgz))) {
    await Deno.mkdir(work, { recursive: true });
    await sh("tar", [
      "--numeric-owner",
      "--xattrs",
      "--xattrs-include=*",
      "-C",
      rootfs,
      "-cf",
      tar,
      ".",
    ]);
    await sh("sh", ["-c", `gzip -6 -c ${tar} > ${tgz}`]);
  }
  await Deno.remove(layout, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  const diff = await fileDigest(tar);
  const blob = await fileDigest(tgz);
  await Deno.link(tgz, `${layout}/blobs/sha256/${blob.digest.slice(7)}`);
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  const enc = new TextEncoder();
  const config = await writeBlob(
    layout,
    enc.encode(JSON.stringify({
      architecture: arch,
      os: "linux",
      config: { Cmd: ["/bin/bash"] },
      rootfs: { type: "layers", diff_ids: [diff.digest] },
    })),
  );
  const manifest = await writeBlob(
    layout,
    enc.encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...blob }],
    })),
  );
  await Deno.writeTextFile(`${layout}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${layout}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: MEDIA_TYPES.ociManifest,
        ...manifest,
        annotations: { [REF_NAME_ANNOTATION]: "bench" },
      }],
    }),
  );
  return { layout, tar, tgz };
}

/** Runs `fn` after writing back dirty pages, so each run starts from the same state. */
async function timed(fn: () => Promise<void>): Promise<number> {
  await sh("sync", []);
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  let rootfs = values.rootfs!;
  if (!(await exists(`${rootfs}/usr`))) {
    console.error(`${rootfs} has no usr/: using /usr/share as the layer instead`);
    rootfs = "/usr/share";
  }
  const { layout, tar, tgz } = await prepare(rootfs);
  const tarSize = (await Deno.stat(tar)).size;
  const tgzSize = (await Deno.stat(tgz)).size;
  const hasUmoci = await exists("/usr/bin/umoci") || await exists("/usr/sbin/umoci");
  const results: Record<string, number[]> = {};
  const add = (k: string, v: number): void => {
    (results[k] ??= []).push(v);
  };
  for (let i = 0; i < runs; i++) {
    const dir = `${work}/run`;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dir, { recursive: true });

    const contenders: [string, () => Promise<void>][] = [
      ["skiff import (gzip, verify, syncfs)", async () => {
        await new LayerStore(`${dir}/store-durable`).importImage(`${layout}:bench`);
      }],
      ["skiff import (gzip, verify, no syncfs)", async () => {
        await new LayerStore(`${dir}/store`, { durable: false }).importImage(`${layout}:bench`);
      }],
      ["GNU tar -xzpf (gzip)", async () => {
        await Deno.mkdir(`${dir}/tgz`);
        await sh("tar", [
          "--numeric-owner",
          "--xattrs",
          "--xattrs-include=*",
          "-xzpf",
          tgz,
          "-C",
          `${dir}/tgz`,
        ]);
      }],
      ["GNU tar -xpf (uncompressed)", async () => {
        await Deno.mkdir(`${dir}/tar`);
        await sh("tar", [
          "--numeric-owner",
          "--xattrs",
          "--xattrs-include=*",
          "-xpf",
          tar,
          "-C",
          `${dir}/tar`,
        ]);
      }],
    ];
    if (hasUmoci) {
      contenders.push([
        "umoci unpack (gzip)",
        () => sh("umoci", ["unpack", "--image", `${layout}:bench`, `${dir}/umoci`]),
      ]);
    }
    // Rotate the order each run: the disk's writeback of the previous run weighs on the next.
    for (let k = 0; k < contenders.length; k++) {
      const [name, fn] = contenders[(k + i) % contenders.length];
      add(name, await timed(fn));
    }

    // A second container from the stored image: look it up, mount an overlay, unmount.
    const store = new LayerStore(`${dir}/store`, { durable: false });
    const times: number[] = [];
    for (let j = 0; j < 20; j++) {
      const c = `${dir}/containers/c${j}`;
      const t = performance.now();
      const image = await store.getImage("bench");
      await prepareOverlayRoot(store.layerDirs(image!), c);
      times.push(performance.now() - t);
      await releaseOverlayRoot(c);
    }
    add("second container root (overlay mount)", median(times));
    await Deno.remove(dir, { recursive: true });
    await sh("sync", []);
  }
  console.log(
    `layer: ${rootfs}, tar ${(tarSize / 1e6).toFixed(0)} MB, gzip ${
      (tgzSize / 1e6).toFixed(0)
    } MB, ${runs} runs, ${navigator.hardwareConcurrency} CPUs`,
  );
  console.log("| what | median | runs |");
  console.log("|---|---|---|");
  for (const [k, v] of Object.entries(results)) {
    const fmt = (
      x: number,
    ): string => (x >= 100 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
    console.log(`| ${k} | ${fmt(median(v))} | ${v.map(fmt).join(", ")} |`);
  }
}

if (import.meta.main) await main();
