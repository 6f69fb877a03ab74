"""Operations commands: ps, pause/resume, update, events, features, list, spec.

Limits written by `update` are read back on the host under /sys/fs/cgroup/<ctrl>/husk-test/<id>
and in `events --stats`; `features` claims are checked against behaviour."""
import json
import os
import subprocess
import time

import pytest

import rtt

CG = rtt.CGROUP_ROOT
LOOP = "echo ready; while :; do sleep 0.05; done"
COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n.t; mv /tmp/n.t /tmp/n; sleep 0.02; done"  # mv: never a torn read


# On a cgroup v2 host (the hack/vm guest) the v1 names read here map onto the unified files.
V2_NAMES = {"memory.limit_in_bytes": "memory.max", "memory.soft_limit_in_bytes": "memory.low"}


def cg_path(c, ctrl, name):
    if rtt.is_cgroup2():
        return os.path.join(CG, c.cgroups_path.lstrip("/"), V2_NAMES.get(name, name))
    return os.path.join(CG, ctrl, c.cgroups_path.lstrip("/"), name)


def cg_file(c, ctrl, name):
    if rtt.is_cgroup2() and name == "freezer.state":
        frozen = "frozen 1" in cg_file(c, ctrl, "cgroup.events").splitlines()
        return "FROZEN" if frozen else "THAWED"
    if rtt.is_cgroup2() and name == "cpu.cfs_quota_us":
        quota = cg_file(c, ctrl, "cpu.max").split()[0]
        return "-1" if quota == "max" else quota
    with open(cg_path(c, ctrl, name)) as f:
        return f.read().strip()


def cg_pids(c):
    return sorted(int(p) for p in cg_file(c, "pids", "cgroup.procs").split())


def running(ct, args=("sh", "-c", LOOP), wait=1):
    """create + start a container running `args`; wait until `wait` processes are in it."""
    ct.config["process"]["args"] = list(args)
    ct.create()
    ct.start()
    deadline = time.time() + 10
    while len(cg_pids(ct)) < wait and time.time() < deadline:
        time.sleep(0.02)
    assert len(cg_pids(ct)) >= wait
    return ct


def fails(p, *words):
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip(), "no error message"
    if rtt.is_husk():
        for w in words:
            assert w in p.stderr, "husk's error %r does not mention %r" % (p.stderr, w)


# -- ps ----------------------------------------------------------------------------------------

TWO_CHILDREN = ("sh", "-c", "sleep 100 & sleep 100 & echo ready; wait")


@pytest.mark.parametrize("flag", ["--format", "-f"])
def test_ps_json_is_the_cgroup_pids(ct, flag):
    running(ct, TWO_CHILDREN, wait=3)
    p = ct.rt("ps", flag, "json", ct.id)
    assert p.returncode == 0, p.stderr
    pids = json.loads(p.stdout)
    assert sorted(pids) == cg_pids(ct)
    assert ct.pid in pids


def test_ps_table_default_is_ps_ef_filtered(ct):
    v = subprocess.run(["ps", "--version"], capture_output=True, text=True)
    if "procps" not in v.stdout:
        pytest.skip("ps is not procps' (the hack/vm guest has busybox ps, without `ps -ef` columns)")
    running(ct, TWO_CHILDREN, wait=3)
    p = ct.rt("ps", ct.id)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    header = lines[0].split()
    assert header[:2] == ["UID", "PID"] and header[-1] == "CMD"
    rows = [l.split() for l in lines[1:]]
    assert sorted(int(r[1]) for r in rows) == cg_pids(ct)
    assert sum(r[-2:] == ["sleep", "100"] for r in rows) == 2


def test_ps_table_with_ps_args(ct):
    running(ct, TWO_CHILDREN, wait=3)
    p = ct.rt("ps", ct.id, "-o", "pid,comm")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"]
    got = sorted((int(l.split()[0]), l.split()[1]) for l in lines[1:])
    assert [pid for pid, _ in got] == cg_pids(ct)
    assert sorted(c for _, c in got) == ["sh", "sleep", "sleep"]


