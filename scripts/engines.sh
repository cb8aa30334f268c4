#!/usr/bin/env bash
# Runs the engine battery (../shared/engines/smoke.sh: Podman and containerd) against dist/skiff,
# from a scratch directory: conmon creates an empty file named "oom" in its working directory
# whenever a container is OOM-killed (the oom_kill_137 checks do that on purpose), and Podman
# starts conmon in the caller's directory, which was the repository. Arguments and environment
# (ENGINES, KEEP_TMP, VERBOSE, ...) pass through to smoke.sh. Then tests/engines/userns.sh, Podman
# with user namespaces (USERNS_RUNTIME=/usr/sbin/runc runs it against runc instead).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /tmp/skiff-engines.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
status=0
RUNTIME=$repo/dist/skiff RUNTIME_STATE_DIRS=${RUNTIME_STATE_DIRS:-/run/skiff} PODMAN_JSON_LOG=1 \
  bash "$repo/../shared/engines/smoke.sh" "$@" || status=1
# Podman with user namespaces (root --uidmap/--userns=auto, rootless as skiffrl): its own
# "N passed, N failed" line, which scripts/test.sh adds to the battery's. USERNS_ENGINES=0 skips it.
if [ "${USERNS_ENGINES:-1}" = 1 ]; then
  RUNTIME=${USERNS_RUNTIME:-$repo/dist/skiff} RUNTIME_STATE_DIRS=${RUNTIME_STATE_DIRS:-/run/skiff} \
    PODMAN_JSON_LOG=1 bash "$repo/tests/engines/userns.sh" || status=1
fi
exit "$status"
