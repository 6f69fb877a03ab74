#!/bin/bash
# The cgroup v2 lane: one boot of the cgroup-v2-only guest (hack/vm/run.sh) runs the suite's
# cgroup, lifecycle, kill/delete, exec, ops and rootless cases against each runtime given, one after the
# other. Prints pytest's output per runtime and, at the end, one line per runtime:
#   v2 lane NAME: <pytest summary> (Ns)
# and exits non-zero if the first runtime's run failed (the others are reported only).
#   hack/vm/v2-lane.sh [RUNTIME...]      (default: target/release/husk /usr/sbin/runc)
# Env: XMLDIR (a directory in the checkout: junit XML per runtime, NAME.xml), V2_FILES (the test
# files, relative to runtime-tools-tests/), PYTEST_ARGS.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
[ $# -gt 0 ] || set -- "$repo/target/release/husk" /usr/sbin/runc
files=${V2_FILES:-"test_cgroup_v2.py test_cgroup_v2_ops.py test_lifecycle.py test_state_kill_delete.py test_exec.py test_ops.py test_rootless.py"}
mkdir -p target
script=$(mktemp "$repo/target/v2-lane.XXXXXX")
trap 'rm -f "$script"' EXIT
{
  echo "files='$(for f in $files; do printf 'runtime-tools-tests/%s ' "$f"; done)'"
  echo "xmldir='${XMLDIR:-}'; extra='${PYTEST_ARGS:-}'"
  echo 'first=""; rc0=0; summary=""'
  # In the guest only: io cost control on for the scratch disk, so that per-device io.weight
  # lines (blockIO.weightDevice without BFQ) have somewhere to go.
  echo 'for d in /sys/block/vd*; do [ -e "$d/dev" ] && echo "$(cat "$d/dev") enable=1" > /sys/fs/cgroup/io.cost.qos; done'
  for rt in "$@"; do
    rt=$(readlink -f "$rt")
    echo "rt='$rt'"
    cat <<'GUEST'
name=$("$rt" --version 2>/dev/null | head -1 | cut -d' ' -f1); name=${name:-$(basename "$rt")}
echo "==> v2 lane: $name ($rt)"
xml=""; [ -n "$xmldir" ] && xml="--junitxml=$xmldir/$name.xml -o junit_family=xunit1"
t0=$(date +%s)
RUNTIME=$rt timeout 1200 python3 -m pytest -q -p no:cacheprovider -rfE $extra $xml $files > /tmp/lane.log 2>&1
rc=$?
cat /tmp/lane.log
line=$(grep -E '(passed|failed|error)' /tmp/lane.log | tail -1 | sed -E 's/^=+ //; s/ =+$//')
summary="$summary
v2 lane $name: ${line:-no summary (exit $rc)} ($(( $(date +%s) - t0 ))s)"
if [ -z "$first" ]; then first=$name; rc0=$rc; fi
GUEST
  done
  echo 'echo "$summary"; exit $rc0'
} > "$script"
[ -n "${XMLDIR:-}" ] && mkdir -p "$XMLDIR"
hack/vm/run.sh "sh $script"
