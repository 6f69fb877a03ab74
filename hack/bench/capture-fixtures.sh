#!/bin/bash
# hack/bench/capture-fixtures.sh [podman|cri ...]: capture the config.json real callers write, for
# hack/bench.sh's real-config scenarios (issue 23): podman 4.3's for `podman run --rm busybox true`
# and the one containerd's CRI plugin writes for a pod container (hack/e2e/cri.sh's workload).
# Each caller runs husk through a wrapper script that copies the bundle's config.json (create only)
# before calling husk; the copies land in hack/bench/fixtures/{podman,cri}.json as written (bench.sh
# rewrites only the host-specific paths: root.path, cgroupsPath, mount sources under the bundle).
# Private podman store, private containerd; everything is removed at exit (as hack/e2e does).
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
HUSK=${HUSK:-$REPO/target/release/husk}
[ -x "$HUSK" ] || { echo "capture: build husk first ($HUSK)"; exit 1; }
which=${*:-podman cri}
C=$(mktemp -d /tmp/husk-capture.XXXXXX)
trap 'rm -rf "$C"' EXIT
# The wrapper: every argv goes to husk unchanged; on create, the bundle's config.json is copied.
cat >"$C/husk" <<WRAP
#!/bin/sh
b=; create=; prev=
for a in "\$@"; do
  case "\$prev" in --bundle|-b) b=\$a ;; esac
  case "\$a" in --bundle=*) b=\${a#--bundle=} ;; create) create=1 ;; esac
  prev=\$a
done
[ -n "\$create" ] && [ -n "\$b" ] && cp "\$b/config.json" "$C/config-\$(date +%s%N).json"
exec "$HUSK" "\$@"
WRAP
chmod 755 "$C/husk"
pick() { # pick NAME PY-FILTER: the newest captured config matching the filter -> fixtures/NAME.json
  /usr/bin/python3 - "$C" "$REPO/hack/bench/fixtures/$1.json" "$2" <<'PY'
import glob, json, sys
c, out, flt = sys.argv[1:4]
for p in sorted(glob.glob(c + "/config-*.json"), reverse=True):
    cfg = json.load(open(p))
    if eval(flt, {"cfg": cfg}):
        with open(out, "w") as f:
            json.dump(cfg, f, indent=1, sort_keys=False)
            f.write("\n")
        print("captured", out)
        sys.exit(0)
sys.exit("no matching config.json captured")
PY
}
for w in $which; do
  rm -f "$C"/config-*.json
  case $w in
  podman)
    # hack/e2e/podman.sh's set-up, reduced to one `podman run --rm IMAGE true`.
    (
      source hack/e2e/lib.sh "$C/husk"
      need_pkgs podman conmon busybox-static
      W=$(mktemp -d /tmp/husk-capture-podman.XXXXXX)
      export CONTAINERS_CONF=$W/containers.conf
      printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "%s/events.log"\nruntime_supports_json = ["crun", "runc", "husk"]\n[network]\nnetwork_config_dir = "%s/net"\n' "$W" "$W" >"$CONTAINERS_CONF"
      P=(podman --root "$W/store" --runroot "$W/run" --tmpdir "$W/tmp" --runtime "$C/husk" --cgroup-manager cgroupfs)
      had_parent=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null)
      had_root=$(ls -d /run/husk 2>/dev/null)
      busybox_rootfs "$W/rootfs"
      tar -C "$W/rootfs" -c . | "${P[@]}" import - localhost/busybox:latest >/dev/null
      "${P[@]}" run --rm --network none localhost/busybox true
      rc=$?
      "${P[@]}" rm -af -t 0 >/dev/null 2>&1
      "${P[@]}" system reset -f >/dev/null 2>&1
      umount -R "$W/store" 2>/dev/null; umount -R "$W/run" 2>/dev/null
      rm -rf "$W"
      [ -n "$had_root" ] || rm -rf /run/husk
      [ -n "$had_parent" ] || find /sys/fs/cgroup/*/libpod_parent -depth -type d -exec rmdir {} \; 2>/dev/null
      exit $rc
    ) || { echo "capture: podman run failed"; exit 1; }
    pick podman 'cfg["process"]["args"] == ["true"]'
    ;;
  cri)
    # hack/e2e/cri.sh itself, with the wrapper as the runtime handler's BinaryName.
    hack/e2e/cri.sh "$C/husk" >"$C/cri.log" 2>&1 || { tail -20 "$C/cri.log"; echo "capture: cri.sh failed"; exit 1; }
    pick cri 'cfg.get("annotations", {}).get("io.kubernetes.cri.container-type") == "container" and cfg["process"]["args"][:2] == ["sh", "-c"] and "sleep" in cfg["process"]["args"][2]'
    ;;
  *) echo "capture: unknown caller $w"; exit 1 ;;
  esac
done
