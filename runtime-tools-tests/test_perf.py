"""Performance round 2 (issue 23): what `list` does per container, and that doing less of it
keeps runc's status output. With many containers under one --root, the work `list` repeats for
every container is its cost: the shared files (/etc/passwd for the owner column, the host's
cgroup mounts for the frozen check) must be read once per `list`, not once per container."""
import collections
import json
import os
import re
import subprocess

import pytest

import rtt

SECCOMP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "seccomp-podman-default.json")
N = 6
# A root holding many containers.
MANY = 70


def _containers(env, n):
    """n containers of a podman-like config (its seccomp profile, annotations), all created;
    then #1 running, #2 running and paused, #3 started and exited (stopped)."""
    cs = []
    for i in range(n):
        c = env.container(["sleep", "60"] if i != 3 else ["/bin/true"])
        c.config["linux"]["seccomp"] = json.load(open(SECCOMP))
        c.config["annotations"] = {"io.podman.annotations.autoremove": "TRUE", "bench.index": str(i)}
        c.create()
        cs.append(c)
    for i in (1, 2, 3):
        cs[i].start()
    p = env.rt("pause", cs[2].id)
    assert p.returncode == 0, p.stderr
    cs[3].wait_stopped()
    return cs


def want(i):
    return {1: "running", 2: "paused", 3: "stopped"}.get(i, "created")


@pytest.mark.parametrize("n", [N, MANY])
def test_list_many_matches_state(env, n):
    cs = _containers(env, n)
    p = env.rt("list", "--format", "json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["id"] for r in rows] == sorted(c.id for c in cs)
    by_id = {r["id"]: r for r in rows}
    for i, c in enumerate(cs):
        r = by_id[c.id]
        st = c.state(check=True)
        assert r["status"] == st["status"] == want(i), (i, r, st)
        assert r["pid"] == st["pid"] and (r["pid"] == 0) == (want(i) == "stopped"), (i, r, st)
        assert r["annotations"] == st["annotations"] == c.config["annotations"], (i, r)
        assert r["bundle"] == st["bundle"] == c.bundle
        assert r["owner"] == "root"
        if want(i) != "stopped":
            # The host agrees: that pid is alive and in the container's cgroup.
            assert c.cgroups_path in open("/proc/%d/cgroup" % r["pid"]).read(), (i, r)
    table = env.rt("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    for i, c in enumerate(cs):
        line = next(ln for ln in table if ln.startswith(c.id + " "))
        assert line.split()[2] == want(i), line
    env.rt("resume", cs[2].id)


def _traced_list(env, cs, calls):
    """`list --format json` under strace (the system calls `calls`): the trace's lines, once
    the statuses are checked against what each container is."""
    trace = os.path.join(env.tmpdir(), "trace")
    p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=" + calls, "-o", trace,
                        rtt.RUNTIME, "--root", env.root, "list", "--format", "json"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=rtt.TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert {r["id"]: r["status"] for r in json.loads(p.stdout)} == {c.id: want(i) for i, c in enumerate(cs)}
    return open(trace).read().splitlines()


def test_list_reads_shared_files_once(env):
    cs = _containers(env, MANY)
    trace = _traced_list(env, cs, "open,openat,openat2")
    opened = collections.Counter()
    for ln in trace:
        m = re.search(r'open(?:at2?)?\((?:[^,]+, )?"([^"]+)"', ln)
        if m and not re.search(r"= -1 ", ln):
            opened[m.group(1)] += 1
    # Every container's state is read (once or more; by absolute path or relative to the root)...
    for c in cs:
        assert sum(v for k, v in opened.items() if k.endswith(c.id + "/state.json")) >= 1, (c.id, opened)
    # ...but what all of them share, once per list.
    assert opened["/etc/passwd"] <= 1, opened["/etc/passwd"]
    assert opened["/proc/self/mountinfo"] <= 1, opened["/proc/self/mountinfo"]
    env.rt("resume", cs[2].id)


def _comm(pid):
    return open("/proc/%d/comm" % pid).read().strip()


def test_created_init_has_its_own_name_until_exec(env):
    """The init carries a name of the runtime's own while it waits for `start` (runc's is
    runc:[2:INIT]), and the program's once it exec'd: `state` and `list` agree with both."""
    c = env.container(["sleep", "60"])
    c.create()
    pid = c.state(check=True)["pid"]
    created = _comm(pid)
    assert created != "sleep", created
    if rtt.is_husk():
        assert created == "husk:[INIT]", created
    assert c.state(check=True)["status"] == "created"
    c.start()
    assert _comm(pid) == "sleep"
    assert c.state(check=True)["status"] == "running"
    rows = {r["id"]: r for r in json.loads(env.rt("list", "--format", "json").stdout)}
    assert rows[c.id]["status"] == "running" and rows[c.id]["pid"] == pid


@pytest.mark.husk_only
def test_list_stats_the_exec_fifo_of_created_containers_only(env):
    """An init that has exec'd (its name is no longer husk's) is running: `list` looks for the
    exec fifo of the containers still waiting for `start` only (one path walk less per running
    container), and still says created, running, paused and stopped right."""
    cs = _containers(env, N)
    fifo = [ln for ln in _traced_list(env, cs, "%stat,%file") if "exec.fifo" in ln]
    looked = {c.id for c in cs if any(c.id + "/exec.fifo" in ln for ln in fifo)}
    assert looked == {c.id for i, c in enumerate(cs) if want(i) == "created"}, fifo
    env.rt("resume", cs[2].id)


@pytest.mark.husk_only
def test_state_without_the_init_name_still_derives_status(env):
    """A state written before husk recorded the init's name (an upgrade with containers alive)
    falls back to the exec fifo: created stays created, running stays running."""
    cs = _containers(env, N)
    for c in cs:
        p = os.path.join(env.root, c.id, "state.json")
        st = json.load(open(p))
        assert st.pop("initComm", None) in (None, "husk:[INIT]")
        json.dump(st, open(p, "w"), separators=(",", ":"))
    rows = {r["id"]: r["status"] for r in json.loads(env.rt("list", "--format", "json").stdout)}
    for i, c in enumerate(cs):
        assert rows[c.id] == c.state(check=True)["status"] == want(i), (i, rows[c.id])
    env.rt("resume", cs[2].id)
    # start still finds a created container created.
    cs[0].start()
    assert cs[0].state(check=True)["status"] == "running"
