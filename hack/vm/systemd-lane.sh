#!/bin/bash
# The systemd cgroup driver end to end: boots the systemd guest (hack/vm/run.sh --systemd) once
# and drives each runtime given with --systemd-cgroup there: a transient scope per container
# (slice:prefix:name), its resource limits, the init inside it, the scope gone after delete.
# Then rootless, in the same boot: a user (hsd, uid 1500, subordinate ranges) whose systemd
# manager runs (loginctl enable-linger), a `spec --rootless` bundle in /tmp owned by the user,
# the runtime run as that user with --systemd-cgroup: the scope in the user's manager
# (user.slice:PREFIX:ID below user@1500.service), limits through its delegated controllers,
# pause/update/ps, delete removes it; without a reachable session bus, runc's errors.
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
# The rootless user and its systemd manager, once for every runtime.
cat >> target/vm-systemd-test.sh <<'TEST'
RU=1500 RUSER=hsd
useradd -m -u $RU -s /bin/sh $RUSER
echo $RUSER:200000:65536 >> /etc/subuid; echo $RUSER:200000:65536 >> /etc/subgid
loginctl enable-linger $RUSER
for i in $(seq 1 120); do systemctl is-active -q user@$RU.service && [ -S /run/user/$RU/bus ] && break; sleep 1; done
UC=/sys/fs/cgroup/user.slice/user-$RU.slice/user@$RU.service
echo "user manager: $(systemctl is-active user@$RU.service); delegated controllers: $(cat $UC/cgroup.controllers 2>&1)"
# as the user, with the session bus (U) or with no bus address at all (U0)
U="setpriv --reuid=$RU --regid=$RU --init-groups env HOME=/home/$RUSER XDG_RUNTIME_DIR=/run/user/$RU DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$RU/bus"
U0="setpriv --reuid=$RU --regid=$RU --init-groups env -u XDG_RUNTIME_DIR -u DBUS_SESSION_BUS_ADDRESS HOME=/home/$RUSER"
TEST
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
# (output to a file, not a pipe: a created container's init keeps the runtime's stdio open)
ok() { if eval "$2" >/tmp/ok.out 2>&1; then pass=$((pass+1)); echo "PASS $1"; else fail=$((fail+1)); echo "FAIL $1"; head -3 /tmp/ok.out | sed 's/^/    /'; fi; }
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
# rootless: the user's own systemd manager
RB=/tmp/rb-$N RR=/tmp/rr-$N S=$UC/user.slice/$N-rl1.scope
rm -rf $RB; mkdir $RB; cp -a "$B/rootfs" $RB/rootfs; chown -R $RU:$RU $RB
ok "rootless: user manager running, memory and pids delegated" 'systemctl is-active user@$RU.service && grep -qw memory $UC/cgroup.controllers && grep -qw pids $UC/cgroup.controllers'
ok "rootless: spec --rootless as the user" '(cd $RB && $U $H spec --rootless) && grep -q "\"hostID\": $RU" $RB/config.json'
# (runc indents with tabs, husk with spaces)
sed -i -e 's/^\([[:space:]]*\)"sh"$/\1"sh", "-c", "sleep 1000"/' -e 's/"terminal": true/"terminal": false/' \
  -e 's/^\([[:space:]]*\)"linux": {$/\1"linux": {"resources": {"memory": {"limit": 67108864}, "pids": {"limit": 30}},/' $RB/config.json
