"""runc's cgroup contract on a v1/hybrid host (issue 16, items 21-26), checked on the host side
(cgroup files) and against runc: relative and empty cgroupsPath resolved per hierarchy under the
caller's own cgroups (which differ per hierarchy, as on every systemd v1 host), events, cpu
period/quota updates under a pod limit, minimal device-rule transitions, exec --cgroup escapes,
and linux.resources.unified refused on v1."""
import json
import os
import select
import signal
import subprocess
import time

import pytest

import rtt

CG = rtt.CGROUP_ROOT
pytestmark = pytest.mark.skipif(rtt.is_cgroup2(), reason="cgroup v1/hybrid cases")

# The allows every container gets after its own rules (runc's specconv), as devices.list shows
# them once the runtime has programmed a "deny all" config.
DEFAULT_ALLOWS = ["c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:9 rwm", "c 1:8 rwm",
                  "c *:* m", "b *:* m", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"]


def hierarchies():
    """The mounted hierarchies under /sys/fs/cgroup (the v1 ones and a hybrid host's unified)."""
    out = []
    for n in sorted(os.listdir(CG)):
        p = os.path.join(CG, n)
        if not os.path.islink(p) and os.path.exists(os.path.join(p, "cgroup.procs")):
            out.append(n)
    return out


def read(path):
    with open(path) as f:
        return f.read().strip()


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


def mkdirs(hier, rel):
    """mkdir -p a cgroup in one hierarchy, giving new cpusets their parent's cpus and mems."""
    cur = os.path.join(CG, hier)
    made = []
    for part in rel.strip("/").split("/"):
        parent, cur = cur, os.path.join(cur, part)
        if not os.path.isdir(cur):
            os.mkdir(cur)
            made.append(cur)
        if hier == "cpuset":
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not read(os.path.join(cur, f)):
                    write(os.path.join(cur, f), read(os.path.join(parent, f)))
    return made


def rmtree(paths):
    """Kill what is left in the cgroups (and their children), then remove them."""
    for p in paths:
        for dirpath, _, files in os.walk(p):
            if "cgroup.procs" not in files:
                continue
            try:
                for pid in read(os.path.join(dirpath, "cgroup.procs")).split():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    for p in sorted(paths, key=len, reverse=True):
        for _ in range(50):
            rtt.rmdir_cgroup_tree(p)
            if not os.path.isdir(p):
                break
            time.sleep(0.02)


@pytest.fixture
def callers(ct):
    """Parent cgroups for a runtime caller, at a different path in different hierarchies (as
    systemd v1 puts a login session: memory and pids deeper than the rest, name=systemd in a
    scope of its own). Yields {hierarchy: parent path}; removes everything below them at the end."""
    base = "/%s/%s" % (rtt.CGROUP_PARENT, ct.id)
    parents = {}
    for h in hierarchies():
        if h in ("memory", "pids"):
            parents[h] = base + "-user/session-1.scope"
        elif h == "systemd":
            parents[h] = base + "-sd/session-1.scope"
        else:
            parents[h] = base + "-root"
    made = []
    try:
        for h, rel in parents.items():
            made += mkdirs(h, rel)
        yield parents
    finally:
        ct.cleanup()  # the container first: delete --force, while its state is there
        for h in hierarchies():
            for suffix in ("-user", "-sd", "-root"):
                p = os.path.join(CG, h, (base + suffix).lstrip("/"))
                made.append(p)
        rmtree(set(made))


def run_from(parents, ct, *args):
    """Run the runtime as a caller placed in `parents` (one cgroup per hierarchy)."""
    def move():
        for h, rel in parents.items():
            write(os.path.join(CG, h, rel.lstrip("/"), "cgroup.procs"), str(os.getpid()))
    with open(ct.out_path, "ab") as out, open(ct.err_path, "ab") as err:
        p = subprocess.run([rtt.RUNTIME, "--root", ct.root, *args], preexec_fn=move,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=rtt.TIMEOUT)
    return p.returncode


def own_cgroups(pid):
    """/proc/PID/cgroup as {hierarchy dir name: path}."""
    out = {}
    for line in read("/proc/%d/cgroup" % pid).splitlines():
        _, ctrls, path = line.split(":", 2)
        name = "unified" if ctrls == "" else ctrls.replace("name=", "")
        out[name] = path
    return out


@pytest.mark.parametrize("cgroups_path", ["", "pod-a/ctr"])
def test_relative_cgroups_path_resolved_per_hierarchy(ct, callers, cgroups_path):
    """Item 21: an empty or relative cgroupsPath nests the container under the caller's own cgroup
    in each hierarchy, and limits, stats, pause, update and delete all work there."""
    ct.config["process"]["args"] = ["sleep", "60"]
    if cgroups_path:
        ct.config["linux"]["cgroupsPath"] = cgroups_path
    else:
        ct.config["linux"].pop("cgroupsPath", None)
    res = ct.config["linux"]["resources"]
    res["memory"] = {"limit": 48 << 20}
    res["pids"] = {"limit": 20}
    res["cpu"] = {"shares": 512}
    ct.save()
    ct.cgroups_path = "/%s/%s-none" % (rtt.CGROUP_PARENT, ct.id)  # the fixture's cleanup: nothing
    rc = run_from(callers, ct, "run", "-d", "--pid-file", ct.pid_file, "--bundle", ct.bundle, ct.id)
    assert rc == 0, ct.errors()
    ct.record_pid()
    assert ct.pid
    inner = cgroups_path or ct.id
    # Nested in every v1 hierarchy; a hybrid host's cgroup2 hierarchy is not nested (runc).
    want = {h: ("/" + inner if h == "unified" else "%s/%s" % (rel, inner)) for h, rel in callers.items()}
    dirs = {h: os.path.join(CG, h, p.lstrip("/")) for h, p in want.items()}
    # Host side: the init sits in the per-hierarchy cgroups and the limits are written there.
    got = own_cgroups(ct.pid)
    for h in want:
        if h in got:
            assert got[h] == want[h], (h, got)
        if h != "unified":
            assert str(ct.pid) in read(os.path.join(dirs[h], "cgroup.procs")).split(), h
    assert int(read(os.path.join(dirs["memory"], "memory.limit_in_bytes"))) == 48 << 20
    assert read(os.path.join(dirs["pids"], "pids.max")) == "20"
    assert read(os.path.join(dirs["cpu"], "cpu.shares")) == "512"
    # events --stats reads each controller where it is.
    p = ct.rt("events", "--stats", ct.id)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout.splitlines()[0])["data"]
    assert d["pids"]["current"] == 1 and d["pids"]["limit"] == 20
    assert d["memory"]["usage"]["limit"] == 48 << 20
    assert d["memory"]["usage"]["usage"] > 0
    # pause / resume through the freezer hierarchy's own directory.
    assert ct.rt("pause", ct.id).returncode == 0
    assert read(os.path.join(dirs["freezer"], "freezer.state")) == "FROZEN"
    assert ct.status() == "paused"
    assert ct.rt("resume", ct.id).returncode == 0
    assert read(os.path.join(dirs["freezer"], "freezer.state")) == "THAWED"
    assert ct.status() == "running"
    # update writes into the pids and memory hierarchies' directories.
    p = ct.rt("update", "--pids-limit", "30", "--memory", str(64 << 20), ct.id)
    assert p.returncode == 0, p.stderr
    assert read(os.path.join(dirs["pids"], "pids.max")) == "30"
    assert int(read(os.path.join(dirs["memory"], "memory.limit_in_bytes"))) == 64 << 20
    # kill + delete remove every one of them (the callers' parents stay).
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    for h, d in dirs.items():
        assert not os.path.exists(d), h
        assert os.path.isdir(os.path.join(CG, h, callers[h].lstrip("/"))), h


