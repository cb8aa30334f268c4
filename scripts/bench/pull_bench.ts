/**
 * Pull benchmark (issue 14): from a local registry (tests/_helpers/registry.ts: docker-registry
 * with TLS and htpasswd auth), `skiff image pull` of a Debian minbase image against `skopeo copy`
 * + `umoci unpack`, and against `podman pull`; then the time and the bytes of pulling a second
 * image that shares the base (bytes counted by the test proxy in front of the registry).
 *
 * Usage: deno run -A scripts/bench/pull_bench.ts [--rootfs DIR] [--work DIR] [--runs N]
 *   --rootfs  the base layer's tree (default /var/tmp/skiff-bench/rootfs, made with
 *             `debootstrap --variant=minbase bookworm DIR`)
 *   --work    scratch directory for the stores (default /dev/shm/skiff-pull-bench)
 * Needs dist/skiff (deno task build), docker-registry, skopeo, umoci, podman.
 */
import { parseArgs } from "node:util";
import { join } from "../../runtime/path.ts";
import { FIXTURE_MTIME, writeOciLayout } from "../fixtures/oci_image.ts";
import type { TarWriterEntry } from "../../runtime/assembler/tar_writer.ts";
import { PASSWORD, startProxy, startRegistry, USER } from "../../tests/_helpers/registry.ts";
import { SKIFF } from "../../tests/_helpers/paths.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rootfs: { type: "string", default: "/var/tmp/skiff-bench/rootfs" },
    work: { type: "string", default: "/dev/shm/skiff-pull-bench" },
    runs: { type: "string", default: "3" },
  },
});
const runs = Number(values.runs);
const work = values.work!;

async function sh(cmd: string, args: string[], env?: Record<string, string>): Promise<void> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The rootfs as tar entries (regular files, dirs, symlinks; hardlinks as copies). */
async function treeEntries(root: string): Promise<TarWriterEntry[]> {
  const out: TarWriterEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(rel ? `${root}/${rel}` : root)) names.push(e);
    names.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of names) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const st = await Deno.lstat(`${root}/${p}`);
      const mode = st.mode! & 0o7777;
      if (e.isSymlink) {
        out.push({
          name: p,
          type: "symlink",
          linkname: await Deno.readLink(`${root}/${p}`),
          mtime: FIXTURE_MTIME,
        });
      } else if (e.isDirectory) {
        out.push({ name: `${p}/`, type: "directory", mode, mtime: FIXTURE_MTIME });
        await walk(p);
      } else if (e.isFile) {
        out.push({
          name: p,
          data: await Deno.readFile(`${root}/${p}`),
          mode,
          mtime: FIXTURE_MTIME,
        });
      }
    }
  };
  await walk("");
  return out;
}

