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
# Issue 23 adds, on the configs real callers write (hack/bench/fixtures: podman 4.3's for
# `podman run --rm busybox true`, containerd's CRI plugin's for a pod container; host paths
# rewritten by hack/bench/templates.py):
#   real        lifecycle with per-step wall times (create, start, wait, delete; drv.c phases)
#   real_exec   `exec /bin/true` into a running container of each config
#   real_tp     containers/s, TP_N lifecycles of the podman config by 2 and by 8 workers
#   real_rss    peak RSS of `create` with the podman config
#   scale       1, 100, 1000 (SCALE_LEVELS) running podman-config containers under one --root per
#               runtime: list, state, ps (--format json, as containerd's shim), exec, kill (SIGCONT),
#               create latency; state dir size and
#               kernel objects per container; latency-vs-count plot docs/bench-scale.png
#   phases      husk's own --debug phase times on the podman config (create, start, delete, exec)
# Honesty: before a runtime is timed on a config, it must `run` that config's verify variant and
# print "bench-ran" and its cgroup /husk-bench/<id>; every create drv.c times is checked (the
# init's /proc/PID/cgroup must end in the id); every populated container is checked the same way.
# The load average is recorded at the start and end of each scenario (RES/load.txt, in the doc).
# Interleaving: PASSES passes; in each, every runtime gets one hyperfine invocation of RUNS runs,
# and the runtime order reverses every other pass. Samples (hyperfine's per-run times) are pooled.
# crun 1.8.1 refuses this host's hybrid cgroups: its hyperfine runs in a private mount namespace
# whose /sys/fs/cgroup holds only the v1 hierarchies (../shared/docs/host.md); the others in the
# host's. Everything made (containers, cgroups, state roots, bundles, the namespace) is removed at
# exit, also on failure or interruption.
#
# Env: PASSES (default 10), RUNS (per invocation, 5), TP_PASSES (throughput runs, 3), RSS_RUNS (15),
#      TP_N (real_tp lifecycles per run, 48), SCALE_LEVELS ("1 100 1000"), SCALE_PASSES (3),
#      SCALE_RUNS (per op, runtime and pass, 5), PHASE_RUNS (15),
#      ONLY=lifecycle,run,exec,list,throughput,create_rss,checks,real,real_exec,real_tp,real_rss,
#      scale,phases; KEEP_RES=DIR (keep the raw results there); HUSK (default: the shipped build,
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
if [ -n "${SMOKE:-}" ]; then
  PASSES=1 RUNS=2 TP_PASSES=1 RSS_RUNS=2 NO_DOC=1 TP_N=8 SCALE_LEVELS="1 10" SCALE_PASSES=1 SCALE_RUNS=2 PHASE_RUNS=2
