#!/bin/bash
# hack/build-deb.sh [OUTDIR]: the Debian package husk_<version>_amd64.deb (default OUTDIR:
# target/deb), from the build we ship (hack/build-static.sh: static, so no Depends), with the man
# pages and the bash, zsh and fish completions generated from husk's clap definitions
# (hack/gen-docs), README and a DEP-5 copyright in /usr/share/doc/husk. Prints the .deb's path.
# Outside a git checkout set HUSK_COMMIT (the commit `husk --version` names) and, for
# reproducible dates, SOURCE_DATE_EPOCH.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-$repo/target/deb}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "build-deb: no version in Cargo.toml" >&2; exit 1; }
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
for t in dpkg-deb gzip objcopy; do command -v $t >/dev/null || { echo "build-deb: $t missing" >&2; exit 1; }; done

bin=$(hack/build-static.sh)
stage=$(mktemp -d "$repo/target/deb-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
gen=$stage/gen
cargo run -q --release -p husk-gen-docs -- "$gen" >/dev/null

root=$stage/root
doc=$root/usr/share/doc/husk
install -d -m 0755 "$root/usr/bin" "$root/usr/share/man/man8" "$doc" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
install -m 0755 "$bin" "$root/usr/bin/husk"
# The toolchain's .comment notes (lintian: binary-has-unneeded-section); no code changes.
objcopy --remove-section .comment "$root/usr/bin/husk"
# Static on purpose (hack/build-static.sh, docs/benchmarks.md): lintian's error for a static
# binary outside a *-static package is overridden, with the reason.
install -d -m 0755 "$root/usr/share/lintian/overrides"
printf '%s\n' "# Deliberately static: no dynamic loader or relocations at each container start (docs/benchmarks.md)." \
  "husk: statically-linked-binary [usr/bin/husk]" > "$root/usr/share/lintian/overrides/husk"
chmod 0644 "$root/usr/share/lintian/overrides/husk"
for p in "$gen"/man/*.8; do
  install -m 0644 "$p" "$root/usr/share/man/man8/"
  gzip -9n "$root/usr/share/man/man8/$(basename "$p")"
done
install -m 0644 "$gen/completions/husk.bash" "$root/usr/share/bash-completion/completions/husk"
install -m 0644 "$gen/completions/_husk" "$root/usr/share/zsh/vendor-completions/_husk"
install -m 0644 "$gen/completions/husk.fish" "$root/usr/share/fish/vendor_completions.d/husk.fish"
install -m 0644 README.md "$doc/README.md"

# debian/copyright in DEP-5 form. husk is Apache-2.0; the static binary also carries glibc
# (LGPL-2.1+) and the Rust crates of Cargo.lock (their licenses listed from cargo metadata).
year=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
crates=$(cargo metadata -q --format-version 1 --filter-platform x86_64-unknown-linux-gnu 2>/dev/null |
  python3 -c '
import json, sys
m = json.load(sys.stdin)
pk = {p["id"]: p for p in m["packages"]}
res = {n["id"]: n for n in m["resolve"]["nodes"]}
# Crates linked into husk: its normal (non-build, non-dev) dependency closure.
seen, todo = set(), [m["resolve"]["root"] or next(i for i in pk if pk[i]["name"] == "husk")]
while todo:
    i = todo.pop()
    if i in seen: continue
    seen.add(i)
    for d in res[i]["deps"]:
        if any(k["kind"] is None for k in d["dep_kinds"]): todo.append(d["pkg"])
for i in sorted(seen, key=lambda i: pk[i]["name"]):
    p = pk[i]
    if p["name"] != "husk": print(" %s %s: %s" % (p["name"], p["version"], p["license"] or "see the crate"))
' || true)
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: husk
Comment: /usr/bin/husk is statically linked: it includes GNU libc (LGPL-2.1+, from Debian's
 glibc source package) and these Rust crates, each under its own license as given:
${crates}

Files: *
Copyright: ${year} The husk authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy of
 the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 License for the specific language governing permissions and limitations
 under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can
 be found in "/usr/share/common-licenses/Apache-2.0".
EOF
chmod 0644 "$doc/copyright"
# A native package's changelog (lintian: no-changelog without it).
date_r=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
commit=$("$bin" --version | sed -n 's/^commit: //p')
printf 'husk (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- husk developers <husk@users.noreply.github.com>  %s\n' \
  "$version" "$commit" "$date_r" | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

install -d -m 0755 "$root/DEBIAN"
glibc=$(dpkg-query -W -f='${source:Package} (= ${Version})' libc6 2>/dev/null || true)
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
{
  echo "Package: husk"
  echo "Version: $version"
  echo "Architecture: amd64"
  echo "Maintainer: husk developers <husk@users.noreply.github.com>"
  echo "Installed-Size: $size"
  # Static: no shared library dependencies. uidmap's newuidmap/newgidmap map a rootless
  # container's ids; criu does checkpoint/restore; procps' ps serves `husk ps`.
  echo "Recommends: uidmap"
  echo "Suggests: criu, procps"
  [ -n "$glibc" ] && echo "Built-Using: $glibc"
  echo "Section: admin"
  echo "Priority: optional"
  echo "Description: OCI container runtime, a drop-in replacement for runc"
  echo " husk runs containers from OCI bundles (a config.json and a root filesystem)"
  echo " following the OCI runtime specification, with runc's command line, outputs"
  echo " and exit codes, so that Docker, containerd, podman and Kubernetes can use it"
  echo " in runc's place. It is a single statically linked binary written in Rust."
} > "$root/DEBIAN/control"
# Every file's md5sum, as dpkg-deb leaves it to the packager.
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb=$out/husk_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
