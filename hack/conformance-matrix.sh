#!/bin/bash
# hack/conformance-matrix.sh: run runtime-tools-tests/ against husk, runc and crun and write
# docs/conformance.md (per case: husk vs runc vs crun, and why runc/crun fail what they fail).
# Each run happens in a private mount namespace with its own /dev/null (host.md); crun's also gets
# a /sys/fs/cgroup that is a tmpfs holding bind mounts of the v1 hierarchies only (crun 1.8.1
# refuses hybrid hosts). Nothing on the host changes.
# Then the guest lanes (hack/vm/): the cgroup v2 lane (v2-lane.sh: husk and runc in one boot of
# the cgroup-v2-only guest) and the systemd lane (systemd-lane.sh: husk and runc
# --systemd-cgroup in the systemd guest), as the columns "husk v2", "runc v2", "husk systemd",
# "runc systemd".
# Env: XMLDIR (keep the junit XML files there), ONLY=name (run just that runtime; the others' columns are kept from OUT), HUSK (default target/release/husk, built if cargo is there), RUNC, CRUN, OUT (docs/conformance.md),
# GUESTS=0 (skip the guest lanes), HOST=0 (skip the host runs). A skipped run keeps its column
# from the existing OUT, so e.g. HOST=0 regenerates just the guest columns.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
exec </dev/null
[ "$(id -u)" = 0 ] || { echo "conformance-matrix: must run as root" >&2; exit 1; }
husk=${HUSK:-$repo/target/release/husk}
runc=${RUNC:-/usr/sbin/runc}
crun=${CRUN:-/usr/bin/crun}
out=${OUT:-$repo/docs/conformance.md}

if [ -z "${HUSK:-}" ] && command -v cargo >/dev/null; then cargo build --release -q || true; fi
(cd runtime-tools-tests/checker &&
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -q --target x86_64-unknown-linux-gnu) || exit 1

if [ -n "${XMLDIR:-}" ]; then
  work=$XMLDIR; mkdir -p "$work"       # keep the junit XML files
else
  work=$(mktemp -d /tmp/husk-matrix.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi

# run_suite NAME BINARY [crun]: junit XML in $work/NAME.xml
run_suite() {
  local name=$1 bin=$2 v1only=${3:-}
  if [ ! -x "$bin" ]; then echo "$name: no binary at $bin"; return; fi
  if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ]; then return; fi
  echo "==> $name ($bin)"
  local nsdir
  nsdir=$(mktemp -d /tmp/husk-matrix-ns.XXXXXX)   # mounted on only inside the namespace
  RUNTIME=$bin V1ONLY=$v1only XML=$work/$name.xml d=$nsdir unshare -m --propagation private /bin/bash -c '
    set -e
    mount -t tmpfs -o size=16k,mode=755 husk-matrix "$d"
    mknod -m 666 "$d/null" c 1 3
    mount --bind "$d/null" /dev/null
    if [ -n "$V1ONLY" ]; then
      mkdir "$d/stage"
      mount -t tmpfs -o size=16k husk-matrix-stage "$d/stage"
      hier=()
      for c in /sys/fs/cgroup/*; do
        n=$(basename "$c")
        [ "$n" = unified ] && continue
        if [ -L "$c" ]; then continue; fi
        mountpoint -q "$c" || continue
        mkdir "$d/stage/$n"; mount --bind "$c" "$d/stage/$n"; hier+=("$n")
      done
      links=$(cd /sys/fs/cgroup && for l in *; do [ -L "$l" ] && echo "$l:$(readlink "$l")"; done || true)
      mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
      for n in "${hier[@]}"; do mkdir "/sys/fs/cgroup/$n"; mount --move "$d/stage/$n" "/sys/fs/cgroup/$n"; done
      for l in $links; do ln -s "${l#*:}" "/sys/fs/cgroup/${l%%:*}"; done
    fi
    set +e
    timeout 1500 /usr/bin/python3 -m pytest -q runtime-tools-tests --junitxml="$XML" -o junit_family=xunit1
    exit 0' 2>&1 | tail -3
  rmdir "$nsdir"
}

if [ "${HOST:-1}" != 0 ]; then
  run_suite husk "$husk"
  run_suite runc "$runc"
  run_suite crun "$crun" v1only
fi

# The guest lanes write into the checkout (shared with the guest), then move the results here.
if [ "${GUESTS:-1}" != 0 ]; then
  lanes=()
  for n in husk runc; do
    [ -z "${ONLY:-}" ] || [ "$ONLY" = "$n" ] || continue
    b=$husk; [ $n = runc ] && b=$runc
    [ -x "$b" ] && lanes+=("$b")
  done
  if [ ${#lanes[@]} -gt 0 ]; then
    echo "==> cgroup v2 lane (guest): ${lanes[*]}"
    gx=$(mktemp -d "$repo/target/matrix-v2.XXXXXX")
    XMLDIR=$gx hack/vm/v2-lane.sh "${lanes[@]}" 2>&1 | grep -E '^v2 lane '
    for f in "$gx"/*.xml; do [ -f "$f" ] && mv "$f" "$work/$(basename "$f" .xml)-v2.xml"; done
    rm -rf "$gx"
    echo "==> systemd lane (guest): ${lanes[*]}"
    sdlog=$(mktemp /tmp/husk-matrix-sd.XXXXXX)
    hack/vm/systemd-lane.sh "${lanes[@]}" > "$sdlog" 2>&1
    grep -E '^systemd lane ' "$sdlog"
    # per runtime: its PASS/FAIL lines, after its "==> systemd lane: NAME (...)" header
    awk -v dir="$work" '/^==> systemd lane: /{name=$4} /^(PASS|FAIL) /{if (name) print > (dir "/" name "-systemd.txt")}' "$sdlog"
    rm -f "$sdlog"
  fi
fi

ver() { [ -x "$1" ] && "$1" --version 2>/dev/null | head -1; }
mkdir -p "$(dirname "$out")"
/usr/bin/python3 runtime-tools-tests/matrix.py "$out" \
  "husk=$work/husk.xml:$(ver "$husk")" "runc=$work/runc.xml:$(ver "$runc")" "crun=$work/crun.xml:$(ver "$crun")" \
  "husk v2=$work/husk-v2.xml:$(ver "$husk")" "runc v2=$work/runc-v2.xml:$(ver "$runc")" \
  "husk systemd=$work/husk-systemd.txt:$(ver "$husk")" "runc systemd=$work/runc-systemd.txt:$(ver "$runc")"
echo "wrote $out"
devnull=$(stat -c '%A %U:%G' /dev/null)
[ "$devnull" = "crw-rw-rw- root:root" ] || { echo "host /dev/null changed: $devnull"; exit 1; }
