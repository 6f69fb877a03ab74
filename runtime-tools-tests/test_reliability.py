"""Reliability (issue 10): crash safety under injected and random kills, concurrency on one
--root, stuck processes, a catalogue of bad input, resource edge cases. After every case nothing
may be left: no state entry, cgroup dir, process, mount or fifo.

Fault injection (husk only): HUSK_FAULT=<point> makes husk SIGKILL itself at a named point;
the points are husk::fault::POINTS (docs/reliability.md)."""
import concurrent.futures
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time

import pytest

import rtt

FAULT_POINTS = [
    "create:state-dir", "create:first-state", "create:cgroup", "create:fifo", "create:forked",
    "create:in-cgroup", "create:ready", "create:saved",
    "start:opened", "start:written",
    "exec:forked", "exec:ready",
    "delete:locked", "delete:killed", "delete:cgroup-removed",
]

# Bound for any single command on a stuck container (kill, delete --force, kill --all).
BOUND = 15


def husk(env, *args, fault=None, timeout=rtt.TIMEOUT, **kw):
    e = dict(os.environ)
    e.pop("HUSK_FAULT", None)
    if fault:
        e["HUSK_FAULT"] = fault
    # Files, not pipes: a container's init inherits the caller's stdio and would hold a pipe open.
    import tempfile
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run([rtt.RUNTIME, "--root", env.root, *args], env=e, stdin=subprocess.DEVNULL,
                           stdout=out, stderr=err, timeout=timeout, **kw)
        out.seek(0)
        err.seek(0)
        p.stdout = out.read().decode(errors="replace")
        p.stderr = err.read().decode(errors="replace")
    return p


def procs_in(cgroup_rel):
    """Live (non-zombie) processes whose /proc/PID/cgroup names cgroup_rel, in any hierarchy."""
    out = []
    needle = ":" + cgroup_rel
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            text = open("/proc/%s/cgroup" % pid).read()
        except OSError:
            continue
        if any(l.endswith(needle) or (needle + "/") in l for l in text.splitlines()):
            if rtt.pid_alive(int(pid)):
                out.append(int(pid))
    return out


def left_behind(env, c, ids=None):
    """Everything of container c (or of `ids` under env.root) still on the host."""
    rtt.reap_children()
    left = []
    entries = os.listdir(env.root) if os.path.isdir(env.root) else []
    mine = [e for e in entries if ids is None or e in ids]
    if mine:
        left.append("state entries: %s" % mine)
    cg = c.cgroup_dirs()
    if cg:
        left.append("cgroup dirs: %s" % cg)
    procs = procs_in(c.cgroups_path)
    if procs:
        left.append("processes in %s: %s" % (c.cgroups_path, procs))
    for line in open("/proc/self/mountinfo"):
        if c.bundle in line:
            left.append("mount: %s" % line.strip())
    return left


