#!/usr/bin/env bash
# Boots the host's systemd (Debian 12: systemd 252, which still supports cgroup v1) as PID 1 on
# THIS host's hybrid cgroup layout, and runs a command inside it: the place where a v1/hybrid
# systemd cgroup driver could be tested (the systemd VM is pure cgroup v2). Not a test itself.
#
#   * new mount, PID, cgroup, UTS and IPC namespaces (unshare); the root is an overlay of the
#     host's / (so /work and dist/skiff are there) with a tmpfs upper: writes are discarded
#   * a cgroup `skiff-hybrid-$$` in every v1 hierarchy and in the cgroup2 mount is the namespace's
#     cgroup root; /sys/fs/cgroup inside is a tmpfs with the v1 controllers, name=systemd and
#     cgroup2 at unified, as a hybrid systemd host has them
#   * PID 1 boots basic.target (sockets, the system D-Bus) and nothing of the host's services; the
#     command runs once `systemctl is-system-running` says running (or degraded), through
#     nsenter, as root, with the caller's cwd
#   * afterwards PID 1 is killed (which ends the namespace) and the cgroups are removed
#
# Usage (root): tests/systemd/hybrid_systemd.sh COMMAND [ARGS...]
# Environment: TIMEOUT (seconds for boot plus command, default 600).
# Exit status: the command's; 125 when systemd did not come up (its console log is printed).
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "hybrid_systemd.sh: must run as root" >&2; exit 125; }
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 125; }
[ -d /sys/fs/cgroup/systemd ] && [ -d /sys/fs/cgroup/memory ] ||
  { echo "hybrid_systemd.sh: this host has no v1 hierarchies (name=systemd, memory)" >&2; exit 125; }

work=$(mktemp -d /tmp/skiff-hybrid.XXXXXX)
cg="skiff-hybrid-$$"
hierarchies=()
for dir in /sys/fs/cgroup/*/; do
  dir=${dir%/}
  case $(stat -fc %T "$dir") in cgroupfs | cgroup2fs) hierarchies+=("$dir") ;; esac
done

cleanup() {
  set +e
  [ -n "${pid1:-}" ] && kill -KILL "$pid1" 2>/dev/null
  [ -n "${outer:-}" ] && wait "$outer" 2>/dev/null
  for h in "${hierarchies[@]}"; do
    [ -d "$h/$cg" ] && find "$h/$cg" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

for h in "${hierarchies[@]}"; do
  mkdir -p "$h/$cg"
  if [ -f "$h/cpuset.cpus" ]; then
    cat "$h/cpuset.cpus" >"$h/$cg/cpuset.cpus"
    cat "$h/cpuset.mems" >"$h/$cg/cpuset.mems"
  fi
done

cat >"$work/boot.sh" <<'BOOT'
set -e
work=$1
mount --make-rprivate /
mkdir -p "$work/up" "$work/root"
mount -t tmpfs tmpfs "$work/up"
mkdir -p "$work/up/u" "$work/up/w"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/up/u,workdir=$work/up/w" "$work/root"
cd "$work/root"
mount -t proc proc proc
mount -t sysfs sysfs sys
mount -t tmpfs -o mode=755 cgroup sys/fs/cgroup
for c in $(awk '$4 == 1 && $1 !~ /^#/ {print $1}' /proc/cgroups); do
  [ -d "/sys/fs/cgroup/$c" ] || continue
  mkdir -p "sys/fs/cgroup/$c"
  mount -t cgroup -o "$c" cgroup "sys/fs/cgroup/$c"
done
mkdir -p sys/fs/cgroup/systemd sys/fs/cgroup/unified
mount -t cgroup -o none,name=systemd cgroup sys/fs/cgroup/systemd
mount -t cgroup2 cgroup2 sys/fs/cgroup/unified
mount --rbind /dev dev
mount -t tmpfs tmpfs run
mount -t tmpfs tmpfs tmp
rm -f .dockerenv
: >etc/fstab
# pivot_root, not chroot: a runtime inside builds its containers' roots with bind mounts and its
# own pivot_root, which a chrooted mount namespace breaks.
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
exec /lib/systemd/systemd --unit=basic.target --log-target=console
BOOT

(
  for h in "${hierarchies[@]}"; do echo "$BASHPID" >"$h/$cg/cgroup.procs"; done
  exec env -i container=skiff-hybrid PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    unshare --mount --pid --fork --cgroup --uts --ipc bash "$work/boot.sh" "$work"
) >"$work/console.log" 2>&1 &
outer=$!

deadline=$((SECONDS + ${TIMEOUT:-600}))
state=""
while [ $SECONDS -lt $deadline ]; do
  # $outer is unshare itself (the subshell exec'd env, which exec'd it); its child is PID 1.
  pid1=$(pgrep -P "$outer" -x systemd || true)
  if [ -n "$pid1" ]; then
    state=$(nsenter -t "$pid1" -m -p -C -u -i -r -w systemctl is-system-running 2>/dev/null || true)
    case $state in running | degraded) break ;; esac
  fi
  sleep 1
done
case $state in
  running | degraded) ;;
  *)
    echo "hybrid_systemd.sh: systemd did not come up (state: ${state:-none})" >&2
    cat "$work/console.log" >&2
    exit 125
    ;;
esac
cd_to=$(pwd)
set +e
timeout $((deadline - SECONDS)) nsenter -t "$pid1" -m -p -C -u -i -r -- \
  sh -c 'cd "$0" && exec "$@"' "$cd_to" "$@"
rc=$?
exit $rc
