"""checkpoint/restore where CRIU cannot work (issue 19, point 3).

On this host CRIU is missing or cannot run on the kernel (Debian's criu 3.17.1 fails `criu check` on
6.18): checkpoint must fail with one clear line and leave the container running and unchanged;
restore must fail and leave nothing behind (state, cgroup, mounts, processes). The real
checkpoint/restore cases run in the systemd guest (hack/vm/checkpoint-lane.sh)."""
import os
import shutil
import subprocess
import time

import pytest

import rtt
from conftest import leftovers

COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n.t; mv /tmp/n.t /tmp/n; sleep 0.02; done"
CRIU = shutil.which("criu") or ("/usr/sbin/criu" if os.path.exists("/usr/sbin/criu") else None)


def criu_works():
    if not CRIU:
        return False
    p = subprocess.run([CRIU, "check"], capture_output=True, text=True)
    return p.returncode == 0 and "Looks good" in p.stdout + p.stderr


def fake_criu(env, version):
    """A `criu` that reports `version` and fails everything else."""
    d = env.tmpdir()
    path = os.path.join(d, "criu")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'Version: %s'; exit 0; }\nexit 1\n" % version)
    os.chmod(path, 0o755)
    return path


def criu_args(env, how):
    """Global args for each way CRIU can be unusable, or skip."""
    if how == "missing":
        return ["--criu", "/nonexistent/criu"]
    if how == "too-old":
        return ["--criu", fake_criu(env, "2.0")]
    if not CRIU:
        pytest.skip("criu is not installed")
    if criu_works():
        pytest.skip("criu works on this kernel (the guest lane covers it)")
    return []


def running(ct):
    ct.config["root"]["readonly"] = False
    ct.config["process"]["args"] = ["sh", "-c", COUNTER]
    ct.create()
    ct.start()
    deadline = time.time() + 10
    while rtt.read_counter(ct.rootfs) == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert rtt.read_counter(ct.rootfs) > 0
    return ct


def one_clear_line(p):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert lines, "no error message"
    assert any("criu" in l.lower() for l in lines), p.stderr
    return lines


@pytest.mark.parametrize("how", ["missing", "too-old", "kernel"])
def test_checkpoint_without_usable_criu_leaves_container_running(env, ct, how):
    g = criu_args(env, how)
    running(ct)
    pid = ct.state(check=True)["pid"]
    images = os.path.join(env.tmpdir(), "img")
    p = ct.rt(*g, "checkpoint", "--image-path", images, ct.id)
    assert p.returncode == 1, p.stderr
    one_clear_line(p)
    st = ct.state(check=True)
    assert st["status"] == "running" and st["pid"] == pid
    assert rtt.pid_alive(pid) and rtt.proc_starttime(pid) == ct.starttime
    n = rtt.read_counter(ct.rootfs)
    deadline = time.time() + 5
    while rtt.read_counter(ct.rootfs) == n and time.time() < deadline:
        time.sleep(0.02)
    assert rtt.read_counter(ct.rootfs) > n, "the container does not run any more"
    # and it is still an ordinary container
    assert ct.rt("kill", ct.id, "KILL").returncode == 0
    ct.wait_stopped()
    assert ct.rt("delete", ct.id).returncode == 0


@pytest.mark.parametrize("how", ["missing", "too-old", "kernel"])
def test_restore_without_usable_criu_leaves_nothing(env, ct, how):
    g = criu_args(env, how)
    ct.config["root"]["readonly"] = False
    ct.save()
    images = env.tmpdir()
    open(os.path.join(images, "inventory.img"), "wb").close()
    with open(os.path.join(images, "descriptors.json"), "w") as f:
        f.write('["/dev/null","/dev/null","/dev/null"]')
    p = ct.rt(*g, "restore", "-d", "--image-path", images, "--bundle", ct.bundle, ct.id)
    assert p.returncode == 1, p.stderr
    one_clear_line(p)
    assert ct.rt("state", ct.id).returncode != 0
    assert leftovers(env, ct) == []
    with open("/proc/self/mountinfo") as f:
        mounts = [l.split()[4] for l in f]
    assert not [m for m in mounts if m.startswith(env.root) or m.startswith(ct.bundle + "/")], mounts


def test_checkpoint_of_created_container_is_refused(env, ct):
    ct.config["process"]["args"] = ["sh", "-c", "echo started"]
    ct.create()
    p = ct.rt("checkpoint", "--image-path", os.path.join(env.tmpdir(), "img"), ct.id)
    assert p.returncode == 1
    assert "created" in p.stderr, p.stderr
    assert ct.status() == "created"
    ct.start()
    ct.wait_stopped()
    assert "started" in ct.output()


def test_checkpoint_of_missing_container(env):
    p = env.rt("checkpoint", "--image-path", os.path.join(env.tmpdir(), "img"), "nosuch")
    assert p.returncode == 1
    assert "does not exist" in p.stderr or "not exist" in p.stderr, p.stderr


@pytest.mark.husk_only
def test_checkpoint_with_hanging_criu_check_is_bounded(env, ct):
    """A CRIU whose `check` never returns: husk's probe is bounded (20 s), the checkpoint fails
    with one line naming the timeout, and the container keeps running. husk-only: runc 1.1.5
    does not run `criu check` (it asks CRIU's RPC for its version, with no bound either)."""
    d = env.tmpdir()
    path = os.path.join(d, "criu")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'Version: 3.17.1'; exit 0; }\nexec sleep 600\n")
    os.chmod(path, 0o755)
    running(ct)
    pid = ct.state(check=True)["pid"]
    t0 = time.time()
    p = ct.rt("--criu", path, "checkpoint", "--image-path", os.path.join(d, "img"), ct.id, timeout=60)
    took = time.time() - t0
    assert p.returncode == 1, p.stderr
    assert 15 < took < 45, took
    lines = one_clear_line(p)
    assert any("check" in l and "timed out" in l for l in lines), p.stderr
    st = ct.state(check=True)
    assert st["status"] == "running" and st["pid"] == pid
    assert ct.rt("kill", ct.id, "KILL").returncode == 0
    ct.wait_stopped()
    assert ct.rt("delete", ct.id).returncode == 0
