#!/bin/bash
# Build (and cache under target/vm/) a cgroup-v2-only test guest: Debian's generic kernel and a
# busybox initramfs that mounts cgroup2, shares the checkout (same path), the host's /usr
# (read-only, so host-built binaries and python3/pytest run) and a command directory over 9p,
# runs the command, writes its exit status, and powers off. See docs/cgroup-v2.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${VM_DIR:-$PWD/target/vm}
mkdir -p "$OUT"
need=()
for p in qemu-system-x86 busybox-static cpio; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -q >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; fi

if [ ! -f "$OUT/vmlinuz" ]; then
  kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  dl=$(mktemp -d); chown _apt "$dl" 2>/dev/null || true
  (cd "$dl" && apt-get download -q "$kpkg" >/dev/null)
  dpkg-deb -x "$dl"/*.deb "$dl/x"
  kver=$(ls "$dl/x/lib/modules")
  # kept for the systemd guest's module tree (CRIU's diag modules, nf_tables, overlay, ...)
  cp "$dl"/*.deb "$OUT/linux-image.deb"; echo "$kver" > "$OUT/kver"
  mkdir -p "$OUT/modules"
  for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev virtio/virtio_pci_modern_dev virtio/virtio_pci \
           ../fs/netfs/netfs ../fs/fscache/fscache ../net/9p/9pnet ../net/9p/9pnet_virtio ../fs/9p/9p \
           ../drivers/block/virtio_blk ../lib/crc16 ../fs/mbcache ../fs/jbd2/jbd2 ../crypto/crc32c_generic ../fs/ext4/ext4; do
    f=$(find "$dl/x/lib/modules/$kver/kernel" -path "*/${m#../}.ko" | head -1)
    [ -n "$f" ] || { echo "module $m not found in $kpkg"; exit 1; }
    [ -n "$f" ] && cp "$f" "$OUT/modules/"
  done
  cp "$dl/x/boot/vmlinuz-$kver" "$OUT/vmlinuz"
  rm -rf "$dl"
fi

# The initramfs: busybox, the modules, /init.
ir=$(mktemp -d)
mkdir -p "$ir"/{bin,modules,proc,sys,dev,newroot}
cp /bin/busybox "$ir/bin/busybox"
for a in sh mount umount mkdir insmod switch_root cp ln cat echo poweroff sleep mknod; do ln -s busybox "$ir/bin/$a"; done
cp "$OUT"/modules/*.ko "$ir/modules/"
cat > "$ir/init" <<'INIT'
#!/bin/sh
# Stage 1 (initramfs): modules, 9p shares, then switch_root into a tmpfs (pivot_root does not
# work on an initramfs root, so containers in the guest can pivot as usual).
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p \
         virtio_blk crc16 mbcache jbd2 crc32c_generic ext4; do
  [ -f /modules/$m.ko ] && insmod /modules/$m.ko 2>/dev/null
done
# The systemd guest: its root is the ext4 image on /dev/vda; systemd (PID 1) runs the command
# through husk-cmd.service.
if grep -q 'husk.systemd' /proc/cmdline; then
  mount -t ext4 /dev/vda /newroot || { echo "mounting /dev/vda failed"; poweroff -f; }
  exec switch_root /newroot /sbin/init
fi
mount -t tmpfs -o mode=755 root /newroot
cd /newroot
mkdir -p bin usr proc sys dev tmp run etc root cmd work var/tmp
cp /bin/busybox bin/busybox
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox bin/$a 2>/dev/null; done
ln -s usr/lib lib; ln -s usr/lib64 lib64; ln -s usr/sbin sbin
echo 'root:x:0:0:root:/root:/bin/sh' > etc/passwd; echo 'root:x:0:' > etc/group
o=trans=virtio,version=9p2000.L,msize=512000,cache=loose
mount -t 9p -o $o,ro usr /newroot/usr
mount -t 9p -o $o cmd /newroot/cmd
work=$(cat /newroot/cmd/workdir)
mkdir -p "/newroot$work"
mount -t 9p -o $o work "/newroot$work"
exec switch_root /newroot /bin/sh /cmd/stage2
INIT
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1 > "$OUT/initrd.gz")
rm -rf "$ir"
echo "guest: $OUT/vmlinuz $OUT/initrd.gz"

# The systemd guest's root image (only with --systemd: debootstrap takes minutes). Its name
# carries a version: bump SYSTEMD_IMG in hack/vm/run.sh too when the package list changes, so a
# cached older image is not used. Version 2 adds what the checkpoint, LSM and rootless-systemd
# lanes need: criu + iptables + the kernel's own module tree (CRIU's diag modules), AppArmor's
# parser, SELinux's default policy and tools, podman (with conmon), dbus-user-session and uidmap
# (a user's systemd manager for rootless --systemd-cgroup).
. "$(dirname "$0")/image-version.sh"
if [ "${1:-}" = "--systemd" ] && [ ! -f "$OUT/$SYSTEMD_IMG" ]; then
  for p in debootstrap e2fsprogs; do dpkg -s "$p" >/dev/null 2>&1 || apt-get install -y --no-install-recommends "$p" >/dev/null; done
  if [ ! -f "$OUT/linux-image.deb" ] || [ ! -f "$OUT/kver" ]; then
    echo "build-guest: the kernel package is not cached; rebuilding the kernel step" >&2
    rm -f "$OUT/vmlinuz"; exec "$0" "$@"
  fi
  mirror=$(sed -nE 's/^URIs: (http[^ ]*debian)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  R=$(mktemp -d /tmp/husk-vm-root.XXXXXX)
  trap 'umount "$R/proc" 2>/dev/null; rm -rf "$R"' EXIT
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps,kmod bookworm "$R" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
  mount -t proc proc "$R/proc"
  chroot "$R" apt-get install -y -q --no-install-recommends \
    criu iptables apparmor selinux-policy-default selinux-utils policycoreutils \
    podman conmon crun golang-github-containers-common catatonit fuse-overlayfs \
    dbus-user-session libpam-systemd uidmap iproute2 >/dev/null
  chroot "$R" apt-get clean
  umount "$R/proc"
  rm -f "$R/usr/sbin/policy-rc.d"
  # the kernel's modules (no sound/gpu/wireless), indexed for modprobe
  kver=$(cat "$OUT/kver")
  kx=$(mktemp -d); dpkg-deb -x "$OUT/linux-image.deb" "$kx"
  rm -rf "$kx/lib/modules/$kver/kernel/"{sound,drivers/gpu,drivers/net/wireless,drivers/media,drivers/infiniband}
  mkdir -p "$R/lib/modules"; cp -a "$kx/lib/modules/$kver" "$R/lib/modules/"
  rm -rf "$kx"
  chroot "$R" depmod -a "$kver"
  # SELinux stays off unless the kernel command line asks for it (run.sh GUEST_APPEND=...);
  # permissive then, so an unlabelled guest still boots.
  [ -f "$R/etc/selinux/config" ] && sed -i 's/^SELINUX=.*/SELINUX=permissive/' "$R/etc/selinux/config"
  : > "$R/etc/machine-id"
  echo husk-v2-systemd > "$R/etc/hostname"
  echo "/dev/vda / ext4 defaults 0 1" > "$R/etc/fstab"
  chroot "$R" systemctl mask getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer fstrim.timer systemd-timesyncd.service podman-auto-update.timer podman-restart.service \
    podman.socket selinux-autorelabel-mark.service >/dev/null 2>&1
  mkdir -p "$R/cmd"
  cat > "$R/etc/systemd/system/husk-cmd.service" <<'UNIT'
[Unit]
Description=husk test command
After=multi-user.target
[Service]
Type=simple
ExecStart=/bin/sh -c 'systemctl is-system-running --wait >/dev/null; mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 cmd /cmd; w=$(cat /cmd/workdir); mkdir -p "$w" /host-usr; mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 work "$w"; mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro usr /host-usr; cd "$w"; sh /cmd/command > /cmd/output 2>&1; echo $? > /cmd/status; sync; systemctl poweroff -ff'
[Install]
WantedBy=multi-user.target
UNIT
  chroot "$R" systemctl enable husk-cmd.service >/dev/null 2>&1
  mkfs.ext4 -q -d "$R" "$OUT/$SYSTEMD_IMG.tmp" 3G && mv "$OUT/$SYSTEMD_IMG.tmp" "$OUT/$SYSTEMD_IMG"
  rm -rf "$R"; trap - EXIT
  echo "systemd guest: $OUT/$SYSTEMD_IMG"
fi
