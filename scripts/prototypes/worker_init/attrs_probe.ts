/**
 * PROTOTYPE (issue 11, question 4): which init attributes are per-thread (a Worker can set them for
 * its child without touching the CLI) and which are per-process (they would change the CLI).
 *
 *   deno run -A scripts/prototypes/worker_init/attrs_probe.ts
 *
 * The worker (attrs_worker.ts) changes each attribute on its own thread and spawns a child; this
 * thread then compares its own view (and Deno's other threads') with the worker's.
 */
import { sys } from "./_sys.ts";

function view(tid: number): Record<string, string> {
  const dir = `/proc/self/task/${tid}`;
  const status = Deno.readTextFileSync(`${dir}/status`);
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1] ?? "";
  const stat = Deno.readTextFileSync(`${dir}/stat`).split(") ")[1].split(" ");
  const limits = Deno.readTextFileSync(`${dir}/limits`).match(/Max open files\s+(\d+)\s+(\d+)/);
  let cwd = "";
  let fd0 = "";
  try {
    cwd = Deno.readLinkSync(`${dir}/cwd`);
    fd0 = Deno.readLinkSync(`${dir}/fd/0`);
  } catch (err) {
    cwd ||= (err as Error).name;
  }
  return {
    rlimit: `nofile ${limits?.[1]}/${limits?.[2]}`,
    "umask (after unshare CLONE_FS)": field("Umask"),
    "chdir (after unshare CLONE_FS)": cwd,
    "dup2 onto 0 (after unshare CLONE_FILES)": fd0,
    "oom_score_adj (/proc/thread-self)": Deno.readTextFileSync(`${dir}/oom_score_adj`).trim(),
    personality: Deno.readTextFileSync(`${dir}/personality`).trim(),
    "nice (setpriority 0)": stat[16],
    "sched_setaffinity(0)": field("Cpus_allowed_list"),
    "ioprio_set(WHO_PROCESS, 0)": String(sys("ioprio_get", 252, 1n, BigInt(tid))),
    no_new_privs: field("NoNewPrivs"),
    "capability bounding drop": field("CapBnd"),
    setsid: `sid ${stat[3]}`,
    "capset (raw)": field("CapEff"),
    "setresuid (raw)": field("Uid"),
  };
}

const mainTid = Number(sys("gettid", 186));
const before = view(mainTid);
const mainKeyring = String(sys("keyctl", 250, 0n, -3n, 0n));
const worker = new Worker(new URL("./attrs_worker.ts", import.meta.url).href, { type: "module" });
const r = await new Promise<
  { tid: number; results: Record<string, string>; sessionKeyring: string; child: string }
>((resolve, reject) => {
  worker.onmessage = (e) => resolve(e.data);
  worker.onerror = (e) => reject(new Error(e.message));
  worker.postMessage("go");
});
const mainAfter = view(mainTid);
const workerView = view(r.tid);
const others = [...Deno.readDirSync("/proc/self/task")].map((t) => Number(t.name))
  .filter((t) => t !== mainTid && t !== r.tid);
console.log("attribute | worker call | worker thread | main before -> after | verdict");
for (const key of Object.keys(before)) {
  const changedMain = before[key] !== mainAfter[key];
  const changedWorker = workerView[key] !== before[key];
  const othersChanged = others.filter((t) => {
    try {
      return view(t)[key] !== before[key];
    } catch {
      return false;
    }
  }).length;
  const verdict = r.results[key] !== "ok"
    ? "call failed"
    : changedMain
    ? `PER-PROCESS (main changed${othersChanged ? `, ${othersChanged} other threads too` : ""})`
    : changedWorker
    ? "per-thread"
    : "no visible change";
  console.log(
    `${key} | ${r.results[key]} | ${workerView[key]} | ${before[key]} -> ${
      mainAfter[key]
    } | ${verdict}`,
  );
}
console.log(
  `keyctl join session keyring | ${
    r.results["keyctl join session keyring"]
  } | @s=${r.sessionKeyring} | @s=${mainKeyring} -> ${sys("keyctl", 250, 0n, -3n, 0n)} | ${
    mainKeyring === String(sys("keyctl", 250, 0n, -3n, 0n)) ? "per-thread (cred)" : "PER-PROCESS"
  }`,
);
console.log(`the worker's child saw:\n${r.child}`);
worker.terminate();
