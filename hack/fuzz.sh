#!/bin/bash
# hack/fuzz.sh [SECONDS] [TARGET...]: fuzz husk's input handling for SECONDS (default 300) per
# target (config, seccomp; default both).
# - With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`), runs the libFuzzer
#   targets in fuzz/ on a copy of fuzz/corpus (new inputs land in fuzz/target/corpus-work/).
# - Otherwise (or with FUZZ_ENGINE=mutate), runs the deterministic mutation fuzzer of
#   tests/fuzz.rs for the same time (HUSK_FUZZ_SEED picks the sequence; a debug build, so
#   integer overflow panics too).
# A crash is written to fuzz/artifacts/<target>/ (libFuzzer) or target/fuzz-crashes/<target>/;
# fix it and copy the input into fuzz/regressions/<target>/, which every `cargo test` replays.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config seccomp)
engine=${FUZZ_ENGINE:-}
if [ -z "$engine" ]; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly' && cargo fuzz --version >/dev/null 2>&1; then
    engine=libfuzzer
  else
    engine=mutate
  fi
fi
echo "fuzz.sh: engine $engine, ${secs}s per target: ${targets[*]}"
if [ "$engine" = libfuzzer ]; then
  for t in "${targets[@]}"; do
    work=fuzz/target/corpus-work/$t
    mkdir -p "$work"
    cp -n fuzz/corpus/$t/* "$work"/ 2>/dev/null || true
    cp -n fuzz/regressions/$t/*.json "$work"/ 2>/dev/null || true
    (cd fuzz && cargo +nightly fuzz run "$t" "../$work" -- -max_total_time="$secs" -max_len=65536)
  done
else
  filter=()
  for t in "${targets[@]}"; do
    case $t in config) filter+=(fuzz_config_parsing_and_validation) ;; seccomp) filter+=(fuzz_seccomp_compiler) ;; esac
  done
  for f in "${filter[@]}"; do
    HUSK_FUZZ_SECS=$secs cargo test --test fuzz -- --exact "$f" --nocapture
  done
fi
