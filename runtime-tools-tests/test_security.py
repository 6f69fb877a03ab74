"""The `security` group: every known runtime-escape class mounted for real (issue 9).

Each case attacks only things it creates itself: a temp copy of the runtime binary, temp dirs and
files standing for "host" files. Each says which line of defence it covers; docs/security.md maps
them to husk's code and records which anchors resist. Run just this group with
`pytest runtime-tools-tests/test_security.py` or `-m security`.
"""
import ctypes
import hashlib
import json
import os
import shutil
import stat
import subprocess
import threading
import time

import pytest

import rtt

pytestmark = pytest.mark.security

VICTIM = "rtt-victim-runtime"
USERNS_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def mounted_at(path):
    """Is anything mounted at (or below) path in our mount namespace?"""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == path or mp.startswith(path + "/"):
                return True
    return False


def victim_runtime(env, monkeypatch):
    """A temp copy of the runtime under test, used as the runtime for the test (never the real
    binary): an attack that overwrites it shows up as a changed checksum."""
    d = env.tmpdir()
    victim = os.path.join(d, VICTIM)
    shutil.copy2(rtt.RUNTIME, victim)
    os.chmod(victim, 0o755)
    monkeypatch.setattr(rtt, "RUNTIME", victim)
    return victim, md5(victim)


def grab_exe_result(c):
    open(os.path.join(c.rootfs, "stop"), "w").close()
    rtt.reap_children()
    c.wait_stopped(timeout=20)
    lines = [l for l in c.output().splitlines() if l.startswith("{")]
    assert lines, "attacker printed nothing: %r %r" % (c.output(), c.errors())
    return json.loads(lines[-1])


def attacker(env, caps=None):
    """A container whose init is the CVE-2019-5736 attacker: it opens /proc/PID/exe of every
    runtime process it can see and writes through it once the runtime is gone."""
    a = env.container(["/checker", "grab-exe", "/stop", VICTIM])
    a.config["root"]["readonly"] = False
    if caps:
        for k in ("bounding", "effective", "permitted"):
            a.config["process"]["capabilities"][k] += caps
    a.create()
    a.start()
    return a


def execs_under_attack(env, monkeypatch, caps=None):
    """15 execs into an attacker container (with `caps` added) run by a copy of the runtime;
    asserts the copy is unchanged and returns the attacker's report."""
    victim, before = victim_runtime(env, monkeypatch)
    a = attacker(env, caps)
    for _ in range(15):
        p = env.rt("exec", a.id, "/bin/true")
        assert p.returncode == 0, p.stderr
    time.sleep(0.3)
    r = grab_exe_result(a)
    assert md5(victim) == before, "runtime binary overwritten: %s" % r
    return r


# -- 1. host binary overwrite through /proc/PID/exe (CVE-2019-5736) ----------------------------

def test_exe_overwrite_during_exec(env, monkeypatch):
    """Defence: the exec'd process is non-dumpable while the runtime's image runs in the
    container's pid namespace (husk: src/launch/exec.rs run()), so /proc/PID/exe cannot be
    opened by container processes without CAP_SYS_PTRACE."""
    r = execs_under_attack(env, monkeypatch)
    assert not r["written"] and not r["grabbed"], r


def test_exe_overwrite_during_exec_cap_sys_ptrace(env, monkeypatch):
    """A container with CAP_SYS_PTRACE (in the host user namespace) passes the kernel's dumpable
    check, so non-dumpable is not enough. Defence: the runtime code that runs in such a
    container's pid namespace executes from a read-only mount of the binary (husk:
    src/sealed.rs), so the binary it can reach through /proc/PID/exe cannot be written."""
    r = execs_under_attack(env, monkeypatch, caps=["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"])
    assert not r["written"], r


