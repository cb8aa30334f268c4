import assert from "node:assert/strict";
import type { Seccomp, SeccompAction, SeccompOperator } from "../../../spec/config.ts";
import { SpecError } from "../../../spec/errors.ts";
import { compileSeccomp, SECCOMP_FEATURES } from "./compile.ts";
import { checkSeccompProgram, runBpf } from "./_bpf_interpreter.ts";
import {
  ARCHS,
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_ARM,
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  type NativeArch,
  X32_SYSCALL_BIT,
} from "./archs.ts";
import { BPF_JA, BPF_JMP, decodeFilter } from "./bpf.ts";
import {
  DOCKER_DEFAULT_CAPS,
  dockerProfileToSeccomp,
  PODMAN_DEFAULT_CAPS,
  readPodmanProfile,
  referenceReturn,
} from "./_testing.ts";
import {
  SYSCALLS_AARCH64,
  SYSCALLS_ARM,
  SYSCALLS_X32,
  SYSCALLS_X86,
  SYSCALLS_X86_64,
} from "./syscall_tables.ts";

const ALLOW = 0x7fff0000;
const KILL_THREAD = 0;
const KILL_PROCESS = 0x80000000;
const errno = (n: number): number => (0x00050000 | n) >>> 0;
const trace = (n: number): number => (0x7ff00000 | n) >>> 0;

const X = SYSCALLS_X86_64;

/** Compiles for x86_64 and runs one call; checks the program the way the kernel would first. */
function run(
  seccomp: Seccomp,
  nr: number,
  args: bigint[] = [],
  arch = AUDIT_ARCH_X86_64,
  native: NativeArch = "x86_64",
): number {
  const filter = compileSeccomp(seccomp, { arch: native });
  checkSeccompProgram(filter.instructions);
  return runBpf(filter.instructions, { arch, nr, args }).value;
}

/** Asserts the compiled program agrees with the reference model on every probe. */
function assertMatchesReference(
  seccomp: Seccomp,
  probes: Array<{ arch: number; nr: number; args?: bigint[] }>,
  native: NativeArch = "x86_64",
): void {
  const filter = compileSeccomp(seccomp, { arch: native });
  checkSeccompProgram(filter.instructions);
  for (const probe of probes) {
    const got = runBpf(filter.instructions, probe).value;
    const want = referenceReturn(seccomp, native, probe);
    assert.equal(
      got.toString(16),
      want.toString(16),
      `arch=0x${probe.arch.toString(16)} nr=${probe.nr} args=${probe.args?.join(",") ?? ""}`,
    );
  }
}

Deno.test("compileSeccomp() returns the default action for a syscall that no rule names", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  };
  assert.equal(run(seccomp, X.getpid), ALLOW);
  assert.equal(run(seccomp, X.mkdir), errno(1));
});

Deno.test("compileSeccomp() encodes every action as its SECCOMP_RET_* value", () => {
  const cases: Array<[Seccomp["defaultAction"], number | undefined, number]> = [
    ["SCMP_ACT_KILL", undefined, KILL_THREAD],
    ["SCMP_ACT_KILL_THREAD", undefined, KILL_THREAD],
    ["SCMP_ACT_KILL_PROCESS", undefined, KILL_PROCESS],
    ["SCMP_ACT_TRAP", undefined, 0x00030000],
    ["SCMP_ACT_ERRNO", undefined, errno(1)],
    ["SCMP_ACT_ERRNO", 38, errno(38)],
    ["SCMP_ACT_ERRNO", 0, errno(0)],
    ["SCMP_ACT_TRACE", undefined, trace(1)],
    ["SCMP_ACT_TRACE", 42, trace(42)],
    ["SCMP_ACT_LOG", undefined, 0x7ffc0000],
    ["SCMP_ACT_NOTIFY", undefined, 0x7fc00000],
  ];
  for (const [action, errnoRet, want] of cases) {
    const seccomp: Seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir"], action, errnoRet }],
    };
    assert.equal(run(seccomp, X.mkdir), want, `${action} errnoRet=${errnoRet}`);
    assert.equal(run(seccomp, X.getpid), ALLOW);
  }
});