async function main(): Promise<void> {
  await Deno.remove(work, { recursive: true }).catch(() => {});
  await Deno.mkdir(work, { recursive: true });
  await using registry = await startRegistry("htpasswd");
  await using proxy = startProxy(registry);
  const base = { entries: await treeEntries(values.rootfs!), compression: "gzip" as const };
  const extra = { entries: [] as TarWriterEntry[], compression: "gzip" as const };
  for (let i = 0; i < 64; i++) {
    const data = crypto.getRandomValues(new Uint8Array(64 << 10));
    extra.entries.push({ name: `app/f${i}`, data, mode: 0o644, mtime: FIXTURE_MTIME });
  }
  const layout = join(work, "layout");
  const built = await writeOciLayout(layout, [
    { name: "base", layers: [base] },
    { name: "app", layers: [base, extra] },
  ]);
  await registry.push(layout, "base", "deb:base");
  await registry.push(layout, "app", "deb:app");
  await Deno.remove(layout, { recursive: true });
  const regConfig = join(work, "registries.json");
  await Deno.writeTextFile(
    regConfig,
    JSON.stringify({
      registries: { [registry.host]: { ca: registry.ca }, [proxy.host]: { insecure: true } },
    }),
  );
  const authFile = join(work, "auth.json");
  const auth = btoa(`${USER}:${PASSWORD}`);
  await Deno.writeTextFile(
    authFile,
    JSON.stringify({ auths: { [registry.host]: { auth }, [proxy.host]: { auth } } }),
  );
  const creds = `${USER}:${PASSWORD}`;
  const skiffEnv = (store: string) => ({
    SKIFF_STORE: store,
    SKIFF_REGISTRIES_CONFIG: regConfig,
    REGISTRY_AUTH_FILE: authFile,
  });
  const podmanArgs = (dir: string) => [
    "--root",
    `${dir}/root`,
    "--runroot",
    `${dir}/run`,
    "--storage-driver",
    "overlay",
  ];
  const rows: [string, number[]][] = [
    ["skiff image pull (base)", []],
    ["skopeo copy + umoci unpack (base)", []],
    ["podman pull (base)", []],
    ["skiff image pull (app, base stored)", []],
    ["podman pull (app, base stored)", []],
  ];
  for (let r = 0; r < runs; r++) {
    const dir = join(work, `run${r}`);
    await Deno.mkdir(dir, { recursive: true });
    const store = join(dir, "skiff");
    rows[0][1].push(
      await timed(() =>
        sh(SKIFF, ["image", "pull", "-q", `${registry.host}/deb:base`], skiffEnv(store))
      ),
    );
    rows[3][1].push(
      await timed(() =>
        sh(SKIFF, ["image", "pull", "-q", `${registry.host}/deb:app`], skiffEnv(store))
      ),
    );
    rows[1][1].push(
      await timed(async () => {
        await sh("skopeo", [
          "copy",
          "--quiet",
          "--src-tls-verify=false",
          "--src-creds",
          creds,
          `docker://${registry.host}/deb:base`,
          `oci:${dir}/oci:base`,
        ]);
        await sh("umoci", ["unpack", "--image", `${dir}/oci:base`, `${dir}/bundle`]);
      }),
    );
    const pdir = join(dir, "podman");
    const pull = (tag: string) =>
      sh("podman", [
        ...podmanArgs(pdir),
        "pull",
        "-q",
        "--tls-verify=false",
        "--creds",
        creds,
        `${registry.host}/deb:${tag}`,
      ]);
    rows[2][1].push(await timed(() => pull("base")));
    rows[4][1].push(await timed(() => pull("app")));
    await sh("podman", [...podmanArgs(pdir), "system", "reset", "-f"]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  // Bytes of the second pull, through the counting proxy.
  const bytes: Record<string, number> = {};
  const total = () => [...proxy.served.values()].reduce((a, b) => a + b, 0);
  {
    const dir = join(work, "bytes");
    await Deno.mkdir(dir, { recursive: true });
    await sh(SKIFF, ["image", "pull", "-q", `${proxy.host}/deb:base`], skiffEnv(`${dir}/skiff`));
    proxy.served.clear();
    await sh(SKIFF, ["image", "pull", "-q", `${proxy.host}/deb:app`], skiffEnv(`${dir}/skiff`));
    bytes.skiff = total();
    const pdir = join(dir, "podman");
    const pull = (tag: string) =>
      sh("podman", [
        ...podmanArgs(pdir),
        "pull",
        "-q",
        "--tls-verify=false",
        "--creds",
        creds,
        `${proxy.host}/deb:${tag}`,
      ]);
    await pull("base");
    proxy.served.clear();
    await pull("app");
    bytes.podman = total();
    await sh("podman", [...podmanArgs(pdir), "system", "reset", "-f"]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log(
    `base layer: ${built[0].layers[0].size} bytes gzipped; app layer: ${
      built[1].layers[1].size
    } bytes`,
  );
  console.log(`| what | median of ${runs} |\n| --- | ---: |`);
  for (const [what, xs] of rows) console.log(`| ${what} | ${(median(xs) / 1000).toFixed(2)} s |`);
  console.log(
    `blob bytes served for the second pull: skiff ${bytes.skiff}, podman ${bytes.podman}`,
  );
  await Deno.remove(work, { recursive: true }).catch(() => {});
}

await main();
