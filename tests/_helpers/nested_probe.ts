/**
 * Run by tests/integration/nested_userns_test.ts inside `unshare --user --map-root-user`: creates
 * a container through the library (mod.ts) in this process, so that this process's own threads can
 * be looked at afterwards, and prints one JSON line: PID 1's namespaces, and, once the threads
 * settled, which of this process's threads (if any) are still in PID 1's uts, ipc, net or mount
 * namespace.
 * Usage: deno run -A nested_probe.ts <config.json> <rootfs> <state root> <id>
 */
import { Runtime } from "../../mod.ts";

const [configPath, rootfs, root, id] = Deno.args;
const KINDS = ["uts", "ipc", "net", "mnt"];

/** The uts, ipc, net and mnt links of every thread of this process, by tid. */
function threadNamespaces(): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const task of Deno.readDirSync("/proc/self/task")) {
    try {
      out[task.name] = Object.fromEntries(
        KINDS.map((k) => [k, Deno.readLinkSync(`/proc/self/task/${task.name}/ns/${k}`)]),
      );
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

const spec = JSON.parse(Deno.readTextFileSync(configPath));
// Its cgroup is optional, as `--rootless auto` makes it for the CLI in a user namespace.
const rt = new Runtime({ root, rootless: true });
const threadsBefore = Object.keys(threadNamespaces()).length;
const c = await rt.create(id, { spec, rootfs });
try {
  const pid = (await c.state()).pid!;
  const theirs = Object.fromEntries(
    KINDS.map((k) => [k, Deno.readLinkSync(`/proc/${pid}/ns/${k}`)]),
  );
  let inside: string[] = [];
  let waits = 0;
  // The worker's thread ends shortly after terminate(); give it a moment.
  for (; waits < 100; waits++) {
    inside = Object.entries(threadNamespaces())
      .filter(([, links]) => KINDS.some((k) => links[k] === theirs[k]))
      .map(([tid]) => tid);
    if (inside.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const mine = Object.fromEntries(
    KINDS.map((k) => [k, Deno.readLinkSync(`/proc/thread-self/ns/${k}`)]),
  );
  console.log(JSON.stringify({
    pid,
    theirs,
    mine,
    inside,
    waits,
    threadsBefore,
    threadsAfter: Object.keys(threadNamespaces()).length,
    hostname: Deno.hostname(),
  }));
} finally {
  await c.delete({ force: true });
}
