"""Rootless (issue 17): the runtime run by an unprivileged user, as rootless podman runs runc/crun.

The session creates (idempotently; it stays) the user `husk-rl` with /etc/subuid and /etc/subgid
ranges, and `husk-rl2` (another user, for isolation checks). Each case runs the runtime as that
user with `setpriv --reuid --regid --clear-groups`, XDG_RUNTIME_DIR set to a 0700 directory it owns, and a bundle
under a directory the user can traverse, whose rootfs it owns. Checks are made from inside (the
container's output) and from the host (/proc/PID/status, uid_map, cgroups, state dirs).
"""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

import rtt

USER = "husk-rl"
USER2 = "husk-rl2"
SUB_SIZE = 65536


def _sub_ranges(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[1].isdigit():
                    out.setdefault(parts[0], (int(parts[1]), int(parts[2])))
    except FileNotFoundError:
        pass
    return out


def _ensure_sub(path, user):
    ranges = _sub_ranges(path)
    if user in ranges:
        return ranges[user]
    start = max([100000] + [s + n for s, n in ranges.values()])
    with open(path, "a") as f:
        f.write("%s:%d:%d\n" % (user, start, SUB_SIZE))
    return start, SUB_SIZE


def _ensure_user(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        p = subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
                           capture_output=True)
        if p.returncode != 0 and not os.path.exists("/etc/shadow"):
            # a throwaway /etc without shadow files (the cgroup v2 guest): add the entries
            uid = max([1000] + [u.pw_uid for u in pwd.getpwall() if u.pw_uid < 60000]) + 1
            with open("/etc/passwd", "a") as f:
                f.write("%s:x:%d:%d::/nonexistent:/bin/false\n" % (name, uid, uid))
            with open("/etc/group", "a") as f:
                f.write("%s:x:%d:\n" % (name, uid))
        elif p.returncode != 0:
            raise AssertionError("useradd %s: %s" % (name, p.stderr))
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid, _ensure_sub("/etc/subuid", name), _ensure_sub("/etc/subgid", name)


@pytest.fixture(scope="session")
def users():
    if not os.access("/usr/bin/setpriv", os.X_OK):
        pytest.skip("setpriv missing")
    return {USER: _ensure_user(USER), USER2: _ensure_user(USER2)}


def rootless_config(uid, gid, args):
    """runc spec --rootless's shape: user namespace mapping the caller, no network namespace,
    /sys bound read-only from the host, devpts without gid=5, no resources, no cgroupsPath."""
    c = rtt.make_config(args)
    linux = c["linux"]
    linux.pop("resources", None)
    linux.pop("cgroupsPath", None)
    linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"] + [{"type": "user"}]
    mounts = []
    for m in c["mounts"]:
        if m["type"] == "cgroup":
            continue
        if m["type"] == "sysfs":
            m = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        if m["type"] == "devpts":
            m["options"] = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
        mounts.append(m)
    c["mounts"] = mounts
    return c


class Rootless:
    """One rootless container of user `name`: its bundle, XDG_RUNTIME_DIR and runtime calls."""

    def __init__(self, users, name=USER):
        self.name = name
        self.uid, self.gid, self.subuid, self.subgid = users[name]
        self.top = tempfile.mkdtemp(prefix="rtt-rl-")
        os.chmod(self.top, 0o755)
        self.bundle = os.path.join(self.top, "bundle")
        os.makedirs(self.bundle)
        rtt.make_rootfs(os.path.join(self.bundle, "rootfs"))
        self.xdg = os.path.join(self.top, "xdg")
        os.makedirs(self.xdg)
        os.chmod(self.xdg, 0o700)
        for d, _, files in os.walk(self.top):
            os.lchown(d, self.uid, self.gid)
            for f in files:
                os.lchown(os.path.join(d, f), self.uid, self.gid)
        self.root = os.path.join(self.xdg, "rt")
        self.id = rtt.short_id("rl")
        self.pid = None
        self.cgroup = None
        self.config = rootless_config(self.uid, self.gid, ["sleep", "1000"])

    def write(self):
        path = os.path.join(self.bundle, "config.json")
        rtt.write_config(self.bundle, self.config)
        os.lchown(path, self.uid, self.gid)

    def as_user(self, argv):
        """argv run as the user: setpriv (no PAM, works in the v2 guest too), from `self.cgroup`
        (a delegated cgroup, entered as root first) when set."""
        cmd = ["/usr/bin/setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid, "--clear-groups", "--",
               "env", "XDG_RUNTIME_DIR=%s" % self.xdg, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "USER=%s" % self.name,
               "HOME=/nonexistent"] + argv
        if self.cgroup:
            cmd = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', self.cgroup] + cmd
        return cmd

    def rt(self, *args, root=True, check=False, stdin=None, timeout=rtt.TIMEOUT):
        argv = [rtt.RUNTIME] + (["--root", self.root] if root else []) + list(args)
        p = subprocess.run(self.as_user(argv), cwd=self.bundle, capture_output=True, text=True,
                           stdin=stdin or subprocess.DEVNULL, timeout=timeout)
        if check:
            assert p.returncode == 0, "%s: rc=%d\n%s%s" % (args, p.returncode, p.stdout, p.stderr)
        return p

    def create(self, *extra, check=True, root=True):
        self.write()
        out = os.path.join(self.bundle, "out.txt")
        with open(out, "w") as f:
            os.fchown(f.fileno(), self.uid, self.gid)
            argv = [rtt.RUNTIME] + (["--root", self.root] if root else []) + ["create", "--pid-file",
                                                                              os.path.join(self.xdg, "pid")] \
                + list(extra) + [self.id]
            cmd = self.as_user(argv)
            # the container keeps the stdio create hands it: files, not pipes
            with open(os.path.join(self.bundle, "err.txt"), "w+") as e:
                os.fchown(e.fileno(), self.uid, self.gid)
                p = subprocess.run(cmd, cwd=self.bundle, stdin=subprocess.DEVNULL, stdout=f, stderr=e,
                                   text=True, timeout=rtt.TIMEOUT)
                e.seek(0)
                p.stderr = e.read()
        if check:
            assert p.returncode == 0, "create: rc=%d %s" % (p.returncode, p.stderr)
        if p.returncode == 0:
            with open(os.path.join(self.xdg, "pid")) as f:
                self.pid = int(f.read().strip())
        return p

    def output(self):
        with open(os.path.join(self.bundle, "out.txt")) as f:
            return f.read()

    def wait_output(self, text, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if text in self.output():
                return self.output()
            time.sleep(0.05)
        raise AssertionError("no %r in output: %r" % (text, self.output()))

    def status(self):
        p = self.rt("state", self.id)
        return json.loads(p.stdout)["status"] if p.returncode == 0 else None

    def cleanup(self):
        if not os.path.isdir(self.top):
            return
        self.rt("delete", "--force", self.id)
        if self.pid and rtt.pid_alive(self.pid):
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            rtt.wait_gone([self.pid])
        if self.pid:
            rtt.try_reap(self.pid)
        rtt.reap_children()
        shutil.rmtree(self.top, ignore_errors=True)


@pytest.fixture
def rl(users):
    c = Rootless(users)
    yield c
    c.cleanup()


@pytest.fixture
def rl2(users):
    c = Rootless(users, USER2)
    yield c
    c.cleanup()


def host_ids(pid):
    with open("/proc/%d/status" % pid) as f:
        lines = dict(line.split(":", 1) for line in f if ":" in line)
    return int(lines["Uid"].split()[0]), int(lines["Gid"].split()[0])


def multi_maps(c):
    c.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": c.uid, "size": 1},
                                        {"containerID": 1, "hostID": c.subuid[0], "size": c.subuid[1]}]
    c.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": c.gid, "size": 1},
                                        {"containerID": 1, "hostID": c.subgid[0], "size": c.subgid[1]}]


