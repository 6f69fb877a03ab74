# The systemd guest image's file name under VM_DIR; bump the number when build-guest.sh's package
# list or setup changes, so that a cached older image is rebuilt rather than used.
SYSTEMD_IMG=systemd-2.img
