#!/bin/bash
# hack/bench.sh: container start-up benchmarks, husk vs Debian's runc and crun (issue 8).
# Builds husk (release), runs hack/bench/bench.py (interleaved passes, pooled medians; see its
# doc comment) and writes the results table into docs/benchmarks.md between the BENCH markers.
# Env: PASSES (samples per runtime and scenario, default 30), TP_PASSES (throughput runs, 3),
#      ONLY=lifecycle,run,exec,list,throughput,create_rss,checks, HUSK/RUNC/CRUN binaries
#      (HUSK defaults to the shipped build, hack/build-static.sh: static, non-PIE),
#      EXTRA="name=/path ..." more runtimes (e.g. husk-dyn=target/release/husk), NO_DOC=1.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: must run as root" >&2; exit 1; }
husk=${HUSK:-}
if [ -z "$husk" ]; then husk=$(hack/build-static.sh); fi
args=(--runtime "husk=$husk" --runtime "runc=${RUNC:-/usr/sbin/runc}" --runtime "crun=${CRUN:-/usr/bin/crun}:v1")
for r in ${EXTRA:-}; do args+=(--runtime "$r"); done
out=$(mktemp -d /tmp/husk-bench-out.XXXXXX)
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 hack/bench/bench.py "${args[@]}" --md "$out/table.md" --json "$out/results.json"
[ -n "${NO_DOC:-}" ] && exit 0
/usr/bin/python3 hack/bench/report.py docs/benchmarks.md "$out/results.json" "$out/table.md"
cp "$out/results.json" docs/bench-results.json
echo "wrote docs/benchmarks.md"