# --- 1. the lifecycle as an unprivileged user ------------------------------------------------


def test_rootless_lifecycle(rl):
    rl.config["process"]["args"] = ["sh", "-c", "echo uid=$(id -u); exec sleep 1000"]
    rl.create()
    assert rl.status() == "created"
    rl.rt("start", rl.id, check=True)
    assert "uid=0" in rl.wait_output("uid=")
    assert rl.status() == "running"
    # the init runs as the user on the host
    assert host_ids(rl.pid) == (rl.uid, rl.gid)
    e = rl.rt("exec", rl.id, "id", "-u", check=True)
    assert e.stdout.strip() == "0"
    lst = rl.rt("list", "--format", "json", check=True)
    assert [c["id"] for c in json.loads(lst.stdout)] == [rl.id]
    # state dirs: the user's, private
    # (runc makes the container's dir 0711 inside its 0700 root)
    st = os.stat(os.path.join(rl.root, rl.id))
    assert st.st_uid == rl.uid and st.st_mode & 0o022 == 0
    st = os.stat(rl.root)
    assert (st.st_uid, st.st_mode & 0o077) == (rl.uid, 0)
    rl.rt("kill", rl.id, "KILL", check=True)
    rtt.wait_gone([rl.pid])
    rtt.try_reap(rl.pid)
    end = time.time() + 10
    while rl.status() != "stopped" and time.time() < end:
        time.sleep(0.05)
    assert rl.status() == "stopped"
    rl.rt("delete", rl.id, check=True)
    assert not os.path.exists(os.path.join(rl.root, rl.id))