fi
PASSES=${PASSES:-10} RUNS=${RUNS:-5} TP_PASSES=${TP_PASSES:-3} RSS_RUNS=${RSS_RUNS:-15}
TP_N=${TP_N:-48} SCALE_LEVELS=${SCALE_LEVELS:-1 100 1000} SCALE_PASSES=${SCALE_PASSES:-3} SCALE_RUNS=${SCALE_RUNS:-5}
PHASE_RUNS=${PHASE_RUNS:-15}
ONLY=${ONLY:-lifecycle,run,exec,list,throughput,create_rss,checks,real,real_exec,real_tp,real_rss,scale,phases}
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
SB_HOLDER=""
cleanup() {
  set +e
  for n in "${names[@]}"; do
    # The scale containers first, in parallel (drv), then whatever is left one by one.
    d=$W/w/scale-$n
    if [ -f "$d/populated" ]; then
      in_view "$n" "$DRV" depopulate "${path[$n]}" "$W/root/$n" "$d" 0 "$(cat "$d/populated")" 4 2>/dev/null
    fi
  done
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
  if [ -n "${KEEP_RES:-}" ] && [ -d "$W/res" ]; then rm -rf "$KEEP_RES"; cp -a "$W/res" "$KEEP_RES"; fi
  if [ -n "$SB_HOLDER" ]; then kill -KILL "$SB_HOLDER" 2>/dev/null; wait "$SB_HOLDER" 2>/dev/null; fi
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
RES=$W/res
mkdir -p "$RES"
# The CRI config joins its pod sandbox's pid, ipc, uts (and the node's network) namespaces: a
# holder stands in for the pause container, a reaper as pid 1 of new pid/ipc/uts namespaces.
unshare --pid --ipc --uts --fork --kill-child /usr/bin/python3 -c '
import os, time
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.05)' &
SB_HOLDER=$!
SB_PID=""
for _ in $(seq 100); do SB_PID=$(cat /proc/$SB_HOLDER/task/*/children 2>/dev/null | awk '{print $1}'); [ -n "$SB_PID" ] && break; sleep 0.02; done
[ -n "$SB_PID" ] || { echo "bench: the sandbox holder did not start" >&2; exit 1; }
# The shared busybox rootfs and the config templates ("@ID@" is replaced per container).
/usr/bin/python3 hack/bench/templates.py "$W" "$SB_PID"

# workdir NAME SCENARIO TEMPLATE: a bundle workspace (drv.c's W) for one runtime and scenario.
workdir() {
  local d=$W/w/$2-$1
  mkdir -p "$d" "$W/root/$1" "$W/empty/$1"
  cp "$W/$3.json" "$d/template.json"
  echo "$d"
}
root() { echo "$W/root/$1"; }
# rss_samples SCENARIO TEMPLATE OUT: RSS_RUNS peak RSS samples of `create` per runtime
# (interleaved, drv.c rss), into $RES/OUT/<runtime>.txt.
rss_samples() {
  local p n d
  mkdir -p "$RES/$3"
  for p in $(seq 0 $((RSS_RUNS - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" "$1" "$2")
      "$DRV" next "$d"
      in_view "$n" "$DRV" rss "${path[$n]}" "$(root "$n")" "$d" >>"$RES/$3/$n.txt"
    done
  done
}

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
# load WHAT: the load average now, in RES/load.txt (reported with the results).
load() { echo "$1 $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"; }
# verify NAME TEMPLATE: the runtime runs TEMPLATE (a "verify" config: echo, then its
# /proc/self/cgroup) in the foreground; it must print "bench-ran" and a cgroup ending in its id.
verify() {
  local n=$1 t=$2 d out id
  d=$(workdir "$n" "vfy-$t" "$t")
  "$DRV" next "$d"
  id=$(cat "$d/id")
  out=$(in_view "$n" timeout 60 "${path[$n]}" --root "$(root "$n")" run --bundle "$d/cur" "$id" </dev/null 2>&1) || true
  in_view "$n" "${path[$n]}" --root "$(root "$n")" delete --force "$id" >/dev/null 2>&1 || true
  mkdir -p "$RES/verify"
  if [[ $out == *bench-ran* ]] && grep -q "/husk-bench/$id\$" <<<"$out"; then
    echo "ok" >"$RES/verify/$t-$n.txt"
  else
    echo "bench: $n did not run $t (output: $(head -c 300 <<<"$out"))" >&2
    exit 1
  fi
}

# Warm-up: page cache, dentries, the first cgroups.
for n in "${names[@]}"; do
  d=$(workdir "$n" warm true)
  for _ in 1 2 3; do "$DRV" next "$d"; in_view "$n" "$DRV" lifecycle "${path[$n]}" "$(root "$n")" "$d"; done
done

if want lifecycle; then
  say "lifecycle"
  load lifecycle
  for p in $(seq 0 $((PASSES - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" lc true)
      hf "$n" lifecycle "$p" "$RUNS" --prepare "$DRV next $d" "$DRV lifecycle ${path[$n]} $(root "$n") $d"
    done
  done
fi
if want run; then
  say "run"
  load run
  for p in $(seq 0 $((PASSES - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" run true)
      hf "$n" run "$p" "$RUNS" --prepare "$DRV next $d" "${path[$n]} --root $(root "$n") run --bundle $d/cur hb-run-$n"
    done
  done
fi
if want exec; then
  say "exec"
  load exec
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
  load list
  for p in $(seq 0 $((PASSES - 1))); do
    for n in $(order "$p"); do
      mkdir -p "$W/empty/$n"
      hf "$n" list "$p" $((RUNS * 2)) --warmup 1 "${path[$n]} --root $W/empty/$n list"
    done
  done
fi
if want throughput; then
  say "throughput"
  load throughput
  for p in $(seq 0 $((TP_PASSES - 1))); do
    for n in $(order "$p"); do
      d=$(workdir "$n" tp true)
      hf "$n" throughput "$p" 1 --prepare "$DRV next-many $d 50" "$DRV throughput ${path[$n]} $(root "$n") $d 50 2"
    done
  done
fi
if want create_rss; then
  say "create_rss"
  load create_rss
  rss_samples rss true create_rss
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

REAL="podman cri"
if want real; then
  say "real configs: verify, lifecycle steps"
  load real
  for cfg in $REAL; do
    for n in "${names[@]}"; do verify "$n" "$cfg-verify"; done
    for p in $(seq 0 $((PASSES - 1))); do
      for n in $(order "$p"); do
        d=$(workdir "$n" "real-$cfg" "$cfg-true")
        mkdir -p "$RES/real/$cfg"
        for _ in $(seq "$RUNS"); do
          "$DRV" next "$d"
          in_view "$n" "$DRV" phases "${path[$n]}" "$(root "$n")" "$d" >>"$RES/real/$cfg/$n.txt"
        done
      done
    done
  done
fi
if want real_exec; then
  say "real configs: exec"
  load real_exec
  for cfg in $REAL; do
    for n in "${names[@]}"; do
      d=$(workdir "$n" "rsleeper-$cfg" "$cfg-sleep")
      "$DRV" next "$d"
      in_view "$n" "${path[$n]}" --root "$(root "$n")" run --detach --bundle "$d/cur" "hb-rsleeper-$cfg-$n" </dev/null >/dev/null
    done
    for p in $(seq 0 $((PASSES - 1))); do
      for n in $(order "$p"); do
        hf "$n" "exec_$cfg" "$p" "$RUNS" --warmup 1 "${path[$n]} --root $(root "$n") exec hb-rsleeper-$cfg-$n /bin/true"
      done
    done
    for n in "${names[@]}"; do in_view "$n" "${path[$n]}" --root "$(root "$n")" delete --force "hb-rsleeper-$cfg-$n"; done
  done
fi
if want real_tp; then
  say "real configs: throughput"
  load real_tp
  for par in 2 8; do
    for p in $(seq 0 $((TP_PASSES - 1))); do
      for n in $(order "$p"); do
        d=$(workdir "$n" "rtp$par" podman-true)
        hf "$n" "tp_podman_w$par" "$p" 1 --prepare "$DRV next-many $d $TP_N" "$DRV throughput ${path[$n]} $(root "$n") $d $TP_N $par"
      done
    done
  done
  echo "$TP_N" >"$RES/tp_n.txt"
fi
if want real_rss; then
  say "real configs: create RSS"
  load real_rss
  rss_samples rrss podman-true rss_podman
fi
if want scale; then
  say "scale: $SCALE_LEVELS containers"
  meminfo() { awk '/^(Slab|KernelStack|PageTables|Percpu|MemAvailable):/ {printf "%s %s ", $1, $2} END {print ""}' /proc/meminfo; }
  prev=0
  for lvl in $SCALE_LEVELS; do
    load "scale-$lvl-populate"
    for n in "${names[@]}"; do
      d=$W/w/scale-$n
      mkdir -p "$d" "$RES/scale/objects"
      cp "$W/podman-sleep.json" "$d/template.json"
      echo "$(meminfo)" >"$RES/scale/objects/meminfo-$n-$lvl-before.txt"
      echo "$lvl" >"$d/populated"
      in_view "$n" "$DRV" populate "${path[$n]}" "$(root "$n")" "$d" "$prev" "$lvl" 4 ||
        { say "$n: populating $lvl containers failed"; exit 1; }
      sync
      echo "$(meminfo)" >"$RES/scale/objects/meminfo-$n-$lvl-after.txt"
    done
    # Every container of every runtime is up and in its cgroup (drv checked each at create),
    # and the runtime itself lists it as running.
    for n in "${names[@]}"; do
      got=$(in_view "$n" "${path[$n]}" --root "$(root "$n")" list -q | grep -c "^scale-$n-" || true)
      running=$(in_view "$n" "${path[$n]}" --root "$(root "$n")" list | grep -c " running " || true)
      [ "$got" = "$lvl" ] && [ "$running" -ge "$lvl" ] ||
        { say "$n lists $got containers ($running running), want $lvl"; exit 1; }
    done
    load "scale-$lvl-measure"
    for p in $(seq 0 $((SCALE_PASSES - 1))); do
      for n in $(order "$p"); do
        r=$(root "$n") rt=${path[$n]} o=$RES/scale/$lvl
        mkdir -p "$o"/{list,state,ps,exec,kill,create}
        id=scale-$n-0
        in_view "$n" "$DRV" time "$SCALE_RUNS" "$rt" --root "$r" list >>"$o/list/$n.txt"
        in_view "$n" "$DRV" time "$SCALE_RUNS" "$rt" --root "$r" state "$id" >>"$o/state/$n.txt"
        in_view "$n" "$DRV" time "$SCALE_RUNS" "$rt" --root "$r" ps --format json "$id" >>"$o/ps/$n.txt"
        in_view "$n" "$DRV" time "$SCALE_RUNS" "$rt" --root "$r" exec "$id" /bin/true >>"$o/exec/$n.txt"
        in_view "$n" "$DRV" time "$SCALE_RUNS" "$rt" --root "$r" kill "$id" CONT >>"$o/kill/$n.txt"
        d=$(workdir "$n" "scr$lvl" podman-sleep)
        for _ in $(seq "$SCALE_RUNS"); do
          "$DRV" next "$d"
          in_view "$n" "$DRV" tcreate "$rt" "$r" "$d" >>"$o/create/$n.txt"
        done
      done
    done
    # The host side per container at this level: state dir, processes, namespaces, mounts, cgroups.
    for n in "${names[@]}"; do
      /usr/bin/python3 hack/bench/objects.py "$(root "$n")" "$W/w/scale-$n" "$n" "$lvl" >"$RES/scale/objects/$n-$lvl.json"
    done
    prev=$lvl
  done
  load scale-end
  for n in "${names[@]}"; do
    d=$W/w/scale-$n
    in_view "$n" "$DRV" depopulate "${path[$n]}" "$(root "$n")" "$d" 0 "$prev" 4
    rm -f "$d/populated"
  done
fi
if want phases && [ -n "${path[husk]:-}" ]; then
  say "husk --debug phases (podman config)"
  load phases
  mkdir -p "$RES/phases"
  d=$(workdir husk phases podman-true)
  for _ in $(seq "$PHASE_RUNS"); do
    "$DRV" next "$d"
    id=$(cat "$d/id") r=$(root husk)
    { "${path[husk]}" --debug --root "$r" create --bundle "$d/cur" "$id"
      "${path[husk]}" --debug --root "$r" start "$id"
      sleep 0.05
      "${path[husk]}" --debug --root "$r" delete --force "$id"; } </dev/null 2>>"$RES/phases/lifecycle.log" >/dev/null
  done
  d=$(workdir husk phsleeper podman-sleep)
  "$DRV" next "$d"
  "${path[husk]}" --root "$(root husk)" run --detach --bundle "$d/cur" hb-phsleeper </dev/null >/dev/null
  for _ in $(seq "$PHASE_RUNS"); do
    "${path[husk]}" --debug --root "$(root husk)" exec hb-phsleeper /bin/true </dev/null 2>>"$RES/phases/exec.log" >/dev/null
  done
  "${path[husk]}" --root "$(root husk)" delete --force hb-phsleeper
fi
load end

# Machine and versions, then the report.
{
  echo "{\"date\": \"$(date -u '+%Y-%m-%d %H:%M UTC')\", \"kernel\": \"$(uname -r)\", \"cpus\": $(nproc),"
  echo " \"cpu_model\": \"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\","
  echo " \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"passes\": $PASSES, \"runs\": $RUNS,"
  echo " \"tp_passes\": $TP_PASSES, \"tp_n\": $TP_N, \"rss_runs\": $RSS_RUNS, \"scale_levels\": \"$SCALE_LEVELS\","
  echo " \"scale_passes\": $SCALE_PASSES, \"scale_runs\": $SCALE_RUNS, \"phase_runs\": $PHASE_RUNS,"
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
    --chart docs/bench-ratios.png --scale-chart docs/bench-scale.png
  echo "wrote docs/benchmarks.md, docs/bench-results.json, docs/bench-ratios.png, docs/bench-scale.png"
fi