ok "rootless: create --systemd-cgroup (default user.slice:$N:ID)" '$U $H --root $RR --systemd-cgroup create --bundle $RB rl1'
ok "rootless: scope active in the user manager" '$U systemctl --user is-active $N-rl1.scope'
ok "rootless: scope not in the system manager" '! systemctl is-active $N-rl1.scope'
rpid=$($U $H --root $RR state rl1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
ok "rootless: init is in the scope" '[ -n "$rpid" ] && grep -qx "$rpid" $S/cgroup.procs'
ok "rootless: init runs as the user on the host" 'grep -Eq "^Uid:\s+$RU\s" /proc/$rpid/status'
ok "rootless: memory limit on the scope" '[ "$(cat $S/memory.max)" = 67108864 ]'
ok "rootless: pids limit on the scope" '[ "$(cat $S/pids.max)" = 30 ]'
ok "rootless: start" '$U $H --root $RR start rl1 && $U $H --root $RR state rl1 | grep -q running'
ok "rootless: the container's /sys/fs/cgroup is its scope" '[ "$($U $H --root $RR exec rl1 cat /sys/fs/cgroup/pids.max)" = 30 ]'
ok "rootless: pause" '$U $H --root $RR pause rl1 && $U $H --root $RR state rl1 | grep -q paused && [ "$(cat $S/cgroup.freeze)" = 1 ]'
ok "rootless: resume" '$U $H --root $RR resume rl1 && $U $H --root $RR state rl1 | grep -q running'
ok "rootless: update --memory" '$U $H --root $RR update --memory 33554432 rl1 && [ "$(cat $S/memory.max)" = 33554432 ]'
ok "rootless: ps lists the init" '$U $H --root $RR ps --format json rl1 | grep -qw "$rpid"'
ok "rootless: kill + delete" '$U $H --root $RR kill rl1 KILL; sleep 1; $U $H --root $RR delete rl1'
sleep 0.5
ok "rootless: scope gone after delete" '! $U systemctl --user is-active $N-rl1.scope && [ ! -d $S ]'
sed -i 's/"linux": {/"linux": {"cgroupsPath": "rlx-a.slice:rx:rl2",/' $RB/config.json
ok "rootless: slice:prefix:name in the user manager" '$U $H --root $RR --systemd-cgroup create --bundle $RB rl2 && [ -d $UC/rlx.slice/rlx-a.slice/rx-rl2.scope ] && $U systemctl --user is-active rx-rl2.scope'
ok "rootless: delete --force removes it" '$U $H --root $RR delete --force rl2 && ! $U systemctl --user is-active rx-rl2.scope'
sed -i 's/"cgroupsPath": "rlx-a.slice:rx:rl2",//' $RB/config.json
ok "rootless: bus found from XDG_RUNTIME_DIR alone" '$U0 XDG_RUNTIME_DIR=/run/user/$RU $H --root $RR --systemd-cgroup create --bundle $RB rl5 && $U systemctl --user is-active $N-rl5.scope && $U $H --root $RR delete --force rl5'
$U0 $H --root $RR --systemd-cgroup create --bundle $RB rl3 > /tmp/err-$N 2>&1; rc=$?
ok "rootless: no bus address: runc's error (systemctl show-environment)" '[ $rc != 0 ] && grep -q "failed to connect to dbus (hint: for rootless containers, maybe you need to install dbus-user-session package" /tmp/err-$N && grep -qF "could not execute \`systemctl --user --no-pager show-environment\`" /tmp/err-$N'
sed -n 1p /tmp/err-$N
$U0 DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus $H --root $RR --systemd-cgroup create --bundle $RB rl4 > /tmp/err-$N 2>&1; rc=$?
ok "rootless: unreachable bus: runc's error (error while dialing)" '[ $rc != 0 ] && grep -q "failed to connect to dbus (hint: " /tmp/err-$N && grep -qF "error while dialing" /tmp/err-$N && grep -qF "unix:path=/nonexistent/bus" /tmp/err-$N && grep -qF "dial unix /nonexistent/bus: connect: no such file or directory" /tmp/err-$N'
sed -n 1p /tmp/err-$N
ok "rootless: nothing left in the user manager" '! ls -d $UC/user.slice/*-rl* $UC/rlx.slice/*/*.scope 2>/dev/null | grep -q .'
$U $H --root $RR delete --force rl3 >/dev/null 2>&1; $U $H --root $RR delete --force rl4 >/dev/null 2>&1
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