Deno.test("compileSeccomp() returns ERRNO(defaultErrnoRet) for calls the default action covers", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    syscalls: [{ names: ["getpid", "read", "write", "openat"], action: "SCMP_ACT_ALLOW" }],
  };
  assert.equal(run(seccomp, X.getpid), ALLOW);
  assert.equal(run(seccomp, X.mkdir), errno(38));
  assert.equal(run({ ...seccomp, defaultErrnoRet: undefined }, X.mkdir), errno(1));
});

const BOUNDARIES = [
  0n,
  1n,
  0x7fffffffn,
  0xfffffffen,
  0xffffffffn,
  0x100000000n,
  0x100000001n,
  0x1fffffffen,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xfffffffffffffffen,
  0xffffffffffffffffn,
];

function around(v: bigint): bigint[] {
  const max = (1n << 64n) - 1n;
  const out = [v, v - 1n, v + 1n, v ^ 0x100000000n, v ^ 1n, v + 0x100000000n, v - 0x100000000n];
  return out.filter((x) => x >= 0n && x <= max);
}

for (
  const op of [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
  ] as SeccompOperator[]
) {
  Deno.test(`compileSeccomp() compares 64-bit arguments with ${op} across the 32-bit word boundary`, () => {
    // Values above 2^53 cannot be JSON numbers exactly; exact ones are tested through bigint inputs.
    for (const value of BOUNDARIES) {
      const seccomp: Seccomp = {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["ioctl"],
          action: "SCMP_ACT_ERRNO",
          errnoRet: 7,
          args: [{ index: 1, value: value as unknown as number, op }],
        }],
      };
      const probes = BOUNDARIES.flatMap(around).map((a) => ({
        arch: AUDIT_ARCH_X86_64,
        nr: X.ioctl,
        args: [0n, a],
      }));
      assertMatchesReference(seccomp, probes);
    }
  });
}

Deno.test("compileSeccomp() compares SCMP_CMP_MASKED_EQ as (arg & value) == valueTwo on both words", () => {
  const masks: Array<[bigint, bigint]> = [
    [0x7e020000n, 0n], // Docker's clone namespace-flags rule
    [0xffn, 0x10n],
    [0xffffffff00000000n, 0x100000000n],
    [0x00000001_00000001n, 0x00000001_00000000n],
    [0n, 0n],
    [0xf0n, 0x0fn], // datum outside the mask: never matches
    [0xffffffffffffffffn, 0xdeadbeef_00c0ffeen],
  ];
  for (const [mask, datum] of masks) {
    const seccomp: Seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        args: [{
          index: 0,
          value: mask as unknown as number,
          valueTwo: datum as unknown as number,
          op: "SCMP_CMP_MASKED_EQ",
        }],
      }],
    };
    const args = [
      0n,
      0x10n,
      0x11n,
      0x7e020000n,
      0x10000000n,
      0x100000000n,
      0x100000001n,
      0xdeadbeef_00c0ffeen,
      datum,
      mask,
      mask | datum,
    ];
    assertMatchesReference(
      seccomp,
      args.map((a) => ({ arch: AUDIT_ARCH_X86_64, nr: X.clone, args: [a] })),
    );
  }
});

Deno.test("compileSeccomp() reads a JSON value of 2^64 - 1 (rounded to 2^64) as 0xffffffffffffffff", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{
      names: ["ioctl"],
      action: "SCMP_ACT_ERRNO",
      args: [{ index: 0, value: 18446744073709551615, op: "SCMP_CMP_EQ" }],
    }],
  };
  assert.equal(run(seccomp, X.ioctl, [0xffffffffffffffffn]), errno(1));
  assert.equal(run(seccomp, X.ioctl, [0xfffffffffffffffen]), ALLOW);
});

