#!/bin/bash
# Run a command in the cgroup-v2-only guest (built by build-guest.sh), in the checkout (shared at
# the same path), as root; print its output and exit with its status.
#   hack/vm/run.sh 'cat /sys/fs/cgroup/cgroup.controllers'
#   hack/vm/run.sh --systemd 'systemctl is-system-running'   (systemd as PID 1, from target/vm/$SYSTEMD_IMG)
# GUEST_APPEND adds kernel command-line words (e.g. "security=selinux selinux=1" for the LSM lane).
set -uo pipefail
systemd=""
if [ "${1:-}" = "--systemd" ]; then systemd=1; shift; fi
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT=${VM_DIR:-$REPO/target/vm}
. "$REPO/hack/vm/image-version.sh"
[ -f "$OUT/initrd.gz" ] || hack/vm/build-guest.sh >/dev/null || exit 1
if [ -n "$systemd" ] && [ ! -f "$OUT/$SYSTEMD_IMG" ]; then hack/vm/build-guest.sh --systemd >/dev/null || exit 1; fi
# no_timer_check: under TCG on a loaded host the IO-APIC timer check can fail and panic the guest.
# The plain guest gets a scratch disk (/dev/vda, QEMU's null block driver: reads return zeros,
# writes vanish) so that per-device io.max / io.weight limits have a device to name.
extra=(-blockdev driver=null-co,node-name=scratch,size=67108864 -device virtio-blk-pci,drive=scratch)
append="console=ttyS0 panic=-1 quiet cgroup_no_v1=all no_timer_check"
if [ -n "$systemd" ]; then
  extra=(-drive "file=$OUT/$SYSTEMD_IMG,if=virtio,format=raw,snapshot=on")
  append="$append husk.systemd systemd.unified_cgroup_hierarchy=1"
fi
if [ -n "${GUEST_APPEND:-}" ]; then append="$append $GUEST_APPEND"
fi
C=$(mktemp -d /tmp/husk-vm.XXXXXX)
trap 'rm -rf "$C"' EXIT
echo "$REPO" > "$C/workdir"
printf '%s\n' "$*" > "$C/command"
cat > "$C/stage2" <<'STAGE2'
# Stage 2 (tmpfs root): the usual mounts, cgroup2 only, then the command.
export PATH=/bin:/usr/bin:/usr/sbin:/sbin HOME=/root CI=${CI:-} LANG=C.UTF-8
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs shm /dev/shm
# /tmp, /run and /var/tmp are directories of the root tmpfs already; no tmpfs of their own
# over them, which would hide a checkout shared under /tmp.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ln -sf /proc/self/fd /dev/fd
hostname husk-v2-guest
cd "$(cat /cmd/workdir)"
sh /cmd/command > /cmd/output 2>&1
echo $? > /cmd/status
sync
poweroff -f
STAGE2
timeout "${VM_TIMEOUT:-1500}" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
  -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.gz" \
  -append "$append" "${extra[@]}" \
  -no-reboot -nodefaults -display none -nic none -serial "file:$C/console" \
  -virtfs local,path=/usr,mount_tag=usr,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$C,mount_tag=cmd,security_model=none,multidevs=remap" \
  -virtfs "local,path=$REPO,mount_tag=work,security_model=none,multidevs=remap" </dev/null
cat "$C/output" 2>/dev/null
if [ ! -f "$C/status" ]; then
  echo "guest did not report a status; console:"; tail -20 "$C/console"
  exit 1
fi
exit "$(cat "$C/status")"
