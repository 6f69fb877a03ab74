#!/bin/bash
# hack/bench-rootless.sh: rootless start-up cost, husk vs runc vs crun run by an unprivileged user
# (husk-rl, as test_rootless.py makes it), the scenarios of hack/bench.sh, timed by hyperfine as
# that user (busybox /bin/true bundle from `runc spec --rootless`: single-entry id maps, so no
# newuidmap; no cgroupsPath; a fresh bundle dir and id per container, made by hyperfine's
# --prepare, untimed; hack/bench/drv.c drives the multi-command scenarios, as in bench.sh):
#   lifecycle   create -> start -> wait for exit (pidfd) -> delete    (drv.c)
#   run         `run` in the foreground                                (the runtime itself)
#   exec        `exec /bin/true` into a running container              (the runtime itself)
#   list        `list` on an empty root                                (the runtime itself)
#   throughput  50 lifecycles by 2 parallel workers                    (drv.c)
#   create_rss  peak RSS of `create` (wait4's ru_maxrss, drv.c; not a time: outside hyperfine)
# One hyperfine invocation per scenario with the three runtimes in turn (no interleaved passes, unlike
# bench.sh). Rootless on this v1/hybrid host means no cgroup for any runtime. All three run in one
# private mount namespace with its own /dev/null and a /sys/fs/cgroup holding only the v1
# hierarchies (crun 1.8.1 refuses hybrid hosts; the others do not care, they make no cgroup
# rootless). Each runtime runs under a child subreaper (reap.py) that reaps the exited container inits
# at once (their session keyrings count against the user's key quota until reaped). Containers are
# deleted, the namespace (and its mounts) dies and the work dir is
# removed at exit, also on failure.
# Env: RUNS (default 30), TP_RUNS (throughput runs, 5), RSS_RUNS (15), HUSK (default
# target/release/husk). Prints hyperfine's markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
[ "$(id -u)" = 0 ] || { echo "bench-rootless: must run as root" >&2; exit 1; }
U=husk-rl
id "$U" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$U"
HUSK=$(readlink -f "${HUSK:-$REPO/target/release/husk}")
RUNS=${RUNS:-30} TP_RUNS=${TP_RUNS:-5} RSS_RUNS=${RSS_RUNS:-15}
W=$(mktemp -d /tmp/husk-bench-rl.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/b/rootfs/bin" "$W/xdg" "$W/w" "$W/res"
cp /bin/busybox "$W/b/rootfs/bin/"
for c in true sleep; do ln -s busybox "$W/b/rootfs/bin/$c"; done
gcc -O2 -static -o "$W/drv" hack/bench/drv.c
chown -R "$U:" "$W"
(cd "$W/b" && runuser -u "$U" -- /usr/sbin/runc spec --rootless)
# config.json (for `run`) and the drv.c templates ("@ID@" unused: no cgroupsPath; the rootfs by
# absolute path, as the bundles are W/w/<scenario>-<runtime>/b<seq>).
python3 - "$W" <<'PY'
import json, os, sys
w = sys.argv[1]
c = json.load(open(os.path.join(w, "b/config.json")))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(os.path.join(w, "b/config.json"), "w"))
c["root"]["path"] = os.path.join(w, "b/rootfs")
json.dump(c, open(os.path.join(w, "true.json"), "w"))
c["process"]["args"] = ["/bin/sleep", "1000000"]
json.dump(c, open(os.path.join(w, "sleep.json"), "w"))
PY
for n in husk runc crun; do
  for s in lc tp rss sleeper; do
    mkdir "$W/w/$s-$n"
    t=true; [ $s = sleeper ] && t=sleep
    cp "$W/$t.json" "$W/w/$s-$n/template.json"
  done
done
chown -R "$U:" "$W"
chmod 700 "$W/xdg"
cat >"$W/reap.py" <<'PY'
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    p, st = os.wait()
    if p == pid:
        sys.exit(os.waitstatus_to_exitcode(st) if os.WIFEXITED(st) else 1)
