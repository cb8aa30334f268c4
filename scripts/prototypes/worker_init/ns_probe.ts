/**
 * PROTOTYPE (issue 11, questions 2-3): can a Worker build a container on its own thread (mnt, uts,
 * ipc, net, pid namespaces; rootfs, pivot_root, hostname; a procfs for a pid namespace that has no
 * process yet) while the main thread and Deno's other threads stay as they were?
 *
 *   deno run -A scripts/prototypes/worker_init/ns_probe.ts [--proc-by-child]
 *
 * Needs root. Copies tests/.fixtures/busybox/rootfs (of /work/main) to a temp dir.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = Deno.env.get("BUSYBOX_ROOTFS") ?? "/work/main/tests/.fixtures/busybox/rootfs";
const procByChild = Deno.args.includes("--proc-by-child");

function snapshot(): Record<string, string> {
  const out: Record<string, string> = {
    root: Deno.readLinkSync("/proc/thread-self/root"),
    cwd: Deno.cwd(),
    hostname: Deno.hostname(),
    mounts: String(Deno.readTextFileSync("/proc/thread-self/mountinfo").split("\n").length),
  };
  for (const ns of ["mnt", "uts", "ipc", "net", "pid", "pid_for_children"]) {
    out[ns] = Deno.readLinkSync(`/proc/thread-self/ns/${ns}`);
  }
  return out;
}

/** Each thread of this process: tid, name, and whether its mnt/uts ns or root differ from ours. */
function threads(me: Record<string, string>): string[] {
  const rows: string[] = [];
  for (const t of Deno.readDirSync("/proc/self/task")) {
    const dir = `/proc/self/task/${t.name}`;
    const name = Deno.readTextFileSync(`${dir}/comm`).trim();
    const diff: string[] = [];
    for (const ns of ["mnt", "uts", "net", "pid_for_children"]) {
      let link: string;
      try {
        link = Deno.readLinkSync(`${dir}/ns/${ns}`);
      } catch (err) {
        link = (err as Error).name;
      }
      if (link !== me[ns]) diff.push(`${ns}=${link}`);
    }
    let root = "?";
    try {
      root = Deno.readLinkSync(`${dir}/root`);
    } catch (err) {
      root = (err as Error).name;
    }
    if (root !== me.root) diff.push(`root=${root}`);
    rows.push(`${t.name} ${name}: ${diff.length ? diff.join(",") : "same as main"}`);
  }
  return rows;
}

const tmp = Deno.makeTempDirSync({ prefix: "skiff-proto-ns-" });
const rootfs = join(tmp, "rootfs");
try {
  new Deno.Command("cp", { args: ["-a", FIXTURE, rootfs] }).outputSync();
  const before = snapshot();
  const t0 = performance.now();
  const worker = new Worker(new URL("./ns_worker.ts", import.meta.url).href, { type: "module" });
  const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error(e.message));
    worker.postMessage({ rootfs, procByChild });
  });
  const total = performance.now() - t0;
  console.log(`worker result (${total.toFixed(1)} ms from new Worker):`, result);
  console.log("threads while the worker is alive:");
  for (const row of threads(before)) console.log(`  ${row}`);
  worker.terminate();
  await new Promise((r) => setTimeout(r, 100));
  const after = snapshot();
  const changed = Object.keys(before).filter((k) => before[k] !== after[k]);
  console.log(
    `main thread after: ${changed.length ? `CHANGED ${changed.join(",")}` : "unchanged"}`,
  );
  const host = new Deno.Command("sh", {
    args: ["-c", "hostname; readlink /proc/self/ns/mnt /proc/self/root"],
    stdout: "piped",
  }).outputSync();
  console.log(`a child of the main thread sees: ${new TextDecoder().decode(host.stdout).trim()}`);
  console.log("threads after terminate:");
  for (const row of threads(before)) console.log(`  ${row}`);
  const leaked = Deno.readTextFileSync("/proc/self/mountinfo").includes(tmp);
  console.log(`host mount table mentions ${tmp}: ${leaked}`);
  void here;
} finally {
  Deno.removeSync(tmp, { recursive: true });
}
