#!/bin/bash
# The Debian package as a user gets it: hack/build-deb.sh builds husk_<version>_amd64.deb, lintian
# checks it (errors fail, the rest is printed), `dpkg --root` installs it into a throwaway root
# (a directory with its own dpkg database: nothing on the host's dpkg or /usr changes), and in
# that root, chrooted, /usr/bin/husk runs a container from a busybox bundle (hack/mkbundle.sh),
# `man -l` renders every page and bash loads the completion (`complete -p husk`). Then dpkg
# removes the package and the root goes. The RUNTIME argument (lib.sh) is not used: the package
# builds its own static husk.
source "$(dirname "$0")/lib.sh"
need_pkgs lintian man-db busybox-static python3
W=$(mktemp -d /tmp/husk-e2e-deb.XXXXXX)
R=$W/root
CG=husk-e2e-deb.${W##*.}
cleanup() {
  [ -x "$R/usr/bin/husk" ] && in_root /usr/bin/husk --root /run/husk delete -f deb1 >/dev/null 2>&1
  rm -rf "$W"
  find /sys/fs/cgroup/*/"$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
}
trap cleanup EXIT
# in_root CMD...: CMD chrooted into the throwaway root, with /proc, /sys and /dev bound in a
# private mount namespace (the mounts go with it). The root is bound onto itself first: the
# chroot then starts at a mount, as a container's root propagation and pivot_root need.
in_root() {
  R=$R unshare -m --propagation private /bin/sh -c '
    mount --bind "$R" "$R" || exit 125
    for d in proc sys dev; do mkdir -p "$R/$d" && mount --rbind "/$d" "$R/$d" || exit 125; done
    exec chroot "$R" "$@"' in-root "$@"
}

deb=$("$REPO/hack/build-deb.sh" "$W/out") || { echo "FAIL hack/build-deb.sh"; echo "0 passed, 1 failed"; exit 1; }
step "build-deb.sh made husk_<version>_amd64.deb" test -f "$deb"
expect "file name" "husk_$(dpkg-deb -f "$deb" Version)_amd64.deb" basename "$deb"
step "no Depends (static binary)" test -z "$(dpkg-deb -f "$deb" Depends)"
expect "Recommends uidmap" "uidmap" dpkg-deb -f "$deb" Recommends
expect "Suggests criu" "criu" dpkg-deb -f "$deb" Suggests
lint=$(lintian --display-info --show-overrides --tag-display-limit 0 "$deb" 2>&1 | grep -v '^running with root privileges')
echo "lintian says:"; printf '%s\n' "${lint:-(nothing)}" | sed 's/^/     /'
step "lintian: no errors" test -z "$(grep '^E:' <<<"$lint")"

mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/run" "$R/tmp"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
step "dpkg --root ROOT -i" dpkg --root="$R" --force-not-root -i "$deb"
expect "dpkg -s: installed" "Status: install ok installed" dpkg --root="$R" -s husk
for f in /usr/bin/husk /usr/share/man/man8/husk.8.gz /usr/share/bash-completion/completions/husk \
  /usr/share/zsh/vendor-completions/_husk /usr/share/fish/vendor_completions.d/husk.fish \
  /usr/share/doc/husk/copyright /usr/share/doc/husk/README.md; do
  expect "dpkg -L lists $f" "$f" dpkg --root="$R" -L husk
done
expect "/usr/bin/husk --version names the commit" "commit: $(git -C "$REPO" rev-parse HEAD 2>/dev/null)" \
  in_root /usr/bin/husk --version

# A container through the installed /usr/bin/husk, inside the root.
CGROUPS_PATH=/$CG/deb1 "$REPO/hack/mkbundle.sh" "$R/bundle" sh -c 'echo deb-ok; cat /proc/1/comm; exit 3' >/dev/null
expect "/usr/bin/husk run: output" "deb-ok" in_root /usr/bin/husk --root /run/husk run -b /bundle deb1
expect_rc "/usr/bin/husk run: exit status" 3 in_root /usr/bin/husk --root /run/husk run -b /bundle deb1
left() { in_root /usr/bin/husk --root /run/husk list -q | grep -q .; }
step "/usr/bin/husk list: nothing left (run deletes)" eval '! left'

# Every command has its page, and man renders every page without a warning.
cmds=$(in_root /usr/bin/husk --help | sed -n '/^COMMANDS:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
step "husk --help lists commands" test -n "$cmds"
for c in $cmds; do step "husk-$c(8) installed" test -f "$R/usr/share/man/man8/husk-$c.8.gz"; done
renders() {
  local err
  err=$(MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null) && [ -z "$err" ] || { echo "$err"; return 1; }
  MANWIDTH=80 man -l "$1" | grep -q '^EXIT STATUS' && MANWIDTH=80 man -l "$1" | grep -q '^NAME'
}
for p in "$R"/usr/share/man/man8/*.8.gz; do step "man -l $(basename "$p")" renders "$p"; done
# Each command's page documents every option its --help shows.
has_options() {
  local c=$1 page o missing=
  page=$(MANWIDTH=200 man -l "$R/usr/share/man/man8/husk-$c.8.gz" 2>/dev/null)
  for o in $(in_root /usr/bin/husk "$c" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
    grep -qF -- "$o" <<<"$page" || missing="$missing $o"
  done
  [ -z "$missing" ] || { echo "husk-$c(8) lacks$missing"; return 1; }
}
for c in $cmds; do step "husk-$c(8) documents every option of husk $c --help" has_options "$c"; done

# bash: the completion loads, is registered for husk, and completes a command and an option.
comp=$R/usr/share/bash-completion/completions/husk
expect "bash: complete -p husk" "-F _husk husk" bash -c "source '$comp' && complete -p husk"
expect "bash: 'husk cre<TAB>' completes create" "create" \
  bash -c "source '$comp'; COMP_WORDS=(husk cre); COMP_CWORD=1; _husk husk cre husk; echo \"\${COMPREPLY[*]}\""
expect "bash: 'husk create --pid<TAB>' completes --pid-file" "--pid-file" \
  bash -c "source '$comp'; COMP_WORDS=(husk create --pid); COMP_CWORD=2; _husk husk --pid create; echo \"\${COMPREPLY[*]}\""
command -v zsh >/dev/null && step "zsh parses _husk" zsh -n "$R/usr/share/zsh/vendor-completions/_husk"
command -v fish >/dev/null && step "fish parses husk.fish" fish -n "$R/usr/share/fish/vendor_completions.d/husk.fish"

step "dpkg --root ROOT -r husk" dpkg --root="$R" --force-not-root -r husk
step "removed: /usr/bin/husk gone" test ! -e "$R/usr/bin/husk"
step "removed: man pages gone" test -z "$(ls "$R/usr/share/man/man8" 2>/dev/null)"
summary
