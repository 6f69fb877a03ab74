#!/bin/bash
# podman through conmon with husk (or any runtime: hack/e2e/podman.sh /usr/sbin/runc).
# A private podman store, run root and containers.conf; a busybox image imported locally.
source "$(dirname "$0")/lib.sh"
need_pkgs podman conmon busybox-static crun
W=$(mktemp -d /tmp/husk-e2e-podman.XXXXXX)
export CONTAINERS_CONF=$W/containers.conf
name=$(basename "$RUNTIME")
cat > "$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
runtime_supports_json = ["crun", "runc", "$name"]
[network]
network_config_dir = "$W/net"
CONF
P=(podman --root "$W/store" --runroot "$W/run" --tmpdir "$W/tmp" --runtime "$RUNTIME" --cgroup-manager cgroupfs)
had_libpod_parent=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null)
had_state_root=$(ls -d /run/husk 2>/dev/null)
cleanup() {
  "${P[@]}" rm -af -t 0 >/dev/null 2>&1
  "${P[@]}" system reset -f >/dev/null 2>&1
  umount -R "$W/store" 2>/dev/null; umount -R "$W/run" 2>/dev/null
  rm -rf "$W"
  # podman's cgroupfs parent (libpod_parent) is ours to remove if it was not there before.
  # podman runs the runtime with its default --root (/run/husk): remove what the run left there
  # (the seccomp compile cache) if the directory is ours.
  [ -n "$had_state_root" ] || rm -rf /run/husk
  [ -n "$had_libpod_parent" ] || find /sys/fs/cgroup/*/libpod_parent -depth -type d -exec rmdir {} \; 2>/dev/null
}
trap cleanup EXIT
busybox_rootfs "$W/rootfs"
[ -x "$REPO/target/probes/seccomp-probe" ] || "$REPO/hack/build-probes.sh" >/dev/null || exit 1
cp "$REPO/target/probes/seccomp-probe" "$W/rootfs/bin/seccomp-probe"
tar -C "$W/rootfs" -c . | "${P[@]}" import - localhost/husk-e2e:1 >/dev/null || { echo "image import failed"; exit 1; }
R=("${P[@]}" run --network none)
IMG=localhost/husk-e2e:1

expect "run --rm prints output" "hello-podman" "${R[@]}" --rm $IMG echo hello-podman
expect_rc "exit code 3" 3 "${R[@]}" --rm $IMG sh -c 'exit 3'
expect_rc "missing command exits 127" 127 "${R[@]}" --rm $IMG no-such-command
expect "missing command shows the runtime's error" "executable file not found" "${R[@]}" --rm $IMG no-such-command
step "run -d" "${R[@]}" -d --name c1 --memory 64m --pids-limit 50 $IMG sh -c 'trap "exit 0" TERM; sleep 1000 & wait'
expect "ps lists it" "c1" "${P[@]}" ps
expect_rc "exec exit status" 5 "${P[@]}" exec c1 sh -c 'exit 5'
expect "exec -t has a tty" "/dev/pts/" script -qec "${P[*]} exec -t c1 tty" /dev/null
id=$("${P[@]}" inspect c1 --format '{{.Id}}')
cg() { find /sys/fs/cgroup/"$1" -type d -name "*$id*" | head -1; }
expect "--memory 64m in the host cgroup" "67108864" cat "$(cg memory)/memory.limit_in_bytes"
expect "--pids-limit 50 in the host cgroup" "50" cat "$(cg pids)/pids.max"
step "update --memory 32m" "${P[@]}" update --memory 32m c1
expect "update visible in the host cgroup" "33554432" cat "$(cg memory)/memory.limit_in_bytes"
step "pause" "${P[@]}" pause c1
expect "paused state" "paused" "${P[@]}" inspect c1 --format '{{.State.Status}}'
step "unpause" "${P[@]}" unpause c1
expect "running again" "running" "${P[@]}" inspect c1 --format '{{.State.Status}}'
step "stop honours SIGTERM" timeout 8 "${P[@]}" stop -t 5 c1
expect "stopped with status 0" "0" "${P[@]}" inspect c1 --format '{{.State.ExitCode}}'
step "rm" "${P[@]}" rm c1
step "run -d for kill" "${R[@]}" -d --name c2 $IMG sleep 1000
step "kill" "${P[@]}" kill c2
expect "killed container exits 137" "137" "${P[@]}" wait c2
step "rm killed" "${P[@]}" rm c2
expect_rc "run -t exit status" 7 script -qec "${R[*]} --rm -t $IMG sh -c 'exit 7'" /dev/null
expect "seccomp filter in force" "Seccomp:	2" "${R[@]}" --rm $IMG grep Seccomp: /proc/self/status
# podman's default profile allows personality(2) only for a few personas; any other gets the
# default action, ENOSYS
# (without the filter the call succeeds: it needs no capability).
expect "a denied syscall fails inside" "ENOSYS" "${R[@]}" --rm $IMG seccomp-probe personality 0x0200000
expect "an allowed syscall works" "errno=0" "${R[@]}" --rm $IMG seccomp-probe personality 0xffffffff
# Idmapped mounts (issue 18): -v SRC:DST:idmap with --uidmap, and --userns=auto. A host directory
# holding files of host uid 0 and 1000: through the idmapped mount they keep those owners inside,
# and what the container creates lands on disk unshifted.
V=$W/vol; mkdir -p "$V"; touch "$V/u0" "$V/u1000"; chown 1000:1000 "$V/u1000"
expect "--uidmap with -v :idmap shows host owners" "0 0 1000 1000" \
  "${R[@]}" --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 -v "$V:/data:idmap" $IMG \
  sh -c 'echo $(stat -c "%u %g" /data/u0 /data/u1000)'
step "--uidmap: container root writes through :idmap" \
  "${R[@]}" --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 -v "$V:/data:idmap" $IMG \
  sh -c 'touch /data/new && chown 1000:1000 /data/u0'
expect "files created through :idmap are unshifted on the host" "0:0 1000:1000" \
  sh -c "echo \$(stat -c %u:%g '$V/new' '$V/u0')"
# --userns=auto takes a range of the "containers" user's subordinate ids. The host's
# /etc/subuid, /etc/subgid and /etc/passwd are not changed: podman runs in a private mount
# namespace where copies holding a "containers" entry are bound over them.
for f in passwd subuid subgid; do cp "/etc/$f" "$W/$f" 2>/dev/null || : > "$W/$f"; done
echo "containers:x:999:999::/nonexistent:/usr/sbin/nologin" >> "$W/passwd"
echo "containers:300000:200000" >> "$W/subuid"; echo "containers:300000:200000" >> "$W/subgid"
auto() {
  W=$W unshare -m --propagation private sh -c '
    for f in passwd subuid subgid; do [ -e /etc/$f ] || exit 9; mount --bind "$W/$f" /etc/$f; done
    exec "$@"' auto "$@"
}
expect "--userns=auto maps the container into the containers range" "0 300000" \
  auto "${R[@]}" --rm --userns=auto -v "$V:/data:idmap" $IMG sh -c 'echo $(head -1 /proc/self/uid_map)'
expect "--userns=auto with -v :idmap shows host owners" "0 1000" \
  auto "${R[@]}" --rm --userns=auto -v "$V:/data:idmap" $IMG sh -c 'echo $(stat -c %u /data/u1000 /data/new | sort -n)'
summary
