"""cgroup v2 (a pure unified hierarchy, e.g. the hack/vm guest): linux.resources mapped onto the
v2 files as runc does, controllers enabled in the parents, the init joined at create, the
cgroup namespace's view, kill --all, and removal at delete. Skipped on v1/hybrid hosts."""
import os
import time

import pytest

import rtt

pytestmark = pytest.mark.skipif(not rtt.is_cgroup2(), reason="not a cgroup v2 host")


def cgdir(ct):
    return os.path.join(rtt.CGROUP_ROOT, ct.cgroups_path.lstrip("/"))


def read(ct, name):
    with open(os.path.join(cgdir(ct), name)) as f:
        return f.read().strip()


def test_init_joins_cgroup_at_create(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    assert str(ct.pid) in read(ct, "cgroup.procs").split()


def test_controllers_enabled_in_parents(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 32 << 20}
    ct.config["linux"]["resources"]["pids"] = {"limit": 20}
    ct.create()
    parent = os.path.dirname(cgdir(ct))
    with open(os.path.join(parent, "cgroup.subtree_control")) as f:
        enabled = f.read().split()
    assert "memory" in enabled and "pids" in enabled


def test_memory_limits(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20}
    ct.create()
    assert int(read(ct, "memory.max")) == 64 << 20
    assert int(read(ct, "memory.low")) == 32 << 20
    # OCI swap is memory+swap; v2's memory.swap.max is swap alone
    assert int(read(ct, "memory.swap.max")) == 32 << 20


def test_cpu_weight_and_max(ct):
    ct.config["linux"]["resources"]["cpu"] = {"shares": 1024, "quota": 50000, "period": 100000}
    ct.create()
    # The shares→weight mapping crun and runc ≥1.3 use (the default 1024 shares is the
    # default weight 100; runc 1.1's linear formula gave 39).
    assert int(read(ct, "cpu.weight")) == 100
    assert read(ct, "cpu.max") == "50000 100000"


def test_cpuset(ct):
    ct.config["linux"]["resources"]["cpu"] = {"cpus": "0", "mems": "0"}
    ct.create()
    assert read(ct, "cpuset.cpus") == "0"
    assert read(ct, "cpuset.mems") == "0"


def test_pids_limit(ct):
    ct.config["linux"]["resources"]["pids"] = {"limit": 7}
    ct.create()
    assert read(ct, "pids.max") == "7"


def test_unified_key_values(ct):
    ct.config["linux"]["resources"]["unified"] = {"memory.high": "50331648", "pids.max": "9"}
    ct.create()
    assert read(ct, "memory.high") == "50331648"
    assert read(ct, "pids.max") == "9"


def test_unified_unknown_controller_refused(env, ct):
    ct.config["linux"]["resources"]["unified"] = {"nosuchctrl.max": "1"}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1
    from conftest import leftovers
    assert leftovers(env, ct) == []


def test_cgroup_namespace_view(ct):
    ns = ct.config["linux"]["namespaces"]
    if not any(n["type"] == "cgroup" for n in ns):
        ns.append({"type": "cgroup"})
    ct.config["process"]["args"] = ["sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup/cgroup.controllers"]
    out = ct.run_to_end()
    assert "0::/\n" in out
    assert "/sys/fs/cgroup/cgroup.controllers" in out


def test_kill_all_and_delete_removes_cgroup(ct):
    ct.config["process"]["args"] = ["sh", "-c", "sleep 100 & sleep 100 & wait"]
    ct.create()
    ct.start()
    deadline = time.time() + 10
    while time.time() < deadline and len(read(ct, "cgroup.procs").split()) < 3:
        time.sleep(0.05)
    assert len(read(ct, "cgroup.procs").split()) == 3
    ct.kill("--all", ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert not os.path.exists(cgdir(ct))
