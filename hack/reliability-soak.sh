#!/bin/bash
# hack/reliability-soak.sh [ROUNDS]: longer reliability runs than CI's (docs/reliability.md).
# Each round: the reliability cases of runtime-tools-tests with a new random-kill seed and
# RELIAB_CONTAINERS containers (default 1000) cycled by 8 workers, then the acceptance check
# ../shared/acceptance/reliability.sh when it is there. Stops at the first failure.
# Runs as root against target/release/husk (RUNTIME=... for another binary).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
export RUNTIME=${RUNTIME:-$PWD/target/release/husk}
export RELIAB_CONTAINERS=${RELIAB_CONTAINERS:-1000}
[ -x "$RUNTIME" ] || cargo build --release
for r in $(seq 1 "$rounds"); do
  echo "== round $r/$rounds: seed $r, $RELIAB_CONTAINERS containers"
  RELIAB_SEED=$r /usr/bin/python3 -m pytest -q runtime-tools-tests/test_reliability.py
  if [ -x ../shared/acceptance/reliability.sh ]; then HUSK=$RUNTIME ../shared/acceptance/reliability.sh; fi
done
echo "soak: $rounds rounds passed"
