#!/bin/bash
# hack/bench.sh: container start-up benchmarks, husk vs Debian's runc and crun (issue 8), timed by
# hyperfine. Writes the results into docs/benchmarks.md (between the BENCH markers), the raw
# numbers into docs/bench-results.json and a chart of the ratios into docs/bench-ratios.png.
#
# Scenarios (a busybox /bin/true bundle, `runc spec` defaults, no seccomp, absolute cgroupsPath
# /husk-bench/<id>, a fresh bundle dir per container, made by hyperfine's --prepare, untimed):
#   lifecycle   create -> start -> wait for exit (pidfd) -> delete    (hack/bench/drv.c)
#   run         `run` in the foreground                                (the runtime itself)
#   exec        `exec /bin/true` into a running container              (the runtime itself)
#   list        `list` on an empty root                                (the runtime itself)
#   throughput  50 lifecycles by 2 parallel workers                    (drv.c)
#   create_rss  peak RSS of `create` (wait4's ru_maxrss, drv.c; not a time: outside hyperfine)
# plus two start checks: a 512 KiB memory limit and pids.max = 1 must still start.
# Interleaving: PASSES passes; in each, every runtime gets one hyperfine invocation of RUNS runs,
# and the runtime order reverses every other pass. Samples (hyperfine's per-run times) are pooled.
# crun 1.8.1 refuses this host's hybrid cgroups: its hyperfine runs in a private mount namespace
# whose /sys/fs/cgroup holds only the v1 hierarchies (../shared/docs/host.md); the others in the
# host's. Everything made (containers, cgroups, state roots, bundles, the namespace) is removed at
# exit, also on failure or interruption.
#
# Env: PASSES (default 10), RUNS (per invocation, 5), TP_PASSES (throughput runs, 3), RSS_RUNS (15),
#      ONLY=lifecycle,run,exec,list,throughput,create_rss,checks; HUSK (default: the shipped build,
#      hack/build-static.sh), RUNC, CRUN; EXTRA="name=/path[:v1] ..." more runtimes; NO_DOC=1 (print
#      only); SMOKE=1 (1 pass of 2 runs, no doc: checks that the harness works, as CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
[ "$(id -u)" = 0 ] || { echo "bench: must run as root" >&2; exit 1; }
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -n "${SMOKE:-}" ]; then PASSES=1 RUNS=2 TP_PASSES=1 RSS_RUNS=2 NO_DOC=1; fi
PASSES=${PASSES:-10} RUNS=${RUNS:-5} TP_PASSES=${TP_PASSES:-3} RSS_RUNS=${RSS_RUNS:-15}
ONLY=${ONLY:-lifecycle,run,exec,list,throughput,create_rss,checks}
want() { [[ ",$ONLY," == *",$1,"* ]]; }

