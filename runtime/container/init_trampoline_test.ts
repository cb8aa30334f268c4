import assert from "node:assert/strict";
import { trampolineInitReason } from "./init_trampoline.ts";
import { defaultSpec } from "../../spec/defaults.ts";
import { planNamespaces } from "../namespaces.ts";
import { CLONE_NEWCGROUP } from "../../ffi/constants.ts";
import type { Spec } from "../../spec/config.ts";

/** The reason for `edit`ed defaultSpec() (with a rootfs that has /proc), as create computes it. */
function reason(
  edit: (spec: Spec) => void = () => {},
  options: { noPivot?: boolean; hostMountNamespace?: boolean } = {},
): string | undefined {
  const rootfs = Deno.makeTempDirSync({ prefix: "skiff-reason-" });
  try {
    Deno.mkdirSync(`${rootfs}/proc`);
    const spec = defaultSpec();
    edit(spec);
    const plan = planNamespaces(spec.linux?.namespaces ?? []);
    plan.create &= ~CLONE_NEWCGROUP;
    return trampolineInitReason(spec, plan, rootfs, { hostMountNamespace: false, ...options });
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
}

Deno.test("trampolineInitReason(): `skiff spec`'s config needs no Deno init", () => {
  assert.equal(reason(), undefined);
  assert.equal(reason((s) => s.linux!.namespaces!.push({ type: "cgroup" })), undefined);
  assert.equal(
    reason((s) => s.linux!.namespaces!.push({ type: "network", path: "/proc/1/ns/net" })),
    undefined,
  );
  assert.equal(
    reason((s) => {
      s.process!.scheduler = { policy: "SCHED_OTHER", nice: 5 };
      s.process!.ioPriority = { class: "IOPRIO_CLASS_IDLE" };
      s.linux!.personality = { domain: "LINUX32" };
    }),
    undefined,
  );
  assert.equal(
    reason((s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "pid"))),
    undefined,
  );
  // Done by the trampoline since: a time namespace (offsets written before the clone), --no-pivot
  // (MS_MOVE + chroot), rootfsPropagation (mount ops) and memoryPolicy (a set_mempolicy op).
  assert.equal(
    reason((s) => {
      s.linux!.namespaces!.push({ type: "time" });
      s.linux!.timeOffsets = { monotonic: { secs: 1, nanosecs: 0 } };
      s.linux!.rootfsPropagation = "rshared";
      s.linux!.memoryPolicy = { mode: "MPOL_BIND", nodes: "0" };
    }, { noPivot: true }),
    undefined,
  );
  // A user namespace: stage 1 makes it and becomes its root; the CLI builds the rootfs as that root.
  assert.equal(
    reason((s) => {
      s.linux!.namespaces!.push({ type: "user" });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    }),
    undefined,
  );
  // startContainer hooks, with a timeout or without: PID 1 runs them (runHook ops).
  assert.equal(reason((s) => (s.hooks = { startContainer: [{ path: "/bin/true" }] })), undefined);
  assert.equal(
    reason((s) => (s.hooks = { startContainer: [{ path: "/bin/true", timeout: 5 }] })),
    undefined,
  );
  // Docker's libnetwork hook: the CLI runs prestart and createRuntime with either init.
  assert.equal(
    reason((s) => (s.hooks = {
      prestart: [{ path: "/bin/true" }],
      createRuntime: [],
      createContainer: [{ path: "/bin/true" }],
    })),
    undefined,
  );
});

Deno.test("trampolineInitReason() names each case that keeps the Deno init", () => {
  const cases: [(s: Spec) => void, RegExp][] = [
    [
      (s) => {
        s.linux!.namespaces!.push({ type: "user" });
        s.linux!.sysctl = { "user.max_user_namespaces": "10" };
      },
      /user\.\* with a user namespace/,
    ],
    [
      (s) => {
        s.linux!.namespaces!.push({ type: "user" });
        s.hooks = { createContainer: [{ path: "/bin/true" }] };
      },
      /createContainer with a user namespace/,
    ],
    [
      (s) => s.linux!.namespaces!.push({ type: "mount", path: "/proc/1/ns/mnt" }),
      /mount namespace by path/,
    ],
    [
      (s) => s.mounts!.push({ destination: "/proc2", type: "proc", source: "proc" }),
      /proc mount elsewhere/,
    ],
    [(s) => delete s.process, /no process/],
  ];
  for (const [edit, expected] of cases) assert.match(String(reason(edit)), expected);
  assert.match(String(reason(undefined, { hostMountNamespace: true })), /mount namespace/);
});

Deno.test("trampolineInitReason(): a rootfs whose /proc is a symlink keeps the Deno init, one without /proc not", () => {
  const rootfs = Deno.makeTempDirSync({ prefix: "skiff-reason-" });
  try {
    Deno.symlinkSync("/tmp", `${rootfs}/proc`);
    const spec = defaultSpec();
    const plan = planNamespaces(spec.linux!.namespaces!);
    assert.match(
      String(trampolineInitReason(spec, plan, rootfs, { hostMountNamespace: false })),
      /\/proc is not a directory/,
    );
    // None at all: the trampoline init makes the mount point (startTrampolineInit).
    Deno.removeSync(`${rootfs}/proc`);
    assert.equal(
      trampolineInitReason(spec, plan, rootfs, { hostMountNamespace: false }),
      undefined,
    );
  } finally {
    Deno.removeSync(rootfs, { recursive: true });
  }
});

Deno.test("trampolineInitReason() in a nested user namespace: only createContainer hooks keep the Deno init", async () => {
  // inNestedUserNamespace() reads this process's /proc/self/uid_map: asked in a Deno started as
  // root of a user namespace below the host's (unshare --user --map-root-user).
  const script = `
    import { trampolineInitReason } from ${
    JSON.stringify(import.meta.resolve("./init_trampoline.ts"))
  };
    import { defaultSpec } from ${JSON.stringify(import.meta.resolve("../../spec/defaults.ts"))};
    import { planNamespaces } from ${JSON.stringify(import.meta.resolve("../namespaces.ts"))};
    const rootfs = Deno.makeTempDirSync({ prefix: "skiff-reason-" });
    Deno.mkdirSync(rootfs + "/proc");
    const reasons = [{}, { createContainer: [{ path: "/bin/true" }] }].map((hooks) => {
      const spec = defaultSpec();
      spec.hooks = hooks;
      const plan = planNamespaces(spec.linux.namespaces);
      return trampolineInitReason(spec, plan, rootfs, { hostMountNamespace: false }) ?? null;
    });
    Deno.removeSync(rootfs, { recursive: true });
    console.log(JSON.stringify(reasons));
  `;
  const out = await new Deno.Command("unshare", {
    args: ["--user", "--map-root-user", Deno.execPath(), "eval", "--no-config", script],
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), [
    null,
    "hooks.createContainer with Skiff in a nested user namespace",
  ]);
});
