"""state JSON, status derivation, kill, delete."""
import json
import os
import signal
import time

import pytest

import rtt


def test_state_json_fields(ct):
    ct.config["annotations"] = {"org.example.key": "value-1"}
    ct.create()
    st = ct.state(check=True)
    assert st["ociVersion"].startswith("1.")
    assert st["id"] == ct.id
    assert st["status"] == "created"
    assert st["pid"] == ct.pid
    assert os.path.realpath(st["bundle"]) == os.path.realpath(ct.bundle)
    assert st["annotations"] == {"org.example.key": "value-1"}


# runc's containerState field order (state.go, list.go); Go writes annotations only when set.
STATE_KEYS = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]


@pytest.mark.parametrize("annotated", [False, True])
def test_state_and_list_json_key_order_like_runc(ct, env, annotated):
    # Clients parse the JSON, but some compare or log it verbatim: the fields come in runc's
    # order and an empty annotations map is left out. ociVersion is the spec version the state
    # complies with (the runtime's: runc reports the one it was built with), not the config's.
    keys = list(STATE_KEYS)
    if annotated:
        ct.config["annotations"] = {"org.example.b": "2", "org.example.a": "1"}
        keys.insert(7, "annotations")
    ct.config["ociVersion"] = "1.0.2"
    ct.create()
    p = ct.rt("state", ct.id)
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout, object_pairs_hook=lambda kv: kv)
    assert [k for k, _ in st] == keys
    version = dict(st)["ociVersion"]
    assert version.startswith("1.") and version != "1.0.2", version
    assert dict(st)["owner"] == ""
    if annotated:
        assert dict(st)["annotations"] == [("org.example.a", "1"), ("org.example.b", "2")]
    p = env.rt("list", "-f", "json")
    assert p.returncode == 0, p.stderr
    (row,) = json.loads(p.stdout, object_pairs_hook=lambda kv: kv)
    assert [k for k, _ in row] == keys
    assert dict(row)["ociVersion"] == version and dict(row)["owner"] == "root"


def test_state_unknown_id_is_error(env):
    p = env.rt("state", "no-such-ctr")
    assert p.returncode == 1
    assert p.stdout.strip() == ""
    assert p.stderr.strip()


def test_status_stopped_after_outside_sigkill(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    ct.start()
    assert ct.status() == "running"
    os.kill(ct.pid, signal.SIGKILL)
    ct.wait_stopped()
    ct.delete()
    assert ct.state() is None
    assert ct.cgroup_dirs() == []
    assert os.listdir(ct.root) == []


def test_status_stopped_after_outside_sigkill_of_created(ct):
    ct.create()
    os.kill(ct.pid, signal.SIGKILL)
    ct.wait_stopped()
    ct.delete()
    assert ct.state() is None
    assert ct.cgroup_dirs() == []


TRAP = ("trap 'echo got-USR1; exit 0' USR1; trap 'echo got-TERM; exit 0' TERM; "
        "echo ready; while :; do sleep 0.05; done")


@pytest.mark.parametrize("sig", ["USR1", "SIGUSR1", "10"])
def test_kill_signal_forms(ct, sig):
    ct.config["process"]["args"] = ["sh", "-c", TRAP]
    ct.create()
    ct.start()
    ct.wait_output("ready")
    ct.kill(ct.id, sig)
    ct.wait_stopped()
    assert "got-USR1" in ct.output()


def test_kill_default_is_sigterm(ct):
    ct.config["process"]["args"] = ["sh", "-c", TRAP]
    ct.create()
    ct.start()
    ct.wait_output("ready")
    ct.kill(ct.id)
    ct.wait_stopped()
    assert "got-TERM" in ct.output()


def test_kill_created_container(ct):
    ct.create()
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert ct.state() is None


def test_kill_bad_signal_is_error(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    p = ct.kill(ct.id, "NOSUCHSIG", check=False)
    assert p.returncode == 1
    assert ct.status() == "created"


def test_kill_stopped_is_error(ct):
    ct.create()
    ct.start()
    ct.wait_stopped()
    p = ct.kill(ct.id, "KILL", check=False)
    assert p.returncode == 1
    assert ct.status() == "stopped"


def test_kill_unknown_id_is_error(env):
    p = env.rt("kill", "no-such-ctr", "KILL")
    assert p.returncode == 1


def _procs(c):
    dirs = c.cgroup_dirs()
    d = dirs[0] if rtt.is_cgroup2() else [p for p in dirs if "/pids/" in p or "/memory/" in p][0]
    return [int(x) for x in open(os.path.join(d, "cgroup.procs")).read().split()]


def test_kill_all_signals_every_process(ct):
    # init (sh, pid 1 in its namespace) ignores TERM without a handler; its children do not
    ct.config["process"]["args"] = ["sh", "-c", "sleep 100 & sleep 100 & echo ready; wait; echo children-gone; sleep 100"]
    ct.create()
    ct.start()
    ct.wait_output("ready")
    deadline = time.time() + 5
    while len(_procs(ct)) < 3 and time.time() < deadline:
        time.sleep(0.02)
    children = [p for p in _procs(ct) if p != ct.pid]
    assert len(children) == 2
    ct.kill("--all", ct.id, "TERM")
    ct.wait_output("children-gone")
    for pid in children:
        assert not rtt.pid_alive(pid)


def test_kill_without_all_spares_children(ct):
    ct.config["process"]["args"] = ["sh", "-c", "sleep 100 & sleep 100 & echo ready; wait"]
    ct.create()
    ct.start()
    ct.wait_output("ready")
    time.sleep(0.2)
    children = [p for p in _procs(ct) if p != ct.pid]
    ct.kill(ct.id, "TERM")
    time.sleep(0.3)
    assert all(rtt.pid_alive(p) for p in children)
    assert ct.status() == "running"


def test_delete_running_refused_without_force(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    ct.start()
    p = ct.delete(check=False)
    assert p.returncode == 1
    assert ct.status() == "running"
    assert rtt.pid_alive(ct.pid)
    assert ct.cgroup_dirs()


def test_delete_force_kills_running(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    ct.start()
    pid = ct.pid
    ct.delete(force=True)
    assert rtt.wait_gone(pid, timeout=2)
    assert ct.state() is None
    assert ct.cgroup_dirs() == []
    assert os.listdir(ct.root) == []


def test_delete_stopped_removes_everything(ct):
    ct.create()
    assert ct.cgroup_dirs(), "create made no cgroup dir for cgroupsPath"
    ct.start()
    ct.wait_stopped()
    ct.delete()
    assert ct.state() is None
    assert ct.cgroup_dirs() == []
    assert os.listdir(ct.root) == []


def test_delete_created_container(ct):
    ct.create()
    pid = ct.pid
    ct.delete()
    assert rtt.wait_gone(pid, timeout=2)
    assert ct.state() is None
    assert ct.cgroup_dirs() == []


def test_delete_unknown_id_is_error(env):
    p = env.rt("delete", "no-such-ctr")
    assert p.returncode == 1
    assert p.stderr.strip()


def test_delete_force_unknown_id_succeeds(env):
    # containerd's shim runs `delete` then `delete --force`: the second must not fail
    p = env.rt("delete", "--force", "no-such-ctr")
    assert p.returncode == 0, p.stderr
