#!/bin/bash
# hack/quickstart.sh: on a fresh Debian 12 machine, as root: install busybox-static if missing, build
# husk (release), make a busybox bundle in a temp dir and run one container through
# create -> state -> start -> state -> delete, printing each step, the state JSON and the
# container's output. Everything it makes is removed at the end.
# RUNTIME=/path/to/runtime skips the build and drives that binary instead (e.g. /usr/sbin/runc).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "quickstart: must run as root (namespaces, cgroups)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n==> %s\n' "$*"; }

missing=()
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  apt-get update -q </dev/null
  apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
fi

if [ -n "${RUNTIME:-}" ]; then
  rt=$RUNTIME
else
  command -v cargo >/dev/null || { echo "quickstart: cargo not found; install Rust (https://rustup.rs) first" >&2; exit 1; }
  step "cargo build --release"
  cargo build --release
  rt=$repo/target/release/husk
fi

tmp=$(mktemp -d /tmp/husk-quickstart.XXXXXX)
chmod 755 "$tmp"
root=$tmp/root
bundle=$tmp/bundle
id=quickstart-$$
cleanup() {
  "$rt" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
  for d in /sys/fs/cgroup/*/husk-quickstart/"$id"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  for d in /sys/fs/cgroup/*/husk-quickstart; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

step "make a busybox bundle in $bundle"
CGROUPS_PATH=/husk-quickstart/$id hack/mkbundle.sh "$bundle" \
  sh -c 'echo "hello from a husk container: hostname $(hostname), pid $$, uid $(id -u)"; sleep 0.5'
echo "rootfs: $(ls "$bundle/rootfs" | tr '\n' ' ')"

# A detached create keeps the caller's stdio for the container: its stdout goes to a file.
step "$rt --root $root create --bundle $bundle --pid-file $tmp/pid $id"
"$rt" --root "$root" create --bundle "$bundle" --pid-file "$tmp/pid" "$id" </dev/null >"$tmp/out" 2>"$tmp/err" \
  || { echo "create failed:"; cat "$tmp/err"; exit 1; }
echo "pid file: $(cat "$tmp/pid")"

step "$rt --root $root state $id"
"$rt" --root "$root" state "$id"

step "$rt --root $root start $id"
"$rt" --root "$root" start "$id"

status() { "$rt" --root "$root" state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
for _ in $(seq 100); do [ "$(status)" = stopped ] && break; sleep 0.05; done

step "$rt --root $root state $id"
"$rt" --root "$root" state "$id"

step "$rt --root $root delete $id"
"$rt" --root "$root" delete "$id"
echo "state dir after delete: [$(ls "$root")]"

step "container output"
cat "$tmp/out"
[ -s "$tmp/err" ] && { echo "container stderr:"; cat "$tmp/err"; }
if ! grep -q "hello from a husk container" "$tmp/out"; then
  echo "quickstart: FAILED: the container did not print its greeting"
  exit 1
fi
step "quickstart ok"
