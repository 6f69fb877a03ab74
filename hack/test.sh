#!/bin/bash
# hack/test.sh: install what the tests need, build husk and the checker, run the unit tests
# (cargo test) and the conformance suite (runtime-tools-tests/) against target/release/husk.
# Runs as root, non-interactively (CI=true, no stdin, no tty). Exits non-zero on any failure.
# RUNTIME=/path overrides the runtime under test (e.g. /usr/sbin/runc); extra arguments go to
# pytest (e.g. hack/test.sh -k lifecycle).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export DEBIAN_FRONTEND=noninteractive
exec </dev/null
[ "$(id -u)" = 0 ] || { echo "test.sh: must run as root" >&2; exit 1; }
start=$(date +%s)
fail=0

step() { printf '\n==> %s\n' "$*"; }

# guest_lane NAME PREFIX CMD...: run one QEMU guest lane (husk, then runc in the same boot) with
# its output on ours. Its last "PREFIX husk: SUMMARY" and "PREFIX runc: SUMMARY" lines become
# $lane_husk and $lane_runc; husk's passes and failures (and pytest errors) count in the totals,
# and a non-zero exit fails the run (counted as one failure when the summary shows none); runc's
# are reported only.
guest_lane() {
  local name=$1 prefix=$2 log rc p f e
  shift 2
  log=$(mktemp /tmp/husk-test-lane.XXXXXX)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  lane_husk=$(awk -v p="$prefix husk: " 'index($0, p) == 1 {l = substr($0, length(p) + 1)} END {print l}' "$log")
  lane_runc=$(awk -v p="$prefix runc: " 'index($0, p) == 1 {l = substr($0, length(p) + 1)} END {print l}' "$log")
  note_fails "$log" "$name"
  rm -f "$log"
  p=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<" $lane_husk"); f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<" $lane_husk")
  e=$(sed -nE 's/.* ([0-9]+) errors?.*/\1/p' <<<" $lane_husk")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
  if [ "$rc" != 0 ]; then fail=1; [ $((${f:-0} + ${e:-0})) != 0 ] || failed=$((failed + 1)); fi
  lane_husk=${lane_husk:-no summary (exit $rc)}; lane_runc=${lane_runc:-no summary}
}

# The gating failures of every step, printed together at the end (CI shows the log's tail):
# FAIL/FAILED lines of a log, outside the sections of runc and other reported-only peers (a
# section starts at a "==> " header).
failures=""
note_fails() {
  local f
  f=$(awk -v lane="$2" 'BEGIN {on = 1} /^==> /{on = ($0 !~ /runc|reported|peer/)} on && /^(FAIL|FAILED|ERROR) /{print lane ": " $0}' "$1" | head -20)
  [ -z "$f" ] || failures="$failures$f
"
}

pkgs=(busybox-static runc crun python3 python3-pytest strace iproute2 gcc libc6-dev hyperfine gnuplot-nox uidmap
  docker.io lintian man-db criu)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install (missing: ${missing[*]})"
  apt-get update -q || exit 1
  apt-get install -y --no-install-recommends "${pkgs[@]}" || exit 1
fi
command -v cargo >/dev/null || { echo "test.sh: cargo not found (install Rust: https://rustup.rs)" >&2; exit 1; }

if [ -z "${RUNTIME:-}" ]; then
  step "cargo build --release"
  cargo build --release || exit 1
fi
runtime=${RUNTIME:-$repo/target/release/husk}

step "build the checker (static)"
(cd runtime-tools-tests/checker &&
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu) || exit 1

step "build the seccomp probe (static; copied into every bundle as /seccomp-probe)"
hack/build-probes.sh || exit 1

# The benchmark: the shipped static build and the harness, run once as a smoke test (one pass of
# two runs per scenario, no doc written): the harness must work; its timings do not gate CI.
if [ -z "${RUNTIME:-}" ]; then
  step "benchmark smoke run (hack/bench.sh with SMOKE=1; timings not checked)"
  bash -n hack/bench.sh hack/build-static.sh || fail=1
  if ! SMOKE=1 timeout 600 hack/bench.sh >/dev/null; then echo "bench smoke run FAILED"; fail=1; fi
