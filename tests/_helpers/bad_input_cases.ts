/**
 * Config edits that \`create\` must refuse, with what the error must say: bad_input_test.ts checks
 * create's error, check_test.ts that \`skiff check\` reports the same field.
 */
import type { Mount, Spec } from "../../spec/config.ts";

/** A config.json edit that `create` must refuse, and what the error must say. */
export interface BadCase {
  name: string;
  edit: (spec: Spec, dir: string) => void | Promise<void>;
  message: RegExp;
}

export const BAD_CASES: BadCase[] = [
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
