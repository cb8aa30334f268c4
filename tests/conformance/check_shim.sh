#!/usr/bin/env bash
# The runtime that tests/conformance/check_conformance_test.ts gives the OCI runtime-tools suite:
# every call goes to the real Skiff ($SKIFF_REAL), and each `create` is recorded first. In a fresh
# directory under $SKIFF_CHECK_CAPTURE it leaves:
#   config.json    the bundle's config.json, as the suite's program generated it
#   bundle         the bundle directory (its rootfs is gone after the program)
#   check.json     `skiff check --bundle B --format json` on it, run before create
#   check.rc       check's exit status
#   check.stderr   check's stderr (a crash shows here)
#   create.rc      create's exit status
#   create.stderr  what create wrote to stderr
# Global flags (--root ...) go to check too, as create gets them. Only create is recorded.
set -u
real=${SKIFF_REAL:?SKIFF_REAL: the skiff to run}
capture=${SKIFF_CHECK_CAPTURE:?SKIFF_CHECK_CAPTURE: where to record creates}

# Global flags come before the subcommand; those that take a value are the ones run.sh passes.
globals=()
args=("$@")
i=0
while [ $i -lt ${#args[@]} ]; do
  case ${args[$i]} in
  --root | --log | --log-format | --criu)
    globals+=("${args[$i]}" "${args[$((i + 1))]:-}")
    i=$((i + 2))
    ;;
  -*)
    globals+=("${args[$i]}")
    i=$((i + 1))
    ;;
  *) break ;;
  esac
done
[ "${args[$i]:-}" = create ] || exec "$real" "$@"

bundle=.
j=$((i + 1))
while [ $j -lt ${#args[@]} ]; do
  case ${args[$j]} in
  --bundle | -b) bundle=${args[$((j + 1))]:-.} && j=$((j + 1)) ;;
  --bundle=* | -b=*) bundle=${args[$j]#*=} ;;
  esac
  j=$((j + 1))
done

dir=$(mktemp -d "$capture/create.XXXXXXXX") || exec "$real" "$@"
cp -- "$bundle/config.json" "$dir/config.json" 2>/dev/null
(cd "$bundle" && pwd) >"$dir/bundle" 2>/dev/null
"$real" "${globals[@]}" check --bundle "$bundle" --format json \
  >"$dir/check.json" 2>"$dir/check.stderr" </dev/null
echo $? >"$dir/check.rc"

# create's stderr stays where the suite put it (the container inherits it); when that is a file,
# what create added to it is copied out afterwards, otherwise it goes through a file of ours.
err=$(readlink /proc/self/fd/2 2>/dev/null)
if [ -n "$err" ] && [ -f "$err" ] && [ -r "$err" ]; then
  before=$(stat -c %s -- "$err")
  "$real" "$@"
  rc=$?
  tail -c +$((before + 1)) -- "$err" >"$dir/create.stderr"
else
  "$real" "$@" 2>"$dir/create.stderr"
  rc=$?
  cat -- "$dir/create.stderr" >&2
fi
echo $rc >"$dir/create.rc"
exit $rc