husk=${HUSK:-}
[ -n "$husk" ] || husk=$(hack/build-static.sh)
specs=("husk=$husk" "runc=${RUNC:-/usr/sbin/runc}" "crun=${CRUN:-/usr/bin/crun}:v1")
for r in ${EXTRA:-}; do specs+=("$r"); done
names=()
declare -A path v1
for s in "${specs[@]}"; do
  n=${s%%=*} p=${s#*=} o=""
  if [[ $p == *:v1 ]]; then p=${p%:v1} o=1; fi
  [ -x "$p" ] || { echo "bench: $n: no executable $p" >&2; exit 1; }
  names+=("$n"); path[$n]=$(readlink -f "$p"); v1[$n]=$o
done

W=$(mktemp -d /run/husk-bench.XXXXXX)
chmod 755 "$W"
NS=$W/ns
cleanup() {
  set +e
  for n in "${names[@]}"; do
    for root in "$W/root/$n"; do
      [ -d "$root" ] || continue
      for id in $(ls "$root" 2>/dev/null); do in_view "$n" "${path[$n]}" --root "$root" delete --force "$id" >/dev/null 2>&1; done
    done
  done
  for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [ -d "$h/husk-bench" ] || continue
    find "$h/husk-bench" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  if mountpoint -q "$NS" 2>/dev/null; then umount "$NS/v1" 2>/dev/null; umount "$NS"; fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

in_view() { # in_view NAME CMD...: run CMD in the runtime's cgroup view
  local n=$1; shift
  if [ -n "${v1[$n]}" ]; then nsenter --mount="$NS/v1" "$@"; else "$@"; fi
}

# The v1-only view: a persistent mount namespace (bind-mounted on $NS/v1) whose /sys/fs/cgroup is a
# tmpfs holding bind mounts of the v1 hierarchies; the host's mounts are untouched.
mkdir -p "$NS"; mount --bind "$NS" "$NS"; mount --make-private "$NS"; touch "$NS/v1"
unshare --mount="$NS/v1" --propagation private /bin/bash -c '
  set -e
  stage=$(mktemp -d /tmp/husk-bench-stage.XXXXXX)
  mount -t tmpfs -o size=16k husk-bench-stage "$stage"
  hier=()
  for c in /sys/fs/cgroup/*; do
    n=$(basename "$c")
    [ "$n" = unified ] || [ -L "$c" ] || ! mountpoint -q "$c" && continue
    mkdir "$stage/$n"; mount --bind "$c" "$stage/$n"; hier+=("$n")
  done
  links=$(cd /sys/fs/cgroup && for l in *; do [ -L "$l" ] && echo "$l:$(readlink "$l")"; done || true)
  mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
  for n in "${hier[@]}"; do mkdir "/sys/fs/cgroup/$n"; mount --move "$stage/$n" "/sys/fs/cgroup/$n"; done
  for l in $links; do ln -s "${l#*:}" "/sys/fs/cgroup/${l%%:*}"; done
  umount "$stage"; rmdir "$stage"'

DRV=$W/drv
gcc -O2 -static -o "$DRV" hack/bench/drv.c
# The shared read-only busybox rootfs and the config templates ("@ID@" is replaced per container).
/usr/bin/python3 - "$W" <<'PY'
import json, os, sys
sys.path.insert(0, "runtime-tools-tests")
import rtt
w = sys.argv[1]
rtt.make_rootfs(os.path.join(w, "rootfs"), checker=None)
def tpl(name, args, resources=None):
    c = rtt.make_config(args, cgroups_path="/husk-bench/@ID@")
    c["root"] = {"path": os.path.join(w, "rootfs"), "readonly": True}
    if resources:
        c["linux"]["resources"].update(resources)
    with open(os.path.join(w, name + ".json"), "w") as f:
        json.dump(c, f)
tpl("true", ["/bin/true"])
tpl("sleep", ["/bin/sleep", "1000000"])
tpl("mem512k", ["/bin/true"], {"memory": {"limit": 524288}})
tpl("pids1", ["/bin/true"], {"pids": {"limit": 1}})
PY

# workdir NAME SCENARIO TEMPLATE: a bundle workspace (drv.c's W) for one runtime and scenario.
workdir() {
  local d=$W/w/$2-$1
  mkdir -p "$d" "$W/root/$1" "$W/empty/$1"
  cp "$W/$3.json" "$d/template.json"
  echo "$d"
}
root() { echo "$W/root/$1"; }

RES=$W/res
mkdir -p "$RES"
# hf NAME SCENARIO PASS RUNS [hyperfine args...] CMD: one hyperfine invocation, JSON kept.
hf() {
  local n=$1 sc=$2 pass=$3 runs=$4; shift 4
  mkdir -p "$RES/$sc/$n"
  in_view "$n" hyperfine -N --style none --runs "$runs" --export-json "$RES/$sc/$n/$pass.json" "$@" >/dev/null
}
# order PASS: the runtimes, reversed on odd passes.
order() {
  if (( $1 % 2 == 0 )); then printf '%s\n' "${names[@]}"; else printf '%s\n' "${names[@]}" | tac; fi
}
say() { echo "bench: $*" >&2; }

# Warm-up: page cache, dentries, the first cgroups.
for n in "${names[@]}"; do
  d=$(workdir "$n" warm true)
  for _ in 1 2 3; do "$DRV" next "$d"; in_view "$n" "$DRV" lifecycle "${path[$n]}" "$(root "$n")" "$d"; done
done

if want lifecycle; then
  say "lifecycle"
  for p in $(seq 0 $((PASSES - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" lc true)
      hf "$n" lifecycle "$p" "$RUNS" --prepare "$DRV next $d" "$DRV lifecycle ${path[$n]} $(root "$n") $d"
    done
  done
fi
if want run; then
  say "run"
  for p in $(seq 0 $((PASSES - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" run true)
      hf "$n" run "$p" "$RUNS" --prepare "$DRV next $d" "${path[$n]} --root $(root "$n") run --bundle $d/cur hb-run-$n"
    done
  done
fi
if want exec; then
  say "exec"
  for n in "${names[@]}"; do
    d=$(workdir "$n" sleeper sleep)
    "$DRV" next "$d"
    in_view "$n" "${path[$n]}" --root "$(root "$n")" run --detach --bundle "$d/cur" "hb-sleeper-$n" </dev/null >/dev/null
  done
  for p in $(seq 0 $((PASSES - 1))); do
    for n in $(order "$p"); do
      hf "$n" exec "$p" "$RUNS" --warmup 1 "${path[$n]} --root $(root "$n") exec hb-sleeper-$n /bin/true"
    done
  done
  for n in "${names[@]}"; do in_view "$n" "${path[$n]}" --root "$(root "$n")" delete --force "hb-sleeper-$n"; done
fi
if want list; then
  say "list"
  for p in $(seq 0 $((PASSES - 1))); do
    for n in $(order "$p"); do
      mkdir -p "$W/empty/$n"
      hf "$n" list "$p" $((RUNS * 2)) --warmup 1 "${path[$n]} --root $W/empty/$n list"
    done
  done
fi
if want throughput; then
  say "throughput"
  for p in $(seq 0 $((TP_PASSES - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" tp true)
      hf "$n" throughput "$p" 1 --prepare "$DRV next-many $d 50" "$DRV throughput ${path[$n]} $(root "$n") $d 50 2"
    done
  done
fi
if want create_rss; then
  say "create_rss"
  for p in $(seq 0 $((RSS_RUNS - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" rss true)
      mkdir -p "$RES/create_rss"
      "$DRV" next "$d"
      in_view "$n" "$DRV" rss "${path[$n]}" "$(root "$n")" "$d" >>"$RES/create_rss/$n.txt"
    done
  done
fi
if want checks; then
  say "start checks"
  mkdir -p "$RES/checks"
  for c in mem512k pids1; do
    for n in "${names[@]}"; do
      d=$(workdir "$n" "chk-$c" "$c")
      "$DRV" next "$d"
      rc=0
      in_view "$n" timeout 30 "${path[$n]}" --root "$(root "$n")" run --bundle "$d/cur" "hb-chk-$n" </dev/null >/dev/null 2>"$W/err" || rc=$?
      in_view "$n" "${path[$n]}" --root "$(root "$n")" delete --force "hb-chk-$n" >/dev/null 2>&1 || true
      printf '%s\n%s\n' "$rc" "$(tail -1 "$W/err" | cut -c1-200)" >"$RES/checks/$c-$n.txt"
    done
  done
fi

# Machine and versions, then the report.
{
  echo "{\"date\": \"$(date -u '+%Y-%m-%d %H:%M UTC')\", \"kernel\": \"$(uname -r)\", \"cpus\": $(nproc),"
  echo " \"cpu_model\": \"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\","
  echo " \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"passes\": $PASSES, \"runs\": $RUNS,"
  echo " \"hyperfine\": \"$(hyperfine --version)\", \"order\": \"$(IFS=,; echo "${names[*]}")\", \"versions\": {"
  sep=""
  for n in "${names[@]}"; do
    v=$("${path[$n]}" --version 2>/dev/null | head -1 | awk '{print $2, $3}')
    printf '%s  "%s": "%s"' "$sep" "$n" "$v"; sep=$',\n'
  done
  echo "}}"
} >"$RES/meta.json"
if [ -n "${NO_DOC:-}" ]; then
  /usr/bin/python3 hack/bench/report.py "$RES"
else
  /usr/bin/python3 hack/bench/report.py "$RES" --doc docs/benchmarks.md --json docs/bench-results.json \
    --chart docs/bench-ratios.png
  echo "wrote docs/benchmarks.md, docs/bench-results.json, docs/bench-ratios.png"
fi
