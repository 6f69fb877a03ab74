#!/bin/bash
# AppArmor and SELinux end to end (issue 20): boots the systemd guest (hack/vm/run.sh --systemd)
# ONCE with the LSM chosen and drives each runtime given there.
#   --apparmor (default): AppArmor as Debian's kernel enables it by default; a test profile
#     (everything allowed but writes under /tmp) is loaded with apparmor_parser. Per runtime: a
#     container with apparmorProfile runs under it (/proc/self/attr/current) and its write under
#     /tmp is denied while one elsewhere works; exec inherits it; exec --apparmor and a process
#     file's apparmorProfile apply it to an exec'd process; an unloaded profile fails clearly
#     (create and exec) and leaves nothing behind. Then podman (--runtime RT) with its default
#     AppArmor profile: the container runs under containers-default-*.
#   --selinux: "security=selinux selinux=1", Debian's default policy, permissive (the image is
#     not labelled). Per runtime: process.selinuxLabel is the container's /proc/self/attr/current,
#     linux.mountLabel is the context= of /dev, /dev/pts, /dev/shm and not of /proc or /sys, the
#     label of the mqueue root and of the init's session keyring, exec --process-label labels an exec'd process, exec inherits the
#     container's label. Enforcing mode is tried and reported (not counted).
# Prints PASS/FAIL per case and, per runtime, "N passed, M failed", then per runtime
# "lsm lane (LSM) NAME: N passed, M failed". Exits with the first runtime's result (the others
# are reported only). Usage: hack/vm/lsm-lane.sh [--apparmor|--selinux] [RUNTIME...]
# (default target/release/husk). Removes its bundle and script under target/ at exit.
set -uo pipefail
cd "$(dirname "$0")/../.."
lsm=apparmor
case "${1:-}" in --apparmor) shift ;; --selinux) lsm=selinux; shift ;; esac
[ $# -gt 0 ] || set -- target/release/husk
B=$PWD/target/vm-lsm-bundle
S=$PWD/target/vm-lsm-test.sh
T=$PWD/target/vm-lsm-rootfs.tar
trap 'rm -rf "$B" "$S" "$T"' EXIT
rm -rf "$B"
hack/mkbundle.sh "$B" sh >/dev/null || exit 1
tar -C "$B/rootfs" -cf "$T" . || exit 1
/usr/bin/python3 - "$B" <<'PY'
import copy, json, sys
b = sys.argv[1]
c = json.load(open(b + "/config.json"))
c["root"]["readonly"] = True
c["linux"].pop("cgroupsPath", None)
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]
c["mounts"] += [{"destination": d, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
                for d in ("/tmp", "/scratch")]
def write(name, args, **proc):
    x = copy.deepcopy(c)
    x["process"]["args"] = args
    x["process"].update(proc)
    json.dump(x, open("%s/%s.json" % (b, name), "w"))
    return x
report = ["sh", "-c", "echo label=$(cat /proc/self/attr/current); "
          "echo x > /tmp/f && echo tmp-write=ok || echo tmp-write=denied; "
          "echo y > /scratch/f && echo scratch-write=ok || echo scratch-write=denied; cat /proc/self/mountinfo"]
write("plain", ["sleep", "300"])
write("aa", report, apparmorProfile="husk-lsm-test")
write("aa-sleep", ["sleep", "300"], apparmorProfile="husk-lsm-test")
write("aa-missing", ["true"], apparmorProfile="husk-lsm-missing")
x = write("se", report, selinuxLabel="@PL@")
x["linux"]["mountLabel"] = "@ML@"
json.dump(x, open(b + "/se.json", "w"))
x = write("se-sleep", ["sleep", "300"], selinuxLabel="@PL@")
x["linux"]["mountLabel"] = "@ML@"
json.dump(x, open(b + "/se-sleep.json", "w"))
p = copy.deepcopy(c["process"])
p["args"] = ["cat", "/proc/self/attr/current"]
json.dump(dict(p, apparmorProfile="husk-lsm-test"), open(b + "/proc-aa.json", "w"))
json.dump(dict(p, apparmorProfile="husk-lsm-missing"), open(b + "/proc-aa-missing.json", "w"))
PY
cat > "$B/husk-lsm-test.profile" <<'PROFILE'
profile husk-lsm-test flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  mount,
  umount,
  pivot_root,
  deny /tmp/** w,
}
PROFILE

{
  echo "B=$B; TAR=$T; LSM=$lsm"
  cat <<'TEST'
summary=""
setup() { echo "==> lsm lane ($LSM) set-up: $*"; }
if [ "$LSM" = apparmor ]; then
  setup "apparmor enabled=$(cat /sys/module/apparmor/parameters/enabled 2>&1), $(ls /sys/kernel/security/apparmor >/dev/null 2>&1 && echo securityfs ok)"
  apparmor_parser -r "$B/husk-lsm-test.profile" && setup "husk-lsm-test loaded"
  podman import "$TAR" localhost/husk-lsm-busybox >/dev/null 2>&1 && setup "podman image imported"
else
  setup "selinux: $(cat /sys/fs/selinux/enforce 2>&1) (1 enforcing, 0 permissive), policy $(cat /sys/fs/selinux/policyvers 2>&1), our context $(cat /proc/self/attr/current 2>&1 | tr -d '\0')"
  PL=""; for l in system_u:system_r:container_t:s0 system_u:system_r:initrc_t:s0 system_u:system_r:kernel_t:s0; do
    if sh -c "printf %s '$l' > /proc/self/attr/exec" 2>/dev/null; then PL=$l; break; fi
  done
  mkdir -p /tmp/mlt; ML=""; for l in system_u:object_r:container_file_t:s0 system_u:object_r:tmp_t:s0; do
    if mount -t tmpfs -o "context=\"$l\"" none /tmp/mlt 2>/dev/null; then umount /tmp/mlt; ML=$l; break; fi
  done
  setup "process label ${PL:-none valid}, mount label ${ML:-none valid}"
fi
TEST
} > "$S"
for rt in "$@"; do
  rt=$(readlink -f "$rt")
  name=$("$rt" --version 2>/dev/null | head -1 | cut -d' ' -f1)
  case $rt in /usr/*) rt=/host-usr${rt#/usr} ;; esac
  printf 'H=%s\nN=%s\n' "$rt" "${name:-$(basename "$rt")}" >> "$S"
  cat >> "$S" <<'TEST'
echo "==> lsm lane ($LSM): $N ($H)"
pass=0; fail=0
ok() { if eval "$2" >/dev/null 2>&1; then pass=$((pass+1)); echo "PASS $1"; else fail=$((fail+1)); echo "FAIL $1"; fi; }
R=/tmp/root-$N; O=/tmp/out-$N; mkdir -p $O
rm -rf /tmp/b; cp -a "$B" /tmp/b
use() { sed -e "s/@PL@/${PL:-}/g" -e "s/@ML@/${ML:-}/g" /tmp/b/$1.json > /tmp/b/config.json; }
gone() { [ -z "$($H --root $R list -q 2>/dev/null)" ]; }
if [ "$LSM" = apparmor ]; then
  use aa
  ok "run with apparmorProfile" '$H --root $R run --bundle /tmp/b a1 > $O/a1 2>&1'
  ok "  /proc/self/attr/current is the profile" 'grep -qx "label=husk-lsm-test (enforce)" $O/a1'
  ok "  write under /tmp denied by the profile" 'grep -qx tmp-write=denied $O/a1'
  ok "  write elsewhere allowed" 'grep -qx scratch-write=ok $O/a1'
  echo "   container saw: $(grep -E '^(label|tmp-write|scratch-write)=' $O/a1 | tr '\n' ' ')"
  use plain
  ok "container without a profile" '$H --root $R run -d --bundle /tmp/b a2 && sleep 1'
  ok "  exec: unconfined" '$H --root $R exec a2 cat /proc/self/attr/current | grep -qx unconfined'
  ok "  exec --apparmor applies the profile" '$H --root $R exec --apparmor husk-lsm-test a2 cat /proc/self/attr/current | grep -qx "husk-lsm-test (enforce)"'
  ok "  exec --apparmor: /tmp write denied" '! $H --root $R exec --apparmor husk-lsm-test a2 sh -c "echo x > /tmp/g"'
  ok "  exec --process with apparmorProfile" '$H --root $R exec --process /tmp/b/proc-aa.json a2 | grep -qx "husk-lsm-test (enforce)"'
  ok "  exec --apparmor not loaded fails" '! $H --root $R exec --apparmor husk-lsm-missing a2 true 2> $O/e1'
  ok "  ... naming the profile" 'grep -q husk-lsm-missing $O/e1'
  ok "  exec --process with an unloaded profile fails" '! $H --root $R exec --process /tmp/b/proc-aa-missing.json a2'
  ok "  container still runs" '$H --root $R state a2 | grep -q running'
  $H --root $R delete -f a2 >/dev/null 2>&1
  use aa-sleep
  ok "container with the profile (detached)" '$H --root $R run -d --bundle /tmp/b a3 && sleep 1'
  ok "  its init under the profile (host view)" 'pid=$($H --root $R state a3 | sed -n "s/.*\"pid\": \([0-9]*\).*/\1/p"); grep -q "^husk-lsm-test (enforce)" /proc/$pid/attr/current'
  ok "  exec inherits the container's profile" '$H --root $R exec a3 cat /proc/self/attr/current | grep -qx "husk-lsm-test (enforce)"'
  $H --root $R delete -f a3 >/dev/null 2>&1
  use aa-missing
  ok "create with an unloaded profile fails" '! $H --root $R run --bundle /tmp/b a4 2> $O/e2'
  ok "  ... naming the profile" 'grep -q husk-lsm-missing $O/e2'
  ok "  nothing left behind" 'gone && [ -z "$(ls $R 2>/dev/null)" ] && [ -z "$(find /sys/fs/cgroup -name a4)" ]'
  ok "podman --runtime: default profile containers-default-*" 'podman --runtime $H run --rm --network none localhost/husk-lsm-busybox cat /proc/self/attr/current > $O/p1 2>&1 && grep -q "^containers-default-.* (enforce)" $O/p1'
  echo "   podman saw: $(head -3 $O/p1 | tr '\n' ' ')"
else
  use se
  ok "run with selinuxLabel and mountLabel" '$H --root $R run --bundle /tmp/b s1 > $O/s1 2>&1'
  ok "  /proc/self/attr/current is the label" 'grep -qx "label=$PL" $O/s1'
  ok "  /dev (tmpfs) context=mountLabel" 'grep " /dev rw" $O/s1 | grep -q "context=\"*$ML"'
  ok "  /dev/pts (devpts) context=mountLabel" 'grep " /dev/pts " $O/s1 | grep -q "context=\"*$ML"'
  ok "  /dev/shm (tmpfs) context=mountLabel" 'grep " /dev/shm " $O/s1 | grep -q "context=\"*$ML"'
  ok "  /proc and /sys unlabelled" '! grep -E " /(proc|sys) " $O/s1 | grep -q context='
  echo "   container saw: $(grep -m1 '^label=' $O/s1); /dev: $(grep -m1 ' /dev rw' $O/s1 | sed 's/.* - //')"
  use se-sleep
  ok "container with the labels (detached)" '$H --root $R run -d --bundle /tmp/b s2 && sleep 1'
  pid=$($H --root $R state s2 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
  ok "  init's label (host view)" 'tr -d "\0" < /proc/$pid/attr/current | grep -qx "$PL"'
  ok "  mqueue root labelled" 'ls -Zd /proc/$pid/root/dev/mqueue | grep -q "$ML"'
  # the init's session keyring (_ses.ID, viewable by root) and its label, with perl's syscall:
  # keyctl(KEYCTL_GET_SECURITY=17, serial, buf, len)
  ok "  session keyring labelled" 'k=$(grep -m1 " _ses.s2: " /proc/keys | cut -d" " -f1); [ -n "$k" ] && perl -e "my \$b = \"\\0\" x 256; my \$n = syscall(250, 17, hex(\$ARGV[0]), \$b, 256); print substr(\$b, 0, \$n - 1) if \$n > 0" $k | grep -qx "$PL"'
  ok "  exec inherits the container's label" '$H --root $R exec s2 cat /proc/self/attr/current | tr -d "\0" | grep -qx "$PL"'
  $H --root $R delete -f s2 >/dev/null 2>&1
  use plain
  ok "container without labels" '$H --root $R run -d --bundle /tmp/b s3 && sleep 1'
  ok "  exec --process-label labels the process" '$H --root $R exec --process-label "$PL" s3 cat /proc/self/attr/current | tr -d "\0" | grep -qx "$PL"'
  ok "  exec without: not the label" '! $H --root $R exec s3 cat /proc/self/attr/current | tr -d "\0" | grep -qx "$PL"'
  ok "  bad label refused" '! $H --root $R exec --process-label "no_such_u:no_r:no_t:s0" s3 true'
  $H --root $R delete -f s3 >/dev/null 2>&1
  # Enforcing mode: the guest's files are unlabelled, so this only shows what the policy allows.
  use se
  if setenforce 1 2>/dev/null; then
    timeout 60 $H --root $R run --bundle /tmp/b s4 > $O/s4 2>&1; r=$?
    setenforce 0
    echo "   enforcing (reported only): exit $r, $(grep -m1 '^label=' $O/s4 || tail -1 $O/s4)"
    $H --root $R delete -f s4 >/dev/null 2>&1
  else
    echo "   enforcing (reported only): setenforce 1 refused"
  fi
  ok "nothing left behind" 'gone'
fi
echo "$pass passed, $fail failed"
summary="$summary
lsm lane ($LSM) $N: $pass passed, $fail failed"
[ -n "${first:-}" ] || { first=$N; rc0=$fail; }
TEST
done
echo 'echo "$summary"; [ "${rc0:-1}" = 0 ]' >> "$S"
# no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can fail and panic.
GUEST_APPEND="no_timer_check"
[ "$lsm" = selinux ] && GUEST_APPEND="$GUEST_APPEND security=selinux selinux=1"
GUEST_APPEND="$GUEST_APPEND" hack/vm/run.sh --systemd "sh $S"