Deno.test("compileSeccomp() ANDs the args of one rule and ORs rules naming the same syscall", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    syscalls: [
      // Podman's socket rules: NETLINK_AUDIT sockets get EINVAL, everything else is allowed.
      {
        names: ["socket"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 22,
        args: [{ index: 0, value: 16, op: "SCMP_CMP_EQ" }, {
          index: 2,
          value: 9,
          op: "SCMP_CMP_EQ",
        }],
      },
      {
        names: ["socket"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 2, value: 9, op: "SCMP_CMP_NE" }],
      },
      {
        names: ["socket"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 16, op: "SCMP_CMP_NE" }],
      },
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 0, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 4294967295, op: "SCMP_CMP_EQ" }],
      },
      { names: ["getpid"], action: "SCMP_ACT_ALLOW" },
    ],
  };
  assert.equal(run(seccomp, X.socket, [16n, 3n, 9n]), errno(22));
  assert.equal(run(seccomp, X.socket, [16n, 3n, 0n]), ALLOW);
  assert.equal(run(seccomp, X.socket, [2n, 1n, 9n]), ALLOW);
  assert.equal(run(seccomp, X.personality, [8n]), ALLOW);
  assert.equal(run(seccomp, X.personality, [0xffffffffn]), ALLOW);
  assert.equal(run(seccomp, X.personality, [0x1ffffffffn]), errno(38));
  assert.equal(run(seccomp, X.personality, [1n]), errno(38));
  const probes = [];
  for (const a0 of [0n, 2n, 16n, 17n, 0x100000010n]) {
    for (const a2 of [0n, 9n, 10n, 0x900000009n]) {
      probes.push({ arch: AUDIT_ARCH_X86_64, nr: X.socket, args: [a0, 0n, a2] });
    }
  }
  assertMatchesReference(seccomp, probes);
});

Deno.test("compileSeccomp() lets the first rule whose conditions hold decide, and an unconditional rule override conditional ones", () => {
  const ordered: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      {
        names: ["ioctl"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 5,
        args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["ioctl"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 6,
        args: [{ index: 1, value: 2, op: "SCMP_CMP_EQ" }],
      },
    ],
  };
  assert.equal(run(ordered, X.ioctl, [1n, 2n]), errno(5));
  assert.equal(run(ordered, X.ioctl, [0n, 2n]), errno(6));
  assert.equal(run(ordered, X.ioctl, [0n, 0n]), ALLOW);
  const overridden: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      {
        names: ["ioctl"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 5,
        args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }],
      },
      { names: ["ioctl"], action: "SCMP_ACT_ERRNO", errnoRet: 9 },
      { names: ["ioctl"], action: "SCMP_ACT_ERRNO", errnoRet: 10 },
    ],
  };
  assert.equal(run(overridden, X.ioctl, [1n]), errno(9));
  assert.equal(run(overridden, X.ioctl, [0n]), errno(9));
});

Deno.test("compileSeccomp() drops rules whose action is the default action, as runc does", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      {
        names: ["ioctl"],
        action: "SCMP_ACT_ERRNO",
        args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["ioctl"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 1, value: 2, op: "SCMP_CMP_EQ" }],
      },
    ],
  };
  assert.equal(run(seccomp, X.ioctl, [1n, 2n]), ALLOW);
  assert.equal(run(seccomp, X.ioctl, [1n, 3n]), errno(1));
});

Deno.test("compileSeccomp() kills the thread for an architecture the filter does not list", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  };
  assert.equal(run(seccomp, SYSCALLS_X86.getpid, [], AUDIT_ARCH_I386), KILL_THREAD);
  assert.equal(run(seccomp, 0, [], AUDIT_ARCH_AARCH64), KILL_THREAD);
  assert.equal(run(seccomp, X.getpid, []), ALLOW);
});