fi

unit="skipped"
if [ -z "${RUNTIME:-}" ]; then
  step "cargo test"
  if cargo test; then unit="ok"; else unit="FAILED"; fail=1; fi
fi

# The suite runs in a private mount namespace whose /dev/null is a fresh node of its own, bound
# over the host's: a runtime that chowns or chmods the /dev/null it binds into a container
# (host.md) cannot change the host's node.
step "conformance suite against $runtime"
log=$(mktemp /tmp/husk-test-log.XXXXXX)
RUNTIME=$runtime unshare -m --propagation private /bin/bash -c '
  set -e
  d=$(mktemp -d /tmp/husk-test-dev.XXXXXX)
  mount -t tmpfs -o size=16k,mode=755 husk-test-dev "$d"
  mknod -m 666 "$d/null" c 1 3
  mount --bind "$d/null" /dev/null
  set +e
  timeout 1500 /usr/bin/python3 -m pytest -q runtime-tools-tests "$@"
  rc=$?
  umount /dev/null; umount "$d"; rmdir "$d"
  exit $rc' test-suite "$@" 2>&1 | tee "$log"
suite_rc=${PIPESTATUS[0]}
[ "$suite_rc" = 0 ] || fail=1
note_fails "$log" conformance

summary=$(grep -E '^=*.*(passed|failed|error)' "$log" | tail -1)
rm -f "$log"
passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<" $summary"); passed=${passed:-0}
failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<" $summary"); failed=${failed:-0}
errors=$(sed -nE 's/.* ([0-9]+) errors?.*/\1/p' <<<" $summary"); errors=${errors:-0}
failed=$((failed + errors))

# End to end: podman (conmon; also rootless, each check against runc), containerd (ctr + shim) and the Kubernetes CRI path with husk as
# the runtime (hack/e2e/). HUSK_SKIP_E2E=1 skips them.
e2e="skipped"
if [ -z "${RUNTIME:-}" ] && [ -z "${HUSK_SKIP_E2E:-}" ]; then
  e2e=""
  for s in podman podman-rootless containerd cri; do
    step "end to end: $s"
    elog=$(mktemp /tmp/husk-test-e2e.XXXXXX)
    timeout 900 hack/e2e/$s.sh "$runtime" 2>&1 | tee "$elog"
    erc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$elog" | tail -1)
    note_fails "$elog" "e2e $s"
    rm -f "$elog"
    ep=$(sed -nE 's/^([0-9]+) passed.*/\1/p' <<<"$line"); ef=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
    passed=$((passed + ${ep:-0})); failed=$((failed + ${ef:-0}))
    if [ "$erc" != 0 ]; then fail=1; [ -n "$ef" ] && [ "$ef" != 0 ] || failed=$((failed + 1)); fi
    e2e="$e2e $s: ${line:-no summary (exit $erc)};"
  done
fi

# Docker Engine (hack/e2e/docker.sh: a dockerd of its own, Debian's docker.io) with husk, gating,
# then with Debian's runc, reported (a runc or Docker regression is not husk's); and the Debian
# package (hack/e2e/deb.sh: hack/build-deb.sh, lintian, dpkg -i into a throwaway root, a container
# through its /usr/bin/husk, every man page rendered, the bash completion loaded). HUSK_SKIP_E2E=1
# skips them too.
if [ -z "${RUNTIME:-}" ] && [ -z "${HUSK_SKIP_E2E:-}" ]; then
  for s in docker deb runc-docker; do
    rt=$runtime script=$s
    [ "$s" = runc-docker ] && { rt=$(command -v runc || echo /usr/sbin/runc); script=docker; }
    case $s in
      deb) step "end to end: the Debian package (hack/build-deb.sh, installed into a throwaway root)" ;;
      runc-docker) step "end to end: docker with $(basename "$rt") (reported, not gating)" ;;
      *) step "end to end: $s with $(basename "$rt")" ;;
    esac
    elog=$(mktemp /tmp/husk-test-e2e.XXXXXX)
    timeout 900 hack/e2e/$script.sh "$rt" 2>&1 | tee "$elog"
    erc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$elog" | tail -1)
    [ "$s" = runc-docker ] || note_fails "$elog" "e2e $s"
    rm -f "$elog"
    if [ "$s" = runc-docker ]; then
      e2e="$e2e docker with runc (reported, not gating): ${line:-no summary (exit $erc)};"
      continue
    fi
    ep=$(sed -nE 's/^([0-9]+) passed.*/\1/p' <<<"$line"); ef=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
    passed=$((passed + ${ep:-0})); failed=$((failed + ${ef:-0}))
    if [ "$erc" != 0 ]; then fail=1; [ -n "$ef" ] && [ "$ef" != 0 ] || failed=$((failed + 1)); fi
    e2e="$e2e $s: ${line:-no summary (exit $erc)};"
  done
