#!/bin/bash
# The systemd cgroup driver end to end: boots the systemd guest (hack/vm/run.sh --systemd) once
# and drives each runtime given with --systemd-cgroup there: a transient scope per container
# (slice:prefix:name), its resource limits, the init inside it, the scope gone after delete.
# Prints PASS/FAIL per step and, per runtime, "N passed, M failed" and at the end
# "systemd lane NAME: N passed, M failed". Exits with the first runtime's result (the others
# are reported only). Usage: hack/vm/systemd-lane.sh [RUNTIME...] (default target/release/husk)
set -uo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || set -- target/release/husk
B=$PWD/target/vm-bundle
rm -rf "$B"
CGROUPS_PATH=system.slice:husk:sd1 hack/mkbundle.sh "$B" sh -c 'echo in-scope; cat /proc/self/cgroup; sleep 100' >/dev/null
/usr/bin/python3 - "$B/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 30}}
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]
json.dump(c, open(p, "w"))
PY
: > target/vm-systemd-test.sh
for rt in "$@"; do
  rt=$(readlink -f "$rt")
  name=$("$rt" --version 2>/dev/null | head -1 | cut -d' ' -f1)
  # the systemd guest has its own /usr; the host's is at /host-usr there (e.g. Debian's runc)
  case $rt in /usr/*) rt=/host-usr${rt#/usr} ;; esac
  cat >> target/vm-systemd-test.sh <<TEST
H=$rt
N=${name:-$(basename "$rt")}
B=$B
TEST
  cat >> target/vm-systemd-test.sh <<'TEST'
echo "==> systemd lane: $N ($H)"
pass=0; fail=0
ok() { if eval "$2" >/dev/null 2>&1; then pass=$((pass+1)); echo "PASS $1"; else fail=$((fail+1)); echo "FAIL $1"; fi; }
rm -rf /tmp/b; cp -a "$B" /tmp/b
R=/tmp/root-$N
ok "systemd is PID 1" '[ "$(cat /proc/1/comm)" = systemd ]'
ok "create with --systemd-cgroup" '$H --root $R --systemd-cgroup create --bundle /tmp/b sd1'
ok "transient scope is active" 'systemctl is-active husk-sd1.scope'
ok "memory limit on the scope" '[ "$(cat /sys/fs/cgroup/system.slice/husk-sd1.scope/memory.max)" = 67108864 ]'
ok "pids limit on the scope" '[ "$(cat /sys/fs/cgroup/system.slice/husk-sd1.scope/pids.max)" = 30 ]'
pid=$($H --root $R state sd1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
ok "init is in the scope" 'grep -qx "$pid" /sys/fs/cgroup/system.slice/husk-sd1.scope/cgroup.procs'
ok "start" '$H --root $R start sd1'
ok "running" '$H --root $R state sd1 | grep -q running'
ok "kill" '$H --root $R kill sd1 KILL'
sleep 0.5
ok "delete" '$H --root $R delete sd1'
sleep 0.5
ok "scope gone after delete" '! systemctl is-active husk-sd1.scope'
ok "cgroup dir gone" '[ ! -d /sys/fs/cgroup/system.slice/husk-sd1.scope ]'
sed -i 's/"cgroupsPath": *"[^"]*"/"cgroupsPath": ""/' /tmp/b/config.json
# the default unit prefix is the runtime's name (runc: runc-ID.scope)
ok "empty cgroupsPath defaults to system.slice:$N:ID" '$H --root $R --systemd-cgroup create --bundle /tmp/b sd2 && systemctl is-active $N-sd2.scope'
ok "delete --force" '$H --root $R delete --force sd2 && ! systemctl is-active $N-sd2.scope'
ok "bad path refused" '! $H --root $R --systemd-cgroup create --bundle /tmp/b-bad sd3 2>/dev/null'
echo "$pass passed, $fail failed"
summary="$summary
systemd lane $N: $pass passed, $fail failed"
[ -n "${first:-}" ] || { first=$N; rc0=$fail; }
TEST
done
echo 'echo "$summary"; [ "$rc0" = 0 ]' >> target/vm-systemd-test.sh
hack/vm/run.sh --systemd 'sh target/vm-systemd-test.sh'
rc=$?
rm -rf "$B" target/vm-systemd-test.sh
exit $rc