Deno.test("compileSeccomp() always includes the native architecture and resolves names per architecture", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86"],
    syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }],
  };
  assert.equal(run(seccomp, X.mkdir), errno(13));
  assert.equal(run(seccomp, SYSCALLS_X86.mkdir, [], AUDIT_ARCH_I386), errno(13));
  assert.equal(run(seccomp, SYSCALLS_X86.mkdirat, [], AUDIT_ARCH_I386), errno(13));
  // i386 numbers differ from x86_64's: i386 getpid (20) is allowed, x86_64's mkdir number (83) too.
  assert.equal(run(seccomp, SYSCALLS_X86.getpid, [], AUDIT_ARCH_I386), ALLOW);
  assert.equal(run(seccomp, X.mkdir, [], AUDIT_ARCH_I386), ALLOW);
  const aarch64: Seccomp = { ...seccomp, architectures: ["SCMP_ARCH_ARM"] };
  assert.equal(
    run(aarch64, SYSCALLS_AARCH64.mkdirat, [], AUDIT_ARCH_AARCH64, "aarch64"),
    errno(13),
  );
  assert.equal(run(aarch64, SYSCALLS_ARM.mkdir, [], AUDIT_ARCH_ARM, "aarch64"), errno(13));
  assert.equal(run(aarch64, X.mkdir, [], AUDIT_ARCH_X86_64, "aarch64"), KILL_THREAD);
});

Deno.test("compileSeccomp() kills x32 calls on an x86_64 filter without SCMP_ARCH_X32, as libseccomp does", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  };
  assert.equal(run(seccomp, SYSCALLS_X32.getpid), KILL_THREAD);
  assert.equal(run(seccomp, X32_SYSCALL_BIT | 0x1234), KILL_THREAD);
  // nr -1 is how a tracer skips a call; it gets the default action, never the bad-arch kill.
  assert.equal(run(seccomp, 0xffffffff), ALLOW);
});

Deno.test("compileSeccomp() applies x32 rules to numbers with X32_SYSCALL_BIT when SCMP_ARCH_X32 is listed", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
    syscalls: [{ names: ["mkdir", "execve"], action: "SCMP_ACT_ERRNO", errnoRet: 2 }],
  };
  assert.equal(run(seccomp, SYSCALLS_X32.mkdir), errno(2));
  assert.equal(SYSCALLS_X32.execve, X32_SYSCALL_BIT + 520);
  assert.equal(run(seccomp, SYSCALLS_X32.execve), errno(2));
  // x86_64's execve number with the x32 bit is not x32's execve.
  assert.equal(run(seccomp, (X32_SYSCALL_BIT | X.execve) >>> 0), ALLOW);
  assert.equal(run(seccomp, X.mkdir), errno(2));
  assert.equal(run(seccomp, X.getpid), ALLOW);
});

Deno.test("compileSeccomp() skips syscall names an architecture does not have and reports them", () => {
  const unknown: string[] = [];
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    syscalls: [{
      names: ["no_such_syscall", "tuxcall", "mkdir", "toString", "constructor"],
      action: "SCMP_ACT_ERRNO",
    }],
  };
  const filter = compileSeccomp(seccomp, {
    arch: "x86_64",
    onUnknownSyscall: (name, arch) => unknown.push(`${arch}:${name}`),
  });
  assert.deepEqual(unknown.sort(), [
    "x86:constructor",
    "x86:no_such_syscall",
    "x86:toString",
    "x86:tuxcall",
    "x86_64:constructor",
    "x86_64:no_such_syscall",
    "x86_64:toString",
  ]);
  assert.equal(
    runBpf(filter.instructions, { arch: AUDIT_ARCH_X86_64, nr: X.tuxcall }).value,
    errno(1),
  );
  assert.equal(
    runBpf(filter.instructions, { arch: AUDIT_ARCH_I386, nr: SYSCALLS_X86.mkdir }).value,
    errno(1),
  );
});

