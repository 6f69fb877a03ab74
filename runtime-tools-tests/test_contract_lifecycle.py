"""runc's contract, part 2 (issue 16), lifecycle/kill/hooks: the null signal, the environment
and working directory of the hooks run in the container, the prestart hooks' state, exec
--ignore-paused into a paused container, a time namespace with a user namespace.

Every case runs against any runtime; runc 1.1.5's and crun 1.8.1's known differences are in
known_failures.py."""
import json
import os
import subprocess
import time

import rtt

USERNS_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def running(ct, args=("/checker", "sleep")):
    ct.config["process"]["args"] = list(args)
    ct.create()
    ct.start()
    return ct


def cgroup_procs(ct):
    """The pids in the container's cgroup (freezer hierarchy, or the v2 dir), read on the host."""
    for d in ct.cgroup_dirs():
        if "/freezer/" in d or rtt.is_cgroup2():
            with open(os.path.join(d, "cgroup.procs")) as f:
                return sorted(int(x) for x in f.read().split())
    raise AssertionError("no freezer cgroup dir for %s: %s" % (ct.id, ct.cgroup_dirs()))


def thaw_directly(ct):
    """Thaw the container's cgroup behind the runtime's back, so that a runtime that deadlocked
    on its frozen processes can still be cleaned up."""
    for d in ct.cgroup_dirs():
        for f, v in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            if os.path.exists(os.path.join(d, f)):
                with open(os.path.join(d, f), "w") as out:
                    out.write(v)


# -- item 15: signal 0 ---------------------------------------------------------------------

def test_kill_signal_zero_checks_without_signalling(ct):
    """`kill ID 0` and `kill --all ID 0` succeed on a created and on a running container and
    deliver nothing: the init, a shell that traps the common signals and says so, hears
    nothing and keeps its status."""
    ct.config["process"]["args"] = ["sh", "-c", "trap 'echo got-signal; exit 7' HUP INT TERM USR1 USR2; "
                                     "echo ready; while :; do sleep 0.05; done"]
    ct.create()
    for status in ("created", "running"):
        if status == "running":
            ct.start()
            ct.wait_output("ready")
        assert ct.status() == status
        for args in ([ct.id, "0"], ["--all", ct.id, "0"]):
            p = ct.kill(*args, check=False)
            assert p.returncode == 0, (status, args, p.stderr)
        time.sleep(0.2)
        assert ct.status() == status
        assert rtt.pid_alive(ct.pid)
        assert "got-signal" not in ct.output()
    # a real signal still arrives (the trap works): signal 0 was not mistaken for another one
    ct.kill(ct.id, "USR1")
    ct.wait_stopped()
    assert "got-signal" in ct.output()


def test_kill_all_signal_zero_on_stopped_succeeds(ct):
    """A shim sends `kill --all ID 0` while reaping: on a stopped container it succeeds (as
    runc), also with a real signal; without --all, a stopped container is still an error
    with runc's "container not running"."""
    ct.create()
    ct.start()
    ct.wait_stopped()
    for sig in ("0", "KILL"):
        p = ct.kill("--all", ct.id, sig, check=False)
        assert p.returncode == 0, (sig, p.stderr)
    assert ct.status() == "stopped"
    p = ct.kill(ct.id, "0", check=False)
    assert p.returncode == 1
    assert "container not running" in p.stderr, p.stderr
    # still there to delete
    ct.delete()
    assert ct.state() is None