def test_rootless_ps(rl):
    """runc 1.1.5 cannot list the processes of a container without a cgroup (known failure);
    husk finds them through the container's pid namespace."""
    rl.create()
    rl.rt("start", rl.id, check=True)
    p = rl.rt("ps", "--format", "json", rl.id, check=True)
    assert rl.pid in json.loads(p.stdout)


def test_rootless_kill_all(rl):
    """kill --all reaches every process of a container without a cgroup (found through its pid
    namespace): the init and an exec'd process."""
    rl.create()
    rl.rt("start", rl.id, check=True)
    exe = subprocess.Popen(rl.as_user([rtt.RUNTIME, "--root", rl.root, "exec", rl.id, "sleep", "999"]),
                           cwd=rl.bundle, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        end = time.time() + 10
        while time.time() < end and len(json.loads(rl.rt("ps", "--format", "json", rl.id).stdout or "null") or []) < 2:
            time.sleep(0.05)
        rl.rt("kill", "--all", rl.id, "KILL", check=True)
        assert exe.wait(timeout=10) != 0
        rtt.wait_gone([rl.pid])
        assert not rtt.pid_alive(rl.pid)
    finally:
        if exe.poll() is None:
            exe.kill()
            exe.wait()


def test_rootless_pause_needs_cgroup(rl):
    """No cgroup on this v1 host: pause fails clearly (as runc's), the container keeps running."""
    if rtt.is_cgroup2():
        pytest.skip("v1/hybrid host case")
    rl.create()
    rl.rt("start", rl.id, check=True)
    p = rl.rt("pause", rl.id)
    assert p.returncode == 1
    assert "cgroup" in p.stderr
    assert rl.status() == "running"
    assert rtt.proc_state(rl.pid) != "T"


def test_rootless_default_root(rl):
    """Without --root, a non-root caller's state goes to $XDG_RUNTIME_DIR/<runtime>, as runc's."""
    rl.create(root=False)
    name = "husk" if rtt.is_husk() else os.path.basename(rtt.RUNTIME)
    d = os.path.join(rl.xdg, name, rl.id)
    assert os.path.isdir(d)
    assert os.stat(d).st_uid == rl.uid
    p = rl.rt("state", rl.id, root=False, check=True)
    assert json.loads(p.stdout)["pid"] == rl.pid
    rl.rt("delete", "--force", rl.id, root=False, check=True)
    assert not os.path.exists(d)


# --- 2. id maps ----------------------------------------------------------------------------------


def test_rootless_single_map_setgroups_deny(rl):
    rl.config["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map /proc/self/setgroups; exec sleep 1000"]
    rl.create()
    rl.rt("start", rl.id, check=True)
    out = rl.wait_output("deny")
    assert out.split()[:3] == ["0", str(rl.uid), "1"]
    with open("/proc/%d/setgroups" % rl.pid) as f:
        assert f.read().strip() == "deny"


def test_rootless_multi_range_maps(rl):
    """container 0 -> the user, 1..65536 -> its subordinate range (newuidmap/newgidmap)."""
    multi_maps(rl)
    rl.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    rl.config["process"]["args"] = ["sh", "-c", "echo ids=$(id -u):$(id -g); exec sleep 1000"]
    rl.create()
    rl.rt("start", rl.id, check=True)
    assert "ids=1000:1000" in rl.wait_output("ids=")
    with open("/proc/%d/uid_map" % rl.pid) as f:
        rows = [line.split() for line in f.read().splitlines()]
    assert rows == [["0", str(rl.uid), "1"], ["1", str(rl.subuid[0]), str(rl.subuid[1])]]
    with open("/proc/%d/gid_map" % rl.pid) as f:
        rows = [line.split() for line in f.read().splitlines()]
    assert rows == [["0", str(rl.gid), "1"], ["1", str(rl.subgid[0]), str(rl.subgid[1])]]
    # uid 1000 inside is subuid + 999 on the host
    assert host_ids(rl.pid) == (rl.subuid[0] + 999, rl.subgid[0] + 999)
    with open("/proc/%d/setgroups" % rl.pid) as f:
        assert f.read().strip() == "allow"
    # exec'd processes get the same mapping
    e = rl.rt("exec", "--user", "1:1", rl.id, "id", "-u", check=True)
    assert e.stdout.strip() == "1"


def test_rootless_map_outside_subuid_refused(rl):
    """A range the user was not given is refused by newuidmap; nothing is left behind."""
    rl.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": rl.uid, "size": 1},
                                         {"containerID": 1, "hostID": 10, "size": 10}]
    p = rl.create(check=False)
    assert p.returncode == 1
    assert "uid" in p.stderr.lower()
    assert os.listdir(rl.root) == [] if os.path.isdir(rl.root) else True


