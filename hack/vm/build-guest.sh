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
  mkdir -p "$OUT/modules"
  for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev virtio/virtio_pci_modern_dev virtio/virtio_pci \
           ../fs/netfs/netfs ../fs/fscache/fscache ../net/9p/9pnet ../net/9p/9pnet_virtio ../fs/9p/9p; do
    f=$(find "$dl/x/lib/modules/$kver/kernel" -path "*/${m#../}.ko" | head -1)
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
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
  [ -f /modules/$m.ko ] && insmod /modules/$m.ko 2>/dev/null
done
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
