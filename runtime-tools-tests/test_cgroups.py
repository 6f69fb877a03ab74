"""Cgroups (read on the host under /sys/fs/cgroup/<ctrl>/husk-test-<pid>/<id>): dirs made at create,
init joined before the workload runs, resource limits written, everything removed at delete."""
import os
import stat

import pytest

import rtt

CG = rtt.CGROUP_ROOT
# These cases read the v1 hierarchies; test_cgroup_v2.py covers a unified host.
pytestmark = pytest.mark.skipif(rtt.is_cgroup2(), reason="cgroup v1/hybrid cases")


def cg_file(c, ctrl, name):
    p = os.path.join(CG, ctrl, c.cgroups_path.lstrip("/"), name)
    with open(p) as f:
        return f.read().strip()


def v1(ctrl):
    return os.path.exists(os.path.join(CG, ctrl, "cgroup.procs")) and \
        not os.path.exists(os.path.join(CG, "cgroup.controllers"))


@pytest.mark.parametrize("ctrl", ["memory", "cpu", "pids", "devices", "freezer", "cpuset"])
def test_init_joins_cgroup_at_create(ct, ctrl):
    if not v1(ctrl):
        pytest.skip("no v1 %s hierarchy" % ctrl)
    ct.create()
    procs = cg_file(ct, ctrl, "cgroup.procs").split()
    assert str(ct.pid) in procs


def test_memory_limit(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20, "reservation": 32 << 20}
    ct.create()
    assert int(cg_file(ct, "memory", "memory.limit_in_bytes")) == 64 << 20
    assert int(cg_file(ct, "memory", "memory.soft_limit_in_bytes")) == 32 << 20


def test_memory_swap_limit(ct):
    if not os.path.exists(os.path.join(CG, "memory", "memory.memsw.limit_in_bytes")):
        pytest.skip("no swap accounting")
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20, "swap": 96 << 20}
    ct.create()
    assert int(cg_file(ct, "memory", "memory.memsw.limit_in_bytes")) == 96 << 20


def test_cpu_shares_quota_period(ct):
    ct.config["linux"]["resources"]["cpu"] = {"shares": 512, "quota": 50000, "period": 100000}
    ct.create()
    assert int(cg_file(ct, "cpu", "cpu.shares")) == 512
    assert int(cg_file(ct, "cpu", "cpu.cfs_quota_us")) == 50000
    assert int(cg_file(ct, "cpu", "cpu.cfs_period_us")) == 100000


def test_cpuset(ct):
    ct.config["linux"]["resources"]["cpu"] = {"cpus": "0", "mems": "0"}
    ct.create()
    assert cg_file(ct, "cpuset", "cpuset.cpus") == "0"
    assert cg_file(ct, "cpuset", "cpuset.mems") == "0"


def test_pids_limit(ct):
    ct.config["linux"]["resources"]["pids"] = {"limit": 64}
    ct.create()
    assert cg_file(ct, "pids", "pids.max") == "64"


def test_pids_limit_enforced(ct):
    # sh + 2 sleeps fill pids.max=3; the third fork fails (busybox sh then exits)
    ct.config["linux"]["resources"]["pids"] = {"limit": 3}
    ct.config["process"]["args"] = [
        "sh", "-c", "sleep 30 & sleep 30 & echo two; sleep 30 & echo three"]
    out = ct.run_to_end()
    assert "two" in out
    assert "three" not in out
    assert "fork" in ct.errors()


def test_cgroup_dirs_removed_at_delete(ct):
    ct.config["linux"]["resources"]["pids"] = {"limit": 64}
    ct.create()
    made = ct.cgroup_dirs()
    assert made
    ct.start()
    ct.wait_stopped()
    ct.delete()
    assert ct.cgroup_dirs() == []
    assert not any(os.path.exists(d) for d in made)