# --- 3. cgroups ----------------------------------------------------------------------------------


def test_rootless_no_cgroup_without_delegation(rl):
    """No cgroupsPath, no limits, nothing delegated: the container runs in the caller's cgroups
    (none created), on v1 and v2."""
    rl.create()
    with open("/proc/%d/cgroup" % rl.pid) as f:
        cg = f.read()
    with open("/proc/self/cgroup") as f:
        mine = f.read()
    # the user's shell (runuser) sits where the test runs: same cgroups
    assert cg == mine
    assert not any(os.path.exists(p) for p in rtt.cgroup_dirs("/" + rl.id))


def test_rootless_limits_refused_without_cgroup(rl):
    """As runc 1.1.5: limits that need a cgroup the user cannot create are refused, named."""
    rl.config["linux"]["resources"] = {"memory": {"limit": 100 * 1024 * 1024}}
    p = rl.create(check=False)
    assert p.returncode == 1
    # runc 1.1.5's words: per controller on v1 (fs), one line on v2 (fs2)
    want = "rootless needs no limits + no cgrouppath" if rtt.is_cgroup2() else "cannot set memory limit"
    assert want in p.stderr
    assert not os.path.exists(os.path.join(rl.root, rl.id))


def test_rootless_device_rules_ignored(rl):
    """Device cgroup rules are ignored rootless (runc): the kernel already limits the user."""
    if rtt.is_cgroup2():
        pytest.skip("v1/hybrid host case")
    rl.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    rl.config["process"]["args"] = ["sh", "-c", "echo x > /dev/null && echo wrote; exec sleep 1000"]
    rl.create()
    rl.rt("start", rl.id, check=True)
    assert "wrote" in rl.wait_output("wrote")


def test_rootless_explicit_cgroup_path_refused(rl):
    """An explicit cgroupsPath the user may not create fails (runc: permission denied)."""
    rl.config["linux"]["cgroupsPath"] = "/%s/%s" % (rtt.CGROUP_PARENT, rl.id)
    p = rl.create(check=False)
    assert p.returncode == 1
    assert "permission denied" in p.stderr.lower()
    assert not os.path.exists(os.path.join(rl.root, rl.id))


@pytest.fixture
def delegated(rl):
    """cgroup v2: a subtree chowned to the user (as systemd's Delegate=yes gives it): `deleg`
    with the caller's leaf `deleg/caller` (the user's processes start there: moving the init
    needs write access to the common ancestor's cgroup.procs) and room for the container."""
    if not rtt.is_cgroup2():
        pytest.skip("cgroup v2 host case (the v2 guest lane)")
    root = rtt.CGROUP_ROOT
    parent = os.path.join(root, rtt.CGROUP_PARENT)
    os.makedirs(parent, exist_ok=True)
    for d in (root, parent):
        for c in ("memory", "pids"):
            try:
                with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                    f.write("+" + c)
            except OSError:
                pass
    deleg = os.path.join(parent, "deleg-" + rl.id)
    os.mkdir(deleg)
    caller = os.path.join(deleg, "caller")
    for d in (deleg,):
        os.chown(d, rl.uid, rl.gid)
        for f in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
            os.chown(os.path.join(d, f), rl.uid, rl.gid)
    os.mkdir(caller)
    for f in ("cgroup.procs", "cgroup.threads"):
        os.chown(os.path.join(caller, f), rl.uid, rl.gid)
    rl.cgroup = caller
    yield deleg
    rl.cleanup()
    rtt.rmdir_cgroup_tree(deleg)


