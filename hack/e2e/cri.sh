#!/bin/bash
# The Kubernetes CRI path: containerd's CRI plugin with a runtime handler whose BinaryName is
# husk (or any runtime: hack/e2e/cri.sh /usr/sbin/runc), driven by cri_client.py, a small
# Python gRPC client whose stubs are generated here from the CRI api.proto that Debian's
# containerd source package vendors.
source "$(dirname "$0")/lib.sh"
need_pkgs containerd podman busybox-static python3-venv xz-utils
CACHE=$REPO/target/e2e-cache
mkdir -p "$CACHE"
W=$(mktemp -d /tmp/husk-e2e-cri.XXXXXX)
ADDR=$W/containerd.sock
CGROUP_PARENT=/husk-e2e-cri
before_run_containerd=$(ls -d /run/containerd 2>/dev/null)

# CRI stubs: api.proto from the containerd source package, gogoproto options stripped.
if [ ! -f "$CACHE/stubs/api_pb2_grpc.py" ]; then
  src=$(mktemp -d)
  cat > "$src/deb-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  aptopts=(-o "Dir::Etc::sourcelist=$src/deb-src.sources" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0)
  (cd "$src" && apt-get update -q "${aptopts[@]}" >/dev/null 2>&1 &&
    apt-get source --download-only -q "${aptopts[@]}" containerd >/dev/null 2>&1) || { echo "apt-get source containerd failed"; exit 1; }
  tar -xJf "$src"/containerd_*.orig.tar.xz -C "$src" --wildcards '*/vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto'
  mkdir -p "$CACHE/proto" "$CACHE/stubs"
  grep -v -e gogoproto "$src"/containerd-*/vendor/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto > "$CACHE/proto/api.proto"
  rm -rf "$src"
fi
if [ ! -x "$CACHE/venv/bin/python" ]; then
  python3 -m venv "$CACHE/venv" && "$CACHE/venv/bin/pip" install -q grpcio grpcio-tools protobuf || { echo "pip install failed"; exit 1; }
fi
if [ ! -f "$CACHE/stubs/api_pb2_grpc.py" ]; then
  "$CACHE/venv/bin/python" -m grpc_tools.protoc -I "$CACHE/proto" --python_out "$CACHE/stubs" --grpc_python_out "$CACHE/stubs" "$CACHE/proto/api.proto" || exit 1
fi

mkdir -p "$W/cni" "$W/cnibin" "$W/logs"
cat > "$W/config.toml" <<CONF
version = 2
root = "$W/root"
state = "$W/state"
[grpc]
  address = "$ADDR"
[ttrpc]
  address = "$ADDR.ttrpc"
[debug]
  address = "$W/debug.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/husk-pause:1"
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "$W/cni"
    bin_dir = "$W/cnibin"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "husk"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.husk.options]
        BinaryName = "$RUNTIME"
CONF
containerd --config "$W/config.toml" >"$W/daemon.log" 2>&1 &
daemon=$!
C=(ctr --address "$ADDR" --namespace k8s.io)
cleanup() {
  for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task kill -s KILL "$t" >/dev/null 2>&1; done
  sleep 0.3
  for t in $("${C[@]}" task ls -q 2>/dev/null); do "${C[@]}" task delete -f "$t" >/dev/null 2>&1; done
  for c in $("${C[@]}" containers ls -q 2>/dev/null); do "${C[@]}" containers delete "$c" >/dev/null 2>&1; done
  kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null
  grep " $W" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  [ -n "${KEEP_E2E:-}" ] || rm -rf "$W"
  for d in $(find /sys/fs/cgroup/*/"${CGROUP_PARENT#/}" -depth -type d 2>/dev/null); do rmdir "$d" 2>/dev/null; done
  [ -n "$before_run_containerd" ] || rm -rf /run/containerd
  rm -f /etc/cni/net.d/cni.lock 2>/dev/null; rmdir /etc/cni/net.d /etc/cni 2>/dev/null
}
trap cleanup EXIT
wait_for "${C[@]}" version || { echo "containerd did not start"; tail "$W/daemon.log"; exit 1; }

# Images: the workload (busybox) and a pause-like sandbox image whose entrypoint sleeps.
busybox_rootfs "$W/rootfs"
P=(podman --root "$W/pstore" --runroot "$W/prun" --tmpdir "$W/ptmp")
tar -C "$W/rootfs" -c . | "${P[@]}" import - localhost/husk-e2e:1 >/dev/null 2>&1 &&
  tar -C "$W/rootfs" -c . | "${P[@]}" import --change 'ENTRYPOINT ["/bin/sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 1; done"]' - localhost/husk-pause:1 >/dev/null 2>&1 &&
  "${P[@]}" save --format oci-archive -o "$W/img.tar" localhost/husk-e2e:1 >/dev/null 2>&1 &&
  "${P[@]}" save --format oci-archive -o "$W/pause.tar" localhost/husk-pause:1 >/dev/null 2>&1 &&
  "${P[@]}" system reset -f >/dev/null 2>&1
"${C[@]}" images import "$W/img.tar" >/dev/null && "${C[@]}" images import "$W/pause.tar" >/dev/null || { echo "image import failed"; exit 1; }

"$CACHE/venv/bin/python" "$E2E_DIR/cri_client.py" "$ADDR" "$CACHE/stubs" localhost/husk-e2e:1 "$CGROUP_PARENT" "$W/logs"