def test_container_sees_own_cgroup(ct):
    ct.config["linux"]["namespaces"].append({"type": "cgroup"})
    r = ct.report()
    for line in r["cgroup"].splitlines():
        assert line.endswith(":/"), "cgroup namespace root is not the container's cgroup: %s" % line


def test_blkio_throttle(ct):
    if not os.path.exists(os.path.join(CG, "blkio", "blkio.throttle.read_bps_device")):
        pytest.skip("no v1 blkio throttling")
    st = os.stat("/")
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    ct.config["linux"]["resources"]["blockIO"] = {
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]}
    ct.create()
    assert "%d:%d 1048576" % (major, minor) in cg_file(ct, "blkio", "blkio.throttle.read_bps_device")


V1_DEFAULT_DEVICE_RULES = [
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:9 rwm", "c 1:8 rwm", "c *:* m", "b *:* m",
    "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm",
]


def test_device_rules_are_enforced(ct):
    """runc's spec denies every device, then the runtime allows the standard ones: a node of a
    device not allowed (c 10:229, /dev/fuse, made in the rootfs beforehand) does not open, /dev/zero does."""
    if not v1("devices"):
        pytest.skip("no v1 devices hierarchy")
    ct.config["process"]["args"] = ["/bin/sh", "-c",
                                    "( : </xfuse ) 2>/dev/null; echo open=$?;"
                                    " echo zero=$(head -c1 /dev/zero | wc -c); sleep 100"]
    assert ct.config["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    os.mknod(os.path.join(ct.rootfs, "xfuse"), 0o600 | stat.S_IFCHR, os.makedev(10, 229))
    ct.create()
    ct.start()
    ct.wait_output("zero=")
    out = ct.output()
    assert "open=1" in out and "zero=1" in out, out
    listed = set(cg_file(ct, "devices", "devices.list").splitlines())
    assert listed == set(V1_DEFAULT_DEVICE_RULES), listed


def test_device_rules_with_other_limits(ct):
    """The same device list when other controllers are programmed too (libcgroups' path):
    the host console (c 5:1) is not allowed, as in runc."""
    if not v1("devices"):
        pytest.skip("no v1 devices hierarchy")
    ct.config["linux"]["resources"]["pids"] = {"limit": 50}
    ct.config["process"]["args"] = ["/bin/sleep", "100"]
    ct.create()
    listed = set(cg_file(ct, "devices", "devices.list").splitlines())
    assert listed == set(V1_DEFAULT_DEVICE_RULES), listed


def test_device_rules_keep_the_config_order(ct):
    """Rules apply in order: a config allowing c 10:229 after the default deny-all can open it;
    the standard devices stay allowed even when the config denies them (appended last, as runc)."""
    if not v1("devices"):
        pytest.skip("no v1 devices hierarchy")
    ct.config["linux"]["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"},
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    ]
    ct.config["process"]["args"] = ["/bin/sh", "-c",
                                     ": </xfuse; echo open=$?;"
                                    " head -c1 /dev/zero | wc -c"]
    os.mknod(os.path.join(ct.rootfs, "xfuse"), 0o600 | stat.S_IFCHR, os.makedev(10, 229))
    out = ct.run_to_end()
    assert "open=0" in out, out
    assert out.split()[-1] == "1", out

@pytest.mark.husk_only
def test_hybrid_host_forks_then_joins(ct):
    """No clone3(CLONE_INTO_CGROUP) with v1 hierarchies: the init is forked, then written into
    each hierarchy's cgroup.procs (test_cgroup_v2.py covers the clone3 path)."""
    log = os.path.join(ct.bundle, "husk.log")
    ct.env.global_args = ["--debug", "--log", log]
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    with open(log) as f:
        got = [l.split("phase=")[1].split()[0] for l in f if "spawn phase=" in l]
    assert got[:2] == ["clone", "cgroup-add-task"], got
    if v1("pids"):
        assert cg_file(ct, "pids", "cgroup.procs").split() == [str(ct.pid)]
