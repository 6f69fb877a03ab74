#!/bin/bash
# Extract linux.seccomp from the config.json podman renders for a container with its default
# profile (/usr/share/containers/seccomp.json, filtered by podman for this arch and the
# default capabilities) into runtime-tools-tests/data/seccomp-podman-default.json.
# Needs podman (apt-get install -y --no-install-recommends podman). Nothing is run.
set -euo pipefail
cd "$(dirname "$0")/.."
rootfs=$(mktemp -d)
id=$(podman create --network none --rootfs "$rootfs" /bin/true)
trap 'podman rm -f "$id" >/dev/null; rm -rf "$rootfs"' EXIT
cfg=$(podman inspect --format '{{.StaticDir}}' "$id")/config.json
# podman writes config.json on `init`; init fails harmlessly afterwards on hosts where crun
# cannot start the container, the file is there by then.
[ -f "$cfg" ] || podman init "$id" >/dev/null 2>&1 || true
python3 - "$cfg" runtime-tools-tests/data/seccomp-podman-default.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
json.dump(c["linux"]["seccomp"], open(sys.argv[2], "w"), indent=1)
open(sys.argv[2], "a").write("\n")
PY
echo "wrote runtime-tools-tests/data/seccomp-podman-default.json ($(podman --version))"