def test_kill_all_signal_zero_keeps_paused_container_paused(ct):
    """Signal 0 delivers nothing, so `kill --all ID 0` has no reason to thaw a paused container
    (runc 1.1.5 thaws it for every signal sent with --all)."""
    running(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    p = ct.kill("--all", ct.id, "0", check=False)
    assert p.returncode == 0, p.stderr
    assert ct.status() == "paused"
    assert rtt.proc_state(ct.pid) in ("D", "S")
    assert ct.rt("resume", ct.id).returncode == 0
    assert ct.status() == "running"


# -- items 16 and 17: the in-container hooks' environment and working directory ----------

def hook_log(env, ct):
    d = env.tmpdir()
    ct.config.setdefault("mounts", []).append(
        {"destination": "/hooklog", "type": "bind", "source": d, "options": ["rbind", "rw"]})
    ct.config["hooks"] = {}
    return d


# What the shell (busybox in the container, dash on the host) adds to its environment itself.
SHELL_ADDS = ("PWD=", "SHLVL=", "OLDPWD=", "_=")


def env_hook(path_dir, name, hook_env=None):
    """A hook (sh) that writes its exported environment, one entry a line, to DIR/NAME.env.
    (`env`, not /proc/self/environ: busybox runs applets in a fork without exec, where that
    file reads empty.)"""
    h = {"path": "/bin/sh", "args": ["sh", "-c", "cat >/dev/null; env > %s/%s.env" % (path_dir, name)]}
    if hook_env is not None:
        h["env"] = hook_env
    return h


def read_env(d, name):
    with open(os.path.join(d, name + ".env")) as f:
        return [l for l in f.read().splitlines() if l and not l.startswith(SHELL_ADDS)]


def test_start_container_hook_inherits_process_env(env, ct):
    """A startContainer hook without `env` gets the container process's environment (HOME
    included, as the process has it); with `env`, exactly that."""
    d = hook_log(env, ct)
    ct.config["process"]["env"] += ["FROM_PROCESS=yes", "SPACED=a b"]
    ct.config["hooks"]["startContainer"] = [
        env_hook("/hooklog", "noenv"),
        env_hook("/hooklog", "withenv", ["ONLY=this"]),
        env_hook("/hooklog", "emptyenv", []),
    ]
    ct.config["process"]["args"] = ["sh", "-c", "env > /hooklog/process.env"]
    ct.run_to_end()
    process_env = read_env(d, "process")
    noenv = read_env(d, "noenv")
    assert "FROM_PROCESS=yes" in noenv and "SPACED=a b" in noenv, noenv
    assert "HOME=/root" in process_env and "FROM_PROCESS=yes" in process_env, process_env
    assert sorted(noenv) == sorted(process_env)
    # busybox sh sets a PATH of its own when it has none
    withenv = [e for e in read_env(d, "withenv") if not e.startswith("PATH=")]
    assert withenv == ["ONLY=this"], withenv
    assert [e for e in read_env(d, "emptyenv") if not e.startswith("PATH=")] == []


def test_create_container_hook_inherits_process_env(env, ct):
    """createContainer hooks run in the container's init as well: without `env`, the process's
    environment (as runc); with `env`, exactly that."""
    d = hook_log(env, ct)
    ct.config["process"]["env"] += ["FROM_PROCESS=yes"]
    ct.config["hooks"]["createContainer"] = [env_hook(d, "noenv"), env_hook(d, "withenv", ["ONLY=this"])]
    ct.run_to_end()
    noenv = read_env(d, "noenv")
    assert "FROM_PROCESS=yes" in noenv, noenv
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in noenv, noenv
    # dash sets no PATH of its own
    assert read_env(d, "withenv") == ["ONLY=this"]


def test_create_container_hook_cwd_is_rootfs(env, ct):
    """A createContainer hook starts in the container's root filesystem: what it makes with a
    relative path (as GPU/driver-injection hooks do) is in the container."""
    d = hook_log(env, ct)
    ct.config["root"]["readonly"] = False
    ct.config["hooks"]["createContainer"] = [{
        "path": "/bin/sh",
        # (writes only where it should: a runtime starting it elsewhere must not litter there)
        "args": ["sh", "-c", "cat >/dev/null; pwd > %s/cwd; [ \"$(pwd)\" = %s ] || exit 0; "
                 "mkdir -p usr/lib/injected && echo from-hook > usr/lib/injected/lib.so"
                 % (d, os.path.realpath(ct.rootfs))],
    }]
    ct.config["process"]["args"] = ["cat", "/usr/lib/injected/lib.so"]
    out = ct.run_to_end()
    assert open(os.path.join(d, "cwd")).read().strip() == os.path.realpath(ct.rootfs)
    assert "from-hook" in out, (out, ct.errors())
    with open(os.path.join(ct.rootfs, "usr/lib/injected/lib.so")) as f:
        assert f.read().strip() == "from-hook"


# -- item 18: prestart state --------------------------------------------------------------

def test_prestart_hook_state_status_created(env, ct):
    """The deprecated prestart hooks get the state with status "created", as the conformance
    suite (runtime-tools validation/hooks_stdin) and crun give it; createRuntime keeps
    "creating"."""
    d = hook_log(env, ct)
    ct.config["hooks"]["prestart"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "cat > %s/prestart.state" % d]}]
    ct.config["hooks"]["createRuntime"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "cat > %s/createRuntime.state" % d]}]
    ct.create()
    st = json.load(open(os.path.join(d, "prestart.state")))
    assert st["status"] == "created", st
    assert st["id"] == ct.id and st["pid"] == ct.pid and st["bundle"] == ct.bundle, st
    assert json.load(open(os.path.join(d, "createRuntime.state")))["status"] == "creating"
    ct.start()
    ct.wait_stopped()