fi

# The guests are cached outside the checkout so that repeated runs on one machine skip the
# kernel download and debootstrap (a new machine builds them: a few minutes).
export VM_DIR=${VM_DIR:-/var/cache/husk-vm}

# The cgroup v2 lane: the cases that touch cgroups, the lifecycle, kill/delete, exec and ops
# cases, in a cgroup-v2-only QEMU guest (hack/vm/), against husk and then, in the same boot,
# against Debian's runc (its known differences are strict xfails, known_failures.py). husk's
# run gates; runc's is reported (a runc regression is not husk's). HUSK_SKIP_VM=1 skips it.
v2="skipped"
if [ -z "${RUNTIME:-}" ] && [ -z "${HUSK_SKIP_VM:-}" ]; then
  step "cgroup v2 lane (QEMU guest): husk, then runc"
  v2t=$(date +%s)
  runc_bin=$(command -v runc || echo /usr/sbin/runc)
  guest_lane "v2 lane" "v2 lane" hack/vm/v2-lane.sh "$runtime" "$runc_bin"
  v2="husk $lane_husk; runc (reported, not gating) $lane_runc; guest $(( $(date +%s) - v2t ))s"
  step "systemd cgroup driver lane (QEMU guest with systemd): husk, then runc --systemd-cgroup, as root and rootless (the user's systemd manager)"
  guest_lane "systemd lane" "systemd lane" hack/vm/systemd-lane.sh "$runtime" "$runc_bin"
  v2="$v2; systemd lane: husk $lane_husk, runc (reported, not gating) $lane_runc"
  # LSM lanes (issue 20): one boot with AppArmor, one with SELinux; husk gates, runc reported.
  for lsm in apparmor selinux; do
    step "LSM lane ($lsm, QEMU guest with systemd): husk, then runc"
    guest_lane "$lsm lane" "lsm lane ($lsm)" hack/vm/lsm-lane.sh "--$lsm" "$runtime" "$runc_bin"
    v2="$v2; $lsm lane: husk $lane_husk, runc (reported, not gating) $lane_runc"
  done
  # Checkpoint/restore through CRIU (issue 19): one boot of the systemd guest (criu works on its
  # 6.1 kernel, not on this host's), husk gating, runc reported; cross restores and podman are
  # INFO lines in its log.
  step "checkpoint/restore lane (QEMU guest with systemd and criu): husk, then runc"
  guest_lane "checkpoint lane" "checkpoint lane" hack/vm/checkpoint-lane.sh "$runtime" "$runc_bin"
  v2="$v2; checkpoint lane: husk $lane_husk, runc (reported, not gating) $lane_runc"
fi

devnull=$(stat -c '%A %U:%G %t:%T' /dev/null)
if [ "$devnull" != "crw-rw-rw- root:root 1:3" ]; then
  echo "host /dev/null changed: $devnull"
  fail=1
fi

echo
[ -z "$failures" ] || printf 'gating failures:\n%s' "$failures"
echo "cargo test: $unit; conformance ($(basename "$runtime")): $summary; e2e:$e2e cgroup v2 lane: $v2; $(( $(date +%s) - start ))s"
echo "$passed passed, $failed failed"
exit $fail
