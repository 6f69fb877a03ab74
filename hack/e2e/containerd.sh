#!/bin/bash
# containerd (a private daemon) + ctr + containerd-shim-runc-v2 with husk as the runc binary
# (or any runtime: hack/e2e/containerd.sh /usr/sbin/runc).
source "$(dirname "$0")/lib.sh"
need_pkgs containerd podman busybox-static
W=$(mktemp -d /tmp/husk-e2e-ctd.XXXXXX)
ADDR=$W/containerd.sock
NS=husk-e2e
shim_before=$(ls /run/containerd/s 2>/dev/null)
cat > "$W/config.toml" <<CONF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ADDR"
[ttrpc]
  address = "$ADDR.ttrpc"
[debug]
  address = "$W/debug.sock"
CONF
containerd --config "$W/config.toml" >"$W/daemon.log" 2>&1 &
daemon=$!
C=(ctr --address "$ADDR" --namespace "$NS")
cleanup() {
  for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task kill -s KILL "$t" >/dev/null 2>&1; done
  sleep 0.3
  for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task delete -f "$t" >/dev/null 2>&1; done
  for c in $("${C[@]}" containers ls -q 2>/dev/null); do "${C[@]}" containers delete "$c" >/dev/null 2>&1; done
  "${C[@]}" images rm localhost/husk-e2e:1 >/dev/null 2>&1
  kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null
  grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for s in $(ls /run/containerd/s 2>/dev/null); do grep -qx "$s" <<<"$shim_before" || rm -f "/run/containerd/s/$s"; done
  rm -rf "$W" "/run/containerd/fifo/$NS" "/run/containerd/runc/$NS" "/run/containerd/io.containerd.runtime.v2.task/$NS"
  rmdir /sys/fs/cgroup/*/"$NS" /run/containerd/{s,fifo,runc} /run/containerd 2>/dev/null
}
trap cleanup EXIT
wait_for "${C[@]}" version || { echo "containerd did not start"; tail "$W/daemon.log"; exit 1; }

# The image: a busybox rootfs imported into a private podman store, saved as an OCI archive.
busybox_rootfs "$W/rootfs"
P=(podman --root "$W/pstore" --runroot "$W/prun" --tmpdir "$W/ptmp")
tar -C "$W/rootfs" -c . | "${P[@]}" import - localhost/husk-e2e:1 >/dev/null 2>&1 &&
  "${P[@]}" save --format oci-archive -o "$W/img.tar" localhost/husk-e2e:1 >/dev/null 2>&1 &&
  "${P[@]}" system reset -f >/dev/null 2>&1
"${C[@]}" images import "$W/img.tar" >/dev/null || { echo "image import failed"; exit 1; }
IMG=localhost/husk-e2e:1
RUN=("${C[@]}" run --runc-binary "$RUNTIME")

expect "run prints output" "hello-ctr" "${RUN[@]}" --rm $IMG t1 echo hello-ctr
expect_rc "exit code 4" 4 "${RUN[@]}" --rm $IMG t2 sh -c 'exit 4'
step "run -d with --memory-limit" "${RUN[@]}" -d --memory-limit 67108864 $IMG t3 sh -c 'trap "exit 0" TERM; sleep 1000 & wait'
expect_rc "task exec exit status" 6 "${C[@]}" task exec --exec-id e1 t3 sh -c 'exit 6'
expect "task exec --tty has a tty" "/dev/pts/" script -qec "${C[*]} task exec -t --exec-id e2 t3 sh -c 'tty; sleep 0.2'" /dev/null
mem=/sys/fs/cgroup/memory/$NS/t3
expect "--memory-limit in the host cgroup" "67108864" cat "$mem/memory.limit_in_bytes"
expect "task ps lists the init" "$("${C[@]}" task ls | awk '$1=="t3"{print $2}')" "${C[@]}" task ps t3
step "task pause" "${C[@]}" task pause t3
expect "paused" "PAUSED" "${C[@]}" task ls
step "task resume" "${C[@]}" task resume t3
expect "running again" "RUNNING" "${C[@]}" task ls
step "task kill (SIGTERM)" "${C[@]}" task kill t3
wait_for sh -c "${C[*]} task ls | grep -q 't3 .*STOPPED'"
expect "stopped" "STOPPED" "${C[@]}" task ls
step "task delete" "${C[@]}" task delete t3
step "container delete" "${C[@]}" containers delete t3
expect "the runtime's error reaches ctr" "executable file not found" "${RUN[@]}" --rm $IMG t4 no-such-command
"${C[@]}" containers delete t4 >/dev/null 2>&1
summary