def wait_for(pred, timeout=BOUND, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("%s not reached in %ss" % (what, timeout))


def assert_listable(env):
    p = husk(env, "list", "--format", "json")
    assert p.returncode == 0, p.stderr
    json.loads(p.stdout)


# -- crash safety ----------------------------------------------------------------------------

@pytest.mark.husk_only
@pytest.mark.parametrize("point", FAULT_POINTS)
def test_fault_point_then_delete_force_cleans(env, point):
    """husk SIGKILLed at each named point; `delete --force` then removes everything, and
    neither `list` nor `state` of a healthy neighbour fails meanwhile."""
    neighbour = env.container(["sleep", "60"])
    neighbour.create()
    c = env.container(["sleep", "60"])
    c.save()
    cmd, _ = point.split(":")
    if cmd != "create":
        c.create(save=False)
        if cmd in ("exec", "delete"):
            c.start()
    args = {
        "create": ["create", "--bundle", c.bundle, c.id],
        "start": ["start", c.id],
        "exec": ["exec", c.id, "sleep", "60"],
        "delete": ["delete", "--force", c.id],
    }[cmd]
    p = husk(env, *args, fault=point)
    assert p.returncode == -signal.SIGKILL, "husk did not reach %s: rc %d %s" % (point, p.returncode, p.stderr)
    assert_listable(env)
    st = husk(env, "state", neighbour.id)
    assert st.returncode == 0 and json.loads(st.stdout)["status"] == "created", st.stderr
    s = husk(env, "state", c.id)
    assert s.returncode in (0, 1), s
    if s.returncode == 0:
        json.loads(s.stdout)
    d = husk(env, "delete", "--force", c.id, timeout=BOUND)
    assert d.returncode == 0, d.stderr
    assert left_behind(env, c, ids=[c.id]) == []
    assert husk(env, "state", c.id).returncode == 1
    # the id is free again and works
    c.create(save=False)
    c.start()
    assert c.status() == "running"
    c.delete(force=True)
    assert left_behind(env, c, ids=[c.id]) == []


def test_random_time_kills_then_delete_force_cleans(env):
    """create, start and delete --force killed with SIGKILL at random moments."""
    rng = random.Random(int(os.environ.get("RELIAB_SEED", "10")))
    c = env.container(["sleep", "60"])
    c.save()
    kills = 0
    for i in range(24):
        verb = ["create", "create", "start", "delete"][i % 4]
        if verb != "create":
            p = husk(env, "create", "--bundle", c.bundle, c.id)
            assert p.returncode == 0, p.stderr
            if verb == "delete":
                husk(env, "start", c.id)
        args = {"create": ["create", "--bundle", c.bundle, c.id], "start": ["start", c.id],
                "delete": ["delete", "--force", c.id]}[verb]
        proc = subprocess.Popen([rtt.RUNTIME, "--root", env.root, *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, 0.06))
        proc.kill()
        if proc.wait(timeout=rtt.TIMEOUT) == -signal.SIGKILL:
            kills += 1
        assert_listable(env)
        d = husk(env, "delete", "--force", c.id, timeout=BOUND)
        assert d.returncode == 0, (verb, d.stderr)
        assert left_behind(env, c, ids=[c.id]) == [], verb
    assert kills > 0


def test_list_and_state_survive_broken_neighbours(env):
    good = env.container(["sleep", "60"])
    good.create()
    os.makedirs(os.path.join(env.root, "empty-dir"))
    os.makedirs(os.path.join(env.root, "garbage"))
    with open(os.path.join(env.root, "garbage", "state.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "id": "garb')
    os.makedirs(os.path.join(env.root, "wrong-type"))
    with open(os.path.join(env.root, "wrong-type", "state.json"), "w") as f:
        json.dump({"id": 5, "pid": "x"}, f)
    with open(os.path.join(env.root, "a-file"), "w") as f:
        f.write("not a container")
    os.symlink("/nonexistent", os.path.join(env.root, "dangling"))
    p = husk(env, "list", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert [r["id"] for r in json.loads(p.stdout)] == [good.id]
    p = husk(env, "list")
    assert p.returncode == 0 and good.id in p.stdout
    assert json.loads(husk(env, "state", good.id).stdout)["status"] == "created"
    for broken in ("empty-dir", "garbage", "wrong-type"):
        s = husk(env, "state", broken)
        assert s.returncode == 1 and s.stderr.strip() and "panicked" not in s.stderr
        d = husk(env, "delete", "--force", broken)
        assert d.returncode == 0, d.stderr
        assert not os.path.exists(os.path.join(env.root, broken))
    good.delete(force=True)


# -- concurrency -----------------------------------------------------------------------------

def _cycle_many(env, n, workers, tag):
    rootfs = os.path.join(env.tmpdir(), "rootfs")
    rtt.make_rootfs(rootfs, checker=None)
    base = env.tmpdir()
    prefix = "%s-%s" % (tag, os.urandom(3).hex())
    ids = ["%s-%03d" % (prefix, i) for i in range(n)]
    errors = []
    stop = threading.Event()
    reads = {"list": 0, "state": 0}

    def one(cid):
        b = os.path.join(base, cid)
        os.makedirs(b)
        cfg = rtt.make_config(["sleep", "60"], "/%s/%s" % (rtt.CGROUP_PARENT, cid))
        cfg["root"]["path"] = rootfs
        rtt.write_config(b, cfg)
        for args in (["create", "--bundle", b, cid], ["start", cid], ["exec", cid, "true"],
                     ["delete", "--force", cid]):
            p = husk(env, *args)
            if p.returncode != 0:
                errors.append("%s %s: rc %d %s" % (args[0], cid, p.returncode, p.stderr.strip()))
                husk(env, "delete", "--force", cid)
                return

    def reader():
        # state files are never seen half-written; list never fails
        while not stop.is_set():
            p = husk(env, "list", "--format", "json")
            reads["list"] += 1
            if p.returncode != 0:
                errors.append("list: %s" % p.stderr)
            else:
                for r in json.loads(p.stdout) or []:
                    s = husk(env, "state", r["id"])
                    reads["state"] += 1
                    if s.returncode == 0:
                        json.loads(s.stdout)
                    elif "does not exist" not in s.stderr and "being created" not in s.stderr:
                        errors.append("state %s: %s" % (r["id"], s.stderr))
                    break

    t = threading.Thread(target=reader)
    t.start()
    t0 = time.time()
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            list(ex.map(one, ids))
    finally:
        stop.set()
        t.join()
        for cid in ids:
            if os.path.exists(os.path.join(env.root, cid)):
                husk(env, "delete", "--force", cid)
    took = time.time() - t0
    rtt.reap_children()
    assert errors == [], errors[:5]
    left = [e for e in os.listdir(env.root)]
    cg = [d for cid in ids for d in rtt.cgroup_dirs("/%s/%s" % (rtt.CGROUP_PARENT, cid))]
    procs = [p for cid in ids for p in procs_in("/%s/%s" % (rtt.CGROUP_PARENT, cid))]
    assert (left, cg, procs) == ([], [], [])
    assert reads["list"] > 0
    return took


def test_200_containers_8_workers_one_root(env):
    """200 containers created, started, exec'd into and deleted by 8 parallel workers on one
    --root, while a reader lists and reads state: no error, nothing left."""
    took = _cycle_many(env, int(os.environ.get("RELIAB_CONTAINERS", "200")), 8, "rc")
    print("200 containers cycled in %.1fs" % took)


def test_delete_races_start(env):
    """`delete --force` racing `start` on one id: both finish, the end state is consistent and
    nothing is left."""
    for i in range(10):
        c = env.container(["sleep", "60"])
        c.create()
        procs = [subprocess.Popen([rtt.RUNTIME, "--root", env.root, *a], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for a in (["start", c.id], ["delete", "--force", c.id])]
        env.procs.extend(procs)  # one that hangs past BOUND is killed in teardown
        outs = [p.communicate(timeout=BOUND) for p in procs]
        rcs = [p.returncode for p in procs]
        assert rcs[1] == 0, outs[1]
        assert rcs[0] in (0, 1), outs[0]
        if rcs[0] == 1:
            # start lost the race: a clear error, not a crash
            assert outs[0][1].strip() and "panicked" not in outs[0][1]
        assert c.state() is None
        assert left_behind(env, c, ids=[c.id]) == []


def test_two_creates_one_id_clear_error(env):
    a = env.container(["sleep", "60"])
    b = env.container(["sleep", "60"])
    a.save()
    b.save()
    # stderr to files: the winner's init inherits it
    files = [open(x.err_path, "w+") for x in (a, b)]
    procs = [subprocess.Popen([rtt.RUNTIME, "--root", env.root, "create", "--bundle", x.bundle, a.id],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
             for x, f in zip((a, b), files)]
    env.procs.extend(procs)  # one that hangs is killed in teardown
    for p in procs:
        p.wait(timeout=rtt.TIMEOUT)
    errs = [open(x.err_path).read() for x in (a, b)]
    for f in files:
        f.close()
    rcs = sorted(p.returncode for p in procs)
    assert rcs == [0, 1], errs
    loser = errs[[p.returncode for p in procs].index(1)]
    if rtt.is_husk():
        assert "already exists" in loser and a.id in loser, loser
    a.record_pid()
    a.delete(force=True)
    assert left_behind(env, a, ids=[a.id]) == []


# -- stuck processes ---------------------------------------------------------------------------

def timed(env, *args, **kw):
    t0 = time.time()
    p = husk(env, *args, timeout=BOUND + 5, **kw)
    return p, time.time() - t0


@pytest.mark.parametrize("pidns", [True, False], ids=["own-pidns", "host-pidns"])
def test_init_ignoring_sigterm(env, pidns):
    c = env.container(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"])
    if not pidns:
        c.config["linux"]["namespaces"] = [n for n in c.config["linux"]["namespaces"] if n["type"] != "pid"]
    c.create()
    c.start()
    c.wait_output("ready")
    p, took = timed(env, "kill", c.id, "TERM")
    assert p.returncode == 0 and took < BOUND, p.stderr
    time.sleep(0.3)
    assert c.status() == "running"
    d = husk(env, "delete", c.id)
    assert d.returncode == 1 and d.stderr.strip(), d.stderr
    if rtt.runtime_name() in ("husk", "runc"):  # crun: "not in `created` or `stopped` state"
        assert "running" in d.stderr, d.stderr
    p, took = timed(env, "--debug", "delete", "--force", c.id)
    assert p.returncode == 0 and took < BOUND, p.stderr
    if rtt.is_husk():
        assert "SIGKILL" in p.stderr, p.stderr
    assert left_behind(env, c, ids=[c.id]) == []


@pytest.mark.parametrize("how", ["kill-all", "delete-force"])
def test_thousand_children(env, how):
    c = env.container(["sh", "-c", "i=0; while [ $i -lt 1000 ]; do sleep 600 & i=$((i+1)); done; "
                                   "echo ready; wait"])
    c.config["linux"]["resources"]["pids"] = {"limit": 1100}
    c.create()
    c.start()
    c.wait_output("ready", timeout=60)
    assert len(procs_in(c.cgroups_path)) >= 1000
    if how == "kill-all":
        p, took = timed(env, "--debug", "kill", "--all", c.id, "KILL")
        assert p.returncode == 0 and took < BOUND, p.stderr
        if rtt.is_husk():
            assert "processes" in p.stderr, p.stderr
        c.wait_stopped()
        wait_for(lambda: procs_in(c.cgroups_path) == [], what="all children gone")
        d = husk(env, "delete", c.id)
        assert d.returncode == 0, d.stderr
    else:
        p, took = timed(env, "--debug", "delete", "--force", c.id)
        assert p.returncode == 0 and took < BOUND, p.stderr
    assert left_behind(env, c, ids=[c.id]) == []


def test_fork_bomb_under_pids_limit(env):
    c = env.container(["sh", "-c", "f() { f | f & }; f; echo ready; sleep 600"])
    c.config["linux"]["resources"]["pids"] = {"limit": 200}
    c.create()
    c.start()
    time.sleep(1.5)
    p, took = timed(env, "--debug", "delete", "--force", c.id)
    assert p.returncode == 0 and took < BOUND, p.stderr
    assert left_behind(env, c, ids=[c.id]) == []


def _freeze(c, state="FROZEN"):
    f = os.path.join(rtt.CGROUP_ROOT, "freezer", c.cgroups_path.lstrip("/"), "freezer.state")
    if not os.path.exists(f):
        pytest.skip("no v1 freezer here")
    with open(f, "w") as fh:
        fh.write(state)
    wait_for(lambda: open(f).read().strip() == state, what="freezer %s" % state)


@pytest.mark.parametrize("how", ["kill", "kill-all", "delete-force"])
def test_frozen_cgroup(env, how):
    """A container whose processes sit frozen (uninterruptible, D) in the freezer."""
    c = env.container(["sh", "-c", "sleep 600 & echo ready; wait"])
    c.create()
    c.start()
    c.wait_output("ready")
    _freeze(c)
    assert c.status() == "paused"
    assert rtt.proc_state(c.pid) == "D"
    if how == "kill":
        p, took = timed(env, "kill", c.id, "KILL")
        assert p.returncode == 0 and took < BOUND, p.stderr
        # a frozen process does not die until thawed: still paused, nothing hangs
        assert c.status() in ("paused", "stopped")
        _freeze(c, "THAWED")
        c.wait_stopped()
        d = husk(env, "delete", "--force", c.id, timeout=BOUND)
        assert d.returncode == 0, d.stderr
    elif how == "kill-all":
        p, took = timed(env, "--debug", "kill", "--all", c.id, "KILL")
        assert p.returncode == 0 and took < BOUND, p.stderr
        if rtt.is_husk():
            assert "thaw" in p.stderr, p.stderr
        c.wait_stopped()
        d = husk(env, "delete", c.id, timeout=BOUND)
        assert d.returncode == 0, d.stderr
    else:
        p, took = timed(env, "--debug", "delete", "--force", c.id)
        assert p.returncode == 0 and took < BOUND, p.stderr
    assert left_behind(env, c, ids=[c.id]) == []


# -- bad input -----------------------------------------------------------------------------------

def _set(path, value):
    def edit(c):
        cur = c
        keys = path.split(".")
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur.setdefault(k, {})
        if value is DELETE:
            del cur[keys[-1]]
        else:
            cur[keys[-1]] = value
    return edit


DELETE = object()

# (case id, edit of the config dict or raw text, words husk's error must contain)
BAD_CONFIGS = [
    ("invalid-json", '{"ociVersion": "1.0.2", "process": {', ["config.json"]),
    ("not-an-object", "[1, 2, 3]", ["config.json"]),
    ("empty-file", "", ["config.json"]),
    ("uid-string", _set("process.user.uid", "root"), ["process.user.uid"]),
    ("uid-too-big", _set("process.user.uid", 2 ** 32), ["process.user.uid"]),
    ("args-not-list", _set("process.args", "sh"), ["process.args"]),
    ("args-nul", _set("process.args", ["sh\u0000x"]), ["process.args"]),
    ("env-nul", _set("process.env", ["A=b\u0000c"]), ["process.env"]),
    ("no-oci-version", _set("ociVersion", DELETE), ["ociVersion"]),
    ("oci-version-2", _set("ociVersion", "2.0.0"), ["ociVersion"]),
    ("oci-version-junk", _set("ociVersion", "banana"), ["ociVersion"]),
    ("no-root", _set("root", DELETE), ["root"]),
    ("no-process", _set("process", DELETE), ["process"]),
    ("no-args", _set("process.args", DELETE), ["process.args"]),
    ("empty-args", _set("process.args", []), ["process.args"]),
    ("no-cwd", _set("process.cwd", DELETE), ["process.cwd"]),
    ("missing-rootfs", _set("root.path", "no-such-rootfs"), ["no-such-rootfs"]),
    ("relative-cwd", _set("process.cwd", "tmp"), ["process.cwd"]),
    ("relative-ns-path", _set("linux.namespaces", [{"type": "network", "path": "proc/1/ns/net"},
                                                   {"type": "mount"}]), ["linux.namespaces[0].path"]),
    ("unknown-ns-type", _set("linux.namespaces", [{"type": "bogus"}]), ["linux.namespaces[0].type"]),
    ("duplicate-ns", _set("linux.namespaces", [{"type": "mount"}, {"type": "mount"}]), ["linux.namespaces[1]"]),
    ("relative-hook-path", _set("hooks", {"prestart": [{"path": "bin/true"}]}), ["hooks.prestart[0].path"]),
    ("negative-memory", _set("linux.resources.memory", {"limit": -5}), ["linux.resources.memory.limit"]),
    ("negative-swap", _set("linux.resources.memory", {"limit": 1 << 26, "swap": -7}),
     ["linux.resources.memory.swap"]),
    ("swap-below-limit", _set("linux.resources.memory", {"limit": 1 << 26, "swap": 1 << 20}),
     ["linux.resources.memory.swap"]),
    ("tiny-cpu-period", _set("linux.resources.cpu", {"period": 10, "quota": 1000}), ["linux.resources.cpu.period"]),
    ("tiny-cpu-quota", _set("linux.resources.cpu", {"period": 100000, "quota": 5}), ["linux.resources.cpu.quota"]),
    ("huge-cpu-shares", _set("linux.resources.cpu", {"shares": 2 ** 63}), ["linux.resources.cpu.shares"]),
    ("oom-score-adj", _set("process.oomScoreAdj", 5000), ["process.oomScoreAdj"]),
    ("unknown-rlimit", _set("process.rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
     ["process.rlimits[0].type"]),
    ("rlimit-soft-over-hard", _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]),
     ["process.rlimits[0]"]),
    ("bad-seccomp-action", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_BOGUS"}),
     ["linux.seccomp.defaultAction"]),
    ("bad-sysctl-key", _set("linux.sysctl", {"../../etc/passwd": "x"}), ["linux.sysctl"]),
    ("hostname-without-uts", _set("linux.namespaces", [{"type": "mount"}]), ["hostname"]),
    ("empty-mount-destination", _set("mounts", [{"destination": "", "type": "tmpfs", "source": "tmpfs"}]),
     ["mounts[0].destination"]),
    ("root-cgroup", _set("linux.cgroupsPath", "/"), ["linux.cgroupsPath"]),
    ("root-cgroup-dotdot", _set("linux.cgroupsPath", "/husk-test/../.."), ["linux.cgroupsPath"]),
    ("mount-flood", "MOUNT_FLOOD", ["mounts"]),
]


@pytest.mark.parametrize("case,edit,words", BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_bad_config(env, case, edit, words):
    c = env.container(["true"])
    path = os.path.join(c.bundle, "config.json")
    if edit == "MOUNT_FLOOD":
        c.save()
        cfg = json.load(open(path))
        cfg["mounts"] = [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}] * 10 ** 6
        with open(path, "w") as f:
            json.dump(cfg, f)
    elif isinstance(edit, str):
        with open(path, "w") as f:
            f.write(edit)
    else:
        edit(c.config)
        c.save()
    p = husk(env, "create", "--bundle", c.bundle, c.id, timeout=60)
    if p.returncode == 0:
        c.record_pid()
    assert p.returncode == 1, (p.returncode, p.stderr)
    msg = p.stderr.strip()
    assert msg and "panicked" not in msg
    if rtt.is_husk():
        for w in words:
            assert w in msg, "error %r does not name %r" % (msg, w)
    assert left_behind(env, c) == []
    assert c.state() is None


BAD_INVOCATIONS = [
    ("kill-unknown-signal", ["kill", "{id}", "NOPE"], ["NOPE"]),
    ("kill-signal-99", ["kill", "{id}", "99"], ["99"]),
    ("kill-signal-negative", ["kill", "{id}", "-9"], ["-9"]),
    ("kill-missing", ["kill", "no-such-ctr", "KILL"], ["no-such-ctr"]),
    ("state-bad-id", ["state", "../etc"], ["../etc"]),
    ("delete-bad-id", ["delete", "a/b"], ["a/b"]),
    ("start-missing", ["start", "no-such-ctr"], ["no-such-ctr"]),
    ("exec-missing", ["exec", "no-such-ctr", "true"], ["no-such-ctr"]),
    ("exec-no-command", ["exec", "{id}"], ["command"]),
    ("exec-bad-user", ["exec", "--user", "root:x", "{id}", "true"], ["--user"]),
    ("exec-bad-process-json", ["exec", "--process", "{bundle}/bad.json", "{id}"], ["bad.json"]),
    ("exec-missing-process-file", ["exec", "--process", "{bundle}/none.json", "{id}"], ["none.json"]),
    ("create-missing-bundle", ["create", "--bundle", "/nonexistent-rtt-bundle", "x1"], ["/nonexistent-rtt-bundle"]),
    ("create-console-socket-missing", ["create", "--bundle", "{tbundle}", "--console-socket",
                                       "/nonexistent-rtt.sock", "x2"], ["/nonexistent-rtt.sock"]),
    ("create-terminal-no-socket", ["create", "--bundle", "{tbundle}", "x3"], ["console socket"]),
    ("unknown-command", ["frobnicate"], ["frobnicate"]),
    ("unknown-flag", ["state", "--bogus", "{id}"], ["--bogus"]),
    ("preserve-fds-junk", ["create", "--preserve-fds", "many", "--bundle", "{bundle}", "x4"], ["many"]),
]


@pytest.mark.parametrize("case,argv,words", BAD_INVOCATIONS, ids=[b[0] for b in BAD_INVOCATIONS])
def test_bad_invocation(env, case, argv, words):
    c = env.container(["sleep", "60"])
    c.create()
    c.start()
    t = env.container(["true"])
    t.config["process"]["terminal"] = True
    t.save()
    with open(os.path.join(c.bundle, "bad.json"), "w") as f:
        f.write('{"args": [1, 2]')
    argv = [a.format(id=c.id, bundle=c.bundle, tbundle=t.bundle) for a in argv]
    before = sorted(os.listdir(env.root))
    p = husk(env, *argv)
    # runc's contract: a failed `exec` exits 255 (its own status space is the process's),
    # every other command 1.
    want = 255 if argv[0] == "exec" else 1
    assert p.returncode == want, (p.returncode, p.stderr)
    assert p.stderr.strip() and "panicked" not in p.stderr
    if rtt.is_husk():
        for w in words:
            assert w in p.stderr, "error %r does not name %r" % (p.stderr, w)
    assert sorted(os.listdir(env.root)) == before
    assert t.cgroup_dirs() == [] and procs_in(t.cgroups_path) == []
    assert c.status() == "running"
    c.delete(force=True)


# -- resource edge cases -------------------------------------------------------------------------

def _start_or_fail_clearly(env, c):
    """create + start either run the container to its end or fail with exit 1 and a message;
    never hang. Returns the output, or None when create/start failed."""
    c.save()
    p = husk(env, "create", "--bundle", c.bundle, c.id, timeout=BOUND + 15)
    if p.returncode != 0:
        assert p.returncode == 1 and p.stderr.strip(), p
        assert left_behind(env, c) == []
        return None
    c.record_pid()
    s = husk(env, "start", c.id, timeout=BOUND)
    if s.returncode != 0:
        assert s.returncode == 1 and s.stderr.strip(), s
    c.wait_stopped(timeout=BOUND)
    d = husk(env, "delete", "--force", c.id, timeout=BOUND)
    assert d.returncode == 0, d.stderr
    assert left_behind(env, c) == []
    return c.output()


def test_memory_limit_512k(env):
    c = env.container(["sh", "-c", "echo small-memory-ok"])
    c.config["linux"]["resources"]["memory"] = {"limit": 512 * 1024}
    out = None
    with open(c.out_path, "wb") as o, open(c.err_path, "w+") as e:
        c.save()
        p = subprocess.run([rtt.RUNTIME, "--root", env.root, "create", "--bundle", c.bundle, c.id],
                           stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=BOUND + 15)
        e.seek(0)
        p.stderr = e.read()
    if p.returncode == 0:
        c.record_pid()
        s = husk(env, "start", c.id, timeout=BOUND)
        assert s.returncode in (0, 1)
        c.wait_stopped(timeout=BOUND)
        out = c.output()
        assert husk(env, "delete", "--force", c.id, timeout=BOUND).returncode == 0
    else:
        assert p.returncode == 1 and p.stderr.strip(), p
        if rtt.is_husk():
            assert "memory" in p.stderr, p.stderr
    assert left_behind(env, c) == []
    print("512 KiB: %s" % ("ran: %r" % out if p.returncode == 0 else "refused: %s" % p.stderr.strip()))


def test_pids_max_1(env):
    c = env.container(["true"])
    c.config["linux"]["resources"]["pids"] = {"limit": 1}
    c.create()
    c.start()
    c.wait_stopped(timeout=BOUND)
    c.delete()
    assert left_behind(env, c) == []
    # a process that forks: the fork fails inside the container, nothing hangs
    c2 = env.container(["sh", "-c", "/bin/true; echo after-fork-attempt"])
    c2.config["linux"]["resources"]["pids"] = {"limit": 1}
    _start_or_fail_clearly(env, c2)


def test_nofile_soft_16(env):
    c = env.container(["sh", "-c", "ulimit -n; echo nofile-ok"])
    c.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 16, "hard": 1024}]
    out = c.run_to_end()
    assert "nofile-ok" in out and out.split()[0] == "16", out
    c.delete()
    assert left_behind(env, c) == []


def test_readonly_run_as_state_root(env):
    """--root on a read-only filesystem (a read-only /run): a clear error, nothing made."""
    d = env.tmpdir()
    env.mount("-t", "tmpfs", "-o", "ro,size=64k", "rtt-ro-run", target=d)
    c = env.container(["true"])
    c.save()
    p = subprocess.run([rtt.RUNTIME, "--root", os.path.join(d, "husk"), "create", "--bundle", c.bundle, c.id],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BOUND)
    assert p.returncode == 1 and p.stderr.strip(), p
    if rtt.is_husk():
        assert d in p.stderr and "Read-only" in p.stderr, p.stderr
    assert c.cgroup_dirs() == [] and procs_in(c.cgroups_path) == []


def test_readonly_run_in_container(env):
    c = env.container(["sh", "-c", "touch /run/x 2>&1 || echo run-is-ro"])
    c.config["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]})
    os.makedirs(os.path.join(c.rootfs, "run"), exist_ok=True)
    out = c.run_to_end()
    assert "run-is-ro" in out, out
    c.delete()
    assert left_behind(env, c) == []