def per_hierarchy_container(ct, callers, create_only=False):
    ct.config["process"]["args"] = ["sleep", "60"]
    ct.config["linux"]["cgroupsPath"] = "ev"
    ct.save()
    ct.cgroups_path = "/%s/%s-none" % (rtt.CGROUP_PARENT, ct.id)
    cmd = ["create"] if create_only else ["run", "-d"]
    rc = run_from(callers, ct, *cmd, "--pid-file", ct.pid_file, "--bundle", ct.bundle, ct.id)
    assert rc == 0, ct.errors()
    ct.record_pid()


def test_events_stats_in_every_state(ct, callers):
    """Item 22: `events --stats` answers for every container `state` shows as created, paused or
    running (here one with per-hierarchy cgroups), and refuses a stopped one without hanging."""
    per_hierarchy_container(ct, callers, create_only=True)
    for status in ("created", "paused", "running"):
        if status == "paused":
            assert ct.rt("pause", ct.id).returncode == 0
        if status == "running":
            assert ct.rt("resume", ct.id).returncode == 0
            ct.start()
        assert ct.status() == status
        p = ct.rt("events", "--stats", ct.id)
        assert p.returncode == 0, (status, p.stderr)
        ev = json.loads(p.stdout.splitlines()[0])
        assert ev["type"] == "stats" and ev["data"]["pids"]["current"] >= 1, (status, ev)
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    p = ct.rt("events", "--stats", ct.id, timeout=10)
    assert p.returncode != 0
    assert "not running" in p.stderr, p.stderr