def test_exe_overwrite_during_create_shared_pid_ns(env, monkeypatch):
    """A container that joins another's pid namespace: its init runs the runtime's code where
    the other container's processes can see it. Defence: the init is non-dumpable from its
    first step (husk: src/launch/child.rs run(), step 1)."""
    victim, before = victim_runtime(env, monkeypatch)
    a = attacker(env)
    for _ in range(8):
        b = env.container(["/bin/true"])
        for ns in b.config["linux"]["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = "/proc/%d/ns/pid" % a.pid
        b.create()
        b.delete(force=True)
        rtt.reap_children()
    time.sleep(0.3)
    r = grab_exe_result(a)
    assert md5(victim) == before, "runtime binary overwritten: %s" % r
    assert not r["written"] and not r["grabbed"], r


# -- 2. leaked fds, process.cwd through /proc/self/fd (CVE-2024-21626) ---------------------------

def _fds(report):
    return sorted(int(f) for f in report["fds"]) if isinstance(report["fds"], dict) \
        else sorted(int(f["fd"]) if isinstance(f, dict) else int(f) for f in report["fds"])


def test_no_runtime_fd_reaches_init(env, ct):
    """Defence: every fd >= 3 + preserved is close-on-exec before execve (husk:
    src/launch/process.rs finish() step b). Caller fds (a host directory, a host cgroup dir)
    that are not preserved must not leak either."""
    host = env.tmpdir()
    d1 = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
    d2 = os.open("/sys/fs/cgroup", os.O_RDONLY | os.O_DIRECTORY)
    try:
        ct.config["process"]["args"] = ["/checker", "report"]
        ct.save()
        with open(ct.out_path, "ab") as out, open(ct.err_path, "ab") as err:
            p = subprocess.run([rtt.RUNTIME, "--root", env.root, "create", "--bundle", ct.bundle,
                                ct.id], stdout=out, stderr=err, pass_fds=(d1, d2),
                               stdin=subprocess.DEVNULL, timeout=rtt.TIMEOUT)
        assert p.returncode == 0, ct.errors()
        ct.record_pid()
        ct.start()
        ct.wait_stopped()
    finally:
        os.close(d1)
        os.close(d2)
    r = json.loads([l for l in ct.output().splitlines() if l.startswith("{")][-1])
    assert _fds(r) == [0, 1, 2], r["fds"]


def test_no_runtime_fd_reaches_exec(env):
    """Defence: the same close-on-exec sweep on the exec path (husk: src/launch/exec.rs run()
    -> process.rs finish()); the exec process holds namespace fds and the sync socket."""
    c = env.container(["/checker", "sleep"])
    c.create()
    c.start()
    p = env.rt("exec", c.id, "/checker", "report")
    assert p.returncode == 0, p.stderr
    r = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
    assert _fds(r) == [0, 1, 2], r["fds"]


def _cwd_escaped(report):
    cwd = report["cwd"]
    return not isinstance(cwd, str) or not cwd.startswith("/") or "unreachable" in cwd


@pytest.mark.parametrize("fd", [3, 4, 5, 6, 7, 8, 9, 10])
def test_cwd_through_leaked_fd(env, fd):
    """process.cwd = /proc/self/fd/N naming a runtime fd (CVE-2024-21626). Defence: cwd is
    created/resolved inside the rootfs with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS before
    pivot_root (husk: src/rootfs/mod.rs apply(), resolve.rs) and no directory fd of the runtime
    is open at chdir time. Either create fails or the cwd is inside the container."""
    c = env.container()
    c.config["process"]["cwd"] = "/proc/self/fd/%d" % fd
    c.config["process"]["args"] = ["/checker", "report"]
    p = c.create(check=False)
    if p.returncode != 0:
        return
    c.start()
    c.wait_stopped()
    lines = [l for l in c.output().splitlines() if l.startswith("{")]
    if not lines:  # the process failed to start: fine, nothing escaped
        return
    r = json.loads(lines[-1])
    assert not _cwd_escaped(r), r["cwd"]


@pytest.mark.parametrize("fd", [3, 4, 5, 6, 7, 8, 9, 10])
def test_exec_cwd_through_leaked_fd(env, fd):
    """`exec --cwd /proc/self/fd/N`: the exec path chdirs after joining the container's mount
    namespace; no runtime dir fd may be reachable then (husk: src/launch/exec.rs; process.rs
    finish() step e)."""
    c = env.container(["/checker", "sleep"])
    c.create()
    c.start()
    p = env.rt("exec", "--cwd", "/proc/self/fd/%d" % fd, c.id, "/checker", "report")
    if p.returncode != 0:
        return
    r = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
    assert not _cwd_escaped(r), r["cwd"]


# -- 3. symlinks in the rootfs (CVE-2021-30465, CVE-2023-27561) -------------------------------

@pytest.mark.parametrize("dest,kind", [
    ("/evil", "tmpfs"), ("/evil", "bind"), ("/proc", "proc"), ("/sys", "sysfs"),
    ("/dev", "tmpfs"), ("/evil", "tmpfs-relative"),
])
def test_symlinked_mount_destination(env, dest, kind):
    """A mount destination that is a symlink out of the rootfs. Defence: destinations are
    opened with openat2(RESOLVE_IN_ROOT) and mounted on /proc/self/fd/N (husk:
    src/rootfs/resolve.rs ensure_in_root, mod.rs mount_one)."""
    host = env.tmpdir()
    open(os.path.join(host, "host-file"), "w").close()
    c = env.container()
    link = os.path.join(c.rootfs, dest.lstrip("/"))
    if os.path.isdir(link) and not os.path.islink(link):
        os.rmdir(link)
    if kind == "tmpfs-relative":
        os.symlink("../../../../../../../../.." + host, link)
    else:
        os.symlink(host, link)
    ms = c.config["mounts"]
    if dest == "/evil":
        # below the link: a missing component created outside the root shows on the host
        src = env.tmpdir()
        ms.append({"destination": dest + "/sub/dir", "type": "bind" if kind == "bind" else "tmpfs",
                   "source": src if kind == "bind" else "tmpfs",
                   "options": ["rbind"] if kind == "bind" else ["nosuid"]})
    if dest == "/dev":  # keep only /dev itself, so nothing else depends on it
        c.config["mounts"] = [m for m in ms if not m["destination"].startswith("/dev/")]
    c.config["process"]["args"] = ["/bin/sleep", "1"]
    p = c.create(check=False)
    try:
        assert not mounted_at(host), "%s mounted on the host dir %s" % (kind, host)
    finally:
        c.delete(force=True, check=False)
    assert sorted(os.listdir(host)) == ["host-file"], "runtime wrote into the host dir"
    del p


def test_symlinked_masked_and_readonly_paths(env, ct):
    """maskedPaths/readonlyPaths entries that are symlinks out of the rootfs. Defence: opened
    inside the root with O_NOFOLLOW on the last component (husk: src/rootfs/mod.rs mask_path,
    readonly_path)."""
    host_dir = env.tmpdir()
    host_file = os.path.join(host_dir, "secret")
    with open(host_file, "w") as f:
        f.write("host secret\n")
    os.makedirs(os.path.join(ct.rootfs, "etc"), exist_ok=True)
    os.symlink(host_file, os.path.join(ct.rootfs, "etc", "masked"))
    os.symlink(host_dir, os.path.join(ct.rootfs, "etc", "rodir"))
    ct.config["linux"]["maskedPaths"] += ["/etc/masked", "/etc/rodir"]
    ct.config["linux"]["readonlyPaths"] += ["/etc/rodir", "/etc/masked"]
    ct.config["process"]["args"] = ["/bin/sleep", "1"]
    ct.create(check=False)
    try:
        assert not mounted_at(host_dir), "a mask or read-only bind landed on the host"
    finally:
        ct.delete(force=True, check=False)
    assert open(host_file).read() == "host secret\n"


def test_symlinked_device_path(env, ct):
    """linux.devices under a /dev that comes from the rootfs (no /dev mount), where /dev/sub is
    a symlink to a host dir. Defence: the parent is resolved inside the root and mknod uses the
    opened dir fd (husk: src/rootfs/mod.rs create_device)."""
    host = env.tmpdir()
    ct.config["mounts"] = [m for m in ct.config["mounts"] if not m["destination"].startswith("/dev")]
    os.symlink(host, os.path.join(ct.rootfs, "dev", "sub"))
    os.symlink(os.path.join(host, "null2"), os.path.join(ct.rootfs, "dev", "null2"))
    ct.config["linux"]["devices"] = [
        {"path": "/dev/sub/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
        {"path": "/dev/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666},
    ]
    ct.config["process"]["args"] = ["/bin/true"]
    ct.create(check=False)
    ct.delete(force=True, check=False)
    assert os.listdir(host) == [], "device node created in the host dir: %s" % os.listdir(host)


def test_symlink_swap_race(env):
    """A directory and a symlink to a host dir swapped in a loop (renameat2 RENAME_EXCHANGE)
    while containers with a mount on that path are created (CVE-2021-30465). Defence: the
    destination is opened once, confined to the root, and mounted through its fd (husk:
    src/rootfs/resolve.rs, mod.rs mount_one)."""
    host = env.tmpdir()
    base = env.container()
    libc = ctypes.CDLL(None, use_errno=True)
    RENAME_EXCHANGE = 2
    stop = threading.Event()
    swaps = [0]
    cs = []
    for _ in range(12):
        c = env.container(["/bin/true"])
        os.makedirs(os.path.join(c.rootfs, "race"))
        os.symlink(host, os.path.join(c.rootfs, "race-link"))
        # the runtime creates /race/sub: outside the root it would show in the host dir
        c.config["mounts"].append({"destination": "/race/sub", "type": "tmpfs",
                                   "source": "tmpfs", "options": ["nosuid"]})
        c.save()
        cs.append(c)

    def swapper():
        while not stop.is_set():
            for c in cs:
                a = os.path.join(c.rootfs, "race").encode()
                b = os.path.join(c.rootfs, "race-link").encode()
                if libc.renameat2(-100, a, -100, b, RENAME_EXCHANGE) == 0:
                    swaps[0] += 1

    t = threading.Thread(target=swapper, daemon=True)
    t.start()
    deadline = time.time() + 20
    try:
        for _ in range(2):
            for c in cs:
                if time.time() > deadline:
                    break
                c.create(check=False, save=False)
                if mounted_at(host):
                    break
                c.delete(force=True, check=False)
    finally:
        stop.set()
        t.join()
    del base
    escaped = mounted_at(host)
    assert swaps[0] > 100, "the swapper did not run"
    assert not escaped, "a mount landed on the host dir during the swap race"
    assert os.listdir(host) == [], os.listdir(host)


# -- 4. fake /dev/null, redirected procfs writes (CVE-2025-31133, -52565, -52881) --------------

def test_masking_with_fake_dev_null(env, ct):
    """The runtime's /dev/null is a regular "host" file (bound over /dev/null in a private mount
    namespace of the caller): masking must not bind it over /proc/keys. Defence: the node
    bound is checked to be the 1:3 char device (husk: src/rootfs/mod.rs mask_path)."""
    host = env.tmpdir()
    fake = os.path.join(host, "fake-null")
    with open(fake, "w") as f:
        f.write("host secret\n")
    ct.config["process"]["args"] = ["/bin/sh", "-c", "cat /proc/keys; echo pwned > /proc/keys; true"]
    ct.save()
    with open(ct.out_path, "ab") as out, open(ct.err_path, "ab") as err:
        p = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
             'mount --bind "$0" /dev/null && exec "$@"', fake,
             rtt.RUNTIME, "--root", env.root, "create", "--bundle", ct.bundle, ct.id],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, timeout=rtt.TIMEOUT)
    if p.returncode == 0:
        ct.record_pid()
        ct.start()
        ct.wait_stopped()
        assert "host secret" not in ct.output(), "a fake /dev/null was used for masking"
    assert open(fake).read() == "host secret\n"


def test_masking_with_symlinked_container_dev_null(env, ct):
    """The rootfs brings its own /dev (no /dev mount) with /dev/null a symlink to a host file
    (CVE-2025-31133 shape). Masking and the container's /dev/null must not reach it. Defence:
    husk binds the verified host /dev/null, not the container's (src/rootfs/mod.rs mask_path)."""
    host = env.tmpdir()
    target = os.path.join(host, "target")
    with open(target, "w") as f:
        f.write("host secret\n")
    ct.config["mounts"] = [m for m in ct.config["mounts"] if not m["destination"].startswith("/dev")]
    os.symlink(target, os.path.join(ct.rootfs, "dev", "null"))
    ct.config["process"]["args"] = ["/bin/sh", "-c", "cat /proc/keys; echo pwned > /proc/keys; true"]
    ct.create(check=False)
    if ct.state():
        ct.start()
        ct.wait_stopped()
        assert "host secret" not in ct.output()
    assert not mounted_at(target)
    assert open(target).read() == "host secret\n"


def test_sysctl_redirected_to_host_file(env, ct):
    """A bind mount over /proc/sys/net redirects a sysctl write to a host file
    (CVE-2025-52881 shape). Defence: sysctls are written through an fd that fstatfs shows is
    procfs (husk: src/rootfs/mod.rs write_sysctl)."""
    host = env.tmpdir()
    os.makedirs(os.path.join(host, "ipv4"))
    victim = os.path.join(host, "ipv4", "ip_forward")
    with open(victim, "w") as f:
        f.write("host data\n")
    ct.config["mounts"].append({"destination": "/proc/sys/net", "type": "bind", "source": host,
                                "options": ["rbind"]})
    ct.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    ct.create(check=False)
    ct.delete(force=True, check=False)
    assert open(victim).read() == "host data\n", "sysctl written to a host file"


def test_oom_score_adj_not_redirected(env, ct):
    """A host dir bound over the container's /proc: oom_score_adj must still go to the real
    process. Defence: husk writes /proc/self/oom_score_adj of the host's /proc before
    pivot_root (src/launch/child.rs step 7)."""
    host = env.tmpdir()
    os.makedirs(os.path.join(host, "self"))
    victim = os.path.join(host, "self", "oom_score_adj")
    with open(victim, "w") as f:
        f.write("0\n")
    ct.config["mounts"].insert(1, {"destination": "/proc", "type": "bind", "source": host,
                                   "options": ["rbind"]})
    ct.config["linux"]["maskedPaths"] = []
    ct.config["linux"]["readonlyPaths"] = []
    ct.config["process"]["oomScoreAdj"] = 123
    ct.config["process"]["args"] = ["/bin/sleep", "5"]
    p = ct.create(check=False)
    if p.returncode == 0:
        with open("/proc/%d/oom_score_adj" % ct.pid) as f:
            assert f.read().strip() == "123"
    assert open(victim).read() == "0\n", "oom_score_adj written to a host file"


# -- 5. privilege -----------------------------------------------------------------------------

def test_default_caps_no_modules_no_mount(env, ct):
    """Defence: the default (runc spec) capability sets drop CAP_SYS_MODULE and CAP_SYS_ADMIN
    from every set including bounding (husk: src/security/caps.rs)."""
    ct.config["root"]["readonly"] = False
    ct.config["process"]["args"] = ["/bin/sh", "-c",
                                    "insmod /bin/busybox; echo rc=$?; "
                                    "mount -t tmpfs t /tmp; echo rc=$?; "
                                    "grep CapBnd /proc/self/status"]
    out = ct.run_to_end() + ct.errors()
    assert out.count("rc=0") == 0, out
    bnd = int([l for l in out.splitlines() if l.startswith("CapBnd")][0].split()[1], 16)
    assert bnd & rtt.cap_mask(["CAP_SYS_MODULE", "CAP_SYS_ADMIN", "CAP_MKNOD"]) == 0


def test_devices_cgroup_blocks_host_block_device(env, ct):
    """With CAP_MKNOD a container can make a node of a host disk; the devices cgroup (default
    deny, linux.resources.devices) must refuse opening it. Only opens are tried, nothing is
    written. Defence: husk src/cgroups.rs (devices.deny a, then the allowed list)."""
    majmin = sorted(os.listdir("/sys/dev/block"))[0]
    maj, mnr = majmin.split(":")
    for k in ("bounding", "effective", "permitted"):
        ct.config["process"]["capabilities"][k] += ["CAP_MKNOD"]
    ct.config["process"]["args"] = ["/bin/sh", "-c",
                                    "mknod /dev/hostdisk b %s %s && "
                                    "exec /checker report --open-r /dev/hostdisk "
                                    "--open-w /dev/hostdisk" % (maj, mnr)]
    out = ct.run_to_end()
    r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    assert r["open_r"]["/dev/hostdisk"] != "ok", r["open_r"]
    assert r["open_w"]["/dev/hostdisk"] != "ok", r["open_w"]


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges_blocks_setuid(env, ct, nnp):
    """A setuid-root binary in the rootfs run by uid 1000. Defence: noNewPrivileges sets
    PR_SET_NO_NEW_PRIVS before exec (husk: src/launch/process.rs finish() step g); the False
    case is the control showing the attack works without it."""
    suid = os.path.join(ct.rootfs, "checker-suid")
    shutil.copy2(os.path.join(ct.rootfs, "checker"), suid)
    os.chmod(suid, 0o4755)
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    ct.config["process"]["noNewPrivileges"] = nnp
    ct.config["process"]["args"] = ["/checker-suid", "report"]
    out = ct.run_to_end()
    r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    if nnp:
        assert r["euid"] == 1000, r["euid"]
    else:
        assert r["euid"] == 0, "control: setuid should work without noNewPrivileges"


def test_masked_paths_hide(env, ct):
    """Defence: maskedPaths get /dev/null or a read-only empty tmpfs (husk: src/rootfs/mod.rs
    mask_path)."""
    r = ct.report("--read", "/proc/kcore", "--read", "/proc/keys", "--read", "/sys/firmware",
                  "--read", "/proc/timer_list", "--open-w", "/proc/kcore")
    for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list"):
        v = r["read"][p]
        assert isinstance(v, dict) and (v.get("error") or v.get("content") == ""), (p, v)
    fw = r["read"]["/sys/firmware"]
    assert not (isinstance(fw, dict) and fw.get("entries")), fw


def test_readonly_paths_readonly_for_root(env, ct):
    """Defence: readonlyPaths are bind-remounted read-only (husk: src/rootfs/mod.rs
    readonly_path); root inside with the default caps cannot write or remount them."""
    r = ct.report("--open-w", "/proc/sys/kernel/hostname", "--open-w", "/proc/sysrq-trigger",
                  "--open-w", "/proc/sys/vm/drop_caches")
    for p, v in r["open_w"].items():
        if v == "ENOENT" and not os.path.exists(p):
            continue  # not in this kernel (no magic sysrq)
        assert v == "EROFS", (p, v)


# -- 6. namespaces ----------------------------------------------------------------------------

def test_host_processes_mounts_network_invisible(env, ct):
    """Defence: new pid, mount and network namespaces (husk: src/namespaces.rs) and
    pivot_root with the old root detached (src/rootfs/mod.rs switch_root)."""
    host = env.tmpdir()
    env.mount("-t", "tmpfs", "-o", "size=16k", "rtt-host-only", target=host)
    ct.config["process"]["args"] = ["/bin/sh", "-c",
                                    "ls /proc | grep -c '^[0-9]'; cat /proc/self/mountinfo; "
                                    "cat /proc/net/dev"]
    out = ct.run_to_end()
    lines = out.splitlines()
    assert int(lines[0]) <= 3, "container sees %s processes" % lines[0]
    assert "rtt-host-only" not in out and host not in out
    ifaces = [l.split(":")[0].strip() for l in lines if ":" in l and "|" not in l
              and l.strip().split(":")[0].isidentifier()]
    assert set(ifaces) <= {"lo"}, ifaces


@pytest.mark.parametrize("kind", ["wrong-type", "regular-file"])
def test_join_namespace_checks_type(env, ct, kind):
    """Defence: setns(fd, CLONE_NEW*) with the type asked for (husk: src/namespaces.rs,
    src/launch/child.rs enter_namespaces); the path must be a namespace of that type."""
    other = env.container(["/checker", "sleep"])
    other.create()
    if kind == "wrong-type":
        path = "/proc/%d/ns/pid" % other.pid
    else:
        path = os.path.join(env.tmpdir(), "not-a-ns")
        open(path, "w").close()
    for ns in ct.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = path
    p = ct.create(check=False)
    assert p.returncode != 0, "joined %s as a network namespace" % path


def test_userns_root_is_not_host_root(env, ct):
    """A host-owned file bound read-write into a user-namespaced container: its root is
    uid 100000 on the host and cannot write it. Defence: user namespace + maps (husk:
    src/namespaces.rs, src/launch/mod.rs)."""
    host = env.tmpdir()
    victim = os.path.join(host, "host-owned")
    with open(victim, "w") as f:
        f.write("host data\n")
    os.chmod(victim, 0o644)
    ct.config["linux"]["namespaces"].append({"type": "user"})
    ct.config["linux"]["uidMappings"] = USERNS_MAP
    ct.config["linux"]["gidMappings"] = USERNS_MAP
    ct.config["mounts"] = [m for m in ct.config["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    os.makedirs(os.path.join(ct.rootfs, "mnt", "host"))
    ct.config["mounts"].append({"destination": "/mnt/host", "type": "bind", "source": host,
                                "options": ["rbind", "rw"]})
    r = ct.report("--open-w", "/mnt/host/host-owned", "--create", "/mnt/host/newdir")
    assert r["open_w"]["/mnt/host/host-owned"] in ("EACCES", "EPERM"), r["open_w"]
    assert r["create"]["/mnt/host/newdir"] != "ok", r["create"]
    assert open(victim).read() == "host data\n"
    assert os.listdir(host) == ["host-owned"]


# -- 7. the state directory -------------------------------------------------------------------

def test_state_dir_private(env):
    """Defence: <root> and every container dir are 0700, no file is group/world writable
    (husk: src/state.rs); another user cannot list or read it."""
    root = os.path.join(env.root, "nested", "root")
    c = env.container(["/checker", "sleep"])
    c.save()
    p = subprocess.run([rtt.RUNTIME, "--root", root, "create", "--bundle", c.bundle, c.id],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=open(c.err_path, "w"), timeout=rtt.TIMEOUT)
    try:
        assert p.returncode == 0, c.errors()
        for d, dirs, files in os.walk(env.root):
            for n in dirs:
                st = os.lstat(os.path.join(d, n))
                assert st.st_mode & 0o022 == 0, "%s/%s is group/world writable" % (d, n)
            for n in files:
                st = os.lstat(os.path.join(d, n))
                if stat.S_ISREG(st.st_mode):
                    assert st.st_mode & 0o022 == 0, "%s/%s is group/world writable" % (d, n)
        for top in (env.root, root):
            mode = os.stat(top).st_mode & 0o777
            assert mode & 0o077 == 0, "%s is %o" % (top, mode)
        # another user cannot look in
        nob = subprocess.run(["/bin/sh", "-c", 'ls "$0" && cat "$0"/*/*', root],
                             preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)),
                             capture_output=True, text=True)
        assert nob.returncode != 0, nob.stdout
    finally:
        subprocess.run([rtt.RUNTIME, "--root", root, "delete", "--force", c.id],
                       capture_output=True, timeout=rtt.TIMEOUT)


@pytest.mark.parametrize("bad", ["../escape", "..", "a/../../escape", "/abs-escape", "."])
def test_id_cannot_escape_root(env, ct, bad):
    """Defence: container ids are validated before any path is built from them (husk:
    src/state.rs / cli id check)."""
    parent = os.path.dirname(env.root)
    before = set(os.listdir(parent))
    p = ct.create(check=False, id=bad)
    if p.returncode == 0:
        env.rt("delete", "--force", bad)
    after = set(os.listdir(parent))
    new = [n for n in after - before if "escape" in n]
    assert p.returncode != 0, "id %r accepted" % bad
    assert not new, new


@pytest.mark.parametrize("target", ["host", "container-file"])
def test_dev_console_symlink(env, ct, target):
    """terminal: true with a rootfs /dev (no /dev mount) whose console is a symlink, to a host
    file or to another file of the container (CVE-2025-52565 shape: the pty bind redirected).
    Defence: husk opens /dev/console with O_NOFOLLOW before binding the pty on it and refuses
    a symlink (src/console.rs bind_dev_console). Either create fails or the pty is bound on
    /dev/console only, and the target is untouched."""
    import socket
    host = env.tmpdir()
    victim = os.path.join(host, "victim")
    with open(victim, "w") as f:
        f.write("host data\n")
    with open(os.path.join(ct.rootfs, "etc", "victim"), "w") as f:
        f.write("container data\n")
    ct.config["mounts"] = [m for m in ct.config["mounts"] if m["destination"] != "/dev"]
    os.makedirs(os.path.join(ct.rootfs, "dev", "pts"), exist_ok=True)
    os.makedirs(os.path.join(ct.rootfs, "dev", "shm"), exist_ok=True)
    os.makedirs(os.path.join(ct.rootfs, "dev", "mqueue"), exist_ok=True)
    os.symlink(victim if target == "host" else "/etc/victim",
               os.path.join(ct.rootfs, "dev", "console"))
    path = os.path.join(env.tmpdir(), "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(2)
    ct.config["process"]["terminal"] = True
    ct.config["process"]["args"] = ["/bin/sleep", "5"]
    try:
        p = ct.create("--console-socket", path, check=False)
        try:
            conn, _ = srv.accept()
            conn.close()
        except OSError:
            pass
        if p.returncode == 0:
            with open("/proc/%d/mountinfo" % ct.pid) as f:
                mps = [l.split()[4] for l in f]
            assert "/etc/victim" not in mps, "the pty was bound over /etc/victim"
    finally:
        srv.close()
    assert not mounted_at(victim)
    assert open(victim).read() == "host data\n"
    assert open(os.path.join(ct.rootfs, "etc", "victim")).read() == "container data\n"
