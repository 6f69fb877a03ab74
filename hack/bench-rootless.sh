#!/bin/bash
# hack/bench-rootless.sh: rootless start-up cost, husk vs runc vs crun run by an unprivileged user
# (husk-rl, as test_rootless.py makes it): `run` of busybox `true` in the foreground (the `run`
# scenario of hack/bench.sh) and `list` on an empty root, timed by hyperfine as that user.
# Rootless on this v1/hybrid host means no cgroup for any runtime. All three run in one private
# mount namespace with its own /dev/null and a /sys/fs/cgroup holding only the v1 hierarchies
# (crun 1.8.1 refuses hybrid hosts; the others do not care, they make no cgroup rootless).
# Env: RUNS (default 30), HUSK (default target/release/husk). Prints hyperfine's markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
[ "$(id -u)" = 0 ] || { echo "bench-rootless: must run as root" >&2; exit 1; }
U=husk-rl
id "$U" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$U"
HUSK=$(readlink -f "${HUSK:-$REPO/target/release/husk}")
W=$(mktemp -d /tmp/husk-bench-rl.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/b/rootfs/bin" "$W/xdg"
cp /bin/busybox "$W/b/rootfs/bin/"
ln -s busybox "$W/b/rootfs/bin/true"
chown -R "$U:" "$W"
(cd "$W/b" && runuser -u "$U" -- /usr/sbin/runc spec --rootless)
python3 - "$W/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
json.dump(c, open(sys.argv[1], "w"))
PY
chown -R "$U:" "$W"
chmod 700 "$W/xdg"
RUNS=${RUNS:-30}
unshare -m --propagation private /bin/bash -c '
  set -e
  d=$1/dev; mkdir "$d"
  mount -t tmpfs -o size=16k,mode=755 husk-bench-dev "$d"
  mknod -m 666 "$d/null" c 1 3
  mount --bind "$d/null" /dev/null
  v1=$(awk "\$3 == \"cgroup\" {print \$2}" /proc/self/mounts)
  c=$1/cg; mkdir "$c"
  for m in $v1; do mkdir -p "$c/$(basename $m)"; mount --bind "$m" "$c/$(basename $m)"; done
  mount -t tmpfs -o mode=755 cgroup-v1-only /sys/fs/cgroup
  for m in $v1; do mkdir -p "$m"; mount --move "$c/$(basename $m)" "$m"; done
  rmdir "$c"/* "$c" 2>/dev/null || true
  cd "$1/b"
  runuser -u "$2" -- env XDG_RUNTIME_DIR="$1/xdg" hyperfine -N -w 3 -r "$3" --export-markdown "$1/run.md" \
    -n husk "$4 --root $1/xdg/h run h1" -n runc "/usr/sbin/runc --root $1/xdg/r run r1" \
    -n crun "/usr/bin/crun --root $1/xdg/c run c1" >&2
  runuser -u "$2" -- env XDG_RUNTIME_DIR="$1/xdg" hyperfine -N -w 3 -r "$3" --export-markdown "$1/list.md" \
    -n husk "$4 --root $1/xdg/h list" -n runc "/usr/sbin/runc --root $1/xdg/r list" \
    -n crun "/usr/bin/crun --root $1/xdg/c list" >&2
' x "$W" "$U" "$RUNS" "$HUSK"
echo "### run (rootless, busybox true)"; cat "$W/run.md"
echo; echo "### list (rootless, empty root)"; cat "$W/list.md"
