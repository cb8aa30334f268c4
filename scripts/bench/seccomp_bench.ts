/**
 * Seccomp compiler benchmark: compile time of Podman's default profile and the BPF instructions
 * executed per system call, counted by the interpreter.
 *
 *   deno run -A scripts/bench/seccomp_bench.ts
 *
 * Needs /usr/share/containers/seccomp.json (Debian: golang-github-containers-common).
 */
import { compileSeccomp } from "../../runtime/security/seccomp/compile.ts";
import { runBpf } from "../../runtime/security/seccomp/_bpf_interpreter.ts";
import { ARCHS, type NativeArch } from "../../runtime/security/seccomp/archs.ts";
import {
  DOCKER_DEFAULT_CAPS,
  dockerProfileToSeccomp,
  PODMAN_DEFAULT_CAPS,
  PODMAN_PROFILE_PATH,
  readPodmanProfile,
} from "../../runtime/security/seccomp/_testing.ts";

interface Counts {
  average: number;
  max: number;
  samples: number;
}

function count(program: Parameters<typeof runBpf>[0], arch: number, numbers: number[]): Counts {
  let total = 0;
  let max = 0;
  for (const nr of numbers) {
    const { executed } = runBpf(program, { arch, nr, args: [0n, 0n, 0n, 0n, 0n, 0n] });
    total += executed;
    max = Math.max(max, executed);
  }
  return { average: numbers.length ? total / numbers.length : 0, max, samples: numbers.length };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const profile = readPodmanProfile();
if (!profile) {
  console.error(
    `${PODMAN_PROFILE_PATH} is missing: apt-get install -y golang-github-containers-common`,
  );
  Deno.exit(1);
}

const cases: Array<[NativeArch, string, readonly string[]]> = [
  ["x86_64", "podman caps", PODMAN_DEFAULT_CAPS],
  ["x86_64", "docker caps", DOCKER_DEFAULT_CAPS],
  ["aarch64", "podman caps", PODMAN_DEFAULT_CAPS],
];

console.log(
  "| profile | archs | rules | BPF insns | compile (median) | in profile: avg / max insns | not in profile: avg / max |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const [native, capsName, caps] of cases) {
  const seccomp = dockerProfileToSeccomp(structuredClone(profile), native, caps);
  // Warm up the JIT, then time.
  for (let i = 0; i < 20; i++) compileSeccomp(seccomp, { arch: native });
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = performance.now();
    compileSeccomp(seccomp, { arch: native });
    times.push(performance.now() - start);
  }
  const filter = compileSeccomp(seccomp, { arch: native });
  const info = ARCHS[native === "x86_64" ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64"];
  const named = new Set(
    (seccomp.syscalls ?? []).flatMap((r) => r.names).filter((n) => Object.hasOwn(info.syscalls, n)),
  );
  const inProfile = [...named].map((n) => info.syscalls[n]);
  const known = new Set(Object.values(info.syscalls));
  const notInProfile = [
    ...Object.entries(info.syscalls).filter(([n]) => !named.has(n)).map(([, nr]) => nr),
    ...Array.from({ length: 64 }, (_, i) => 471 + i * 7).filter((nr) => !known.has(nr)),
    0xffffffff,
  ];
  const a = count(filter.instructions, info.auditArch, inProfile);
  const b = count(filter.instructions, info.auditArch, notInProfile);
  console.log(
    `| Podman default, ${native}, ${capsName} | ${
      filter.archs.join("+")
    } | ${seccomp.syscalls?.length} | ${filter.instructions.length} | ${
      median(times).toFixed(2)
    } ms | ${a.average.toFixed(1)} / ${a.max} (${a.samples} calls) | ${
      b.average.toFixed(1)
    } / ${b.max} (${b.samples} numbers) |`,
  );
}
