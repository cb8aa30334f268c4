#!/usr/bin/env bash
# Podman with user namespaces against a low-level runtime, beside the shared battery
# (../shared/engines/smoke.sh), with the same offline image (a busybox-static rootfs imported
# with `podman import`) and a private Podman store per run:
#   root Podman:     --uidmap 0:100000:65536 and --userns=auto (needs a "containers" line in
#                    /etc/subuid and /etc/subgid; added once when missing)
#   rootless Podman: as the test user skiffrl (made when missing, with its /etc/subuid range, as
#                    tests/_helpers/rootless.ts does), with its own XDG_RUNTIME_DIR under the
#                    temp dir, native overlay storage, cgroupfs, the file events logger.
#
# Usage (as root): RUNTIME=/path/to/runtime bash tests/engines/userns.sh
# Options: KEEP_TMP=1 (keep logs), VERBOSE=1 (default: show failing output), CHECK_TIMEOUT=90,
#   PARTS="root rootless" (default both), PODMAN_JSON_LOG=1 (as smoke.sh).
# Output: "PASS name" / "FAIL name: detail" per check and a last line "N passed, N failed".
# Runs in a private mount namespace (unshare -m) like smoke.sh, with a tmpfs over
# RUNTIME_STATE_DIRS (root Podman passes no --root). Everything it starts is stopped by PID.
set -u
set -o pipefail

RUNTIME=${RUNTIME:-}
CHECK_TIMEOUT=${CHECK_TIMEOUT:-90}
KEEP_TMP=${KEEP_TMP:-0}
VERBOSE=${VERBOSE:-1}
PARTS=${PARTS:-"root rootless"}
PODMAN_JSON_LOG=${PODMAN_JSON_LOG:-0}
RUNTIME_STATE_DIRS=${RUNTIME_STATE_DIRS:-}
USER_NAME=skiffrl
SUBID_START=300000
SUBID_COUNT=65536
# /etc/subuid range for Podman's --userns=auto (its user "containers"), clear of the others.
AUTO_START=1000000
AUTO_COUNT=1000000

