#!/usr/bin/env bash
# Runs the systemd cgroup driver's tests (--systemd-cgroup) against a real systemd: boots
# ../shared/vm/run-in-vm.sh in systemd mode (PID 1 is systemd with the system D-Bus, pure cgroup
# v2, QEMU without KVM) with the repository shared read-write and runs `deno test` there. Outside
# that VM the tests that need systemd are ignored.
#
# Usage: tests/systemd/run_in_vm.sh [deno test options or paths...]
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
  set -- runtime/cgroups/dbus_test.ts runtime/cgroups/systemd_test.ts tests/integration/systemd_test.ts \
    tests/integration/systemd_engines_test.ts tests/integration/systemd_crash_test.ts
fi
# --no-check: type checking under software emulation costs minutes; `deno task check` covers it.
exec "$vm" --systemd --timeout "${TIMEOUT:-900}" -- "$deno" test -A --no-check "$@"
