"""runtime-spec 1.2/1.3 extras: linux.personality, process.scheduler, process.ioPriority,
linux.memoryPolicy, process.execCPUAffinity, linux.netDevices, linux.intelRdt. Each is observed
from inside the container (init, and exec where the spec applies it) and its error cases."""
import os
import subprocess
import uuid

import pytest

import rtt


def sh(ct, script):
    ct.config["process"]["args"] = ["sh", "-c", script]


def exec_out(ct, *cmd):
    p = ct.rt("exec", ct.id, *cmd, timeout=20)
    assert p.returncode == 0, p.stderr
    return p.stdout


def running(ct, script="sleep 60"):
    sh(ct, script)
    ct.create()
    ct.start()
    return ct


def test_personality_linux32(ct):
    ct.config["linux"]["personality"] = {"domain": "LINUX32"}
    sh(ct, "cat /proc/self/personality")
    assert ct.run_to_end().strip() == "00000008"


def test_personality_unknown_domain_refused(env, ct):
    ct.config["linux"]["personality"] = {"domain": "HPUX"}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1
    if rtt.is_husk():
        assert "linux.personality.domain" in p.stderr_text


def test_scheduler_batch_nice(ct):
    ct.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    # /proc/self/stat: field 19 is nice, field 41 the policy (3 = SCHED_BATCH)
    sh(ct, "cut -d' ' -f19,41 /proc/self/stat")
    assert ct.run_to_end().split() == ["5", "3"]


def test_scheduler_fifo_priority(ct):
    if os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"):
        pytest.skip("real-time group scheduling: a new cgroup has no real-time budget here")
    ct.config["process"]["scheduler"] = {"policy": "SCHED_FIFO", "priority": 7}
    sh(ct, "cut -d' ' -f18,41 /proc/self/stat")
    prio, policy = ct.run_to_end().split()
    # field 18 (priority) is -1 - rt_priority for real-time tasks
    assert policy == "1" and prio == "-8"


def test_scheduler_applies_to_exec(ct):
    ct.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 3}
    running(ct)
    assert exec_out(ct, "sh", "-c", "cut -d' ' -f19,41 /proc/self/stat").split() == ["3", "3"]


def test_scheduler_bad_priority_refused(ct):
    ct.config["process"]["scheduler"] = {"policy": "SCHED_FIFO", "priority": 0}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1
    if rtt.is_husk():
        assert "process.scheduler.priority" in p.stderr_text


def test_io_priority(ct):
    ct.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 3}
    sh(ct, "ionice -p $$")
    assert ct.run_to_end().strip() == "best-effort: prio 3"


def test_io_priority_bad_level_refused(ct):
    ct.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 9}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1


def test_memory_policy_bind(ct):
    ct.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    sh(ct, "grep -m1 -o 'bind:0' /proc/self/numa_maps")
    assert ct.run_to_end().strip() == "bind:0"


def test_memory_policy_offline_node_refused(ct):
    ct.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "63"}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1
    if rtt.is_husk():
        assert "node 63 is not online" in p.stderr_text


def test_memory_policy_nodes_with_default_refused(ct):
    ct.config["linux"]["memoryPolicy"] = {"mode": "MPOL_DEFAULT", "nodes": "0"}
    ct.save()
    assert ct.create(check=False).returncode == 1


def two_cpus():
    if os.cpu_count() < 2:
        pytest.skip("needs two CPUs")


def test_exec_cpu_affinity_final(ct):
    two_cpus()
    ct.config["process"]["execCPUAffinity"] = {"initial": "0", "final": "1"}
    sh(ct, "grep Cpus_allowed_list /proc/self/status")
    assert ct.run_to_end().split()[-1] == "1"


def test_exec_cpu_affinity_initial_only_releases_cpus(ct):
    two_cpus()
    ct.config["process"]["execCPUAffinity"] = {"initial": "1"}
    sh(ct, "grep Cpus_allowed_list /proc/self/status")
    assert ct.run_to_end().split()[-1] == "0-%d" % (os.cpu_count() - 1)


def test_exec_cpu_affinity_for_exec(ct):
    two_cpus()
    ct.config["process"]["execCPUAffinity"] = {"final": "1"}
    running(ct)
    assert exec_out(ct, "grep", "Cpus_allowed_list", "/proc/self/status").split()[-1] == "1"


@pytest.fixture
def veth():
    host, peer = "rtt%s" % uuid.uuid4().hex[:6], "rtp%s" % uuid.uuid4().hex[:6]
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", peer], check=True)
    yield host, peer
    for n in (host, peer):
        subprocess.run(["ip", "link", "del", n], stderr=subprocess.DEVNULL)


def test_net_device_moved_and_renamed(ct, veth):
    host, peer = veth
    ct.config["linux"]["netDevices"] = {host: {"name": "ctr0"}}
    sh(ct, "ip -o link show | cut -d: -f2")
    names = [n.strip().split("@")[0] for n in ct.run_to_end().splitlines()]
    assert "ctr0" in names
    assert subprocess.run(["ip", "link", "show", host], capture_output=True).returncode != 0
    # The container's namespace is gone after delete: the veth is destroyed with it.
    ct.delete()
    for _ in range(100):
        if subprocess.run(["ip", "link", "show", peer], capture_output=True).returncode != 0:
            break
        import time
        time.sleep(0.05)
    assert subprocess.run(["ip", "link", "show", peer], capture_output=True).returncode != 0


def test_net_device_missing_refused(env, ct):
    ct.config["linux"]["netDevices"] = {"rttnosuch0": {}}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1
    from conftest import leftovers
    assert leftovers(env, ct) == []
    if rtt.is_husk():
        assert "rttnosuch0" in p.stderr_text


def test_intel_rdt_without_resctrl_is_an_error(env, ct):
    if os.path.isdir("/sys/fs/resctrl/info"):
        pytest.skip("this host has resctrl")
    ct.config["linux"]["intelRdt"] = {"closID": "rtt", "l3CacheSchema": "L3:0=f"}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1
    from conftest import leftovers
    assert leftovers(env, ct) == []
    if rtt.is_husk():
        assert "intelRdt" in p.stderr_text and "resctrl" in p.stderr_text