# -- item 19: exec --ignore-paused into a paused container ---------------------------------

def test_exec_ignore_paused_waits_for_resume_and_resume_gets_through(env, ct):
    """`exec --ignore-paused` into a paused container (as runc 1.1.5): the process is born
    frozen, `exec` (foreground or -d) waits, `resume` is not blocked by that wait, and once
    thawed both execs run and return 0. (husk used to deadlock: its frozen exec child held
    the container's lock that `resume` waits for.)"""
    ct.config["root"]["readonly"] = False
    running(ct)
    before = cgroup_procs(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    base = [rtt.RUNTIME, "--root", env.root, "exec", "--ignore-paused"]
    fg = env.spawn(base + [ct.id, "sh", "-c", "echo ran-fg"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pidfile = os.path.join(env.tmpdir(), "pid")
    det = env.spawn(base + ["-d", "--pid-file", pidfile, ct.id, "sh", "-c", "echo ran-d > /tmp/exec-d"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # While the two processes join the frozen cgroup (a v1 freezer reads FREEZING until they are
    # frozen too) the container stays paused: an exec or state that took it for running would
    # hold or wait for the lock resume needs.
    seen = set()
    deadline = time.time() + 0.5
    while time.time() < deadline:
        seen.add(ct.status())
    assert seen == {"paused"}, seen
    assert not os.path.exists(os.path.join(ct.rootfs, "tmp", "exec-d")), "ran while paused"
    try:
        p = ct.rt("resume", ct.id, timeout=10)
    except subprocess.TimeoutExpired:
        thaw_directly(ct)
        raise AssertionError("resume blocked by the waiting exec --ignore-paused (>10s)")
    assert p.returncode == 0, p.stderr
    assert ct.status() == "running"
    try:
        out, err = fg.communicate(timeout=10)
        assert det.wait(timeout=10) == 0, det.stderr.read()
    except subprocess.TimeoutExpired:
        thaw_directly(ct)
        raise AssertionError("exec --ignore-paused did not return after resume (>10s)")
    assert fg.returncode == 0, err
    assert b"ran-fg" in out, (out, err)
    deadline = time.time() + 10
    path = os.path.join(ct.rootfs, "tmp", "exec-d")
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    with open(path) as f:
        assert f.read().strip() == "ran-d"
    # nothing of the execs left in the container's cgroup
    while cgroup_procs(ct) != before and time.time() < deadline:
        time.sleep(0.02)
    assert cgroup_procs(ct) == before


def test_exec_into_paused_container_without_flag_refused(ct):
    """Without --ignore-paused: refused at once with runc's wording and exit status 255."""
    running(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    p = ct.rt("exec", ct.id, "true", timeout=10)
    assert p.returncode == 255
    assert "cannot exec in a paused container" in p.stderr and "--ignore-paused" in p.stderr, p.stderr
    assert ct.status() == "paused"


# -- item 20: time namespace with a user namespace -----------------------------------------

def test_time_namespace_offsets_with_user_namespace(ct):
    """timeOffsets with a new time namespace and a new user namespace: written once the user
    namespace exists (its root owns the time namespace), applied in the container."""
    ct.config["linux"]["namespaces"] += [{"type": "user"}, {"type": "time"}]
    ct.config["linux"]["uidMappings"] = USERNS_MAP
    ct.config["linux"]["gidMappings"] = USERNS_MAP
    # sysfs/cgroup can only be mounted by the owner of the network namespace's user ns
    ct.config["mounts"] = [m for m in ct.config["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    ct.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 864000, "nanosecs": 0},
                                         "boottime": {"secs": 1728000, "nanosecs": 0}}
    r = ct.report("--read", "/proc/uptime")
    host_uptime = float(open("/proc/uptime").read().split()[0])
    uptime = float(r["read"]["/proc/uptime"]["content"].split()[0])
    assert 1728000 - 60 < uptime - host_uptime < 1728000 + 60, (uptime, host_uptime)
    assert r["ns"]["time"] != os.readlink("/proc/self/ns/time")
    assert r["ns"]["user"] != os.readlink("/proc/self/ns/user")
    assert r["uid_map"].split() == ["0", "100000", "65536"]
