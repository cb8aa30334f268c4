#!/usr/bin/env bash
# Runs the cgroup tests on a pure cgroup v2 kernel: boots ../shared/vm/run-in-vm.sh (QEMU, no KVM,
# cgroup v1 disabled) with the repository shared read-write and runs `deno test` there. The tests
# that need cgroup v2 only run there; the v1 ones skip.
#
# Usage: tests/cgroup2/run_in_vm.sh [deno test options or paths...]
# Environment: DENO (deno binary, default .tools/node_modules/deno/deno), RUN_IN_VM (the VM
# script, default ../shared/vm/run-in-vm.sh), TIMEOUT (seconds, default 900).
# Exit status: the tests' own; 124 when the VM timed out, 125 when it failed to boot.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
deno=${DENO:-$repo/.tools/node_modules/deno/deno}
vm=${RUN_IN_VM:-$repo/../shared/vm/run-in-vm.sh}
[ -x "$deno" ] || { echo "run_in_vm.sh: no deno at $deno (set DENO)" >&2; exit 125; }
[ -x "$vm" ] || { echo "run_in_vm.sh: no VM script at $vm (set RUN_IN_VM)" >&2; exit 125; }
if [ $# -eq 0 ]; then
  set -- runtime/cgroups runtime/cli/cgroup_commands_test.ts
fi
# Tests that take many samples on the host take fewer in the VM (tests/integration/crash_test.ts).
export SKIFF_IN_VM=1
# --no-check: type checking under software emulation costs minutes; `deno task check` covers it.
exec "$vm" --timeout "${TIMEOUT:-900}" -- "$deno" test -A --no-check "$@"
