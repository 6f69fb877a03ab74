"""Lifecycle: create -> created (pid) -> start -> running -> stopped; run; pid file."""
import os
import signal
import subprocess
import time

import rtt


def test_create_state_created_with_pid(ct):
    ct.config["process"]["args"] = ["sh", "-c", "echo started"]
    ct.create()
    st = ct.state(check=True)
    assert st["status"] == "created"
    assert isinstance(st["pid"], int) and st["pid"] > 0
    assert rtt.pid_alive(st["pid"])


def test_pid_file_written_before_create_returns(ct):
    ct.create()
    assert os.path.exists(ct.pid_file), "pid file missing right after create returned"
    pid = int(open(ct.pid_file).read().strip())
    assert pid == ct.state()["pid"]
    # the host pid of the container's init: it lives in another pid namespace
    assert os.readlink("/proc/%d/ns/pid" % pid) != os.readlink("/proc/self/ns/pid")
    assert rtt.proc_state(pid) not in (None, "Z")


def test_init_reparented_to_subreaper(ct):
    ct.create()
    with open("/proc/%d/stat" % ct.pid) as f:
        s = f.read()
    ppid = int(s[s.rindex(")") + 2:].split()[1])
    assert ppid == os.getpid()


def test_create_does_not_run_workload(ct):
    ct.config["process"]["args"] = ["sh", "-c", "echo workload-ran"]
    ct.create()
    time.sleep(0.3)
    assert "workload-ran" not in ct.output()
    assert ct.status() == "created"
    ct.start()
    ct.wait_stopped()
    assert "workload-ran" in ct.output()


def test_start_running_then_stopped(ct):
    ct.config["process"]["args"] = ["sh", "-c", "echo up; sleep 1"]
    ct.create()
    ct.start()
    ct.wait_output("up")
    assert ct.status() == "running"
    ct.wait_stopped()
    assert ct.status() == "stopped"
    ct.delete()
    assert ct.state() is None


def test_start_twice_is_error(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    ct.start()
    p = ct.start(check=False)
    assert p.returncode == 1, p
    assert ct.status() == "running"


def test_start_stopped_is_error(ct):
    ct.create()
    ct.start()
    ct.wait_stopped()
    p = ct.start(check=False)
    assert p.returncode == 1, p
    assert ct.status() == "stopped"


def test_start_unknown_is_error(env):
    p = env.rt("start", "no-such-ctr")
    assert p.returncode == 1
    assert p.stderr.strip()


def run_fg(env, c, *extra, timeout=20):
    c.save()
    return env.rt("run", "--bundle", c.bundle, *extra, c.id, timeout=timeout)


def test_run_foreground_exit_code(env, ct):
    ct.config["process"]["args"] = ["sh", "-c", "echo run-out; exit 3"]
    p = run_fg(env, ct)
    assert p.returncode == 3, p
    assert "run-out" in p.stdout
    assert ct.state() is None, "run without --keep must delete the container"
    assert os.listdir(env.root) == []
    assert ct.cgroup_dirs() == []


def test_run_exit_code_on_signal(env, ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.save()
    p = env.spawn([rtt.RUNTIME, "--root", env.root, "run", "--bundle", ct.bundle, ct.id],
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline and ct.status() != "running":
        time.sleep(0.02)
    assert ct.status() == "running"
    ct.kill(ct.id, "KILL")
    rc = p.wait(timeout=15)
    assert rc == 128 + signal.SIGKILL


def test_run_detach(env, ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.save()
    t = time.time()
    with open(ct.err_path, "ab") as err:
        # the container keeps the caller's stdio: give it files, not pipes
        p = env.rt("run", "--detach", "--bundle", ct.bundle, ct.id, stdout=subprocess.DEVNULL,
                   stderr=err, capture=False, timeout=20)
    assert p.returncode == 0
    assert time.time() - t < 10
    ct.record_pid()
    assert ct.status() == "running"


def test_run_keep(env, ct):
    ct.config["process"]["args"] = ["sh", "-c", "exit 0"]
    p = run_fg(env, ct, "--keep")
    assert p.returncode == 0, p
    assert ct.status() == "stopped"
    ct.delete()
    assert ct.state() is None
    assert os.listdir(env.root) == []


def test_start_after_init_killed_is_error(ct):
    ct.create()
    os.kill(ct.pid, signal.SIGKILL)
    ct.wait_stopped()
    p = ct.start(check=False)
    assert p.returncode == 1
    assert ct.status() == "stopped"