def test_events_stream_ends_when_per_hierarchy_container_stops(env, ct, callers):
    """Item 22: a stream ends once the container stops (within a poll), never hangs."""
    per_hierarchy_container(ct, callers)
    ev = env.spawn([rtt.RUNTIME, "--root", ct.root, "events", "--interval", "200ms", ct.id],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([ev.stdout], [], [], 10)
    assert ready, "no stats event within 10 s"
    line = ev.stdout.readline()
    assert json.loads(line)["type"] == "stats", line
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    try:
        ev.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("events still streaming 5 s after the container stopped")
    assert ev.returncode == 0, ev.stderr.read()


def test_update_cpu_period_in_pod_with_pod_limit(ct):
    """Item 23 (runc's "update cpu period in a pod cgroup with pod limit set"): the pod cgroup
    allows 50% of a CPU; a lower period with a quota in the limit is accepted (the period is
    written after the quota when the kernel refuses it first), a quota above it is refused."""
    pod = "/%s/%s-pod" % (rtt.CGROUP_PARENT, ct.id)
    made = mkdirs("cpu", pod)
    try:
        poddir = os.path.join(CG, "cpu", pod.lstrip("/"))
        write(os.path.join(poddir, "cpu.cfs_period_us"), "100000")
        write(os.path.join(poddir, "cpu.cfs_quota_us"), "50000")
        ct.cgroups_path = pod + "/" + ct.id
        ct.config["linux"]["cgroupsPath"] = ct.cgroups_path
        ct.config["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000}
        ct.config["process"]["args"] = ["sleep", "60"]
        ct.create()
        ct.start()
        d = os.path.join(poddir, ct.id)
        assert read(os.path.join(d, "cpu.cfs_quota_us")) == "50000"
        p = ct.rt("update", "--cpu-quota", "60000", ct.id)
        assert p.returncode == 1, p.stderr
        assert read(os.path.join(d, "cpu.cfs_quota_us")) == "50000"
        p = ct.rt("update", "--cpu-period", "10000", "--cpu-quota", "3000", ct.id)
        assert p.returncode == 0, p.stderr
        assert read(os.path.join(d, "cpu.cfs_period_us")) == "10000"
        assert read(os.path.join(d, "cpu.cfs_quota_us")) == "3000"
        p = ct.rt("update", "--cpu-period", "100000", "--cpu-quota", "40000", ct.id)
        assert p.returncode == 0, p.stderr
        assert read(os.path.join(d, "cpu.cfs_period_us")) == "100000"
        assert read(os.path.join(d, "cpu.cfs_quota_us")) == "40000"
    finally:
        ct.cleanup()
        rmtree([os.path.join(CG, h, pod.lstrip("/")) for h in hierarchies()] + made)


def test_devices_minimal_transition_on_existing_cgroup(ct):
    """Item 24: a container created in an existing cgroup that already allows what it needs,
    and has a child cgroup (where the kernel refuses a deny-all reset with EINVAL), gets only
    the differences written: an extra allow is taken away, no reset, /dev/null stays usable."""
    ct.config["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"}]
    rel = ct.cgroups_path
    made = mkdirs("devices", rel)
    d = os.path.join(CG, "devices", rel.lstrip("/"))
    try:
        write(os.path.join(d, "devices.deny"), "a")
        for rule in DEFAULT_ALLOWS + ["c 4:1 rwm"]:
            write(os.path.join(d, "devices.allow"), rule)
        os.mkdir(os.path.join(d, "child"))
        r = ct.report("--open-w", "/dev/null", "--open-r", "/dev/zero")
        assert r["open_w"]["/dev/null"] == "ok", r["open_w"]
        assert r["open_r"]["/dev/zero"] == "ok", r["open_r"]
        listed = read(os.path.join(d, "devices.list")).splitlines()
        assert "c 4:1 rwm" not in listed, listed
        assert sorted(listed) == sorted(DEFAULT_ALLOWS), listed
    finally:
        ct.cleanup()
        rmtree([d] + made)


def test_exec_cgroup_escape_refused(ct):
    """Item 25: exec --cgroup with a path that climbs out of the container's cgroup fails
    clearly, without running anything; an absolute path is taken inside the container's cgroup."""
    ct.config["process"]["args"] = ["sleep", "60"]
    ct.create()
    ct.start()
    for arg in ("../x", "memory:../x", "sub/../../x"):
        p = ct.rt("exec", "--cgroup", arg, ct.id, "sh", "-c", "echo ran")
        assert p.returncode != 0, arg
        assert "ran" not in p.stdout
        assert "not a sub cgroup path" in p.stderr, (arg, p.stderr)
    os.mkdir(os.path.join(CG, "memory", ct.cgroups_path.lstrip("/"), "sub"))
    p = ct.rt("exec", "--cgroup", "memory:/sub", ct.id, "cat", "/proc/self/cgroup")
    assert p.returncode == 0, p.stderr
    mem = [l for l in p.stdout.splitlines() if l.split(":")[1] == "memory"]
    assert mem == ["%s:memory:%s/sub" % (mem[0].split(":")[0], ct.cgroups_path)], p.stdout


def test_unified_on_v1_refused_before_anything_is_made(env, ct):
    """Item 26: linux.resources.unified on a v1 host is an invalid configuration: create fails
    with exit 1 before any cgroup (not even a parent) or state is made."""
    parent = "/%s/%s-u" % (rtt.CGROUP_PARENT, ct.id)
    ct.cgroups_path = parent + "/" + ct.id
    ct.config["linux"]["cgroupsPath"] = ct.cgroups_path
    ct.config["linux"]["resources"]["unified"] = {"pids.max": "10"}
    try:
        p = ct.create(check=False)
        assert p.returncode == 1
        assert "invalid configuration" in p.stderr_text and "unified" in p.stderr_text, p.stderr_text
        assert rtt.cgroup_dirs(parent) == []
        assert [e for e in os.listdir(ct.root) if not e.startswith("@")] == []
        assert ct.state() is None
    finally:
        ct.cleanup()
        rmtree(rtt.cgroup_dirs(parent))
