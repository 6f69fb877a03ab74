"""Namespaces: new ones differ from the host's, absent ones are shared, joined ones by path."""
import os

import pytest

from conftest import leftovers

PROC_NS = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
           "cgroup": "cgroup", "user": "user", "time": "time"}


def host_ns(name):
    return os.readlink("/proc/self/ns/%s" % name)


@pytest.mark.parametrize("ns", ["pid", "network", "ipc", "uts", "mount", "cgroup"])
def test_new_namespace(ct, ns):
    nss = ct.config["linux"]["namespaces"]
    if not any(n["type"] == ns for n in nss):
        nss.append({"type": ns})
    r = ct.report()
    name = PROC_NS[ns]
    assert r["ns"][name] != host_ns(name)


def test_time_namespace(ct):
    ct.config["linux"]["namespaces"].append({"type": "time"})
    r = ct.report()
    assert r["ns"]["time"] != host_ns("time")


@pytest.mark.parametrize("ns", ["network", "ipc", "uts"])
def test_absent_namespace_is_host(ct, ns):
    ct.config["linux"]["namespaces"] = [n for n in ct.config["linux"]["namespaces"]
                                        if n["type"] != ns]
    if ns == "uts":
        ct.config.pop("hostname", None)
    r = ct.report()
    name = PROC_NS[ns]
    assert r["ns"][name] == host_ns(name)
    assert r["ns"]["user"] == host_ns("user")
    assert r["ns"]["cgroup"] == host_ns("cgroup")


def _holder(env):
    p = env.spawn(["unshare", "--uts", "--ipc", "--net", "sleep", "300"])
    import time
    for _ in range(200):
        try:
            if os.readlink("/proc/%d/ns/uts" % p.pid) != host_ns("uts"):
                return p.pid
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError("namespace holder did not start")


def test_join_namespaces_by_path(env, ct):
    pid = _holder(env)
    nss = [n for n in ct.config["linux"]["namespaces"] if n["type"] not in ("uts", "ipc", "network")]
    for t, name in (("uts", "uts"), ("ipc", "ipc"), ("network", "net")):
        nss.append({"type": t, "path": "/proc/%d/ns/%s" % (pid, name)})
    ct.config["linux"]["namespaces"] = nss
    ct.config.pop("hostname", None)
    r = ct.report()
    for name in ("uts", "ipc", "net"):
        assert r["ns"][name] == os.readlink("/proc/%d/ns/%s" % (pid, name))


def test_join_namespace_of_wrong_type_refused(env, ct):
    pid = _holder(env)
    nss = [n for n in ct.config["linux"]["namespaces"] if n["type"] != "uts"]
    nss.append({"type": "uts", "path": "/proc/%d/ns/net" % pid})
    ct.config["linux"]["namespaces"] = nss
    p = ct.create(check=False)
    if p.returncode == 0:
        ct.start(check=False)
    assert p.returncode == 1
    assert leftovers(env, ct) == []


def test_time_namespace_offsets(ct):
    ct.config["linux"]["namespaces"].append({"type": "time"})
    ct.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 864000, "nanosecs": 0},
                                         "boottime": {"secs": 864000, "nanosecs": 0}}
    r = ct.report("--read", "/proc/uptime")
    host_uptime = float(open("/proc/uptime").read().split()[0])
    uptime = float(r["read"]["/proc/uptime"]["content"].split()[0])
    assert uptime - host_uptime > 864000 - 60