Deno.test("compileSeccomp() returns ENOSYS for syscalls above the highest one the profile names, as runc does", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["read", "write", "openat"], action: "SCMP_ACT_ALLOW" }],
  };
  assert.equal(run(seccomp, X.openat), ALLOW);
  assert.equal(run(seccomp, X.mkdir), errno(1));
  assert.equal(run(seccomp, X.clone3), errno(38));
  assert.equal(run(seccomp, 0xffffffff), errno(1));
  const off = compileSeccomp(seccomp, { arch: "x86_64", enosysForNewerSyscalls: false });
  assert.equal(runBpf(off.instructions, { arch: AUDIT_ARCH_X86_64, nr: X.clone3 }).value, errno(1));
  // Not when the default action lets calls through.
  const allow: Seccomp = {
    defaultAction: "SCMP_ACT_LOG",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ERRNO" }],
  };
  assert.equal(run(allow, X.clone3), 0x7ffc0000);
});

Deno.test("compileSeccomp() adds the ENOSYS return only for the architectures the profile lists, as runc does", () => {
  const rules: Seccomp["syscalls"] = [{ names: ["read", "openat"], action: "SCMP_ACT_ALLOW" }];
  // No architectures: runc's patchbpf has nothing to build its stub for.
  const unlisted: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 5,
    syscalls: rules,
  };
  assert.equal(run(unlisted, X.clone3), errno(5));
  assert.equal(run(unlisted, 1000), errno(5));
  // With x32 listed, -1 counts as an x32 number above the highest x32 one: ENOSYS.
  const withX32: Seccomp = { ...unlisted, architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"] };
  assert.equal(run(withX32, 1000), errno(38));
  assert.equal(run(withX32, 0xffffffff), errno(38));
  assert.equal(run(withX32, X32_SYSCALL_BIT | 1000), errno(38));
  const onlyX32: Seccomp = { ...unlisted, architectures: ["SCMP_ARCH_X32"] };
  assert.equal(run(onlyX32, 1000), errno(5));
  assert.equal(run(onlyX32, 0xffffffff), errno(38));
  // i386: -1 is above the highest number too.
  const i386: Seccomp = { ...unlisted, architectures: ["SCMP_ARCH_X86"] };
  assert.equal(run(i386, 0xffffffff, [], AUDIT_ARCH_I386), errno(38));
  assert.equal(run(i386, 0xffffffff), errno(5));
  // A profile whose highest number is 0 (only read on x86_64) gets no stub, as in runc.
  const onlyRead: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }],
  };
  assert.equal(run(onlyRead, X.write), errno(1));
});

Deno.test("compileSeccomp() compares only the low 32 bits of arguments on 32-bit architectures", () => {
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86"],
    syscalls: [{
      names: ["ioctl"],
      action: "SCMP_ACT_ERRNO",
      args: [{ index: 1, value: 0x100000005, op: "SCMP_CMP_EQ" }],
    }],
  };
  assert.equal(run(seccomp, SYSCALLS_X86.ioctl, [0n, 5n], AUDIT_ARCH_I386), errno(1));
  assert.equal(run(seccomp, SYSCALLS_X86.ioctl, [0n, 6n], AUDIT_ARCH_I386), ALLOW);
  assert.equal(run(seccomp, X.ioctl, [0n, 5n]), ALLOW);
  assert.equal(run(seccomp, X.ioctl, [0n, 0x100000005n]), errno(1));
});

Deno.test("compileSeccomp() inserts long jumps when a branch is more than 255 instructions away", () => {
  // Many syscalls with argument rules make the search tree's subtrees far larger than 255.
  const names = Object.keys(X).slice(0, 120);
  const seccomp: Seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: names.map((name, i) => ({
      names: [name],
      action: "SCMP_ACT_ALLOW" as const,
      args: [{ index: i % 6, value: i * 0x100000001, op: "SCMP_CMP_LE" as const }],
    })),
  };
  const filter = compileSeccomp(seccomp, { arch: "x86_64" });
  checkSeccompProgram(filter.instructions);
  assert.ok(filter.instructions.length > 1000, `${filter.instructions.length} instructions`);
  const longJumps = filter.instructions.filter((i) => i.code === (BPF_JMP | BPF_JA));
  assert.ok(longJumps.length > 0, "expected BPF_JA trampolines");
  assert.ok(longJumps.some((i) => i.k > 255));
  const probes = [];
  for (const name of names) {
    for (const a of [0n, 5n, 0x100000001n * 60n, 0xffffffffffn]) {
      const args = [a, a, a, a, a, a];
      probes.push({ arch: AUDIT_ARCH_X86_64, nr: X[name], args });
      if (Object.hasOwn(SYSCALLS_X86, name)) {
        probes.push({ arch: AUDIT_ARCH_I386, nr: SYSCALLS_X86[name], args });
      }
      if (Object.hasOwn(SYSCALLS_X32, name)) {
        probes.push({ arch: AUDIT_ARCH_X86_64, nr: SYSCALLS_X32[name], args });
      }
    }
  }
  assertMatchesReference(seccomp, probes);
});

