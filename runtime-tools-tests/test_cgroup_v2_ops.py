"""cgroup v2 (the hack/vm guest): the rest of linux.resources (cpu burst/idle, io weight/max,
hugetlb, unlimited values, `unified` keys of controllers not enabled), pause/resume through
cgroup.freeze, `events` (v2 stats, OOM kills from memory.events), `update`, kill --all into
sub-cgroups, nested and delegated hierarchies, and removal at delete. Every case reads the
effect in the guest's /sys/fs/cgroup, and where it means something, from inside the container.
Skipped on v1/hybrid hosts."""
import json
import os
import select
import shutil
import subprocess
import time

import pytest

import rtt
from conftest import leftovers

pytestmark = pytest.mark.skipif(not rtt.is_cgroup2(), reason="not a cgroup v2 host")

COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done"
TWO_CHILDREN = "sleep 100 & sleep 100 & echo ready; wait"


def cgdir(ct):
    return os.path.join(rtt.CGROUP_ROOT, ct.cgroups_path.lstrip("/"))


def read(ct, name):
    with open(os.path.join(cgdir(ct), name)) as f:
        return f.read().strip()


def keyed(ct, name):
    """A flat-keyed cgroup file ("key value" lines) as a dict of strings."""
    return dict(l.split(None, 1) for l in read(ct, name).splitlines() if l.strip())


def procs(ct):
    return read(ct, "cgroup.procs").split()


def running(ct, script="while :; do sleep 0.05; done", wait=1):
    ct.config["process"]["args"] = ["sh", "-c", script]
    ct.create()
    ct.start()
    deadline = time.time() + 20
    while len(procs(ct)) < wait and time.time() < deadline:
        time.sleep(0.05)
    assert len(procs(ct)) >= wait
    return ct


def readline(proc, timeout=60):
    """A line of proc's stdout, or AssertionError after `timeout` s (no hang)."""
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    assert r, "no line from %s after %ss" % (proc.args, timeout)
    return proc.stdout.readline()


def block_device():
    """(major, minor) of a whole disk in the guest (hack/vm/run.sh attaches a scratch one)."""
    try:
        names = sorted(os.listdir("/sys/block"))
    except OSError:
        return None
    for n in names:
        if n.startswith(("loop", "ram", "zram")):
            continue
        with open("/sys/block/%s/dev" % n) as f:
            ma, mi = f.read().strip().split(":")
        return int(ma), int(mi)
    return None


# -- linux.resources ---------------------------------------------------------------------------

