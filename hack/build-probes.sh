#!/bin/bash
# Build the statically linked test probes into target/probes/.
#   seccomp-probe: runtime-tools-tests/seccomp-probe/probe.c (see its README.md)
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/probes
mkdir -p "$out"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
python3 hack/gen-syscall-tables.py --c-header > "$gen/syscalls.gen.h"
gcc -static -O2 -Wall -Wextra -Werror -I"$gen" -o "$out/seccomp-probe" runtime-tools-tests/seccomp-probe/probe.c
echo "built $out/seccomp-probe"
