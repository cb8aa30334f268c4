/**
 * A rootless caller and a delegated cgroup v2 subtree (the VM part: tests/cgroup2/run_in_vm.sh):
 * with the subtree chowned to the test user, as systemd's Delegate=yes does, the user makes the
 * container's cgroup there, sets limits and moves a process in; outside it the answer is "no
 * cgroup", with the reason. docs/rootless.md.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectCgroups } from "./detect.ts";
import { ensureRootlessUser, rootlessBlocker, runAs } from "../../tests/_helpers/rootless.ts";

const unified = (() => {
  try {
    return detectCgroups().layout === "unified";
  } catch {
    return false;
  }
})();
const blocker = unified ? rootlessBlocker() : undefined;

Deno.test({
  name: "a user makes its container's cgroup in a delegated v2 subtree and nowhere else " +
    `(needs cgroup v2${blocker ? `; skipped: ${blocker}` : ""})`,
  ignore: !unified || blocker !== undefined,
}, async () => {
  const user = ensureRootlessUser();
  const mount = detectCgroups().unified!.mountPoint;
  const delegated = join(mount, `skiff-rl-${Deno.pid}`);
  const caller = join(delegated, "caller");
  // The controllers the limits need, enabled above the subtree (a systemd host has them on).
  const offered = Deno.readTextFileSync(join(mount, "cgroup.controllers")).split(/\s+/);
  for (const c of ["memory", "pids"]) {
    if (offered.includes(c)) Deno.writeTextFileSync(join(mount, "cgroup.subtree_control"), `+${c}`);
  }
  Deno.mkdirSync(caller, { recursive: true });
  try {
    // What systemd chowns for Delegate=yes: the directory and the files a delegate writes.
    for (const path of [delegated, caller]) {
      for (const file of ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]) {
        Deno.chownSync(join(path, file), user.uid, user.gid);
      }
    }
    const deno = Deno.execPath();
    const probe = join(dirname(fileURLToPath(import.meta.url)), "_rootless_probe.ts");
    const id = `rl-${Deno.pid}`;
    const result = await runAs(user, [deno, "run", "-A", "--no-check", probe, id], {
      cgroup: caller,
    });
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.equal(out.dir, join(delegated, id));
    assert.equal(out.blocker, null);
    assert.equal(out.memoryMax, String(32 << 20));
    assert.equal(out.pidsMax, "20");
    assert.equal(out.joined, true);
    assert.equal(out.removed, true);
    assert.match(out.outsideBlocker, new RegExp(`^${mount} is not writable by uid ${user.uid}`));
    assert.match(out.outsideError, /linux\.cgroupsPath: "\/x" cannot be used by a rootless/);
  } finally {
    for (const dir of [join(delegated, `rl-${Deno.pid}`), caller, delegated]) {
      try {
        // Processes left in the subtree (none expected) go to the root before the rmdir.
        for (const pid of Deno.readTextFileSync(join(dir, "cgroup.procs")).split("\n")) {
          if (pid) Deno.writeTextFileSync(join(mount, "cgroup.procs"), pid);
        }
        Deno.removeSync(dir);
      } catch {
        // Not there.
      }
    }
  }
});
