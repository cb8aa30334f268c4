import assert from "node:assert/strict";
import { join } from "node:path";
import type { Mount, Spec } from "../../spec/config.ts";
import { makeBundle, testId } from "../_helpers/bundle.ts";
import { exists, hostMounts, newInits, skiffInits } from "../_helpers/host.ts";

/** A config.json edit that `create` must refuse, and what the error must say. */
interface BadCase {
  name: string;
  edit: (spec: Spec, dir: string) => void | Promise<void>;
  message: RegExp;
}

const CASES: BadCase[] = [
  {
    name: "an unknown namespace type",
    edit: (s) => {
      s.linux!.namespaces![2] = { type: "pidx" as "pid" };
    },
    message:
      /config\.json: linux\.namespaces\[2\]\.type: "pidx" is not one of pid, network, mount, ipc, uts, user, cgroup, time/,
  },
  {
    name: "a duplicate namespace",
    edit: (s) => {
      s.linux!.namespaces!.push({ type: "uts" });
    },
    message: /linux\.namespaces\[6\]\.type: duplicate namespace "uts"/,
  },
  {
    name: "empty process.args",
    edit: (s) => {
      s.process!.args = [];
    },
    message: /process\.args: must have at least one entry/,
  },
  {
    name: "a relative process.cwd",
    edit: (s) => {
      s.process!.cwd = "relative/dir";
    },
    message: /process\.cwd: "relative\/dir" is not an absolute path/,
  },
  {
    name: "an unknown rlimit",
    edit: (s) => {
      s.process!.rlimits = [{ type: "RLIMIT_BOGUS", soft: 1, hard: 1 }];
    },
    message: /process\.rlimits\[0\]\.type: "RLIMIT_BOGUS" is not one of RLIMIT_CPU/,
  },
  {
    name: "a duplicate rlimit",
    edit: (s) => {
      s.process!.rlimits = [
        { type: "RLIMIT_NOFILE", soft: 1, hard: 1 },
        { type: "RLIMIT_NOFILE", soft: 2, hard: 2 },
      ];
    },
    message: /process\.rlimits\[1\]\.type: duplicate rlimit RLIMIT_NOFILE/,
  },
  {
    name: "an rlimit whose soft limit exceeds the hard limit",
    edit: (s) => {
      s.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 10, hard: 5 }];
    },
    message: /process\.rlimits\[0\]: soft limit 10 is greater than hard limit 5/,
  },
  {
    name: "a uid that is not a number",
    edit: (s) => {
      (s.process!.user as unknown as Record<string, unknown>).uid = "root";
    },
    message: /process\.user\.uid: expected an integer, got "root"/,
  },
  {
    name: "a mount without destination",
    edit: (s) => {
      s.mounts!.push({ type: "tmpfs", source: "tmpfs" } as unknown as Mount);
    },
    message: /mounts\[7\]\.destination: expected a string, got undefined/,
  },
  {
    name: "a missing rootfs",
    edit: (s) => {
      s.root!.path = "no-such-rootfs";
    },
    message: /root\.path: rootfs .*\/no-such-rootfs is not a directory/,
  },
  {
    name: "a hostname without a UTS namespace",
    edit: (s) => {
      s.hostname = "h";
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "uts");
    },
    message: /hostname: unable to set hostname without a private UTS namespace/,
  },
  {
    name: "a sysctl outside the container's namespaces",
    edit: (s) => {
      s.linux!.sysctl = { "vm.swappiness": "10" };
    },
    message: /linux\.sysctl\.vm\.swappiness: sysctl is not in a separate kernel namespace/,
  },
  {
    name: "a device of unknown type",
    edit: (s) => {
      s.linux!.devices = [{ type: "x" as "c", path: "/dev/x", major: 1, minor: 1 }];
    },
    message: /linux\.devices\[0\]\.type: "x" is not one of c, b, u, p/,
  },
  {
    name: "a hook with a relative path",
    edit: (s) => {
      s.hooks = { prestart: [{ path: "hook.sh" }] };
    },
    message: /hooks\.prestart\[0\]\.path: "hook\.sh" is not an absolute path/,
  },
  {
    name: "a bind mount whose source does not exist",
    edit: (s) => {
      s.mounts!.push({
        destination: "/x",
        type: "bind",
        source: "/no/such/source",
        options: ["bind"],
      });
    },
    message: /mounts\[7\]: cannot mount \/no\/such\/source on \/x \(type bind\)/,
  },
  {
    name: "a mount of an unknown filesystem type",
    edit: (s) => {
      s.mounts!.push({ destination: "/x", type: "nosuchfs", source: "none" });
    },
    message:
      /mounts\[7\]: cannot mount none on \/x \(type nosuchfs\): mount src=none, dst=.*\/x, type=nosuchfs, flags=0: ENODEV \(No such device\)/,
  },
  {
    name: "a sysctl the kernel does not have",
    edit: (s) => {
      s.linux!.sysctl = { "net.ipv4.no_such_knob": "1" };
    },
    message:
      /linux\.sysctl\.net\.ipv4\.no_such_knob: cannot write "1" to \/proc\/sys\/net\/ipv4\/no_such_knob/,
  },
  {
    name: "a namespace path that does not exist",
    edit: (s) => {
      s.linux!.namespaces![1] = { type: "network", path: "/no/such/ns" };
    },
    message:
      /linux\.namespaces\[1\]\.path: cannot open \/no\/such\/ns: open path=\/no\/such\/ns, flags=.*: ENOENT/,
  },
];

for (const c of CASES) {
  Deno.test(`create refuses ${c.name}, names the field, and leaves nothing behind`, async () => {
    await using bundle = await makeBundle();
    await c.edit(bundle.spec, bundle.dir);
    await bundle.writeSpec();
    const mountsBefore = hostMounts();
    const initsBefore = skiffInits();
    const id = testId();
    const result = await bundle.skiff(["create", "-b", bundle.dir, id]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, c.message);
    assert.equal(result.stderr.trim().split("\n").length, 1, "one line");
    assert.equal(exists(join(bundle.root, id)), false, "no state directory");
    assert.deepEqual(hostMounts(), mountsBefore, "no mount");
    assert.deepEqual(newInits(initsBefore), [], "no process");
  });
}

Deno.test("config.json that is not JSON is a syntax error naming the file", async () => {
  await using bundle = await makeBundle();
  await Deno.writeTextFile(join(bundle.dir, "config.json"), "{ not json");
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`${bundle.dir}/config\\.json: invalid JSON`));
});

Deno.test("a bundle without config.json is refused with runc's message", async () => {
  await using bundle = await makeBundle();
  await Deno.remove(join(bundle.dir, "config.json"));
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /JSON specification file .*config\.json not found/);
});

Deno.test("a failed create with --log-format json writes one error line to the log and nothing else", async () => {
  await using bundle = await makeBundle((spec) => {
    spec.process!.args = ["no-such-binary"];
  });
  const log = join(bundle.dir, "log.json");
  const result = await bundle.skiff(["create", "-b", bundle.dir, testId()], {
    global: ["--log", log, "--log-format", "json"],
  });
  assert.equal(result.code, 1);
  const lines = (await Deno.readTextFile(log)).trim().split("\n");
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.level, "error");
  assert.match(entry.msg, /executable file not found in \$PATH/);
});
