#!/bin/bash
# Checkpoint/restore through CRIU end to end: boots the systemd guest (hack/vm/run.sh --systemd,
# which has criu 3.17.1, iptables and the kernel's modules) once, loads the modules `criu check`
# needs, and drives each runtime given: a counting container (with a bind mount and the default
# masked paths) checkpointed and restored continues its count; the restored container works with
# state/exec/pause/resume/kill/delete and can be checkpointed again; --leave-running; restore under
# a new id; pre-dump + dump --parent-path; a paused container; a container with a terminal (console
# socket: hack/vm/recvtty.c, built static here) restored with a new console socket and in the
# foreground under script(1). Then, reported only ("INFO" lines,
# not counted): a checkpoint of each runtime restored by the other, and podman's
# `container checkpoint`/`restore` with --runtime set to the first runtime.
# Prints PASS/FAIL per case and, per runtime, "N passed, M failed", and at the end
# "checkpoint lane NAME: N passed, M failed". Exits with the first runtime's result (the others are
# reported only). Usage: hack/vm/checkpoint-lane.sh [RUNTIME [PEER...]] (default target/release/husk)
set -uo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || set -- target/release/husk
B=$PWD/target/vm-ckpt-bundle
T=$PWD/target/vm-ckpt-test.sh
rm -rf "$B"
hack/mkbundle.sh "$B" sh -c 'i=0; while :; do i=$((i+1)); echo $i > /count; echo $i > /data/count; sleep 0.2; done' >/dev/null
/usr/bin/python3 - "$B/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["root"]["readonly"] = False
c["linux"]["cgroupsPath"] = "/ckpt-lane/base"
c["mounts"].append({"destination": "/data", "type": "bind", "source": "/tmp/ckpt-data", "options": ["rbind", "rw"]})
json.dump(c, open(p, "w"), indent=1)
PY
# the same with a terminal, writing its count on it too
BT=$PWD/target/vm-ckpt-tty-bundle; RT=$PWD/target/vm-recvtty
rm -rf "$BT"; cp -a "$B" "$BT"
cc -static -O2 -o "$RT" hack/vm/recvtty.c || exit 1
/usr/bin/python3 - "$BT/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = True
c["process"]["args"] = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick$i; echo $i > /data/count; sleep 0.2; done"]
json.dump(c, open(p, "w"), indent=1)
PY
cat > "$T" <<'TEST'
B0=__BUNDLE__; BT=__TTYBUNDLE__; RT=__RECVTTY__
modprobe -a nf_tables unix_diag inet_diag tcp_diag udp_diag netlink_diag
summary=""; first=""; rc0=1
ok() { if eval "$2" >/dev/null 2>&1; then pass=$((pass+1)); echo "PASS $1"; else fail=$((fail+1)); echo "FAIL $1"; fi; }
info() { if eval "$2" >/tmp/info.out 2>&1; then echo "INFO $1: works"; else echo "INFO $1: FAILS: $(tail -3 /tmp/info.out | tr '\n' ' ')"; fi; }
count() { cat /tmp/ckpt-data/count 2>/dev/null || echo 0; }
# a bundle of its own (own cgroup) for container $1 of runtime $N
bundle() { rm -rf /tmp/b-$N-$1; cp -a $B0 /tmp/b-$N-$1; sed -i "s|\"cgroupsPath\": *\"[^\"]*\"|\"cgroupsPath\": \"/ckpt-lane/$N-$1\"|" /tmp/b-$N-$1/config.json; echo /tmp/b-$N-$1; }
pidof_ct() { $H --root $R state $1 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
status() { $H --root $R state $1 2>/dev/null | sed -n 's/.*"status": "\([a-z]*\)".*/\1/p'; }
# within SECONDS COND: COND holds within SECONDS (polled every 0.2 s): the guest is TCG-emulated
# and CI's host is loaded, so nothing waits a fixed time for progress.
within() { local i; for i in $(seq $(($1 * 5))); do eval "$2" && return 0; sleep 0.2; done; eval "$2"; }
advances() { a=$(count); within 10 '[ "$(count)" -gt "$a" ]'; }
still() { a=$(count); sleep 1; [ "$(count)" -eq "$a" ]; }
ticks() { grep -o 'tick[0-9]*' $1 2>/dev/null | tail -1 | tr -dc 0-9; }
gone() { [ -z "$(status $1)" ] || [ "$(status $1)" = stopped ]; }
echo "criu: $(criu --version | head -1); $(criu check 2>&1 | tail -1)"
TEST
for rt in "$@"; do
  rt=$(readlink -f "$rt")
  name=$("$rt" --version 2>/dev/null | head -1 | cut -d' ' -f1)
  case $rt in /usr/*) rt=/host-usr${rt#/usr} ;; esac
  printf 'H=%s\nN=%s\n' "$rt" "${name:-$(basename "$rt")}" >> "$T"
  cat >> "$T" <<'TEST'
echo "==> checkpoint lane: $N ($H)"
pass=0; fail=0; R=/tmp/root-$N; I=/tmp/img-$N; rm -rf $I /tmp/ckpt-data; mkdir -p $I /tmp/ckpt-data
ok "criu check: Looks good" 'criu check | grep -q "Looks good"'
b=$(bundle c1)
ok "run -d a counting container" '$H --root $R run -d --bundle $b c1 </dev/null >/dev/null 2>&1 && sleep 2 && advances'
p1=$(pidof_ct c1)
ok "checkpoint" '$H --root $R checkpoint --image-path $I/1 --work-path $I/w1 c1'
ok "checkpoint stopped the container" '! kill -0 $p1 && gone c1 && still'
[ "$N" = husk ] && ok "state says stopped after checkpoint" '[ "$(status c1)" = stopped ]'
n1=$(count)
ok "restore -d" '$H --root $R restore -d --image-path $I/1 --work-path $I/w1r --bundle $b c1 </dev/null >/dev/null 2>&1'
ok "restored container is running (a new init)" '[ "$(status c1)" = running ] && kill -0 $(pidof_ct c1) && [ "$(pidof_ct c1)" != "$p1" ]'
echo "restored init $(pidof_ct c1): $(cat /proc/$(pidof_ct c1)/cgroup)"
ok "count continues from the checkpoint" 'within 10 "[ \$(count) -gt $n1 ]"'
ok "init is in the container's cgroup" 'grep -qx "0::/ckpt-lane/$N-c1" /proc/$(pidof_ct c1)/cgroup'
ok "bind mount restored (host dir still written)" 'advances'
ok "masked path restored (/proc/kcore reads empty)" '[ -z "$($H --root $R exec c1 cat /proc/kcore)" ]'
ok "exec in the restored container" '[ "$($H --root $R exec c1 cat /count)" -gt "$n1" ]'
ok "pause the restored container" '$H --root $R pause c1 && [ "$(status c1)" = paused ] && still'
ok "resume it" '$H --root $R resume c1 && [ "$(status c1)" = running ] && advances'
ok "checkpoint the restored container again" '$H --root $R checkpoint --image-path $I/2 --work-path $I/w2 c1'
n2=$(count)
ok "restore the second checkpoint" '$H --root $R restore -d --image-path $I/2 --work-path $I/w2r --bundle $b c1 </dev/null >/dev/null 2>&1 && within 10 "[ \$(count) -gt $n2 ]"'
ok "kill and delete the restored container" '$H --root $R kill c1 KILL; within 10 "gone c1"; $H --root $R delete c1 && [ ! -d /sys/fs/cgroup/ckpt-lane/$N-c1 ] && still'
b=$(bundle c2)
$H --root $R run -d --bundle $b c2 </dev/null >/dev/null 2>&1; sleep 1
ok "checkpoint --leave-running" '$H --root $R checkpoint --leave-running --image-path $I/3 c2 && [ "$(status c2)" = running ] && advances'
$H --root $R delete -f c2; n3=$(count)
b=$(bundle c3)
ok "restore under a new id" '$H --root $R restore -d --image-path $I/3 --bundle $b c3 </dev/null >/dev/null 2>&1 && [ "$(status c3)" = running ] && advances'
echo "init of c3 $(pidof_ct c3): $(cat /proc/$(pidof_ct c3)/cgroup)"
ok "restored under the new id's cgroup" 'grep -qx "0::/ckpt-lane/$N-c3" /proc/$(pidof_ct c3)/cgroup'
$H --root $R delete -f c3
b=$(bundle c4)
$H --root $R run -d --bundle $b c4 </dev/null >/dev/null 2>&1; sleep 1
ok "checkpoint --pre-dump leaves it running" '$H --root $R checkpoint --pre-dump --image-path $I/pre c4 && [ "$(status c4)" = running ] && advances'
ok "checkpoint --parent-path ../pre" '$H --root $R checkpoint --parent-path ../pre --image-path $I/full c4 && still'
n4=$(count)
ok "restore the incremental checkpoint" '$H --root $R restore -d --image-path $I/full --bundle $b c4 </dev/null >/dev/null 2>&1 && within 10 "[ \$(count) -gt $n4 ]"'
$H --root $R delete -f c4
b=$(bundle c5)
$H --root $R run -d --bundle $b c5 </dev/null >/dev/null 2>&1; sleep 1; $H --root $R pause c5
ok "checkpoint a paused container" '$H --root $R checkpoint --image-path $I/5 --work-path $I/w5 c5 && still'
ok "restore it (running, or paused until resumed)" '$H --root $R restore -d --image-path $I/5 --bundle $b c5 </dev/null >/dev/null 2>&1 && { [ "$(status c5)" = running ] || $H --root $R resume c5; } && advances'
echo "restored paused checkpoint status: $(status c5)"
$H --root $R delete -f c5
# the issue's question: a container restored in the foreground (its restore still waiting on it),
# checkpointed a second time (reported only)
b=$(bundle c6)
$H --root $R run -d --bundle $b c6 </dev/null >/dev/null 2>&1; sleep 1
$H --root $R checkpoint --image-path $I/6 c6 >/dev/null 2>&1
($H --root $R restore --image-path $I/6 --work-path $I/w6r --bundle $b c6 </dev/null >/dev/null 2>&1 &)
for i in $(seq 40); do [ "$(status c6)" = running ] && break; sleep 0.5; done
info "$N: foreground restore, then a second checkpoint" '[ "$(status c6)" = running ] && $H --root $R checkpoint --image-path $I/6b --work-path $I/w6b c6 || { grep Error $I/w6r/restore.log $I/w6b/dump.log | tail -4; false; }'
sleep 1; $H --root $R delete -f c6 >/dev/null 2>&1
# a container with a terminal (console socket), a bind mount and masked paths
rm -rf /tmp/ckpt-data /tmp/tty-$N-*; mkdir -p /tmp/ckpt-data
bt=/tmp/b-$N-t1; rm -rf $bt; cp -a $BT $bt; sed -i "s|\"cgroupsPath\": *\"[^\"]*\"|\"cgroupsPath\": \"/ckpt-lane/$N-t1\"|" $bt/config.json
$RT /tmp/tty-$N-s1 /tmp/tty-$N-o1 & r1=$!; sleep 0.3
ok "tty: run -d --console-socket (output on the received master)" '$H --root $R run -d --console-socket /tmp/tty-$N-s1 --bundle $bt t1 </dev/null && within 10 "[ 0\$(ticks /tmp/tty-$N-o1) -gt 0 ]"'
ok "tty: checkpoint (the old master hangs up)" '$H --root $R checkpoint --image-path $I/t1 --work-path $I/wt1 t1 && within 10 "! kill -0 $r1"'
t1=$(ticks /tmp/tty-$N-o1)
$RT /tmp/tty-$N-s2 /tmp/tty-$N-o2 & r2=$!; sleep 0.3
ok "tty: restore -d --console-socket (a new socket)" '$H --root $R restore -d --console-socket /tmp/tty-$N-s2 --image-path $I/t1 --work-path $I/wt1r --bundle $bt t1 </dev/null && [ "$(status t1)" = running ]'
ok "tty: output continues on the new master" 'within 10 "[ 0\$(ticks /tmp/tty-$N-o2) -gt $t1 ]" && [ "$(head -1 /tmp/tty-$N-o2 | tr -dc 0-9)" -eq $((t1+1)) ]'
echo "tty: restored init's stdin $($H --root $R exec t1 readlink /proc/1/fd/0), new master's first line: $(head -1 /tmp/tty-$N-o2 | tr -d '\r'), last before: tick$t1"
ok "tty: the restored init's stdin is a pty, /dev/console mounted" '$H --root $R exec t1 sh -c "[ -c /proc/1/fd/0 ] && readlink /proc/1/fd/0 | grep -q ^/dev/pts/ && [ -c /dev/console ] && grep -q \" /dev/console \" /proc/self/mountinfo"'
ok "tty: bind mount and masked path restored" 'advances && [ -z "$($H --root $R exec t1 cat /proc/kcore)" ]'
ok "tty: checkpoint the restored container" '$H --root $R checkpoint --image-path $I/t2 --work-path $I/wt2 t1 && within 10 "! kill -0 $r2"'
t2=$(count)
(sleep 30 | script -qfec "$H --root $R restore --image-path $I/t2 --work-path $I/wt2r --bundle $bt t1" /tmp/tty-$N-o3 >/dev/null 2>&1; echo $? > /tmp/tty-$N-rc) &
for i in $(seq 40); do [ "$(status t1)" = running ] && break; sleep 0.5; done
ok "tty: foreground restore (under a terminal): output on our stdout" 'within 10 "[ 0\$(ticks /tmp/tty-$N-o3) -gt $t2 ]"'
$H --root $R kill t1 KILL; for i in $(seq 20); do [ -f /tmp/tty-$N-rc ] && break; sleep 0.5; done
echo "tty: foreground restore exit $(cat /tmp/tty-$N-rc 2>/dev/null); its output: $(head -c 200 /tmp/tty-$N-o3 | tr '\r\n' '  ')"
$H --root $R delete -f t1 >/dev/null 2>&1; kill $r1 $r2 2>/dev/null
ok "nothing left: no containers, no lane cgroups" '[ -z "$($H --root $R list -q)" ] && [ -z "$(ls /sys/fs/cgroup/ckpt-lane 2>/dev/null | grep "^$N-")" ]'
for f in $I/*/*.log; do grep -q "Error" $f && { echo "--- $f"; grep -E "Error" $f | tail -5; }; done
mkdir -p __LOGS__/$N && cp -r $I __LOGS__/$N/ 2>/dev/null; rm -f __LOGS__/$N/*/*/*.img __LOGS__/$N/*/*/*.img.gz 2>/dev/null
echo "$pass passed, $fail failed"
summary="$summary
checkpoint lane $N: $pass passed, $fail failed"
[ -n "$first" ] || { first=$N; rc0=$fail; FH=$H; }
[ -n "${PH:-}" ] || { [ "$N" = "$first" ] || PH=$H; }
TEST
done
cat >> "$T" <<'TEST'
if [ -n "${PH:-}" ]; then
  echo "==> cross restore (reported only)"
  rm -rf /tmp/ckpt-data; mkdir -p /tmp/ckpt-data; N=x; b=$(bundle cx)
  info "checkpoint by $first, restore by the peer" "$FH --root /tmp/rx1 run -d --bundle $b cx </dev/null >/dev/null 2>&1 && sleep 1 && $FH --root /tmp/rx1 checkpoint --image-path /tmp/x1 cx && n=\$(count) && $PH --root /tmp/rx2 restore -d --image-path /tmp/x1 --work-path /tmp/x1r --bundle $b cx </dev/null && sleep 1 && [ \$(count) -gt \$n ] || { grep Error /tmp/x1r/restore.log | tail -3; false; }"
  $PH --root /tmp/rx2 delete -f cx; $FH --root /tmp/rx1 delete -f cx
  info "checkpoint by the peer, restore by $first" "$PH --root /tmp/rx2 run -d --bundle $b cx </dev/null >/dev/null 2>&1 && sleep 1 && $PH --root /tmp/rx2 checkpoint --image-path /tmp/x2 cx && n=\$(count) && $FH --root /tmp/rx1 restore -d --image-path /tmp/x2 --work-path /tmp/x2r --bundle $b cx </dev/null && sleep 1 && [ \$(count) -gt \$n ] || { grep Error /tmp/x2r/restore.log | tail -3; false; }"
  $PH --root /tmp/rx2 delete -f cx; $FH --root /tmp/rx1 delete -f cx
fi
echo "==> podman container checkpoint/restore with --runtime $FH (reported only)"
P="podman --cgroup-manager cgroupfs --runtime $FH"
tar -C $B0/rootfs -cf /tmp/rootfs.tar . && podman import /tmp/rootfs.tar localhost/bb >/dev/null 2>&1
info "podman run -d" "$P run -d --name pc --network none localhost/bb sh -c 'i=0; while :; do i=\$((i+1)); echo \$i > /count; sleep 0.2; done'"
info "podman container checkpoint" "sleep 1; $P container checkpoint pc"
info "podman container restore" "$P container restore pc && sleep 1 && [ \$($P inspect -f '{{.State.Status}}' pc) = running ]"
$P rm -f pc >/dev/null 2>&1
echo "$summary"; [ "$rc0" = 0 ]
TEST
L=$PWD/target/ckpt-logs; rm -rf "$L"
sed -i "s|__BUNDLE__|$B|; s|__TTYBUNDLE__|$BT|; s|__RECVTTY__|$RT|; s|__LOGS__|$L|g" "$T"
hack/vm/run.sh --systemd "sh $T"
rc=$?
rm -rf "$B" "$BT" "$RT" "$T"
# CRIU's logs stay in target/ckpt-logs only when the lane failed.
[ "$rc" = 0 ] && rm -rf "$L"
exit $rc