def test_memory_unlimited(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": -1, "swap": -1}
    ct.create()
    assert read(ct, "memory.max") == "max"
    assert read(ct, "memory.swap.max") == "max"


def test_memory_swap_equal_to_limit_means_no_swap(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    ct.create()
    assert int(read(ct, "memory.max")) == 32 << 20
    assert read(ct, "memory.swap.max") == "0"


def test_memory_swap_below_limit_refused(env, ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 16 << 20}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode != 0
    assert leftovers(env, ct) == []


def test_memory_limit_seen_inside(ct):
    # with a cgroup namespace the container's cgroup is its root: its own memory.max is there
    ct.config["linux"]["namespaces"].append({"type": "cgroup"})
    ct.config["linux"]["resources"]["memory"] = {"limit": 48 << 20}
    ct.config["process"]["args"] = ["cat", "/sys/fs/cgroup/memory.max"]
    assert ct.run_to_end().split() == [str(48 << 20)]


def test_cpu_quota_unlimited_with_period(ct):
    ct.config["linux"]["resources"]["cpu"] = {"quota": -1, "period": 50000}
    ct.create()
    assert read(ct, "cpu.max") == "max 50000"


def test_cpu_burst(ct):
    ct.config["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000, "burst": 20000}
    ct.create()
    assert read(ct, "cpu.max") == "50000 100000"
    assert read(ct, "cpu.max.burst") == "20000"


def test_cpu_idle(ct):
    ct.config["linux"]["resources"]["cpu"] = {"idle": 1}
    ct.create()
    assert read(ct, "cpu.idle") == "1"


def test_pids_unlimited(ct):
    ct.config["linux"]["resources"]["pids"] = {"limit": -1}
    ct.create()
    assert read(ct, "pids.max") == "max"


def test_pids_limit_enforced(ct):
    # sh and 3 sleeps fill a limit of 4: later forks fail, counted in pids.events
    ct.config["linux"]["resources"]["pids"] = {"limit": 4}
    ct.config["process"]["args"] = ["sh", "-c", "for i in 1 2 3 4 5 6; do sleep 5 & done; echo done"]
    ct.run_to_end()
    assert int(keyed(ct, "pids.events")["max"]) >= 1


def test_io_weight(ct):
    # BFQ's io.bfq.weight takes the OCI weight as is; io.weight gets runc's [10,1000] →
    # [1,10000] conversion: 500 → 4950
    ct.config["linux"]["resources"]["blockIO"] = {"weight": 500}
    ct.create()
    if os.path.exists(os.path.join(cgdir(ct), "io.bfq.weight")):
        assert keyed(ct, "io.bfq.weight")["default"] == "500"
    else:
        assert keyed(ct, "io.weight")["default"] == "4950"


def test_io_max_throttle(ct):
    dev = block_device()
    if dev is None:
        pytest.skip("no block device")
    d = {"major": dev[0], "minor": dev[1]}
    ct.config["linux"]["resources"]["blockIO"] = {
        "throttleReadBpsDevice": [dict(d, rate=1 << 20)],
        "throttleWriteBpsDevice": [dict(d, rate=2 << 20)],
        "throttleReadIOPSDevice": [dict(d, rate=100)],
        "throttleWriteIOPSDevice": [dict(d, rate=200)],
    }
    ct.create()
    assert read(ct, "io.max") == "%d:%d rbps=%d wbps=%d riops=100 wiops=200" % (dev[0], dev[1], 1 << 20, 2 << 20)


def _iocost_enabled(dev):
    try:
        with open(os.path.join(rtt.CGROUP_ROOT, "io.cost.qos")) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    return any(l.startswith("%d:%d " % dev) and " enable=1" in l for l in lines)


def test_io_weight_device(ct):
    dev = block_device()
    if dev is None:
        pytest.skip("no block device")
    ct.config["linux"]["resources"]["blockIO"] = {
        "weightDevice": [{"major": dev[0], "minor": dev[1], "weight": 300}]}
    ct.create()
    key = "%d:%d" % dev
    if os.path.exists(os.path.join(cgdir(ct), "io.bfq.weight")):
        assert keyed(ct, "io.bfq.weight")[key] == "300"
    elif _iocost_enabled(dev):
        # no BFQ: the per-device io.weight, converted as the weight is (300 → 2930); the kernel
        # takes it where io cost control is on for the device (hack/vm/v2-lane.sh enables it)
        assert keyed(ct, "io.weight")[key] == "2930"
    else:
        pytest.skip("neither BFQ nor io cost control for %s: nowhere to put a device weight" % key)


def test_hugetlb_limit(ct):
    if not os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        pytest.skip("no 2MB huge pages")
    # the guest reserves no huge pages: the limit file is what can be checked
    ct.config["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4 << 20}]
    ct.create()
    assert int(read(ct, "hugetlb.2MB.max")) == 4 << 20


def test_hugetlb_bad_page_size_refused(env, ct):
    ct.config["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "3MB", "limit": 4 << 20}]
    ct.save()
    assert ct.create(check=False).returncode != 0
    assert leftovers(env, ct) == []


def test_unified_overrides_mapped_value(ct):
    # unified is written after the mapped fields: its value wins
    ct.config["linux"]["resources"]["pids"] = {"limit": 10}
    ct.config["linux"]["resources"]["unified"] = {"pids.max": "12", "memory.swap.max": "0"}
    ct.create()
    assert read(ct, "pids.max") == "12"
    assert read(ct, "memory.swap.max") == "0"


def _delegation_root(ct, enable):
    """A cgroup D under the session's parent with only `enable` in its subtree_control, and a
    leaf D/caller for the runtime to run in (a non-root delegated cgroup, as under systemd's
    Delegate=yes)."""
    parent = os.path.join(rtt.CGROUP_ROOT, rtt.CGROUP_PARENT)
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(rtt.CGROUP_ROOT, "cgroup.subtree_control"), "w") as f:
        f.write("+pids +memory")
    with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
        f.write("+pids +memory")
    d = os.path.join(parent, "deleg-" + ct.id)
    os.mkdir(d)
    os.mkdir(os.path.join(d, "caller"))
    if enable:
        with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
            f.write(" ".join("+" + c for c in enable))
    ct.delegation = d
    return d


def _rmdir_delegation(ct):
    d = getattr(ct, "delegation", None)
    if d:
        rtt.rmdir_cgroup_tree(d)


def _create_in_cgroup(ct, cgroup):
    """`create`, run from inside `cgroup` (a shell moves itself there, then execs the runtime).
    Output goes to the bundle's files: the container keeps the runtime's stdio open."""
    ct.save()
    script = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"'
    with open(ct.out_path, "ab") as out, open(ct.err_path, "ab") as err:
        p = subprocess.run(["sh", "-c", script, "sh", cgroup, rtt.RUNTIME, "--root", ct.root, "create",
                            "--bundle", ct.bundle, ct.id], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                           timeout=rtt.TIMEOUT)
    p.stderr_text = ct.errors()
    return p


def test_unified_key_of_controller_not_enabled_refused(env, ct):
    # The runtime runs in D itself: D holds a process, so no controller can be enabled for its
    # children (no internal processes) and D/ctr has no memory.* files. A memory key in
    # `unified` is refused, not dropped.
    d = _delegation_root(ct, [])
    try:
        ct.config["linux"]["cgroupsPath"] = ct.cgroups_path = d[len(rtt.CGROUP_ROOT):] + "/ctr"
        ct.config["linux"]["resources"]["unified"] = {"memory.high": "50331648"}
        p = _create_in_cgroup(ct, d)
        assert p.returncode != 0
        assert "memory" in p.stderr_text, p.stderr_text
        assert leftovers(env, ct) == []
    finally:
        env.rt("delete", "--force", ct.id)
        _rmdir_delegation(ct)


def test_delegated_cgroup_relative_path_nests_under_it(env, ct):
    # runc's v2 rule: a relative cgroupsPath nests under the parent of the runtime's own cgroup
    # (its own has processes and cannot delegate controllers). The runtime runs in D/caller, so
    # the container's cgroup is D/<id>, with the limits D delegates.
    d = _delegation_root(ct, ["pids", "memory"])
    try:
        ct.config["linux"]["cgroupsPath"] = ct.id
        ct.config["linux"]["resources"]["pids"] = {"limit": 11}
        ct.config["process"]["args"] = ["sleep", "100"]
        p = _create_in_cgroup(ct, os.path.join(d, "caller"))
        assert p.returncode == 0, p.stderr_text
        ct.cgroups_path = d[len(rtt.CGROUP_ROOT):] + "/" + ct.id
        ct.record_pid()
        assert os.path.isdir(cgdir(ct))
        assert procs(ct) == [str(ct.pid)]
        assert read(ct, "pids.max") == "11"
        # commands from elsewhere find it through the state
        ct.start()
        ct.kill(ct.id, "KILL")
        ct.wait_stopped()
        ct.delete()
        assert not os.path.exists(cgdir(ct))
        assert os.path.isdir(d)
    finally:
        env.rt("delete", "--force", ct.id)
        _rmdir_delegation(ct)


def _rw_cgroupns(ct):
    ct.config["linux"]["namespaces"].append({"type": "cgroup"})
    for m in ct.config["mounts"]:
        if m["destination"] == "/sys/fs/cgroup":
            m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]


def test_nested_cgroup_inside_container(ct):
    # a container with its own cgroup namespace and a rw cgroup2 mount is the root of its view
    # and can build a hierarchy below: a child cgroup with a controller enabled and a limit
    _rw_cgroupns(ct)
    ct.config["linux"]["resources"]["pids"] = {"limit": 50}
    ct.config["process"]["args"] = ["sh", "-c", (
        "cat /proc/self/cgroup; cd /sys/fs/cgroup && mkdir child && echo $$ > child/cgroup.procs && "
        "echo +pids > cgroup.subtree_control && echo 5 > child/pids.max && cat /proc/self/cgroup && "
        "echo limit=$(cat child/pids.max) && sleep 100")]
    ct.create()
    ct.start()
    ct.wait_output("limit=")
    out = ct.output()
    assert out.splitlines()[:2] == ["0::/", "0::/child"], out
    assert "limit=5" in out
    child = os.path.join(cgdir(ct), "child")
    assert read(ct, "child/pids.max") == "5"
    assert read(ct, "cgroup.subtree_control") == "pids"
    assert str(ct.pid) in read(ct, "child/cgroup.procs").split()
    assert read(ct, "cgroup.procs") == ""
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert not os.path.exists(child) and not os.path.exists(cgdir(ct))


def test_kill_all_reaches_sub_cgroups(ct):
    _rw_cgroupns(ct)
    ct.config["process"]["args"] = ["sh", "-c", (
        "mkdir /sys/fs/cgroup/sub; sh -c 'echo $$ > /sys/fs/cgroup/sub/cgroup.procs; exec sleep 100' & "
        "sleep 100 & echo ready; wait")]
    ct.create()
    ct.start()
    ct.wait_output("ready")
    deadline = time.time() + 10
    while time.time() < deadline and not read(ct, "sub/cgroup.procs"):
        time.sleep(0.05)
    sub = [int(p) for p in read(ct, "sub/cgroup.procs").split()]
    assert sub
    ct.kill("--all", ct.id, "KILL")
    ct.wait_stopped()
    assert rtt.wait_gone(sub)
    ct.delete()
    assert not os.path.exists(cgdir(ct))


# -- pause / resume ----------------------------------------------------------------------------

def test_pause_resume_through_cgroup_freeze(ct):
    ct.config["root"]["readonly"] = False
    running(ct, COUNTER)
    deadline = time.time() + 10
    while rtt.read_counter(ct.rootfs) == 0 and time.time() < deadline:
        time.sleep(0.05)
    p = ct.rt("pause", ct.id)
    assert p.returncode == 0, p.stderr
    assert ct.status() == "paused"
    assert read(ct, "cgroup.freeze") == "1"
    assert keyed(ct, "cgroup.events")["frozen"] == "1"
    n = rtt.read_counter(ct.rootfs)
    time.sleep(0.5)
    assert rtt.read_counter(ct.rootfs) == n, "processes ran while paused"
    rows = json.loads(ct.rt("list", "-f", "json").stdout)
    assert [r["status"] for r in rows if r["id"] == ct.id] == ["paused"]
    p = ct.rt("resume", ct.id)
    assert p.returncode == 0, p.stderr
    assert ct.status() == "running"
    assert read(ct, "cgroup.freeze") == "0"
    assert keyed(ct, "cgroup.events")["frozen"] == "0"
    # one read per check: a read can catch the file truncated by the next `echo`
    deadline = time.time() + 10
    m = rtt.read_counter(ct.rootfs)
    while m <= n and time.time() < deadline:
        time.sleep(0.05)
        m = rtt.read_counter(ct.rootfs)
    assert m > n, "processes did not run again after resume"


def test_pause_created_container_frozen_in_cgroup_events(ct):
    ct.config["process"]["args"] = ["sh", "-c", "echo started"]
    ct.create()
    assert ct.rt("pause", ct.id).returncode == 0
    assert ct.status() == "paused"
    assert keyed(ct, "cgroup.events")["frozen"] == "1"
    assert ct.rt("resume", ct.id).returncode == 0
    assert ct.status() == "created"
    ct.start()
    ct.wait_stopped()
    assert "started" in ct.output()


def test_delete_force_paused_container_removes_cgroup(ct):
    running(ct, TWO_CHILDREN, wait=3)
    pids = [int(p) for p in procs(ct)]
    assert ct.rt("pause", ct.id).returncode == 0
    ct.delete(force=True)
    assert rtt.wait_gone(pids)
    assert ct.state() is None
    assert not os.path.exists(cgdir(ct))


# -- update ------------------------------------------------------------------------------------

def test_update_memory_pids_cpu(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    ct.config["linux"]["resources"]["pids"] = {"limit": 20}
    running(ct)
    p = ct.rt("update", "--memory", "50m", "--memory-swap", "100m", "--memory-reservation", "20m",
              "--pids-limit", "30", "--cpu-quota", "20000", "--cpu-period", "100000", ct.id)
    assert p.returncode == 0, p.stderr
    assert read(ct, "memory.max") == str(50 << 20)
    assert read(ct, "memory.swap.max") == str(50 << 20)
    assert read(ct, "memory.low") == str(20 << 20)
    assert read(ct, "pids.max") == "30"
    assert read(ct, "cpu.max") == "20000 100000"
    assert ct.status() == "running"


def test_update_cpu_share_to_weight(ct):
    running(ct)
    p = ct.rt("update", "--cpu-share", "1024", ct.id)
    assert p.returncode == 0, p.stderr
    assert read(ct, "cpu.weight") == "100"


def test_update_unlimited(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    ct.config["linux"]["resources"]["pids"] = {"limit": 20}
    ct.config["linux"]["resources"]["cpu"] = {"quota": 20000, "period": 100000}
    running(ct)
    p = ct.rt("update", "--memory", "-1", "--memory-swap", "-1", "--pids-limit", "-1", "--cpu-quota", "-1", ct.id)
    assert p.returncode == 0, p.stderr
    assert read(ct, "memory.max") == "max"
    assert read(ct, "pids.max") == "max"
    assert read(ct, "cpu.max") == "max 100000"


def test_update_resources_json_on_stdin(ct):
    running(ct)
    body = json.dumps({"memory": {"limit": 52428800}, "pids": {"limit": 40},
                       "cpu": {"quota": 30000, "period": 100000}})
    p = subprocess.run([rtt.RUNTIME, "--root", ct.root, "update", "--resources", "-", ct.id],
                       input=body, capture_output=True, text=True, timeout=rtt.TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert read(ct, "memory.max") == "52428800"
    assert read(ct, "pids.max") == "40"
    assert read(ct, "cpu.max") == "30000 100000"


def test_update_paused_container_stays_frozen(ct):
    running(ct)
    assert ct.rt("pause", ct.id).returncode == 0
    p = ct.rt("update", "--pids-limit", "33", ct.id)
    assert p.returncode == 0, p.stderr
    assert read(ct, "pids.max") == "33"
    assert ct.status() == "paused"
    assert keyed(ct, "cgroup.events")["frozen"] == "1"
    assert ct.rt("resume", ct.id).returncode == 0


def test_update_visible_inside(ct):
    ct.config["linux"]["namespaces"].append({"type": "cgroup"})
    running(ct)
    assert ct.rt("update", "--pids-limit", "44", ct.id).returncode == 0
    p = ct.rt("exec", ct.id, "cat", "/sys/fs/cgroup/pids.max")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "44"


# -- events ------------------------------------------------------------------------------------

STATS_KEYS = {"cpu", "memory", "pids", "blkio", "hugetlb"}


def test_events_stats_from_v2_files(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    ct.config["linux"]["resources"]["pids"] = {"limit": 25}
    running(ct, TWO_CHILDREN, wait=3)
    usec = int(keyed(ct, "cpu.stat")["usage_usec"])
    p = ct.rt("events", "--stats", ct.id)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1
    ev = json.loads(lines[0])
    assert ev["type"] == "stats" and ev["id"] == ct.id
    d = ev["data"]
    assert STATS_KEYS <= set(d), sorted(d)
    assert d["pids"] == {"current": 3, "limit": 25}
    assert int(read(ct, "pids.current")) == 3
    mem = d["memory"]
    assert mem["usage"]["limit"] == 64 << 20
    assert mem["usage"]["usage"] > 0
    # raw is memory.stat
    stat = keyed(ct, "memory.stat")
    assert {"anon", "file"} <= set(mem["raw"])
    assert set(mem["raw"]) <= set(stat)
    # cpu.stat's usage_usec, in ns, and only growing
    assert d["cpu"]["usage"]["total"] >= usec * 1000 > 0
    assert {"user", "kernel"} <= set(d["cpu"]["usage"])


def test_events_stream_interval(env, ct):
    running(ct)
    ev = env.spawn([rtt.RUNTIME, "--root", ct.root, "events", "--interval", "300ms", ct.id],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(2):
        e = json.loads(readline(ev))
        assert e["type"] == "stats" and e["id"] == ct.id and "memory" in e["data"]
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert ev.wait(timeout=20) == 0


def test_events_oom_from_memory_events(env, ct):
    # 8 MiB, no swap: `tail` keeps a 50 MB line in memory and is OOM-killed; sh goes on
    ct.config["linux"]["resources"]["memory"] = {"limit": 8 << 20, "swap": 8 << 20}
    ct.config["process"]["args"] = [
        "sh", "-c", "sleep 1; head -c 50m /dev/zero | tail; echo tail-ended; sleep 100"]
    ct.create()
    ev = env.spawn([rtt.RUNTIME, "--root", ct.root, "events", "--interval", "60s", ct.id],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    ct.start()
    ct.wait_output("tail-ended", timeout=60)
    assert int(keyed(ct, "memory.events")["oom_kill"]) >= 1
    line = readline(ev)
    assert json.loads(line) == {"type": "oom", "id": ct.id}
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert ev.wait(timeout=20) == 0
    assert not os.path.exists(cgdir(ct))


def test_runtime_inside_a_container_nests_its_containers(env, ct):
    # The runtime itself inside a (privileged) container with its own cgroup namespace and a rw
    # cgroup2 mount, as in docker-in-docker: the outer init moves itself into /init (a cgroup
    # with processes cannot delegate controllers), then the inner runtime runs a container with
    # a relative cgroupsPath. As runc does, the inner container's cgroup nests under the parent
    # of the runtime's own cgroup, i.e. the outer container's cgroup, with its pids limit there.
    runtime = os.path.realpath(rtt.RUNTIME)
    _rw_cgroupns(ct)
    c = ct.config
    c["root"]["readonly"] = False
    caps = list(rtt.CAPS)
    c["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    c["linux"].pop("maskedPaths", None)
    c["linux"].pop("readonlyPaths", None)
    # The host's /usr (the runtime's shared libraries, if any) and the runtime binary.
    c["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
    c["mounts"].append({"destination": "/rt", "type": "bind", "source": runtime, "options": ["bind", "ro"]})
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
        if not os.path.lexists(os.path.join(ct.rootfs, link)):
            os.symlink(target, os.path.join(ct.rootfs, link))
    open(os.path.join(ct.rootfs, "rt"), "w").close()
    inner = os.path.join(ct.rootfs, "inner")
    os.makedirs(inner)
    shutil.copytree(rtt.BASE_ROOTFS, os.path.join(inner, "rootfs"), symlinks=True)
    ic = rtt.make_config(["sh", "-c", "echo inner:$(cat /proc/self/cgroup); exec sleep 100"], cgroups_path="inner")
    ic["linux"]["resources"]["pids"] = {"limit": 7}
    rtt.write_config(inner, ic)
    c["process"]["args"] = ["sh", "-c", (
        "mkdir /sys/fs/cgroup/init && echo $$ > /sys/fs/cgroup/init/cgroup.procs && "
        "/rt --root /run/inner-root run --detach --bundle /inner in1; echo rc=$?; sleep 100")]
    ct.create()
    ct.start()
    ct.wait_output("rc=", timeout=60)
    out = ct.output()
    assert "rc=0" in out, (out, ct.errors())
    assert read(ct, "inner/pids.max") == "7"
    assert "pids" in read(ct, "cgroup.subtree_control").split()
    # The inner init is alone in its cgroup once its command substitution (a short-lived child
    # in the same cgroup) has finished and it has exec'd sleep.
    ct.wait_output("inner:", timeout=30)
    deadline = time.monotonic() + 10
    while True:
        inner_pids = read(ct, "inner/cgroup.procs").split()
        if len(inner_pids) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(inner_pids) == 1, inner_pids
    with open("/proc/%s/cgroup" % inner_pids[0]) as f:
        assert f.read().strip() == "0::" + ct.cgroups_path + "/inner"
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert not os.path.exists(cgdir(ct))
