#!/bin/bash
# Docker Engine with husk (or any runtime: hack/e2e/docker.sh /usr/sbin/runc): Debian's docker.io
# 20.10 drives the runtime through its own containerd and containerd's runc v2 shim, the runtime
# registered with `dockerd --add-runtime NAME=PATH` (runc itself under the name runc-e2e: "runc" is
# reserved by dockerd). No systemd here: the script starts a dockerd of its own (own --data-root,
# --exec-root, unix socket, pid file and config file, cgroupfs driver under a cgroup parent of its
# own, --iptables=false --ip-forward=false --bridge=none: no host network setting is touched), which
# starts its own managed containerd under that exec root, and imports a busybox image built offline
# from Debian's busybox-static. Every container runs with `--network none`: with --bridge=none
# there is no default bridge network (and making one would mean host interfaces and iptables
# rules), and `--network host` would share the host's network namespace, which these checks do not
# need. At exit (even after a failure) the containers, dockerd and its containerd are stopped and
# every mount, cgroup and directory the run made is removed.
source "$(dirname "$0")/lib.sh"
need_pkgs docker.io busybox-static
name=$(basename "$RUNTIME")
[ "$name" = runc ] && name=runc-e2e
W=$(mktemp -d /tmp/husk-e2e-docker.XXXXXX)
X=/run/husk-e2e-docker.${W##*.}  # exec root (sockets: keep the path short)
SOCK=$X/docker.sock
CGP=husk-e2e-docker.${W##*.}
export DOCKER_CONFIG=$W/client
D=(/usr/bin/docker -H "unix://$SOCK")
had_etc_docker=$(ls -d /etc/docker 2>/dev/null)
had_key=$(ls /etc/docker/key.json 2>/dev/null)
dockerd_pid=
mkdir -p "$X" "$DOCKER_CONFIG"
echo '{}' > "$W/daemon.json"

start_dockerd() { # extra dockerd flags...
  /usr/sbin/dockerd --config-file "$W/daemon.json" --data-root "$W/data" --exec-root "$X" \
    --pidfile "$X/dockerd.pid" -H "unix://$SOCK" --iptables=false --ip-forward=false --ip-masq=false \
    --bridge=none --userland-proxy=false --exec-opt native.cgroupdriver=cgroupfs \
    --cgroup-parent "/$CGP" --storage-driver overlay2 --log-level warn \
    "$@" >>"$W/dockerd.log" 2>&1 &
  dockerd_pid=$!
  wait_for "${D[@]}" version || wait_for "${D[@]}" version || {
    echo "dockerd did not come up:"; tail -20 "$W/dockerd.log"; return 1; }
}
stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  kill -TERM "$dockerd_pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$dockerd_pid" 2>/dev/null
  wait "$dockerd_pid" 2>/dev/null
  dockerd_pid=
}
cleanup() {
  if [ -n "$dockerd_pid" ]; then
    "${D[@]}" ps -aq 2>/dev/null | xargs -r "${D[@]}" rm -f >/dev/null 2>&1
  fi
  stop_dockerd
  # dockerd's managed containerd stops with it; a containerd or shim left behind (dockerd killed)
  # is found by its arguments naming our exec root, and ended by pid.
  for p in $(pgrep -f -- "$X/"); do kill -KILL "$p" 2>/dev/null; done
  # Mounts under our roots (overlay2 layers, shm, netns, the shim's rootfs), deepest first.
  findmnt -rn -o TARGET | grep -E "^($W|$X)(/|$)" | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$W" "$X"
  find /sys/fs/cgroup/*/"$CGP" -depth -type d -exec rmdir {} \; 2>/dev/null
  # dockerd 20.10 writes its trust key to /etc/docker/key.json (docker.io ships /etc/docker).
  [ -n "$had_key" ] || rm -f /etc/docker/key.json
  [ -n "$had_etc_docker" ] || rmdir /etc/docker 2>/dev/null
}
trap cleanup EXIT

busybox_rootfs "$W/rootfs"
[ -x "$REPO/target/probes/seccomp-probe" ] || "$REPO/hack/build-probes.sh" >/dev/null || exit 1
cp "$REPO/target/probes/seccomp-probe" "$W/rootfs/bin/seccomp-probe"
start_dockerd --add-runtime "$name=$RUNTIME" || exit 1
tar -C "$W/rootfs" -c . | "${D[@]}" import - husk-e2e:1 >/dev/null || { echo "image import failed"; exit 1; }
IMG=husk-e2e:1
R=("${D[@]}" run --network none --runtime "$name")
# The runtime's own view: the runc v2 shim runs every runtime with --root
# EXECROOT/runtime-runc/moby (dockerd 20.10's root for them; moby is its containerd namespace).
rt_list() { "$RUNTIME" --root "$X/runtime-runc/moby" list -q; }
# listed ID: the runtime's list holds container ID (a non-empty one).
listed() { [ -n "$1" ] && rt_list | grep -qx "$1"; }
cg() { echo "/sys/fs/cgroup/$1/$CGP/$2"; }

expect "run --rm prints output" "hello-docker" "${R[@]}" --rm $IMG echo hello-docker
expect_rc "exit code 3" 3 "${R[@]}" --rm $IMG sh -c 'exit 3'
expect_rc "missing command exits 127" 127 "${R[@]}" --rm $IMG no-such-command
piped() { echo piped-in | "${R[@]}" --rm -i $IMG cat; }
expect "run -i: stdin reaches the container" "piped-in" piped
step "run -d" "${R[@]}" -d --name c1 --memory 64m --pids-limit 50 $IMG \
  sh -c 'trap "echo got-usr1" USR1; trap "exit 0" TERM; echo started; while :; do sleep 1 & wait $!; done'
id=$("${D[@]}" inspect -f '{{.Id}}' c1 2>/dev/null)
step "the runtime runs it (its list)" listed "$id"
expect "inspect: runtime" "$name" "${D[@]}" inspect -f '{{.HostConfig.Runtime}}' c1
expect "inspect: state running" "running true" "${D[@]}" inspect -f '{{.State.Status}} {{.State.Running}}' c1
expect "logs" "started" "${D[@]}" logs c1
expect "exec output" "in-c1" "${D[@]}" exec c1 echo in-c1
expect_rc "exec exit status" 5 "${D[@]}" exec c1 sh -c 'exit 5'
exec_piped() { echo exec-piped | "${D[@]}" exec -i c1 cat; }
expect "exec -i: stdin reaches the process" "exec-piped" exec_piped
expect "exec -t has a tty" "/dev/pts/" script -qec "${D[*]} exec -t c1 tty" /dev/null
expect "top lists the processes" "sleep" "${D[@]}" top c1
expect "--memory 64m in the host cgroup" "67108864" cat "$(cg memory "$id")/memory.limit_in_bytes"
expect "--pids-limit 50 in the host cgroup" "50" cat "$(cg pids "$id")/pids.max"
expect "stats --no-stream: memory limit" "64MiB" "${D[@]}" stats --no-stream --format '{{.MemUsage}}' c1
stats_pids() { "${D[@]}" stats --no-stream --format '{{.PIDs}}' c1 | grep -qE '^[1-9]'; }
step "stats --no-stream: pids counted" stats_pids
step "pause" "${D[@]}" pause c1
expect "paused state" "paused" "${D[@]}" inspect -f '{{.State.Status}}' c1
expect "frozen in the freezer cgroup" "FROZEN" cat "$(cg freezer "$id")/freezer.state"
step "unpause" "${D[@]}" unpause c1
expect "running again" "running" "${D[@]}" inspect -f '{{.State.Status}}' c1
step "kill -s USR1" "${D[@]}" kill -s USR1 c1
got_usr1() { "${D[@]}" logs c1 2>&1 | grep -q got-usr1; }
step "the signal reached the container" wait_for got_usr1
expect "still running after USR1" "running" "${D[@]}" inspect -f '{{.State.Status}}' c1
step "stop honours SIGTERM" timeout 20 "${D[@]}" stop -t 10 c1
expect "stopped with status 0" "exited 0" "${D[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' c1
step "rm" "${D[@]}" rm c1
step "rm: gone from the runtime" eval '[ -n "$id" ] && ! listed "$id"'
step "rm: cgroup removed" test ! -e "$(cg memory "$id")"
step "run -d for kill" "${R[@]}" -d --name c2 $IMG sleep 1000
step "kill" "${D[@]}" kill c2
expect "killed container exits 137" "137" "${D[@]}" wait c2
step "rm killed" "${D[@]}" rm c2
expect "run -t has a tty" "/dev/pts/0" script -qec "${R[*]} --rm -t $IMG tty" /dev/null
expect_rc "run -t exit status" 7 script -qec "${R[*]} --rm -t $IMG sh -c 'exit 7'" /dev/null
expect "--read-only: / is not writable" "Read-only file system" "${R[@]}" --rm --read-only $IMG touch /x
expect "--read-only --tmpfs: the tmpfs is writable" "tmpfs-ok" \
  "${R[@]}" --rm --read-only --tmpfs /scratch $IMG sh -c 'touch /scratch/y && grep -q " /scratch tmpfs " /proc/mounts && echo tmpfs-ok'
expect "--user 65534:65534" "uid=65534(nobody) gid=65534(nobody)" "${R[@]}" --rm --user 65534:65534 $IMG id
expect "--user 1000 (no passwd entry)" "uid=1000 gid=0" "${R[@]}" --rm --user 1000 $IMG id
expect "--cap-drop ALL --cap-add NET_RAW: CapEff" "CapEff:	0000000000002000" \
  "${R[@]}" --rm --cap-drop ALL --cap-add NET_RAW $IMG grep CapEff /proc/self/status
expect "--cap-drop CHOWN: chown fails" "Operation not permitted" \
  "${R[@]}" --rm --cap-drop CHOWN $IMG chown 65534 /tmp
expect "--cap-add SYS_ADMIN: in the bounding set" "CapBnd:	00000000a82425fb" \
  "${R[@]}" --rm --cap-add SYS_ADMIN $IMG grep CapBnd /proc/self/status
# Docker's default seccomp profile allows personality(2) for a few personas only; any other gets
# the profile's default action, EPERM (without a filter the call succeeds: it needs no capability).
expect "default seccomp profile in force" "Seccomp:	2" "${R[@]}" --rm $IMG grep Seccomp: /proc/self/status
expect "a blocked syscall fails (EPERM)" "EPERM" "${R[@]}" --rm $IMG seccomp-probe personality 0x0200000
expect "an allowed syscall works" "errno=0" "${R[@]}" --rm $IMG seccomp-probe personality 0xffffffff
expect "seccomp=unconfined: the same call works" "errno=0" \
  "${R[@]}" --rm --security-opt seccomp=unconfined $IMG seccomp-probe personality 0x0200000
expect "--init: pid 1 is docker-init" "docker-init" "${R[@]}" --rm --init $IMG cat /proc/1/comm
expect "--init: the command is its child" "ppid 1" "${R[@]}" --rm --init $IMG sh -c 'echo ppid $PPID'
step "--restart on-failure:2" "${R[@]}" -d --name r1 --restart on-failure:2 $IMG sh -c 'exit 1'
restarted() { [ "$("${D[@]}" inspect -f '{{.RestartCount}} {{.State.Status}}' r1)" = "2 exited" ]; }
step "restarted twice, then left exited" wait_for restarted
expect "restart: last exit code 1" "1" "${D[@]}" inspect -f '{{.State.ExitCode}}' r1
step "rm restarted" "${D[@]}" rm r1

# The runtime as the daemon's default: dockerd restarted with the runtime registered in
# daemon.json ("runtimes", as docs/integration.md shows) and --default-runtime NAME (dockerd
# validates the default against the config file's runtimes, not --add-runtime's), no --runtime.
stop_dockerd
printf '{"runtimes": {"%s": {"path": "%s"}}}\n' "$name" "$RUNTIME" > "$W/daemon.json"
step "dockerd --default-runtime $name" start_dockerd --default-runtime "$name"
expect "default runtime: run --rm" "hello-default" "${D[@]}" run --rm --network none $IMG echo hello-default
step "default runtime: run -d" "${D[@]}" run -d --network none --name d1 $IMG sleep 1000
expect "default runtime: inspect names it" "$name" "${D[@]}" inspect -f '{{.HostConfig.Runtime}}' d1
step "default runtime: the runtime runs it" listed "$("${D[@]}" inspect -f '{{.Id}}' d1 2>/dev/null)"
step "default runtime: rm -f" "${D[@]}" rm -f d1
# docker info runs the default runtime's --version and shows its commit line.
info_commit() {
  local want; want=$("$RUNTIME" --version | sed -n 's/^commit: //p')
  [ -n "$want" ] && [ "$("${D[@]}" info --format '{{.RuncCommit.ID}}')" = "$want" ]
}
step "docker info: the default runtime's commit" info_commit
summary
