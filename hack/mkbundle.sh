#!/bin/bash
# hack/mkbundle.sh DIR [ARGS...]: make a busybox-static OCI bundle in DIR (DIR/rootfs + DIR/config.json).
# The config is `runc spec`'s defaults, generated in Python (no runtime needed), with terminal false
# and process.args = ARGS (default: sh). Environment:
#   CGROUPS_PATH=/abs/path   sets linux.cgroupsPath (an absolute path of your own is best on this host)
#   CHECKER=/path/to/checker also copies the conformance suite's checker binary to /checker
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [ARGS...]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
dir=$1; shift
[ -x /bin/busybox ] || { echo "mkbundle: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
py=python3; [ -x /usr/bin/python3 ] && py=/usr/bin/python3
opts=()
[ -n "${CGROUPS_PATH:-}" ] && opts+=(--cgroups-path "$CGROUPS_PATH")
opts+=(--checker "${CHECKER:-}")
exec "$py" "$here/../runtime-tools-tests/rtt.py" bundle "$dir" "${opts[@]}" -- "$@"