die() {
  echo "userns.sh: $*" >&2
  echo "0 passed, 1 failed"
  exit 2
}
[[ $(id -u) -eq 0 ]] || die "must run as root"
[[ -n "$RUNTIME" ]] || die "set RUNTIME=/path/to/runtime-binary"
case "$RUNTIME" in /*) ;; *) RUNTIME="$(pwd)/$RUNTIME" ;; esac
[[ -x "$RUNTIME" && ! -d "$RUNTIME" ]] || die "RUNTIME=$RUNTIME is not an executable file"
for tool in podman conmon newuidmap setpriv unshare busybox; do
  command -v "$tool" >/dev/null || [[ $tool == busybox && -x /bin/busybox ]] ||
    die "$tool is missing (apt-get install podman conmon uidmap busybox-static)"
done
export RUNTIME CHECK_TIMEOUT KEEP_TMP VERBOSE PARTS PODMAN_JSON_LOG RUNTIME_STATE_DIRS

if [[ -z "${_USERNS_IN_NS:-}" ]]; then
  _USERNS_IN_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi

T=$(mktemp -d /tmp/engusens.XXXXXX) || die "mktemp failed"
chmod 755 "$T"
PASSED=0
FAILED=0
PAUSE_PIDS=()
log() { echo "# $*"; }
pass() {
  PASSED=$((PASSED + 1))
  echo "PASS $1"
}
fail() {
  FAILED=$((FAILED + 1))
  echo "FAIL $1${2:+: $2}"
  if [[ "$VERBOSE" == 1 && -n "${OUT:-}" ]]; then printf '%s\n' "$OUT" | tail -n 6 | sed 's/^/    | /'; fi
}
run() {
  OUT=$(timeout -k 5 "$CHECK_TIMEOUT" "$@" 2>&1 </dev/null)
  RC=$?
}
runin() {
  local in=$1
  shift
  OUT=$(printf '%s\n' "$in" | timeout -k 5 "$CHECK_TIMEOUT" "$@" 2>&1)
  RC=$?
}
expect() { # expect NAME WANT_RC PATTERN
  local name=$1 want=$2 pat=${3:-}
  if [[ "$RC" == "$want" && (-z "$pat" || "$OUT" == *$pat*) ]]; then
    pass "$name"
  else
    fail "$name" "rc=$RC (want $want)${pat:+, want output ~ '$pat'}"
  fi
}

cleanup() {
  set +e
  trap - EXIT INT TERM
  if [[ -n "${ROOT_READY:-}" ]]; then
    timeout 60 "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1
    timeout 60 "${P[@]}" rmi -a -f >/dev/null 2>&1
  fi
  if [[ -n "${USER_READY:-}" ]]; then
    timeout 60 "${U[@]}" rm -a -f -t 0 >/dev/null 2>&1
    timeout 60 "${U[@]}" rmi -a -f >/dev/null 2>&1
    # The store holds files of subordinate ids: only the user namespace can remove them.
    timeout 60 "${U[@]}" unshare rm -rf "$T/u/root" "$T/u/run" >/dev/null 2>&1
  fi
  # Rootless Podman leaves a pause process (catatonit -P) holding its user namespace.
  local pidfile
  for pidfile in "$T"/u/xdg/libpod/tmp/pause.pid "$T"/u/tmp/pause.pid; do
    [[ -f $pidfile ]] && PAUSE_PIDS+=("$(cat "$pidfile")")
  done
  for pid in "${PAUSE_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  awk -v t="$T" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  if [[ "$KEEP_TMP" == 1 ]]; then echo "# kept $T"; else rm -rf "$T"; fi
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]] && exit 0 || exit 1
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 1' INT TERM

for d in /run/runc /run/crun $RUNTIME_STATE_DIRS; do
  [[ -d "$d" ]] && mount -t tmpfs -o mode=0711,size=64m engusens-state "$d"
done

log "runtime: $RUNTIME ($("$RUNTIME" --version 2>/dev/null | head -1))"
log "tmp: $T  parts: $PARTS  podman $(podman --version | awk '{print $3}')"

# --- the image: a busybox-static rootfs, as smoke.sh builds it ----------------------------------
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || BUSYBOX=$(command -v busybox)
R=$T/rootfs
mkdir -p "$R"/{bin,etc,proc,sys,dev,tmp,root,home,data,run}
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [[ $a == busybox ]] || ln -sf busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$R/etc/group"
chmod 1777 "$R/tmp"
tar -C "$R" -cf "$T/rootfs.tar" . || die "tar failed"
chmod 644 "$T/rootfs.tar"
IMG="localhost/engusens:latest"

# podman_conf DIR: a containers.conf like smoke.sh's in DIR (limits the runtime may grant).
podman_conf() {
  local dir=$1 hn hu
  # Podman asks for nofile/nproc=1048576; without CAP_SYS_RESOURCE (the case here, and always
  # for a user) the runtime cannot raise a hard limit, so ask for what the caller has.
  hn=$(ulimit -Hn)
  hu=$(ulimit -Hu)
  [[ $hu == unlimited || $hu -gt 32768 ]] && hu=32768
  {
    echo '[containers]'
    echo "default_ulimits = [\"nofile=$hn:$hn\", \"nproc=$hu:$hu\"]"
    echo '[engine]'
    echo 'cgroup_manager = "cgroupfs"'
    echo 'events_logger = "file"'
    echo "events_logfile_path = \"$dir/events.log\""
    echo 'lock_type = "file"'
    if [[ "$PODMAN_JSON_LOG" == 1 ]]; then
      echo "runtime_supports_json = [\"crun\", \"runc\", \"kata\", \"runsc\", \"youki\", \"krun\", \"$(basename "$RUNTIME")\"]"
    fi
    echo '[network]'
    echo "network_config_dir = \"$dir/net\""
  } >"$dir/containers.conf"
}

# ensure_subid NAME START COUNT: a line for NAME in /etc/subuid and /etc/subgid (kept afterwards).
ensure_subid() {
  local f
  for f in /etc/subuid /etc/subgid; do
    touch "$f"
    grep -q "^$1:" "$f" || echo "$1:$2:$3" >>"$f"
  done
}

############################ root Podman with user namespaces ####################################
root_suite() {
  mkdir -p "$T/pm"/{root,run,tmp,net,tmpfiles}
  podman_conf "$T/pm"
  P=(env CONTAINERS_CONF="$T/pm/containers.conf" TMPDIR="$T/pm/tmpfiles"
    podman --root "$T/pm/root" --runroot "$T/pm/run" --tmpdir "$T/pm/tmp"
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
    --runtime "$RUNTIME")
  local RUNF=(run --rm --pull=never --network none)
  run "${P[@]}" import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" "$IMG"
  expect root:image_import 0 ""
  [[ $RC -eq 0 ]] || return
  ROOT_READY=1

  run "${P[@]}" "${RUNF[@]}" --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMG" \
    sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u'
  if [[ $RC -eq 0 && $(echo "$OUT" | grep -c '^ *0 *100000 *65536$') -eq 2 &&
    "$OUT" == *$'\n0'* ]]; then pass root:uidmap_maps; else fail root:uidmap_maps "rc=$RC"; fi

  mkdir -p "$T/vol"
  chmod 777 "$T/vol"
  run "${P[@]}" "${RUNF[@]}" --uidmap 0:100000:65536 --gidmap 0:100000:65536 -v "$T/vol:/data" \
    "$IMG" sh -c 'touch /data/by-root && touch /data/by-1000 && chown 1000:1000 /data/by-1000'
  local owners
  owners="$(stat -c %u:%g "$T/vol/by-root" 2>/dev/null) $(stat -c %u:%g "$T/vol/by-1000" 2>/dev/null)"
  if [[ $RC -eq 0 && "$owners" == "100000:100000 101000:101000" ]]; then
    pass root:uidmap_file_owners
  else fail root:uidmap_file_owners "rc=$RC owners=$owners (want 100000:100000 101000:101000)"; fi

  # The container's root has no power over host files it does not own.
  echo host-secret >"$T/rootfile"
  chmod 600 "$T/rootfile"
  run "${P[@]}" "${RUNF[@]}" --uidmap 0:100000:65536 --gidmap 0:100000:65536 \
    -v "$T/rootfile:/rootfile" "$IMG" sh -c 'cat /rootfile; echo x >/rootfile; echo rc=$?'
  if [[ "$OUT" != *host-secret* && "$OUT" == *"rc=1"* && $(cat "$T/rootfile") == host-secret ]]; then
    pass root:uidmap_no_power_over_host_files
  else fail root:uidmap_no_power_over_host_files "rc=$RC"; fi

  local n="engusens-$$"
  run "${P[@]}" run -d --pull=never --network none --name "$n" --uidmap 0:100000:65536 \
    --gidmap 0:100000:65536 "$IMG" sleep 300
  expect root:uidmap_detached 0 ""
  run "${P[@]}" exec "$n" sh -c 'echo "exec $(id -u) $(head -1 /proc/self/uid_map | tr -s " ")"'
  expect root:uidmap_exec 0 "exec 0  0 100000 65536"
  runin "exec-stdin-u" "${P[@]}" exec -i "$n" cat
  expect root:uidmap_exec_stdin 0 "exec-stdin-u"
  run "${P[@]}" exec --user 1000 "$n" sh -c 'id -u; cat /proc/self/status | grep ^Uid'
  expect root:uidmap_exec_user_1000 0 "1000"
  run "${P[@]}" rm -f -t 0 "$n"
  expect root:uidmap_rm 0 ""

  ensure_subid containers "$AUTO_START" "$AUTO_COUNT"
  run "${P[@]}" "${RUNF[@]}" --userns=auto "$IMG" sh -c 'cat /proc/self/uid_map; id -u'
  local first
  first=$(echo "$OUT" | awk 'NR==1 {print $1, $2}')
  if [[ $RC -eq 0 && "${first%% *}" == 0 && ${first##* } -ge $AUTO_START &&
    ${first##* } -lt $((AUTO_START + AUTO_COUNT)) ]]; then
    pass root:userns_auto
  else fail root:userns_auto "rc=$RC map=[$first]"; fi
}

############################ rootless Podman as the test user ####################################
rootless_suite() {
  if ! getent passwd "$USER_NAME" >/dev/null; then
    local max=$((SUBID_START + SUBID_COUNT - 1))
    useradd -m -s /bin/sh -U -K SUB_UID_MIN=$SUBID_START -K SUB_UID_MAX=$max \
      -K SUB_GID_MIN=$SUBID_START -K SUB_GID_MAX=$max -K SUB_UID_COUNT=$SUBID_COUNT \
      -K SUB_GID_COUNT=$SUBID_COUNT "$USER_NAME" || die "useradd $USER_NAME failed"
  fi
  ensure_subid "$USER_NAME" "$SUBID_START" "$SUBID_COUNT"
  local uid gid home
  uid=$(id -u "$USER_NAME")
  gid=$(id -g "$USER_NAME")
  home=$(getent passwd "$USER_NAME" | cut -d: -f6)
  local range
  range=$(grep "^$USER_NAME:" /etc/subuid | head -1 | cut -d: -f2-)
  mkdir -p "$T/u"/{xdg,root,run,tmp,net,tmpfiles,vol}
  chmod 700 "$T/u/xdg"
  podman_conf "$T/u"
  chown -R "$uid:$gid" "$T/u"
  # -C: the caller's cwd (scripts/engines.sh's scratch dir, 0700) is not the user's to enter.
  local env=(env -i -C "$T/u" HOME="$home" USER="$USER_NAME" LOGNAME="$USER_NAME"
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    XDG_RUNTIME_DIR="$T/u/xdg" CONTAINERS_CONF="$T/u/containers.conf" TMPDIR="$T/u/tmpfiles"
    DENO_NO_UPDATE_CHECK=1)
  U=(setpriv --reuid="$uid" --regid="$gid" --init-groups "${env[@]}"
    podman --root "$T/u/root" --runroot "$T/u/run" --tmpdir "$T/u/tmp"
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
    --runtime "$RUNTIME")
  if ! setpriv --reuid="$uid" --regid="$gid" --init-groups test -x "$RUNTIME"; then
    OUT="" fail rootless:runtime_reachable "$USER_NAME cannot execute $RUNTIME (a parent directory is not searchable)"
    return
  fi
  local RUNF=(run --rm --pull=never --network none)
  run "${U[@]}" import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" "$IMG"
  expect rootless:image_import 0 ""
  [[ $RC -eq 0 ]] || return
  USER_READY=1

  run "${U[@]}" "${RUNF[@]}" "$IMG" echo hi-rootless
  expect rootless:run_echo 0 "hi-rootless"
  run "${U[@]}" "${RUNF[@]}" "$IMG" sh -c 'exit 7'
  expect rootless:exit_code 7 ""
  run "${U[@]}" "${RUNF[@]}" "$IMG" cat /proc/self/uid_map
  local want0 want1
  want0=$(printf '0 %s 1' "$uid")
  want1=$(printf '1 %s %s' "${range%%:*}" "${range##*:}")
  if [[ $RC -eq 0 && "$(echo "$OUT" | tr -s ' ' | sed 's/^ //')" == "$want0"$'\n'"$want1" ]]; then
    pass rootless:uid_map
  else fail rootless:uid_map "rc=$RC (want [$want0] and [$want1])"; fi
  runin "stdin-rl-42" "${U[@]}" "${RUNF[@]}" -i "$IMG" cat
  expect rootless:stdin_i 0 "stdin-rl-42"
  run "${U[@]}" "${RUNF[@]}" --user 1000 "$IMG" sh -c 'echo "uid=$(id -u) gid=$(id -g)"'
  expect rootless:user_1000 0 "uid=1000 gid=1000"
  run "${U[@]}" "${RUNF[@]}" -v "$T/u/vol:/data" "$IMG" sh -c 'echo rl > /data/f && cat /data/f'
  if [[ $RC -eq 0 && "$(stat -c %u:%g "$T/u/vol/f" 2>/dev/null)" == "$uid:$gid" ]]; then
    pass rootless:volume_file_owned_by_user
  else fail rootless:volume_file_owned_by_user "rc=$RC owner=$(stat -c %u:%g "$T/u/vol/f" 2>&1)"; fi
  # The container's root is the user: host files the user may not touch stay out of reach.
  run "${U[@]}" "${RUNF[@]}" "$IMG" sh -c 'echo x > /proc/sys/kernel/hostname; echo rc=$?'
  expect rootless:no_host_sysctl 0 "rc=1"

  local n="engusens-rl-$$"
  run "${U[@]}" run -d --pull=never --network none --name "$n" "$IMG" \
    sh -c 'echo started; trap "exit 3" TERM; while :; do sleep 0.1; done'
  expect rootless:run_detached 0 ""
  sleep 1
  run "${U[@]}" exec "$n" sh -c 'echo in-exec $(id -u)'
  expect rootless:exec 0 "in-exec 0"
  run "${U[@]}" exec --user 1000 -w /tmp "$n" sh -c 'echo "$(id -u) $(pwd)"'
  expect rootless:exec_user_cwd 0 "1000 /tmp"
  run "${U[@]}" logs "$n"
  expect rootless:logs 0 "started"
  run "${U[@]}" stop -t 10 "$n"
  local prc=$RC
  run "${U[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$n"
  [[ $prc -eq 0 && "$OUT" == "exited 3" ]] && pass rootless:stop_sigterm_exit3 ||
    fail rootless:stop_sigterm_exit3 "rc=$prc state=$OUT"
  run "${U[@]}" rm "$n"
  expect rootless:rm 0 ""
}

for part in $PARTS; do
  case $part in
    root) log "== root Podman with user namespaces"; root_suite ;;
    rootless) log "== rootless Podman as $USER_NAME"; rootless_suite ;;
    *) echo "unknown part $part" ;;
  esac
done
exit 0 # the cleanup trap prints the summary and sets the exit status
