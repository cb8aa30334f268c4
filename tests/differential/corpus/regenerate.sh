#!/usr/bin/env bash
# Regenerates the engine-written configs of the differential corpus (tests/differential/corpus/):
# what `runc spec`, `oci-runtime-tool generate`, `podman create` + `podman init` and `ctr run`
# write into config.json. The configs are committed: the harness only reads them, since
# starting the engines on every run is slow. Run as root from anywhere:
#   bash tests/differential/corpus/regenerate.sh
# Needs runc; podman (+ conmon), containerd (ctr) and go are used when present, otherwise their
# configs are left as they are (install with `apt-get install -y podman containerd golang-go`).
#
# How the engines' configs are caught: each engine is pointed at a "runtime" that is a small
# script (capture-runtime). On `create` it copies the bundle's config.json to $CAPTURE/last.json
# and fails, so no container is ever started; the engine's error is expected and ignored.
# Podman and containerd run with private state directories under a temp dir, --network none,
# and are cleaned up by this script (containerd is stopped by its PID).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
T=$(mktemp -d /tmp/diff-corpus.XXXXXX)
CTD_PID=""
cleanup() {
    set +e
    if [[ -n "${P:-}" ]]; then "${P[@]}" rm -a -f >/dev/null 2>&1; "${P[@]}" rmi -a -f >/dev/null 2>&1; fi
    if [[ -n "$CTD_PID" ]]; then
        for c in $("${C[@]}" c ls -q 2>/dev/null); do "${C[@]}" c rm "$c" >/dev/null 2>&1; done
        kill -TERM "$CTD_PID"; wait "$CTD_PID" 2>/dev/null
    fi
    awk -v t="$T" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$T"
}
trap cleanup EXIT

# A corpus file is the engine's config.json, pretty-printed with sorted keys.
save() { # save NAME SOURCE.json
    python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), indent=2, sort_keys=True))' "$2" > "$HERE/$1.json"
    echo "wrote $1.json"
}

CAPTURE=$T/capture
mkdir -p "$CAPTURE"
cat > "$T/capture-runtime" <<EOF
#!/bin/sh
# Copies the config.json of the bundle given to "create" and fails.
bundle=""; prev=""; iscreate=""
for a in "\$@"; do
  case "\$a" in create) iscreate=1 ;; esac
  case "\$prev" in --bundle|-b) bundle="\$a" ;; esac
  case "\$a" in --bundle=*) bundle="\${a#--bundle=}" ;; esac
  prev="\$a"
done
if [ -n "\$iscreate" ]; then
  [ -n "\$bundle" ] || bundle=\$PWD
  cp "\$bundle/config.json" "$CAPTURE/last.json"
  echo "capture-runtime: config captured, not starting" >&2
  exit 1
fi
exec /usr/sbin/runc "\$@"
EOF
chmod +x "$T/capture-runtime"

# --- runc spec ------------------------------------------------------------------------------
(cd "$T" && runc spec && save runc-spec config.json && rm config.json)
(cd "$T" && runc spec --rootless && save runc-spec-rootless config.json && rm config.json)

# --- runtime-tools' generator ---------------------------------------------------------------
TARBALL=$REPO/../shared/conformance/runtime-tools-260e151.tar.gz
if command -v go >/dev/null && [[ -f $TARBALL ]]; then
    mkdir -p "$T/rt" && tar -xzf "$TARBALL" -C "$T/rt"
    (cd "$T/rt/runtime-tools" && GOFLAGS=-mod=vendor GOPATH=$T/gopath \
        GOCACHE=${GOCACHE:-/var/tmp/skiff-conformance/gocache} \
        go build -o "$T/oci-runtime-tool" ./cmd/oci-runtime-tool)
    G=$T/oci-runtime-tool
    "$G" generate --output "$T/g.json" && save runtime-tools-default "$T/g.json"
    "$G" generate --output "$T/g.json" --process-uid 1000 --process-gid 1000 \
        --process-groups 10 --process-groups 20 --process-cwd /tmp \
        --env FOO=bar --hostname gen-host && save runtime-tools-user "$T/g.json"
    "$G" generate --output "$T/g.json" --process-cap-drop CAP_CHOWN --process-cap-add CAP_SYS_PTRACE \
        --process-rlimits-add RLIMIT_NOFILE:2048:1024 --process-no-new-privileges \
        --linux-oom-score-adj 300 && save runtime-tools-caps "$T/g.json"
    "$G" generate --output "$T/g.json" --linux-masked-paths /proc/uptime \
        --linux-readonly-paths /etc --linux-sysctl net.ipv4.ip_forward=1 \
        --linux-rootfs-propagation rslave --rootfs-readonly && save runtime-tools-paths "$T/g.json"
else
    echo "skipping runtime-tools configs: needs go and $TARBALL" >&2
fi

# --- a rootfs for the engines ---------------------------------------------------------------
ROOTFS=$REPO/tests/.fixtures/busybox/rootfs
[[ -d $ROOTFS ]] || { echo "run deno task fixtures first" >&2; exit 1; }
tar -C "$ROOTFS" -cf "$T/rootfs.tar" .
mkdir -p "$T/vol" "$T/vol-ro"

# --- podman ---------------------------------------------------------------------------------
if command -v podman >/dev/null && command -v conmon >/dev/null; then
    mkdir -p "$T/pm"/{root,run,tmp,net,tmpfiles}
    cat > "$T/pm/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/pm/events.log"
