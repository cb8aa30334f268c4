#!/usr/bin/env bash
# Sets a fresh Debian/Ubuntu machine (with Node.js, as root) up for Skiff and shows it working:
# installs what is missing (Deno 2.9.6 from npm into .tools/, busybox-static and runc from apt),
# builds dist/skiff, generates a busybox bundle and runs a container that prints something.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
DENO=.tools/node_modules/deno/deno

need_apt=()
command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || need_apt+=(busybox-static)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
# Benchmarks: crun's CLI rate against the library's (scripts/bench/library_bench.ts --crun).
command -v crun >/dev/null 2>&1 || need_apt+=(crun)
# Tests: Podman's default seccomp profile, and gcc + static libc for the seccomp probe.
[ -f /usr/share/containers/seccomp.json ] || need_apt+=(golang-github-containers-common)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] ||
  need_apt+=(libc6-dev)
# Tests: archives written by skopeo itself; script(1) for the progress display on a terminal.
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
# Tests: pulls from a real registry (CNCF distribution) with htpasswd auth (tests/_helpers/registry.ts).
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_apt+=(apache2-utils)
# Tests: the OCI runtime-tools suite (../shared/conformance/build.sh) is Go.
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
# Tests: setfattr for GNU tar's xattr records (the tar reader); ps(1), which `skiff ps` runs.
# Neither is in a minimal Debian 12 (debootstrap --variant=minbase, the debian:12 image).
command -v setfattr >/dev/null 2>&1 || need_apt+=(attr)
command -v ps >/dev/null 2>&1 || need_apt+=(procps)
# Tests: the trampoline's aarch64 code runs under qemu-user (tests/integration/trampoline_test.ts).
command -v qemu-aarch64-static >/dev/null 2>&1 || need_apt+=(qemu-user-static)
# Rootless: newuidmap/newgidmap (user namespaces with /etc/subuid ranges), for Skiff and for the
# rootless Podman engine tests (scripts/engines_userns.sh).
command -v newuidmap >/dev/null 2>&1 || need_apt+=(uidmap)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$DENO" ] || [ "$("$DENO" --version | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  echo "setup: npm install deno@$DENO_VERSION"
  mkdir -p .tools
  # --prefer-offline: a machine that installed it before needs no registry (its DNS was seen to
  # fail for minutes); a few tries ride out a short outage on a new machine.
  for try in 1 2 3; do
    npm install --prefix .tools --no-audit --no-fund --silent --prefer-offline \
      --fetch-timeout=60000 --fetch-retries=2 "deno@$DENO_VERSION" >/dev/null && break
    [ "$try" -lt 3 ] || { echo "setup: npm install deno@$DENO_VERSION failed" >&2; exit 1; }
    echo "setup: npm install failed (try $try of 3); again in 20 s" >&2
    sleep 20
  done
fi
export DENO_NO_UPDATE_CHECK=1

"$DENO" run -A scripts/build.ts
"$DENO" run -A scripts/fixtures/busybox_rootfs.ts tests/.fixtures/busybox
dist/skiff run --bundle tests/.fixtures/busybox
