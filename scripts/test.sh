#!/usr/bin/env bash
# Runs Skiff's whole test suite as root (the tests run real containers) and ends with one line,
# "N passed, N failed", summing three parts:
#   1. `deno task test`: unit and integration tests on this host (hybrid cgroups here).
#   2. The cgroup tests on a pure cgroup v2 kernel, in the QEMU VM of ../shared/vm/run-in-vm.sh
#      (`deno task test:cgroup2`; skipped with a note when that script is missing).
#   3. The engine battery, ../shared/engines/smoke.sh, against Podman and containerd
#      (`deno task test:engines`; skipped with a note when that script is missing).
#   4. The OCI runtime-tools validation suite, ../shared/conformance, one test per program
#      (`deno task test:conformance`; tests/conformance/expected_failures.ts says what may fail).
# Run scripts/setup.sh once first. SKIFF_TEST_PARTS="unit vm engines conformance" selects parts.
set -uo pipefail
cd "$(dirname "$0")/.."
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
DENO=.tools/node_modules/deno/deno
parts=${SKIFF_TEST_PARTS:-"unit vm engines conformance"}
passed=0
failed=0
status=0

# deno_totals LOG: adds the "ok | N passed | N failed" summary of `deno test` in LOG.
deno_totals() {
  local summary p f
  summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$1" | tail -1)
  if [ -z "$summary" ]; then
    failed=$((failed + 1)) # the runner itself failed before its summary
    return
  fi
  p=$(echo "$summary" | sed -E 's/.*\| ([0-9]+) passed.*/\1/')
  f=$(echo "$summary" | sed -E 's/.*\| ([0-9]+) failed.*/\1/')
  passed=$((passed + p))
  failed=$((failed + f))
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [[ " $parts " == *" unit "* ]]; then
  echo "== unit and integration tests"
  "$DENO" task test 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  deno_totals "$log"
fi

if [[ " $parts " == *" vm "* ]]; then
  if [ -x ../shared/vm/run-in-vm.sh ]; then
    echo "== cgroup v2 tests in the VM"
    "$DENO" task test:cgroup2 2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    deno_totals "$log"
  else
    echo "== cgroup v2 tests skipped: ../shared/vm/run-in-vm.sh is not there"
  fi
fi

if [[ " $parts " == *" engines "* ]]; then
  if [ -r ../shared/engines/smoke.sh ]; then
    echo "== engine battery (Podman, containerd)"
    "$DENO" task test:engines 2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -n "$line" ]; then
      passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
      failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
    else
      failed=$((failed + 1))
    fi
  else
    echo "== engine battery skipped: ../shared/engines/smoke.sh is not there"
  fi
fi

if [[ " $parts " == *" conformance "* ]]; then
  echo "== OCI runtime-tools validation suite"
  "$DENO" task test:conformance 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  deno_totals "$log"
fi

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] || status=1
exit "$status"
