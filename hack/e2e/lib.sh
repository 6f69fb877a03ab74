# Shared helpers for the end-to-end scripts: a runtime path, PASS/FAIL steps, a closing
# "N passed, M failed" line, a busybox image built locally, cleanup on exit.
set -u
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
RUNTIME=${1:-${RUNTIME:-$REPO/target/release/husk}}
RUNTIME=$(readlink -f "$RUNTIME")
[ -x "$RUNTIME" ] || { echo "no runtime at $RUNTIME"; exit 1; }
passed=0
failed=0

# step NAME CMD...: run CMD, print PASS/FAIL NAME (with the output of a failure).
step() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; printf '%s\n' "$out" | tail -5 | sed 's/^/     /'
  fi
}

# expect NAME WANT CMD...: CMD's output (stdout+stderr, trimmed) must contain WANT.
expect() {
  local name=$1 want=$2; shift 2
  local out
  out=$("$@" 2>&1)
  if [[ $out == *"$want"* ]]; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name: want [$want], got:"; printf '%s\n' "$out" | tail -5 | sed 's/^/     /'
  fi
}

# expect_rc NAME RC CMD...: CMD must exit with RC.
expect_rc() {
  local name=$1 want=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" = "$want" ]; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name: exit $rc, want $want"; printf '%s\n' "$out" | tail -5 | sed 's/^/     /'
  fi
}

summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}

need_pkgs() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null || {
      echo "installing ${missing[*]} failed"; exit 1; }
  fi
}

# busybox_rootfs DIR: a busybox-static root filesystem (bin/ with applet links, passwd, group).
busybox_rootfs() {
  local d=$1
  mkdir -p "$d/bin" "$d/etc" "$d/tmp" "$d/root"
  cp /bin/busybox "$d/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$d/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$d/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$d/etc/group"
}

# wait_for CMD...: retry CMD for up to 10 s.
wait_for() {
  local i
  for i in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