Deno.test("compileSeccomp() maps flags, and implies NEW_LISTENER for SCMP_ACT_NOTIFY or a listenerPath", () => {
  const base: Seccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
  };
  const none = compileSeccomp(base, { arch: "x86_64" });
  assert.equal(none.flags, 0);
  assert.equal(none.newListener, false);
  const flagged = compileSeccomp({
    ...base,
    flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
  }, { arch: "x86_64" });
  assert.equal(flagged.flags, 2 | 4);
  assert.deepEqual(flagged.flagNames, [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  ]);
  const notify = compileSeccomp({
    defaultAction: "SCMP_ACT_ALLOW",
    flags: ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_NOTIFY" }],
  }, { arch: "x86_64" });
  assert.equal(notify.newListener, true);
  // TSYNC with a listener needs TSYNC_ESRCH, or seccomp(2) says EINVAL.
  assert.equal(notify.flags, 1 | 8 | 16 | 32);
  const listener = compileSeccomp({ ...base, listenerPath: "/run/agent.sock" }, { arch: "x86_64" });
  assert.equal(listener.flags, 8);
  // WAIT_KILLABLE_RECV means nothing without a listener; seccomp(2) would refuse it.
  const waitKill = compileSeccomp({ ...base, flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"] }, {
    arch: "x86_64",
  });
  assert.equal(waitKill.flags, 0);
});

Deno.test("compileSeccomp() names the JSON path of an unknown action, operator, architecture or flag", () => {
  const cases: Array<[Seccomp, RegExp]> = [
    [
      {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["a"], action: "SCMP_ACT_ALLOW" }, {
          names: ["b"],
          action: "SCMP_ACT_FOO" as "SCMP_ACT_LOG",
        }],
      },
      /^linux\.seccomp\.syscalls\[1\]\.action: "SCMP_ACT_FOO" is not one of SCMP_ACT_KILL, /,
    ],
    [
      { defaultAction: "SCMP_ACT_NOPE" as "SCMP_ACT_LOG" },
      /^linux\.seccomp\.defaultAction: "SCMP_ACT_NOPE" is not one of /,
    ],
    [
      {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["a"],
          action: "SCMP_ACT_ERRNO",
          args: [{ index: 0, value: 1, op: "SCMP_CMP_XX" as "SCMP_CMP_EQ" }],
        }],
      },
      /^linux\.seccomp\.syscalls\[0\]\.args\[0\]\.op: "SCMP_CMP_XX" is not one of SCMP_CMP_NE, /,
    ],
    [
      {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{
          names: ["a"],
          action: "SCMP_ACT_ERRNO",
          args: [{ index: 6, value: 1, op: "SCMP_CMP_EQ" }],
        }],
      },
      /^linux\.seccomp\.syscalls\[0\]\.args\[0\]\.index: must be an integer from 0 to 5/,
    ],
    [
      { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86", "SCMP_ARCH_MIPS"] },
      /^linux\.seccomp\.architectures\[1\]: "SCMP_ARCH_MIPS" is not supported by Skiff's seccomp compiler \(supported: /,
    ],
    [
      { defaultAction: "SCMP_ACT_ALLOW", architectures: ["amd64"] },
      /^linux\.seccomp\.architectures\[0\]: "amd64" is not one of SCMP_ARCH_X86_64, /,
    ],
    [
      { defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_NOPE"] },
      /^linux\.seccomp\.flags\[0\]: "SECCOMP_FILTER_FLAG_NOPE" is not one of /,
    ],
    [
      { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: -1 },
      /^linux\.seccomp\.defaultErrnoRet: must be a non-negative integer/,
    ],
    [
      { defaultAction: "SCMP_ACT_NOTIFY" },
      /^linux\.seccomp\.defaultAction: SCMP_ACT_NOTIFY cannot be the default action/,
    ],
    [
      {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: [7 as unknown as string], action: "SCMP_ACT_ERRNO" }],
      },
      /^linux\.seccomp\.syscalls\[0\]\.names\[0\]: must be a syscall name/,
    ],
  ];
  for (const [seccomp, message] of cases) {
    assert.throws(() => compileSeccomp(seccomp, { arch: "x86_64" }), (err: unknown) => {
      assert.ok(err instanceof SpecError, String(err));
      assert.ok(err instanceof TypeError);
      assert.match(err.message, message);
      assert.ok(err.path.startsWith("linux.seccomp"));
      return true;
    });
  }
});

