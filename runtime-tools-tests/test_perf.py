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


def test_list_reads_shared_files_once(env):
    cs = _containers(env, MANY)
    trace = os.path.join(env.tmpdir(), "trace")
    p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", trace,
                        rtt.RUNTIME, "--root", env.root, "list", "--format", "json"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=rtt.TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert sorted(r["status"] for r in json.loads(p.stdout)) == sorted(want(i) for i in range(MANY))
    opened = collections.Counter()
    for ln in open(trace):
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