PY
# The measurements, in the private mount namespace (run as root there, each runtime as $U).
cat >"$W/inner.sh" <<'IN'
set -eu
W=$1 U=$2 RUNS=$3 TP_RUNS=$4 RSS_RUNS=$5
declare -A rt=([husk]=$6 [runc]=/usr/sbin/runc [crun]=/usr/bin/crun)
declare -A root=([husk]=$W/xdg/h [runc]=$W/xdg/r [crun]=$W/xdg/c)
names="husk runc crun"
# as CMD...: CMD as $U under a child subreaper (reap.py) that reaps the orphaned container inits at
# once: each holds a session keyring charged to $U's key quota (200) until reaped, and this VM's
# PID 1 reaps slowly (throughput failed with EDQUOT without it).
as() { runuser -u "$U" -- env XDG_RUNTIME_DIR="$W/xdg" python3 "$W/reap.py" "$@"; }
cleanup() {
  set +e
  for n in $names; do
    [ -d "${root[$n]}" ] || continue
    for id in $(ls "${root[$n]}" 2>/dev/null); do as "${rt[$n]}" --root "${root[$n]}" delete --force "$id" >/dev/null 2>&1; done
  done
}
trap cleanup EXIT
d=$W/dev; mkdir "$d"
mount -t tmpfs -o size=16k,mode=755 husk-bench-dev "$d"
mknod -m 666 "$d/null" c 1 3
mount --bind "$d/null" /dev/null
v1=$(awk '$3 == "cgroup" {print $2}' /proc/self/mounts)
c=$W/cg; mkdir "$c"
for m in $v1; do mkdir -p "$c/$(basename $m)"; mount --bind "$m" "$c/$(basename $m)"; done
mount -t tmpfs -o mode=755 cgroup-v1-only /sys/fs/cgroup
for m in $v1; do mkdir -p "$m"; mount --move "$c/$(basename $m)" "$m"; done
rmdir "$c"/* "$c" 2>/dev/null || true
cd "$W/b"
hf() { # hf SCENARIO [hyperfine args...] -- CMD-TEMPLATE (@RT@, @ROOT@, @N@ replaced per runtime)
  local sc=$1; shift
  local args=() cmds=()
  while [ "$1" != -- ]; do args+=("$1"); shift; done; shift
  for n in $names; do
    local t=${1//@RT@/${rt[$n]}}; t=${t//@ROOT@/${root[$n]}}; t=${t//@N@/$n}
    local p=()
    [ "${args[0]:-}" = --prep ] && { p=(--prepare "${args[1]//@N@/$n}"); }
    cmds+=(-n "$n" "${p[@]}" "$t")
  done
  [ "${args[0]:-}" = --prep ] && args=("${args[@]:2}")
  echo "bench-rootless: $sc" >&2
  as hyperfine -N --style basic "${args[@]}" --export-markdown "$W/res/$sc.md" "${cmds[@]}" >&2
}
D=$W/drv
# Warm-up: page cache, dentries.
for n in $names; do for _ in 1 2 3; do as $D next "$W/w/lc-$n"; as $D lifecycle "${rt[$n]}" "${root[$n]}" "$W/w/lc-$n"; done; done
hf lifecycle --prep "$D next $W/w/lc-@N@" -r "$RUNS" -- "$D lifecycle @RT@ @ROOT@ $W/w/lc-@N@"
hf run -w 3 -r "$RUNS" -- "@RT@ --root @ROOT@ run rl-run-@N@"
for n in $names; do
  as $D next "$W/w/sleeper-$n"
  as "${rt[$n]}" --root "${root[$n]}" run --detach --bundle "$W/w/sleeper-$n/cur" "rl-sleeper-$n" </dev/null >/dev/null
done
hf exec -w 3 -r "$RUNS" -- "@RT@ --root @ROOT@ exec rl-sleeper-@N@ /bin/true"
for n in $names; do as "${rt[$n]}" --root "${root[$n]}" delete --force "rl-sleeper-$n"; done
mkdir -p "$W/xdg/empty/husk" "$W/xdg/empty/runc" "$W/xdg/empty/crun"; chown -R "$U:" "$W/xdg/empty"
hf list -w 3 -r "$RUNS" -- "@RT@ --root $W/xdg/empty/@N@ list"
hf throughput --prep "$D next-many $W/w/tp-@N@ 50" -r "$TP_RUNS" -- "$D throughput @RT@ @ROOT@ $W/w/tp-@N@ 50 2"
echo "bench-rootless: create_rss" >&2
for _ in $(seq "$RSS_RUNS"); do
  for n in $names; do as $D next "$W/w/rss-$n"; as $D rss "${rt[$n]}" "${root[$n]}" "$W/w/rss-$n" >>"$W/res/rss-$n.txt"; done
done
IN
unshare -m --propagation private /bin/bash "$W/inner.sh" "$W" "$U" "$RUNS" "$TP_RUNS" "$RSS_RUNS" "$HUSK"
# The last killed inits may still await PID 1's reaping: wait (up to 10 s) until $U has no process.
for _ in $(seq 50); do pgrep -u "$U" >/dev/null || break; sleep 0.2; done
pgrep -u "$U" >/dev/null && echo "bench-rootless: $U still has processes: $(pgrep -u "$U" | tr '\n' ' ')" >&2
echo "rootless, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), RUNS=$RUNS TP_RUNS=$TP_RUNS RSS_RUNS=$RSS_RUNS"
for sc in lifecycle run exec list throughput; do echo; echo "### $sc"; cat "$W/res/$sc.md"; done
echo; echo "### create_rss (peak RSS of create, KiB, $RSS_RUNS runs)"
echo "| runtime | median | min | max |"; echo "|:---|---:|---:|---:|"
for n in husk runc crun; do
  sort -n "$W/res/rss-$n.txt" | awk -v n=$n '{a[NR]=$1} END {printf "| %s | %d | %d | %d |\n", n, a[int((NR+1)/2)], a[1], a[NR]}'
done
