import assert from "node:assert/strict";
import { denoInitReason, execOps, type ExecTrampolinePlan } from "./exec_trampoline.ts";
import { CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUSER } from "../../ffi/constants.ts";
import type { Process } from "../../spec/config.ts";

const filter = btoa(String.fromCharCode(0x06, 0, 0, 0, 0, 0, 0xff, 0x7f));

function plan(
  process: Partial<Process>,
  extra: Partial<ExecTrampolinePlan> = {},
): ExecTrampolinePlan {
  return {
    containerPid: 42,
    namespaces: {
      join: [
        { type: "user", path: "/proc/42/ns/user", flag: CLONE_NEWUSER, index: 1 },
        { type: "network", path: "/proc/42/ns/net", flag: CLONE_NEWNET, index: 0 },
      ],
      create: 0,
      touched: ["user", "network"],
    },
    mountNamespace: true,
    process: { cwd: "/work", args: ["sh"], user: { uid: 1000, gid: 1000 }, ...process } as Process,
    masks: {
      bounding: 1n,
      effective: 1n,
      permitted: 1n,
      inheritable: 0n,
      ambient: [],
      warnings: [],
    },
    lastCap: 3,
    seccomp: { program: filter, flags: 0, newListener: false },
    preserveFds: 2,
    callerStdio: true,
    cgroupProcs: [],
    ...extra,
  };
}

const target = { path: "/bin/sh", env: ["PATH=/bin"] };

Deno.test("execOps() joins user first, clones, syncs, then joins mnt, and ends in execve", () => {
  const { ops, why } = execOps(plan({}), 7, target, undefined, false);
  const names = ops.map((o) => o.op);
  assert.deepEqual(names.slice(0, 6), [
    "setns",
    "setns",
    "setresgid",
    "setresuid",
    "cloneParent",
    "sync",
  ]);
  assert.deepEqual(ops[0], { op: "setns", path: "/proc/42/ns/user", nstype: CLONE_NEWUSER });
  assert.deepEqual(ops[6], { op: "setns", path: "/proc/42/ns/mnt", nstype: CLONE_NEWNS });
  assert.deepEqual(ops.find((o) => o.op === "cloexecFrom"), { op: "cloexecFrom", first: 5 });
  assert.deepEqual(ops.at(-1), {
    op: "execve",
    path: "/bin/sh",
    argv: ["sh"],
    envp: ["PATH=/bin"],
  });
  assert.equal(why.length, ops.length);
  assert.match(why[ops.findIndex((o) => o.op === "chdir")]!, /process\.cwd: cannot change to/);
  // Caps 1..3 are outside the bounding set {0}.
  const drops = ops.filter((o) => o.op === "prctl" && o.option === 24).map((o) =>
    o.op === "prctl" ? o.arg2 : -1
  );
  assert.deepEqual(drops, [1, 2, 3]);
});

Deno.test("execOps() loads seccomp before the uid change without no_new_privs, last with it", () => {
  const without = execOps(plan({}), 7, target, undefined, false).ops.map((o) => o.op);
  assert.ok(without.indexOf("seccomp") < without.lastIndexOf("setresuid"));
  const withNnp = execOps(plan({ noNewPrivileges: true }), 7, target, undefined, false).ops;
  assert.equal(withNnp.at(-2)?.op, "seccomp");
  assert.deepEqual(withNnp.at(-3), { op: "prctl", option: 38, arg2: 1 });
});

Deno.test("execOps() makes a pty the controlling terminal and stdio, and skips denied setgroups", () => {
  const ops = execOps(plan({}), 7, target, 9, true).ops;
  const at = ops.findIndex((o) => o.op === "setsid");
  assert.deepEqual(ops.slice(at, at + 5), [
    { op: "setsid" },
    { op: "setctty", fd: 9 },
    { op: "dup2", from: 9, to: 0 },
    { op: "dup2", from: 9, to: 1 },
    { op: "dup2", from: 9, to: 2 },
  ]);
  assert.ok(!ops.some((o) => o.op === "setgroups"));
  const chrooted = execOps(plan({}, { mountNamespace: false }), 7, target, undefined, false).ops;
  assert.deepEqual(chrooted.slice(6, 9), [
    { op: "chdir", path: "/proc/42/root" },
    { op: "chroot", path: "." },
    { op: "chdir", path: "/" },
  ]);
});

Deno.test("denoInitReason() names the field that needs the Deno exec init, and no longer the scheduling ones", () => {
  const base = { cwd: "/", user: { uid: 0, gid: 0 } } as Process;
  assert.equal(denoInitReason(base, undefined), undefined);
  // Set from the host at the sync point, or by ops before the identity (execOps).
  assert.equal(
    denoInitReason({
      ...base,
      ioPriority: { class: "IOPRIO_CLASS_BE" },
      scheduler: { policy: "SCHED_BATCH" },
      execCPUAffinity: { initial: "0", final: "0" },
    }, undefined),
    undefined,
  );
  assert.equal(
    denoInitReason({ ...base, apparmorProfile: "p" }, undefined),
    "process.apparmorProfile",
  );
  assert.equal(
    denoInitReason(base, {
      program: filter,
      flags: 8,
      newListener: true,
      listenerPath: "/x",
    }),
    "linux.seccomp.listenerPath",
  );
});

Deno.test("execOps() sets the container's personality and memory policy before the identity", () => {
  const { ops } = execOps(
    plan({}, {
      linux: {
        personality: { domain: "LINUX32" },
        memoryPolicy: { mode: "MPOL_INTERLEAVE", nodes: "0", flags: ["MPOL_F_STATIC_NODES"] },
      },
    }),
    7,
    target,
    undefined,
    false,
  );
  const names = ops.map((o) => o.op);
  const persona = names.indexOf("personality");
  const policy = names.indexOf("mempolicy");
  assert.ok(persona > names.indexOf("sync") && policy > persona, names.join(" "));
  assert.ok(policy < names.indexOf("setresuid", names.indexOf("sync")), names.join(" "));
  assert.deepEqual(ops[persona], { op: "personality", persona: 0x0008 });
  assert.equal(
    execOps(plan({}), 7, target, undefined, false).ops.some((o) => o.op === "personality"),
    false,
  );
});