def test_rootless_delegated_cgroup_v2_limits(rl, delegated):
    """cgroup v2 with a subtree delegated to the user: the container's cgroup is made there and
    limited; update and pause work."""
    rel = delegated[len(rtt.CGROUP_ROOT):] + "/ctr"
    rl.config["linux"]["cgroupsPath"] = rel
    rl.config["linux"]["resources"] = {"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 40}}
    rl.create()
    d = rtt.CGROUP_ROOT + rel
    with open(os.path.join(d, "memory.max")) as f:
        assert f.read().strip() == str(64 * 1024 * 1024)
    with open(os.path.join(d, "pids.max")) as f:
        assert f.read().strip() == "40"
    with open(os.path.join(d, "cgroup.procs")) as f:
        assert str(rl.pid) in f.read().split()
    assert os.stat(d).st_uid == rl.uid
    rl.rt("start", rl.id, check=True)
    rl.rt("update", "--pids-limit", "30", rl.id, check=True)
    with open(os.path.join(d, "pids.max")) as f:
        assert f.read().strip() == "30"
    rl.rt("pause", rl.id, check=True)
    assert rl.status() == "paused"
    rl.rt("resume", rl.id, check=True)
    assert rl.status() == "running"
    rl.rt("delete", "--force", rl.id, check=True)
    assert not os.path.exists(d)


# --- 4. what the kernel refuses to an unprivileged user ---------------------------------------


def test_rootless_mounts_adjusted(rl):
    """/sys bound read-only from the host, devices bound (not mknod'ed), devpts without gid=5."""
    rl.config["process"]["args"] = ["sh", "-c",
                                     "grep -E ' /sys | /dev/pts ' /proc/self/mountinfo; "
                                     "stat -c 'null=%t:%T' /dev/null; echo x > /dev/null && echo wrote; "
                                     "echo done; exec sleep 1000"]
    rl.create()
    rl.rt("start", rl.id, check=True)
    out = rl.wait_output("done")
    sys_line = [line for line in out.splitlines() if " /sys " in line][0]
    assert " ro," in sys_line and "sysfs" in sys_line
    pts = [line for line in out.splitlines() if " /dev/pts " in line][0]
    assert "devpts" in pts and "gid=5" not in pts
    assert "null=1:3" in out and "wrote" in out


def test_rootless_devpts_unmapped_gid_dropped(rl):
    """devpts gid=5 (podman's and runc's default) with gid 5 unmapped: dropped (runc 1.2),
    the container runs; its devpts has no gid= option."""
    for m in rl.config["mounts"]:
        if m["type"] == "devpts":
            m["options"] = m["options"] + ["gid=5"]
    rl.config["process"]["args"] = ["sh", "-c", "grep ' /dev/pts ' /proc/self/mountinfo; echo done; exec sleep 1000"]
    rl.create()
    rl.rt("start", rl.id, check=True)
    out = rl.wait_output("done")
    pts = [line for line in out.splitlines() if " /dev/pts " in line][0]
    assert "gid=" not in pts


def test_rootless_devpts_mapped_gid_kept(rl):
    """With gid 5 mapped (multi-range maps), gid=5 is kept: the host gid of group 5."""
    multi_maps(rl)
    for m in rl.config["mounts"]:
        if m["type"] == "devpts":
            m["options"] = m["options"] + ["gid=5"]
    rl.config["process"]["args"] = ["sh", "-c", "grep ' /dev/pts ' /proc/self/mountinfo; echo done; exec sleep 1000"]
    rl.create()
    rl.rt("start", rl.id, check=True)
    out = rl.wait_output("done")
    pts = [line for line in out.splitlines() if " /dev/pts " in line][0]
    assert "gid=%d" % (rl.subgid[0] + 4) in pts


def test_rootless_unmapped_uid_option_refused(rl):
    """uid= of another mount naming an unmapped uid: refused before anything is made."""
    rl.config["mounts"].append({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["uid=1234"]})
    p = rl.create(check=False)
    assert p.returncode == 1
    assert "uid=" in p.stderr and "unmapped" in p.stderr.replace("not mapped", "unmapped")
    assert not os.path.exists(os.path.join(rl.root, rl.id))


def test_rootless_needs_user_namespace(rl):
    linux = rl.config["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "user"]
    del linux["uidMappings"], linux["gidMappings"]
    p = rl.create(check=False)
    assert p.returncode == 1
    assert "rootless container requires user namespaces" in p.stderr
    assert not os.path.exists(os.path.join(rl.root, rl.id))


def test_rootless_mknod_refused(rl):
    """A device node can only be bound rootless: an unknown node (no host source) fails clearly."""
    rl.config["linux"]["devices"] = [{"path": "/dev/husk-rl-nonexistent", "type": "c", "major": 1, "minor": 3}]
    p = rl.create(check=False)
    assert p.returncode == 1
    assert "husk-rl-nonexistent" in p.stderr
    assert not os.path.exists(os.path.join(rl.root, rl.id))


# --- 6. features ---------------------------------------------------------------------------------


@pytest.mark.husk_only
def test_rootless_features(rl):
    p = rl.rt("features", check=True)
    f = json.loads(p.stdout)
    assert f["annotations"]["run.husk.rootless.enabled"] == "true"


def test_rootless_spec_like_runc(rl):
    """`spec --rootless` as the user gives runc's rootless config (runc's own output, made by the
    same user, is the reference: namespaces, maps, mounts, masked and read-only paths)."""
    os.unlink(os.path.join(rl.bundle, "config.json")) if os.path.exists(os.path.join(rl.bundle, "config.json")) \
        else None
    rl.rt("spec", "--rootless", root=False, check=True)
    with open(os.path.join(rl.bundle, "config.json")) as f:
        c = json.load(f)
    ref_dir = os.path.join(rl.top, "ref")
    os.mkdir(ref_dir)
    os.chown(ref_dir, rl.uid, rl.gid)
    p = subprocess.run(rl.as_user(["/usr/sbin/runc", "spec", "--rootless"]), cwd=ref_dir, capture_output=True,
                       text=True, timeout=rtt.TIMEOUT)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(ref_dir, "config.json")) as f:
        ref = json.load(f)
    linux, rlinux = c["linux"], ref["linux"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": rl.uid, "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": rl.gid, "size": 1}]
    for k in ("uidMappings", "gidMappings", "maskedPaths", "readonlyPaths"):
        assert linux.get(k) == rlinux.get(k), k
    assert sorted(n["type"] for n in linux["namespaces"]) == sorted(n["type"] for n in rlinux["namespaces"])
    norm = lambda ms: sorted((m["destination"], m.get("type"), m.get("source"), sorted(m.get("options", [])))
                             for m in ms)
    assert norm(c["mounts"]) == norm(ref["mounts"])
    assert "resources" not in linux
    assert c["process"]["user"] == ref["process"]["user"]


# --- 7. security ---------------------------------------------------------------------------------


def test_rootless_runtime_not_setuid():
    st = os.stat(rtt.RUNTIME)
    assert not st.st_mode & 0o6000


def test_rootless_other_user_cannot_see_or_kill(rl, rl2):
    rl.create()
    rl.rt("start", rl.id, check=True)
    for args in (["list"], ["state", rl.id], ["kill", rl.id, "KILL"], ["delete", "--force", rl.id]):
        p = rl2.rt("--root", rl.root, *args, root=False)
        assert p.returncode != 0 or rl.id not in p.stdout, args
    assert rtt.pid_alive(rl.pid)
    assert rl.status() == "running"


def test_rootless_state_symlink_not_followed(rl):
    """A link the user planted in its state root, to a directory it cannot write: root running
    the runtime on that state root neither reads through it nor removes anything there."""
    target = tempfile.mkdtemp(prefix="rtt-rl-target-")
    try:
        with open(os.path.join(target, "state.json"), "w") as f:
            f.write("{}")
        os.makedirs(rl.root, exist_ok=True)
        os.chown(rl.root, rl.uid, rl.gid)
        link = os.path.join(rl.root, "planted")
        os.symlink(target, link)
        os.lchown(link, rl.uid, rl.gid)
        for args in (["delete", "--force", "planted"], ["delete", "planted"], ["kill", "planted", "KILL"]):
            subprocess.run([rtt.RUNTIME, "--root", rl.root] + args, capture_output=True, text=True,
                           timeout=rtt.TIMEOUT)
            assert os.path.exists(os.path.join(target, "state.json")), args
    finally:
        shutil.rmtree(target, ignore_errors=True)
