#!/usr/bin/env bash
# Runs Skiff's whole test suite as root (the tests run real containers) and ends with one line,
# "N passed, N failed, N skipped", summing four parts:
#   1. `deno task test`: unit and integration tests on this host (hybrid cgroups here), and
#      `deno doc --lint mod.ts` (the library's documentation), counted as one test.
#   2. The cgroup tests on a pure cgroup v2 kernel, in the QEMU VM of ../shared/vm/run-in-vm.sh
#      (`deno task test:cgroup2`).
#   2b. The systemd cgroup driver's tests (--systemd-cgroup) in the same VM booted with systemd as
#      PID 1 and the system D-Bus (`deno task test:systemd`; part "systemd"), and on a hybrid
#      host like this one its v1 driver under systemd booted as PID 1 in namespaces here
#      (`deno task test:systemd-hybrid`, tests/systemd/hybrid_systemd.sh; also part "systemd").
#   3. The engine battery, ../shared/engines/smoke.sh, against Podman and containerd, and
#      tests/engines/userns.sh, Podman with user namespaces (`deno task test:engines`).
#   4. The OCI runtime-tools validation suite, ../shared/conformance, one test per program
#      (`deno task test:conformance`; tests/conformance/expected_failures.ts says what may fail).
# Run scripts/setup.sh once first. SKIFF_TEST_PARTS="unit vm systemd engines conformance" selects parts. A selected
# part that cannot run (its script is missing, or it ends without a summary) says so and counts
# as one failure; leave it out of SKIFF_TEST_PARTS to skip it. Each part prints its own counts,
# ignored tests included; ", N skipped" on the last line is the ignored tests.
set -uo pipefail
cd "$(dirname "$0")/.."
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
DENO=.tools/node_modules/deno/deno
all_parts="unit vm systemd engines conformance"
parts=${SKIFF_TEST_PARTS:-$all_parts}
passed=0
failed=0
skipped=0
status=0

# add_totals PART PASSED FAILED IGNORED: prints one part's counts and adds them to the totals.
add_totals() {
  echo "== $1: $2 passed, $3 failed, $4 ignored"
  passed=$((passed + $2))
  failed=$((failed + $3))
  skipped=$((skipped + $4))
}

# cannot_run PART WHY: a selected part that cannot run (to its end) is a failure, said out loud.
cannot_run() {
  echo "== $1 FAILED TO RUN: $2" \
    "(counted as 1 failed; leave \"$1\" out of SKIFF_TEST_PARTS to skip it)"
  failed=$((failed + 1))
  status=1
}

# deno_totals PART LOG RC: adds the "ok | N passed | N failed | N ignored" summary of `deno test`.
deno_totals() {
  local summary ignored=0
  summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$2" | tail -1)
  if [ -z "$summary" ]; then
    cannot_run "$1" "it ended (exit status $3) without a deno test summary"
    return
  fi
  [[ "$summary" =~ \|\ ([0-9]+)\ ignored ]] && ignored=${BASH_REMATCH[1]}
  add_totals "$1" "$(echo "$summary" | sed -E 's/.*\| ([0-9]+) passed.*/\1/')" \
    "$(echo "$summary" | sed -E 's/.*\| ([0-9]+) failed.*/\1/')" "$ignored"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

for part in $all_parts; do
  [[ " $parts " == *" $part "* ]] || echo "== $part: not selected (SKIFF_TEST_PARTS=\"$parts\")"
done
for part in $parts; do
  [[ " $all_parts " == *" $part "* ]] || cannot_run "$part" "no such part (parts: $all_parts)"
done

if [[ " $parts " == *" unit "* ]]; then
  echo "== unit: unit and integration tests"
  "$DENO" task test 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || status=1
  deno_totals unit "$log" "$rc"
  # Each fuzz test prints "fuzz-count NAME N" (tests/fuzz/): the cases it ran, for the summary.
  fuzz=$(grep -aoE '^fuzz-count [a-z0-9_-]+ [0-9]+' "$log" |
    awk '{n[$2] += $3} END {for (k in n) print k, n[k]}' | sort |
    awk '{printf "%s%s %d", (NR > 1 ? ", " : ""), $1, $2}')
  echo "== fuzz: ${fuzz:-no fuzz-count lines} cases"
  # Every symbol mod.ts exports, and every type they reference, is exported and documented.
  echo "== unit: deno doc --lint mod.ts"
  if "$DENO" doc --lint mod.ts 2>&1 | tee "$log"; then
    add_totals "unit (deno doc --lint mod.ts)" 1 0 0
  else
    status=1
    add_totals "unit (deno doc --lint mod.ts)" 0 1 0
  fi
fi

if [[ " $parts " == *" vm "* ]]; then
  if [ -x ../shared/vm/run-in-vm.sh ]; then
    echo "== vm: cgroup v2 tests in the VM"
    "$DENO" task test:cgroup2 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]} # 124: the VM timed out, 125: it failed to boot
    [ "$rc" -eq 0 ] || status=1
    deno_totals vm "$log" "$rc"
  else
    cannot_run vm "../shared/vm/run-in-vm.sh is not there"
  fi
fi

if [[ " $parts " == *" systemd "* ]]; then
  if [ -x ../shared/vm/run-in-vm.sh ]; then
    echo "== systemd: the systemd cgroup driver in the VM with systemd as PID 1"
    "$DENO" task test:systemd 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]} # 124: the VM timed out, 125: it failed to boot
    [ "$rc" -eq 0 ] || status=1
    deno_totals systemd "$log" "$rc"
  else
    cannot_run systemd "../shared/vm/run-in-vm.sh is not there"
  fi
  # The v1/hybrid driver: systemd 252 booted as PID 1 on this host's own hybrid layout (the VM is
  # pure v2); only on a host with the v1 hierarchies.
  if [ -d /sys/fs/cgroup/systemd ] && [ -d /sys/fs/cgroup/memory ]; then
    echo "== systemd-v1: the systemd cgroup driver under systemd booted on this hybrid host"
    "$DENO" task test:systemd-hybrid 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]} # 125: systemd did not come up
    [ "$rc" -eq 0 ] || status=1
    deno_totals systemd-v1 "$log" "$rc"
  fi
fi

if [[ " $parts " == *" engines "* ]]; then
  if [ -r ../shared/engines/smoke.sh ]; then
    echo "== engines: engine battery (Podman, containerd)"
    "$DENO" task test:engines 2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    # One "N passed, N failed" line per battery: smoke.sh's, then tests/engines/userns.sh's.
    lines=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log")
    if [ -n "$lines" ]; then
      add_totals engines "$(echo "$lines" | awk '{s += $1} END {print s}')" \
        "$(echo "$lines" | awk '{s += $3} END {print s}')" 0
      [ "$(echo "$lines" | wc -l)" -ge 2 ] || [ "${USERNS_ENGINES:-1}" != 1 ] ||
        cannot_run engines "tests/engines/userns.sh printed no \"N passed, N failed\" line"
    else
      cannot_run engines "smoke.sh printed no \"N passed, N failed\" line"
    fi
  else
    cannot_run engines "../shared/engines/smoke.sh is not there"
  fi
fi

if [[ " $parts " == *" conformance "* ]]; then
  if [ -r ../shared/conformance/run.sh ]; then
    echo "== conformance: OCI runtime-tools validation suite"
    "$DENO" task test:conformance 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || status=1
    deno_totals conformance "$log" "$rc"
  else
    cannot_run conformance "../shared/conformance/run.sh is not there"
  fi
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ] || status=1
exit "$status"