def test_ps_table_without_pid_column_is_error(ct):
    running(ct)
    fails(ct.rt("ps", ct.id, "-o", "comm"), "PID")


def test_ps_of_stopped_container_is_empty(ct):
    ct.run_to_end()
    p = ct.rt("ps", "-f", "json", ct.id)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) in (None, [])
    p = ct.rt("ps", ct.id)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 1


def test_ps_errors(env, ct):
    fails(env.rt("ps", "no-such-ctr"), "does not exist")
    fails(env.rt("ps"))
    running(ct)
    fails(ct.rt("ps", "-f", "xml", ct.id))


# -- pause / resume ----------------------------------------------------------------------------

def test_pause_resume_running(ct):
    ct.config["root"]["readonly"] = False
    running(ct, ("sh", "-c", COUNTER))
    time.sleep(0.2)
    p = ct.rt("pause", ct.id)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert ct.status() == "paused"
    assert cg_file(ct, "freezer", "freezer.state") == "FROZEN"
    n = rtt.read_counter(ct.rootfs)
    time.sleep(0.3)
    assert rtt.read_counter(ct.rootfs) == n, "processes ran while paused"
    # list shows it too
    rows = json.loads(ct.rt("list", "-f", "json").stdout)
    assert [r["status"] for r in rows if r["id"] == ct.id] == ["paused"]
    p = ct.rt("resume", ct.id)
    assert p.returncode == 0, p.stderr
    assert ct.status() == "running"
    assert cg_file(ct, "freezer", "freezer.state") == "THAWED"
    deadline = time.time() + 5
    while rtt.read_counter(ct.rootfs) == n and time.time() < deadline:
        time.sleep(0.02)
    assert rtt.read_counter(ct.rootfs) > n, "processes did not run again after resume"


def test_pause_created_container_resumes_to_created(ct):
    ct.config["process"]["args"] = ["sh", "-c", "echo started"]
    ct.create()
    assert ct.rt("pause", ct.id).returncode == 0
    assert ct.status() == "paused"
    assert ct.rt("resume", ct.id).returncode == 0
    assert ct.status() == "created"
    ct.start()
    ct.wait_stopped()
    assert "started" in ct.output()


