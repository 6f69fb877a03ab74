#!/bin/bash
# Rootless podman with husk (or any runtime: hack/e2e/podman-rootless.sh /usr/sbin/runc), every
# check made with the runtime under test AND with runc, run the same way, in the same step.
# Runs as root: it makes (once; it stays) the user husk-rl with /etc/subuid and /etc/subgid ranges,
# then runs podman as that user with a private store (native rootless overlay), run root, tmp dir
# and XDG_RUNTIME_DIR under one temporary directory, in a private mount namespace with its own
# /dev/null (as the conformance suite: a host /dev/null must never be at stake).
# --network none everywhere: /dev/net/tun is mode 0600 on this machine, so slirp4netns (rootless
# podman's default network) cannot work for a non-root user with any runtime.
if [ "${1:-}" != --inner ]; then
  source "$(dirname "$0")/lib.sh"
  need_pkgs podman conmon uidmap busybox-static runc
  U=husk-rl
  id "$U" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$U" || exit 1
  for f in /etc/subuid /etc/subgid; do
    grep -q "^$U:" $f || echo "$U:$(awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}' $f):65536" >> $f
  done
  W=$(mktemp -d /tmp/husk-e2e-podman-rl.XXXXXX)
  chmod 755 "$W"
  cp "$0" "$W/inner.sh"
  cp "$E2E_DIR/lib.sh" "$W/lib.sh"
  chmod 755 "$W/inner.sh"
  chown -R "$U:" "$W"
  rc=0
  unshare -m --propagation private /bin/bash -c '
    d=$(mktemp -d /tmp/husk-e2e-dev.XXXXXX)
    mount -t tmpfs -o size=16k,mode=755 husk-e2e-dev "$d"
    mknod -m 666 "$d/null" c 1 3
    mount --bind "$d/null" /dev/null
    runuser -u "$1" -- /bin/bash "$2/inner.sh" --inner "$3" "$2"
    rc=$?
    umount /dev/null; umount "$d"; rmdir "$d"
    exit $rc' x "$U" "$W" "$RUNTIME" || rc=$?
  # podman's rootless pause process (holds its user namespace) is ours: end it by its pid.
  for p in "$W"/*/tmp/pause.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
  rm -rf "$W"
  exit $rc
fi

# --- as the unprivileged user ----------------------------------------------------------------
RUNTIME=$2
W=$3
source "$(dirname "$0")/lib.sh" "$RUNTIME"
export HOME=$W/home XDG_CONFIG_HOME=$W/config XDG_RUNTIME_DIR=$W/xdg
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
export CONTAINERS_CONF=$W/containers.conf
cat > "$CONTAINERS_CONF" <<CONF
[containers]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
runtime_supports_json = ["crun", "runc", "$(basename "$RUNTIME")"]
[network]
network_config_dir = "$W/net"
CONF
# one podman per runtime (own store each: the two never share a container)
podcmd() { # podcmd NAME: the podman command line for runtime NAME (test or runc)
  local rt=$RUNTIME; [ "$1" = runc ] && rt=/usr/sbin/runc
  echo "podman --root $W/$1/store --runroot $W/$1/run --tmpdir $W/$1/tmp --storage-driver overlay" \
    "--runtime $rt --cgroup-manager cgroupfs"
}
pod() { # pod NAME ARGS...
  local n=$1; shift
  $(podcmd "$n") "$@"
}
cleanup() {
  for n in test runc; do pod $n rm -af -t 0 >/dev/null 2>&1; pod $n system reset -f >/dev/null 2>&1; done
}
trap cleanup EXIT
busybox_rootfs "$W/rootfs"
IMG=localhost/husk-e2e-rl:1
for n in test runc; do
  mkdir -p "$W/$n"
  tar -C "$W/rootfs" -c . | pod $n import - $IMG >/dev/null || { echo "image import failed ($n)"; exit 1; }
done

# both NAME WANT ARGS...: `podman ARGS` with each runtime: both outputs contain WANT.
both() {
  local name=$1 want=$2; shift 2
  local n
  for n in test runc; do
    expect "$name [$( [ $n = test ] && basename "$RUNTIME" || echo runc)]" "$want" pod $n "$@"
  done
}
both_rc() {
  local name=$1 want=$2; shift 2
  local n
  for n in test runc; do
    expect_rc "$name [$( [ $n = test ] && basename "$RUNTIME" || echo runc)]" "$want" pod $n "$@"
  done
}

R=(run --network none)
both "run --rm: root inside" "uid=0(root)" "${R[@]}" --rm $IMG id
both "run --rm: the user's id maps" "$(printf '%10d %10d %10d' 0 "$(id -u)" 1)" "${R[@]}" --rm $IMG cat /proc/self/uid_map
both_rc "run --rm: exit code" 3 "${R[@]}" --rm $IMG sh -c 'exit 3'
for n in test runc; do
  nm=$( [ $n = test ] && basename "$RUNTIME" || echo runc)
  step "run -d [$nm]" pod $n "${R[@]}" -d --name c1 $IMG sh -c 'trap "exit 0" TERM; sleep 1000 & wait'
  expect "exec in a detached container [$nm]" "exec-ok" pod $n exec c1 echo exec-ok
  expect_rc "exec exit status [$nm]" 5 pod $n exec c1 sh -c 'exit 5'
  pid=$(pod $n inspect c1 --format '{{.State.Pid}}')
  expect "the init runs as the user on the host [$nm]" "Uid:	$(id -u)" grep '^Uid:' /proc/$pid/status
  step "stop honours SIGTERM [$nm]" timeout 20 $(podcmd $n) stop -t 10 c1
  expect "stopped with status 0 [$nm]" "0" pod $n inspect c1 --format '{{.State.ExitCode}}'
  step "rm [$nm]" pod $n rm c1
done
for n in test runc; do
  nm=$( [ $n = test ] && basename "$RUNTIME" || echo runc)
  expect_rc "run -t: a tty, exit status [$nm]" 7 \
    script -qec "$(podcmd $n) ${R[*]} --rm -t $IMG sh -c 'tty | grep -q /dev/pts/ && exit 7'" /dev/null
done
both "--userns=keep-id: the user's uid inside" "uid=$(id -u)" "${R[@]}" --rm --userns=keep-id $IMG id
mkdir -p "$W/vol"
echo from-host > "$W/vol/in"
both "a volume: host file read" "from-host" "${R[@]}" --rm -v "$W/vol:/vol" $IMG cat /vol/in
both "a volume: written inside as root" "owner=0" "${R[@]}" --rm -v "$W/vol:/vol" $IMG \
  sh -c 'echo x > /vol/out && echo owner=$(stat -c %u /vol/out)'
expect "a volume: the file written inside belongs to the user" "$(id -u)" stat -c %u "$W/vol/out"
both "--read-only: root is read-only" "Read-only file system" "${R[@]}" --rm --read-only $IMG touch /x
both "--read-only: /tmp stays writable" "tmp-ok" "${R[@]}" --rm --read-only $IMG sh -c 'touch /tmp/x && echo tmp-ok'
summary
