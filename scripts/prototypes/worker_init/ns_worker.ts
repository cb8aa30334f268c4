/**
 * PROTOTYPE (issue 11, questions 2-3): the worker half of ns_probe.ts. Builds a busybox container
 * on its own thread (_container_steps.ts), spawns `sh` as PID 1 of a new pid namespace, gives it
 * the container's /proc (fsconfig pidns from the worker, or with `procByChild` the child mounts it
 * itself, as a trampoline op would on a kernel without the option), and reports what it saw.
 */
import { post, scope } from "./_worker_scope.ts";
import { build, inNewPidns, procForPidOf, release, since } from "./_container_steps.ts";

scope.onmessage = async (e: MessageEvent) => {
  const { rootfs, procByChild } = e.data as { rootfs: string; procByChild: boolean };
  try {
    const t0 = performance.now();
    // One throwaway spawn while threads can still be made (platform-notes: pid ns recipe).
    new Deno.Command("/bin/true").outputSync();
    const b = build(rootfs, "proto-worker");
    const script = [
      "read go",
      procByChild ? "umount -l /proc && mount -t proc -o nosuid,nodev,noexec proc /proc" : ":",
      'echo "pid=$$ host=$(hostname) proc=$(ls -d /proc/[0-9]* | tr "\\n" " ")"',
    ].join("; ");
    const child = inNewPidns(b, () =>
      new Deno.Command("/bin/sh", {
        args: ["-c", script],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        clearEnv: true,
        env: { PATH: "/bin:/sbin:/usr/bin" },
      }).spawn());
    const spawned = since(t0);
    let procMount = "by the child (mount -t proc)";
    if (!procByChild) {
      try {
        procForPidOf(child.pid);
        procMount = "by the worker (fsconfig pidns)";
      } catch (err) {
        procMount = `worker failed: ${err}`;
      }
    }
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    await w.close();
    const out = await child.output();
    const td = new TextDecoder();
    // Which root do the worker's sync ops and its async ops (tokio blocking pool) see now?
    const first = (s: string) => s.split("\n")[0];
    let syncOs: string;
    let asyncOs: string;
    try {
      syncOs = first(Deno.readTextFileSync("/etc/os-release"));
    } catch (err) {
      syncOs = `error: ${(err as Error).name}`;
    }
    try {
      asyncOs = first(await Deno.readTextFile("/etc/os-release"));
    } catch (err) {
      asyncOs = `error: ${(err as Error).name}`;
    }
    post({
      ok: true,
      marks: { ...b.marks, spawned, done: since(t0) },
      emptyPidnsFd: b.emptyPidnsFd,
      procMount,
      hostPidOfChild: child.pid,
      child: (td.decode(out.stdout) + td.decode(out.stderr)).trim(),
      code: out.code,
      workerSyncReadsOsRelease: syncOs,
      workerAsyncReadsOsRelease: asyncOs,
      workerHostname: Deno.hostname(),
    });
    release(b);
  } catch (err) {
    post({ ok: false, error: String(err) });
  }
};