lock_type = "file"
[network]
network_config_dir = "$T/pm/net"
EOF
    export CONTAINERS_CONF=$T/pm/containers.conf
    P=(podman --root "$T/pm/root" --runroot "$T/pm/run" --tmpdir "$T/pm/tmp" --storage-driver vfs
       --cgroup-manager cgroupfs --events-backend file --runtime "$T/capture-runtime")
    TMPDIR=$T/pm/tmpfiles "${P[@]}" import --change 'CMD ["/bin/sh"]' "$T/rootfs.tar" localhost/diff:latest >/dev/null
    podman_config() { # podman_config NAME FLAGS...
        local name=$1; shift
        rm -f "$CAPTURE/last.json"
        local id
        id=$(TMPDIR=$T/pm/tmpfiles "${P[@]}" create --pull=never --network none "$@" localhost/diff:latest)
        TMPDIR=$T/pm/tmpfiles "${P[@]}" init "$id" >/dev/null 2>&1 || true
        "${P[@]}" rm -f "$id" >/dev/null 2>&1 || true
        if [[ -f $CAPTURE/last.json ]]; then save "$name" "$CAPTURE/last.json"; else echo "FAILED: $name" >&2; fi
    }
    podman_config podman-default
    podman_config podman-user -u 1000:1000
    podman_config podman-user-groups -u 1000:1000 --group-add 10 --group-add 27
    podman_config podman-cap-add --cap-add NET_ADMIN,SYS_PTRACE
    podman_config podman-cap-drop --cap-drop CHOWN,NET_RAW,SETUID
    podman_config podman-cap-drop-all --cap-drop all --cap-add NET_BIND_SERVICE
    podman_config podman-read-only --read-only
    podman_config podman-read-only-no-tmpfs --read-only --read-only-tmpfs=false
    podman_config podman-env-workdir -e FOO=bar -e 'SPACED=a b c' -e EMPTY= -w /tmp
    podman_config podman-tmpfs --tmpfs /scratch:rw,size=10m,mode=1777 --tmpfs /run/ro:ro,noexec
    podman_config podman-volume -v "$T/vol:/data" -v "$T/vol-ro:/ro:ro,noexec"
    podman_config podman-sysctl --sysctl net.ipv4.ip_forward=1 --sysctl kernel.msgmax=8192
    podman_config podman-ulimit --ulimit nofile=1024:2048 --ulimit nproc=500:600 --ulimit core=0:0
    podman_config podman-pids-limit --pids-limit 100
    podman_config podman-no-new-privileges --security-opt no-new-privileges
    podman_config podman-seccomp-unconfined --security-opt seccomp=unconfined
    podman_config podman-hostname --hostname diff-host
    podman_config podman-pid-host --pid host
    podman_config podman-ipc-host --ipc host
    podman_config podman-oom-score-adj --oom-score-adj 500
    podman_config podman-shm-size --shm-size 32m
    podman_config podman-device --device /dev/fuse
    podman_config podman-mask --security-opt mask=/proc/uptime --security-opt unmask=/proc/acpi
    podman_config podman-privileged --privileged
    podman_config podman-combined -u 1000:1000 --read-only --cap-drop all --cap-add CHOWN \
        -e MODE=strict --tmpfs /work --security-opt no-new-privileges --ulimit nofile=512:512 \
        --pids-limit 50 --sysctl net.ipv4.ping_group_range="0 0"
else
    echo "skipping podman configs: needs podman and conmon" >&2
fi

# --- containerd -----------------------------------------------------------------------------
if command -v containerd >/dev/null && command -v ctr >/dev/null; then
    mkdir -p "$T/ctd"
    cat > "$T/ctd/config.toml" <<EOF
version = 2
root = "$T/ctd/root"
state = "$T/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/ctd/containerd.sock"
[ttrpc]
  address = "$T/ctd/containerd.sock.ttrpc"
[debug]
  address = "$T/ctd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/ctd/opt"
EOF
    C=(ctr -a "$T/ctd/containerd.sock" -n diffcorpus)
    containerd --config "$T/ctd/config.toml" > "$T/ctd/containerd.log" 2>&1 &
    CTD_PID=$!
    for _ in $(seq 1 100); do "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.2; done
    n=0
    ctr_config() { # ctr_config NAME FLAGS...
        local name=$1; shift
        n=$((n + 1))
        rm -f "$CAPTURE/last.json"
        "${C[@]}" run --rm --null-io --runc-binary "$T/capture-runtime" --rootfs "$@" "$ROOTFS" "diff$n" sh >/dev/null 2>&1 || true
        "${C[@]}" c rm "diff$n" >/dev/null 2>&1 || true
        if [[ -f $CAPTURE/last.json ]]; then save "$name" "$CAPTURE/last.json"; else echo "FAILED: $name" >&2; fi
    }
    ctr_config ctr-default
    ctr_config ctr-read-only --read-only
    ctr_config ctr-env-cwd --env FOO=bar --env 'B=x y' --cwd /tmp
    ctr_config ctr-caps --cap-add CAP_SYS_ADMIN --cap-drop CAP_CHOWN
    ctr_config ctr-mounts --mount "type=bind,src=$T/vol,dst=/data,options=rbind:ro" \
        --mount type=tmpfs,src=tmpfs,dst=/scratch,options=size=1m:mode=1777
    ctr_config ctr-seccomp --seccomp
    ctr_config ctr-privileged --privileged
    ctr_config ctr-net-host --net-host
    ctr_config ctr-allow-new-privs --allow-new-privs --memory-limit 67108864
    ctr_config ctr-rootfs-propagation --rootfs-propagation rslave
else
    echo "skipping containerd configs: needs containerd and ctr" >&2
fi
