#!/bin/bash
# Time husk's seccomp compiler on podman's default profile (target: < 1 ms) and report the
# program size next to libseccomp's for the same profile.
#   hack/bench-seccomp.sh [PROFILE.json]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-runtime-tools-tests/data/seccomp-podman-default.json}
cargo build -q --release --example seccomp-compile
echo "host: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
target/release/examples/seccomp-compile "$profile" --iterations 5000
# A fresh process compiling once (what `husk create` pays: cold caches, first allocations).
for i in 1 2 3; do target/release/examples/seccomp-compile "$profile" --iterations 1 | sed -n 1p; done