Deno.test("compileSeccomp() returns struct sock_filter bytes: u16 code, u8 jt, u8 jf, u32 k, little-endian", () => {
  const filter = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" }, { arch: "x86_64" });
  const bytes = filter.bytes();
  assert.equal(bytes.byteLength, filter.instructions.length * 8);
  assert.deepEqual(decodeFilter(bytes), filter.instructions);
  // The first instruction loads seccomp_data.arch: BPF_LD|BPF_W|BPF_ABS (0x20), k = 4.
  assert.deepEqual([...bytes.subarray(0, 8)], [0x20, 0, 0, 0, 4, 0, 0, 0]);
});

Deno.test("SECCOMP_FEATURES lists every action, operator, architecture and flag the compiler accepts", () => {
  assert.equal(SECCOMP_FEATURES.actions.length, 9);
  assert.ok(SECCOMP_FEATURES.actions.includes("SCMP_ACT_NOTIFY"));
  assert.equal(SECCOMP_FEATURES.operators.length, 7);
  assert.deepEqual([...SECCOMP_FEATURES.archs], Object.keys(ARCHS).sort());
  // features.ts lists the actions without the compiler: the compiler's own list is in its error.
  assert.throws(
    () => compileSeccomp({ defaultAction: "SCMP_ACT_BOGUS" as SeccompAction }),
    (err: unknown) => {
      const listed = /is not one of (.*)$/.exec((err as Error).message)?.[1].split(", ");
      assert.deepEqual(listed?.sort(), [...SECCOMP_FEATURES.actions]);
      return true;
    },
  );

  assert.ok(SECCOMP_FEATURES.knownFlags.includes("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"));
});

const podman = readPodmanProfile();

const PROFILE_CASES: Array<[NativeArch, string, readonly string[]]> = [
  ["x86_64", "Podman's capabilities", PODMAN_DEFAULT_CAPS],
  ["aarch64", "Podman's capabilities", PODMAN_DEFAULT_CAPS],
  ["x86_64", "Docker's capabilities", DOCKER_DEFAULT_CAPS],
];

