"""User namespace with uid/gid mappings."""
import os


MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _userns(ct):
    ct.config["linux"]["namespaces"].append({"type": "user"})
    ct.config["linux"]["uidMappings"] = MAP
    ct.config["linux"]["gidMappings"] = MAP
    # sysfs can only be mounted by the owner of the network namespace: runc's spec --rootless
    # binds it instead; keep the config portable
    for m in ct.config["mounts"]:
        if m["destination"] == "/sys/fs/cgroup":
            ct.config["mounts"].remove(m)
            break


def test_user_namespace_mappings(ct):
    _userns(ct)
    r = ct.report("--read", "/bin")
    assert r["ns"]["user"] != os.readlink("/proc/self/ns/user")
    assert r["uid_map"].split() == ["0", "100000", "65536"]
    assert r["gid_map"].split() == ["0", "100000", "65536"]
    assert (r["uid"], r["gid"]) == (0, 0)
    assert "busybox" in r["read"]["/bin"]["entries"]


def test_user_namespace_host_view(ct):
    _userns(ct)
    ct.create()
    with open("/proc/%d/status" % ct.pid) as f:
        st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    assert st["Uid"].split()[0] == "100000"
    assert st["Gid"].split()[0] == "100000"
    with open("/proc/%d/uid_map" % ct.pid) as f:
        assert f.read().split() == ["0", "100000", "65536"]


def test_user_namespace_nonroot_user(ct):
    _userns(ct)
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    r = ct.report()
    assert r["status"]["Uid"].split() == ["1000"] * 4
    assert r["ns"]["user"] != os.readlink("/proc/self/ns/user")


def test_user_namespace_host_dev_null_untouched(ct):
    # binding the host's /dev/null into a user-namespaced container must not chown it (host.md)
    _userns(ct)
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    r = ct.report("--open-w", "/dev/null")
    assert r["open_w"]["/dev/null"] == "ok"
    st = os.stat("/dev/null")
    assert (st.st_uid, st.st_gid, oct(st.st_mode)) == (0, 0, oct(0o20666))