def test_pause_paused_is_error(ct):
    running(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    fails(ct.rt("pause", ct.id), "not running")
    assert ct.status() == "paused"


def test_resume_running_is_error(ct):
    running(ct)
    fails(ct.rt("resume", ct.id), "not paused")
    assert ct.status() == "running"


def test_pause_resume_stopped_is_error(ct):
    ct.run_to_end()
    fails(ct.rt("pause", ct.id), "not running")
    fails(ct.rt("resume", ct.id), "not paused")
    assert ct.status() == "stopped"


def test_pause_resume_unknown_or_missing_id_is_error(env):
    for verb in ("pause", "resume"):
        fails(env.rt(verb, "no-such-ctr"), "does not exist")
        fails(env.rt(verb))


def test_delete_force_paused_container(ct):
    running(ct, TWO_CHILDREN, wait=3)
    pids = cg_pids(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    ct.delete(force=True)
    assert rtt.wait_gone(pids, timeout=5)
    assert ct.state() is None
    assert ct.cgroup_dirs() == []


def test_kill_paused_container(ct):
    running(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    ct.kill(ct.id, "KILL")
    if ct.status() == "paused":
        # runc signals but leaves it frozen: SIGKILL lands on resume
        assert ct.rt("resume", ct.id).returncode == 0
    ct.wait_stopped()


# -- update ------------------------------------------------------------------------------------

def _blkio_weight(ct):
    for f in ("blkio.bfq.weight", "blkio.weight"):
        if os.path.exists(cg_path(ct, "blkio", f)):
            return cg_file(ct, "blkio", f).split()[-1]
    return None


UPDATES = [
    (["--memory", "50m"], "memory", "memory.limit_in_bytes", str(50 << 20)),
    (["--memory", "52428800"], "memory", "memory.limit_in_bytes", str(50 << 20)),
    (["--memory-reservation", "20M"], "memory", "memory.soft_limit_in_bytes", str(20 << 20)),
    (["--memory", "50m", "--memory-swap", "100m"], "memory", "memory.memsw.limit_in_bytes", str(100 << 20)),
    (["--cpu-share", "300"], "cpu", "cpu.shares", "300"),
    (["--cpu-quota", "20000", "--cpu-period", "100000"], "cpu", "cpu.cfs_quota_us", "20000"),
    (["--cpu-period", "50000"], "cpu", "cpu.cfs_period_us", "50000"),
    (["--cpu-rt-period", "900000", "--cpu-rt-runtime", "0"], "cpu", "cpu.rt_period_us", "900000"),
    (["--cpuset-cpus", "0"], "cpuset", "cpuset.cpus", "0"),
    (["--cpuset-mems", "0"], "cpuset", "cpuset.mems", "0"),
    (["--pids-limit", "30"], "pids", "pids.max", "30"),
]


@pytest.mark.parametrize("flags,ctrl,name,want", UPDATES,
                         ids=["memory", "memory-bytes", "memory-reservation", "memory-swap", "cpu-share",
                              "cpu-quota", "cpu-period", "cpu-rt", "cpuset-cpus", "cpuset-mems",
                              "pids-limit"])
def test_update_flag_reaches_cgroup(ct, flags, ctrl, name, want):
    if not os.path.isdir(os.path.join(CG, ctrl)):
        pytest.skip("no v1 %s hierarchy" % ctrl)
    running(ct)
    p = ct.rt("update", *flags, ct.id)
    assert p.returncode == 0, p.stderr
    assert cg_file(ct, ctrl, name) == want
    assert ct.status() == "running"


def test_update_cpu_quota_unlimited(ct):
    ct.config["linux"]["resources"]["cpu"] = {"quota": 20000, "period": 100000}
    running(ct)
    assert cg_file(ct, "cpu", "cpu.cfs_quota_us") == "20000"
    p = ct.rt("update", "--cpu-quota", "-1", ct.id)
    assert p.returncode == 0, p.stderr
    assert cg_file(ct, "cpu", "cpu.cfs_quota_us") == "-1"


def test_update_blkio_weight(ct):
    running(ct)
    if _blkio_weight(ct) is None:
        pytest.skip("no blkio weight file (no CFQ/BFQ)")
    p = ct.rt("update", "--blkio-weight", "500", ct.id)
    assert p.returncode == 0, p.stderr
    assert _blkio_weight(ct) == "500"


def test_update_resources_on_stdin(ct):
    # containerd's CRI: `update --resources - ID`, LinuxResources JSON on stdin
    running(ct)
    body = json.dumps({"memory": {"limit": 52428800}, "pids": {"limit": 40},
                       "cpu": {"shares": 256, "quota": 30000, "period": 100000}})
    p = subprocess.run([rtt.RUNTIME, "--root", ct.root, "update", "--resources", "-", ct.id],
                       input=body, capture_output=True, text=True, timeout=rtt.TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert cg_file(ct, "memory", "memory.limit_in_bytes") == "52428800"
    assert cg_file(ct, "pids", "pids.max") == "40"
    if not rtt.is_cgroup2():  # v2: cpu.weight, test_cgroup_v2.py
        assert cg_file(ct, "cpu", "cpu.shares") == "256"
    assert cg_file(ct, "cpu", "cpu.cfs_quota_us") == "30000"


def test_update_resources_file_ignores_flags(env, ct):
    # podman: `update --resources=FILE ID`; flags are ignored next to --resources (as runc)
    running(ct)
    f = os.path.join(env.tmpdir(), "res.json")
    with open(f, "w") as out:
        json.dump({"memory": {"limit": 60 << 20, "reservation": 10 << 20}, "pids": {"limit": 50}}, out)
    p = ct.rt("update", "--resources=" + f, "--pids-limit", "99", ct.id)
    assert p.returncode == 0, p.stderr
    assert cg_file(ct, "memory", "memory.limit_in_bytes") == str(60 << 20)
    assert cg_file(ct, "memory", "memory.soft_limit_in_bytes") == str(10 << 20)
    assert cg_file(ct, "pids", "pids.max") == "50"


def test_update_zero_means_unchanged(env, ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    ct.config["linux"]["resources"]["pids"] = {"limit": 64}
    running(ct)
    f = os.path.join(env.tmpdir(), "res.json")
    with open(f, "w") as out:
        json.dump({"memory": {"limit": 0}, "pids": {"limit": 0}, "cpu": {"shares": 0, "cpus": ""}}, out)
    p = ct.rt("update", "-r", f, ct.id)
    assert p.returncode == 0, p.stderr
    assert cg_file(ct, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cg_file(ct, "pids", "pids.max") == "64"


def test_update_paused_container(ct):
    running(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    p = ct.rt("update", "--pids-limit", "33", ct.id)
    assert p.returncode == 0, p.stderr
    assert cg_file(ct, "pids", "pids.max") == "33"
    assert ct.status() == "paused"
    assert ct.rt("resume", ct.id).returncode == 0


def test_update_visible_in_events_stats(ct):
    running(ct)
    p = ct.rt("update", "--memory", "50m", "--pids-limit", "30", ct.id)
    assert p.returncode == 0, p.stderr
    ev = json.loads(ct.rt("events", "--stats", ct.id).stdout)
    assert ev["data"]["memory"]["usage"]["limit"] == 50 << 20
    assert ev["data"]["pids"]["limit"] == 30


@pytest.mark.husk_only
def test_update_is_saved_in_state(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20, "disableOOMKiller": True}
    running(ct)
    assert ct.rt("update", "--memory", "50m", ct.id).returncode == 0
    assert ct.rt("update", "--pids-limit", "30", ct.id).returncode == 0
    with open(os.path.join(ct.root, ct.id, "state.json")) as f:
        res = json.load(f)["config"]["linux"]["resources"]
    assert res["memory"] == {"limit": 50 << 20, "disableOOMKiller": True}
    assert res["pids"] == {"limit": 30}
    assert res["devices"] == [{"allow": False, "access": "rwm"}]
    # the recorded disableOOMKiller survived the memory update in the cgroup too
    if not rtt.is_cgroup2():  # v2 has no OOM killer switch
        assert "oom_kill_disable 1" in cg_file(ct, "memory", "memory.oom_control")


@pytest.mark.parametrize("flags,words", [
    (["--memory", "abc"], ["memory", "abc"]),
    (["--pids-limit", "x"], ["pids-limit"]),
    (["--cpu-share", "-5"], ["cpu-share"]),
    (["--l3-cache-schema", "L3:0=f"], ["Intel RDT"]),
    (["--mem-bw-schema", "MB:0=50"], ["Intel RDT"]),
], ids=["memory", "pids", "cpu-share", "l3", "mem-bw"])
def test_update_bad_flag_is_error(ct, flags, words):
    ct.config["linux"]["resources"]["pids"] = {"limit": 64}
    running(ct)
    fails(ct.rt("update", *flags, ct.id), *words)
    assert cg_file(ct, "pids", "pids.max") == "64"


def test_update_bad_json_is_error(env, ct):
    ct.config["linux"]["resources"]["pids"] = {"limit": 64}
    running(ct)
    f = os.path.join(env.tmpdir(), "res.json")
    for body in ('{"pids": {"limit": "many"}}', '{"memory": {'):
        with open(f, "w") as out:
            out.write(body)
        fails(ct.rt("update", "-r", f, ct.id))
    with open(f, "w") as out:
        out.write('{"pids": {"limit": "many"}}')
    fails(ct.rt("update", "-r", f, ct.id), "pids.limit")
    fails(ct.rt("update", "-r", os.path.join(env.tmpdir(), "missing.json"), ct.id), "missing.json")
    assert cg_file(ct, "pids", "pids.max") == "64"


def test_update_stopped_or_unknown_is_error(env, ct):
    ct.run_to_end()
    fails(ct.rt("update", "--pids-limit", "10", ct.id), "not running")
    fails(env.rt("update", "--pids-limit", "10", "no-such-ctr"), "does not exist")
    fails(env.rt("update", "--pids-limit", "10"))


# -- events ------------------------------------------------------------------------------------

def test_events_stats_once(ct):
    running(ct, TWO_CHILDREN, wait=3)
    p = ct.rt("events", "--stats", ct.id)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1
    ev = json.loads(lines[0])
    assert ev["type"] == "stats" and ev["id"] == ct.id
    for k in ("cpu", "memory", "pids", "blkio", "hugetlb"):
        assert k in ev["data"], k
    assert ev["data"]["pids"]["current"] == 3
    assert ev["data"]["memory"]["usage"]["usage"] > 0
    assert ev["data"]["cpu"]["usage"]["total"] > 0


def _events_proc(env, ct, *args):
    return env.spawn([rtt.RUNTIME, "--root", ct.root, "events", *args, ct.id],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_events_stream_stats_every_interval(env, ct):
    running(ct)
    t0 = time.time()
    ev = _events_proc(env, ct, "--interval", "200ms")
    lines = [ev.stdout.readline() for _ in range(3)]
    took = time.time() - t0
    for l in lines:
        e = json.loads(l)
        assert e["type"] == "stats" and e["id"] == ct.id and "memory" in e["data"]
    assert 0.5 < took < 5, took
    # the stream ends once the container is gone
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert ev.wait(timeout=10) == 0


def test_events_stream_ends_when_container_stops(env, ct):
    running(ct)
    ev = _events_proc(env, ct, "--interval", "1s")
    time.sleep(0.3)
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    assert ev.wait(timeout=5) == 0


def test_events_oom(env, ct):
    # 8 MiB, no swap; `tail` keeps a 50 MB line in memory and is OOM-killed; sh survives
    ct.config["linux"]["resources"]["memory"] = {"limit": 8 << 20, "swap": 8 << 20}
    ct.config["process"]["args"] = [
        "sh", "-c", "sleep 0.5; head -c 50m /dev/zero | tail; echo tail-ended; sleep 100"]
    ct.create()
    ev = _events_proc(env, ct, "--interval", "10s")
    time.sleep(0.2)
    ct.start()
    ct.wait_output("tail-ended", timeout=60)
    line = ev.stdout.readline()
    assert json.loads(line) == {"type": "oom", "id": ct.id}
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert ev.wait(timeout=10) == 0


def test_events_errors(env, ct):
    fails(env.rt("events", "--stats", "no-such-ctr"), "does not exist")
    fails(env.rt("events"))
    ct.run_to_end()
    fails(ct.rt("events", "--stats", ct.id), "not running")
    fails(ct.rt("events", ct.id), "not running")


def test_events_interval_must_be_positive(ct):
    running(ct)
    fails(ct.rt("events", "--interval", "0", ct.id), "greater than 0")
    fails(ct.rt("events", "--interval", "soon", ct.id), "interval")


# -- list, spec --------------------------------------------------------------------------------

def test_list_table_and_json_parse_back(env):
    a = env.container(["sh", "-c", LOOP])
    b = env.container(["true"])
    a.create()
    a.start()
    b.create()
    p = env.rt("list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert rows[a.id][1:3] == [str(a.pid), "running"]
    assert rows[b.id][1:3] == [str(b.pid), "created"]
    assert os.path.realpath(rows[a.id][3]) == os.path.realpath(a.bundle)
    assert rows[a.id][5] == "root"
    js = {c["id"]: c for c in json.loads(env.rt("list", "--format", "json").stdout)}
    assert js[a.id]["status"] == "running" and js[a.id]["pid"] == a.pid
    assert js[b.id]["status"] == "created"
    for k in ("ociVersion", "bundle", "rootfs", "created", "owner"):
        assert k in js[a.id], k
    assert sorted(env.rt("list", "-q").stdout.split()) == sorted([a.id, b.id])


def test_list_empty_root(env):
    p = env.rt("list", "-f", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) in (None, [])
    assert env.rt("list").stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


@pytest.mark.parametrize("runtime", ["self", "runc"])
def test_spec_output_runs(env, ct, runtime):
    # `spec` writes a config.json that this runtime and runc both accept
    d = env.tmpdir()
    p = subprocess.run([rtt.RUNTIME, "spec", "--bundle", d], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    assert c["process"]["args"] == ["sh"] and c["process"]["terminal"] is True
    assert c["root"] == {"path": "rootfs", "readonly": True}
    assert {m["destination"] for m in c["mounts"]} >= {"/proc", "/dev", "/dev/pts", "/sys"}
    c["process"]["terminal"] = False
    c["process"]["args"] = ["sh", "-c", "echo spec-ok"]
    c["linux"]["cgroupsPath"] = ct.cgroups_path
    ct.config = c
    if runtime == "runc":
        ct.save()
        p = subprocess.run(["/usr/sbin/runc", "--root", env.root, "run", "--bundle", ct.bundle, ct.id],
                           capture_output=True, text=True, timeout=rtt.TIMEOUT, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        assert "spec-ok" in p.stdout
        subprocess.run(["/usr/sbin/runc", "--root", env.root, "delete", "-f", ct.id], capture_output=True)
    else:
        assert "spec-ok" in ct.run_to_end()


def test_spec_refuses_to_overwrite(env):
    d = env.tmpdir()
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write("{}")
    p = subprocess.run([rtt.RUNTIME, "spec", "--bundle", d], capture_output=True, text=True)
    assert p.returncode == 1
    assert "exists" in p.stderr
    assert open(os.path.join(d, "config.json")).read() == "{}"


def test_spec_rootless(env):
    d = env.tmpdir()
    p = subprocess.run([rtt.RUNTIME, "spec", "--rootless", "--bundle", d], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    c = json.load(open(os.path.join(d, "config.json")))
    assert any(n["type"] == "user" for n in c["linux"]["namespaces"])
    assert not any(n["type"] == "network" for n in c["linux"]["namespaces"])
    assert c["linux"]["uidMappings"][0]["hostID"] == os.getuid()


# -- features ----------------------------------------------------------------------------------

def features():
    p = subprocess.run([rtt.RUNTIME, "features"], capture_output=True, text=True, timeout=rtt.TIMEOUT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_features_shape():
    f = features()
    assert f["ociVersionMin"] == "1.0.0"
    assert f["ociVersionMax"].startswith("1.")
    assert "prestart" in f["hooks"] and "poststop" in f["hooks"]
    assert "rbind" in f["mountOptions"] and "ro" in f["mountOptions"]
    linux = f["linux"]
    assert {"mount", "pid", "network"} <= set(linux["namespaces"])
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert linux["cgroup"]["v1"] is True
    s = linux["seccomp"]
    assert s["enabled"] is True
    assert "SCMP_ACT_ERRNO" in s["actions"] and "SCMP_CMP_EQ" in s["operators"]
    assert "SCMP_ARCH_X86_64" in s["archs"]
    for k in ("apparmor", "selinux"):
        assert isinstance(linux[k]["enabled"], bool)
    assert isinstance(f["annotations"], dict)


@pytest.mark.husk_only
def test_features_husk_fields():
    f = features()
    linux = f["linux"]
    assert set(linux["cgroup"]) == {"v1", "v2", "systemd", "systemdUser", "rdma"}
    assert linux["cgroup"]["rdma"] is False
    # support in this build (features.md), whatever the host has: test_lsm.py
    assert linux["apparmor"] == {"enabled": True} and linux["selinux"] == {"enabled": True}
    resctrl = os.path.isdir("/sys/fs/resctrl/info")
    assert linux["intelRdt"]["enabled"] == resctrl
    assert linux["netDevices"] == {"enabled": True}
    assert "MPOL_BIND" in linux["memoryPolicy"]["modes"]
    assert linux["mountExtensions"] == {"idmap": {"enabled": True}}
    s = linux["seccomp"]
    assert set(s["supportedFlags"]) <= set(s["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in s["supportedFlags"]
    assert f["annotations"] and all(k.startswith("run.husk.") for k in f["annotations"])
    assert "idmap" in f["mountOptions"] and "ridmap" in f["mountOptions"]  # test_idmap.py


NS_PROC = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
           "cgroup": "cgroup", "user": "user", "time": "time"}


@pytest.mark.parametrize("ns", sorted(NS_PROC))
def test_features_namespace_claim_holds(ct, ns):
    if ns not in features()["linux"]["namespaces"]:
        pytest.skip("not claimed")
    nss = ct.config["linux"]["namespaces"]
    if not any(n["type"] == ns for n in nss):
        nss.append({"type": ns})
    if ns == "user":
        m = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        ct.config["linux"]["uidMappings"] = m
        ct.config["linux"]["gidMappings"] = m
        ct.config["mounts"] = [x for x in ct.config["mounts"] if x["destination"] != "/sys/fs/cgroup"]
    r = ct.report()
    assert r["ns"][NS_PROC[ns]] != os.readlink("/proc/self/ns/%s" % NS_PROC[ns])


def test_features_capability_claims_hold(ct):
    claimed = features()["linux"]["capabilities"]
    with open("/proc/self/status") as f:
        bnd = int([l for l in f if l.startswith("CapBnd:")][0].split()[1], 16)
    usable = [c for c in claimed if c in rtt.CAPS and bnd & (1 << rtt.CAPS.index(c))]
    assert len(usable) >= len(claimed) - 1, "claims capabilities this suite does not know"
    caps = ct.config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = usable
    caps["ambient"] = []
    r = ct.report()
    assert int(r["status"]["CapEff"], 16) == rtt.cap_mask(usable)
    assert int(r["status"]["CapBnd"], 16) == rtt.cap_mask(usable)


# Options that cannot be applied to a plain bind mount on their own: "remount" needs an
# existing mount at the destination; propagation options are checked as bind + option. "idmap"
# and "ridmap" need a user namespace: their claims are checked by test_idmap.py.
NOT_ON_BIND = {"remount", "idmap", "ridmap"}


def test_features_mount_option_claims_hold(env, ct):
    claimed = [o for o in features()["mountOptions"] if o not in NOT_ON_BIND]
    src = env.tmpdir()
    for i, o in enumerate(claimed):
        opts = [o] if o in ("bind", "rbind") else ["rbind", o]
        ct.config["mounts"].append({"destination": "/mnt/o%d" % i, "type": "bind", "source": src,
                                    "options": opts})
    ct.config["process"]["args"] = ["sh", "-c", "echo mounted"]
    assert "mounted" in ct.run_to_end(), ct.errors()


def test_features_hook_claims_hold(env, ct):
    claimed = features()["hooks"]
    d = env.tmpdir()
    hooks = {}
    for h in claimed:
        hooks[h] = [{"path": "/bin/sh", "args": ["sh", "-c", "touch %s/%s" % (d, h)]}]
    ct.config["hooks"] = hooks
    # createContainer and startContainer run in the container's mount namespace
    ct.config["mounts"].append({"destination": d, "type": "bind", "source": d, "options": ["rbind"]})
    ct.config["process"]["args"] = ["true"]
    ct.create()
    ct.start()
    ct.wait_stopped()
    ct.delete()
    ran = sorted(os.listdir(d))
    assert ran == sorted(claimed)