for (const [native, capsName, caps] of PROFILE_CASES) {
  Deno.test({
    name:
      `compileSeccomp() compiles Podman's default profile for ${native} with ${capsName} under 4096 instructions and agrees with it on every syscall${
        podman ? "" : " (needs /usr/share/containers/seccomp.json)"
      }`,
    ignore: podman === undefined,
    fn() {
      const seccomp = dockerProfileToSeccomp(structuredClone(podman!), native, caps);
      const filter = compileSeccomp(seccomp, { arch: native });
      checkSeccompProgram(filter.instructions);
      assert.ok(filter.instructions.length < 4096);
      const probes: Array<{ arch: number; nr: number; args?: bigint[] }> = [];
      const listed = new Set([
        native === "x86_64" ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64",
        ...seccomp.architectures!,
      ]);
      for (const name of listed) {
        const info = ARCHS[name];
        for (const nr of Object.values(info.syscalls)) {
          probes.push({ arch: info.auditArch, nr, args: [0n, 0n, 0n] });
        }
        const base = info.arch === "x32" ? X32_SYSCALL_BIT : 0;
        for (const nr of [base + 999, base + 1023, base + 600, base + 0x0f0001, 0xffffffff]) {
          probes.push({ arch: info.auditArch, nr });
        }
      }
      // Argument rules: personality and socket (and clone on some versions).
      const personality = native === "x86_64" ? X.personality : SYSCALLS_AARCH64.personality;
      const socket = native === "x86_64" ? X.socket : SYSCALLS_AARCH64.socket;
      const audit = native === "x86_64" ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_AARCH64;
      for (const a of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn, 1n, 0x1ffffffffn]) {
        probes.push({ arch: audit, nr: personality, args: [a] });
      }
      for (const a0 of [2n, 16n]) {
        for (const a2 of [0n, 9n]) probes.push({ arch: audit, nr: socket, args: [a0, 1n, a2] });
      }
      for (const arch of [AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64]) {
        probes.push({ arch, nr: 3 });
      }
      assertMatchesReference(seccomp, probes, native);

      let total = 0;
      let max = 0;
      let count = 0;
      const nativeInfo = ARCHS[native === "x86_64" ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64"];
      for (const nr of Object.values(nativeInfo.syscalls)) {
        const { executed } = runBpf(filter.instructions, {
          arch: nativeInfo.auditArch,
          nr,
          args: [0n, 0n, 0n],
        });
        total += executed;
        max = Math.max(max, executed);
        count++;
      }
      const average = total / count;
      console.log(
        `  ${native}: ${filter.instructions.length} instructions; ${
          average.toFixed(1)
        } average, ${max} max executed per native syscall`,
      );
      assert.ok(average < 30, `average ${average}`);
      assert.ok(max < 40, `max ${max}`);
    },
  });
}

Deno.test({
  name: `compileSeccomp() denies what runc denies on a probe list from Podman's profile${
    podman ? "" : " (needs /usr/share/containers/seccomp.json)"
  }`,
  ignore: podman === undefined,
  fn() {
    const seccomp = dockerProfileToSeccomp(structuredClone(podman!), "x86_64");
    const filter = compileSeccomp(seccomp, { arch: "x86_64" });
    const at = (nr: number, args: bigint[] = []): number =>
      runBpf(filter.instructions, { arch: AUDIT_ARCH_X86_64, nr, args }).value;
    // Podman's profile leaves mount & co. to capabilities; it denies a fixed list with EPERM.
    assert.equal(at(X.read), ALLOW);
    assert.equal(at(X.mkdir), ALLOW);
    assert.equal(at(X.clone3), ALLOW);
    assert.equal(at(X.mount), ALLOW);
    assert.equal(at(X.kexec_load), errno(1));
    assert.equal(at(X.swapon), errno(1));
    assert.equal(at(X.userfaultfd), errno(1));
    assert.equal(at(X.bpf), errno(1)); // the CAP_SYS_ADMIN exclude rule: not in Docker's caps
    assert.equal(at(X.chroot), ALLOW); // the CAP_SYS_CHROOT include rule
    assert.equal(at(X.socket, [16n, 3n, 9n]), errno(22)); // NETLINK_AUDIT
    assert.equal(at(X.socket, [2n, 1n, 0n]), ALLOW);
    assert.equal(at(X.personality, [0n]), ALLOW);
    assert.equal(at(X.personality, [1n]), errno(38));
    assert.equal(at(X.add_key), errno(38)); // not in the profile: the default, ERRNO(ENOSYS)
    assert.equal(at(X.listns), errno(38)); // newer than anything the profile names
  },
});
