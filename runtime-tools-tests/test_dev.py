"""/dev: default devices, linux.devices, devices cgroup, /dev/pts + ptmx, /dev/fd and std*, /dev/shm."""

import pytest

from checks import mount_at

DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
                   "urandom": (1, 9), "tty": (5, 0)}


@pytest.mark.parametrize("name", sorted(DEFAULT_DEVICES))
def test_default_device(ct, name):
    path = "/dev/" + name
    probes = ["--stat", path]
    if name != "tty":
        probes += ["--open-r", path, "--open-w", path]
    r = ct.report(*probes)
    st = r["stat"][path]
    assert st["type"] == "char", st
    assert (st["major"], st["minor"]) == DEFAULT_DEVICES[name]
    assert st["perm"] == "666"
    if name != "tty":
        assert r["open_r"][path] == "ok"
        assert r["open_w"][path] == "ok"


def test_linux_devices(ct):
    ct.config["linux"]["devices"] = [{"path": "/dev/husk-null", "type": "c", "major": 1,
                                      "minor": 3, "fileMode": 0o640, "uid": 0, "gid": 5}]
    ct.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    r = ct.report("--stat", "/dev/husk-null", "--open-w", "/dev/husk-null")
    st = r["stat"]["/dev/husk-null"]
    assert st["type"] == "char" and (st["major"], st["minor"]) == (1, 3)
    assert st["perm"] == "640"
    assert (st["uid"], st["gid"]) == (0, 5)
    assert r["open_w"]["/dev/husk-null"] == "ok"


def test_devices_cgroup_denies_unlisted(ct):
    # a node for /dev/loop-control (10:237) exists but the cgroup rules do not allow it
    ct.config["linux"]["devices"] = [{"path": "/dev/husk-denied", "type": "c", "major": 10,
                                      "minor": 237, "fileMode": 0o666}]
    r = ct.report("--open-r", "/dev/husk-denied")
    assert r["open_r"]["/dev/husk-denied"] == "EPERM"


def test_dev_pts_and_ptmx(ct):
    r = ct.report("--stat", "/dev/ptmx", "--ptmx")
    pts = mount_at(r, "/dev/pts")
    assert pts["fstype"] == "devpts"
    assert "ptmxmode=666" in pts["super_options"]
    assert "gid=5" in pts["super_options"] and "mode=620" in pts["super_options"]
    st = r["stat"]["/dev/ptmx"]
    assert (st["type"] == "symlink" and st["target"] in ("pts/ptmx", "/dev/pts/ptmx")) or \
        (st["type"] == "char" and (st["major"], st["minor"]) == (5, 2))
    assert r["ptmx"].startswith("ok:/dev/pts/"), r["ptmx"]


@pytest.mark.parametrize("link,target", [("/dev/fd", "/proc/self/fd"),
                                         ("/dev/stdin", "/proc/self/fd/0"),
                                         ("/dev/stdout", "/proc/self/fd/1"),
                                         ("/dev/stderr", "/proc/self/fd/2")])
def test_dev_symlinks(ct, link, target):
    r = ct.report("--stat", link)
    st = r["stat"][link]
    assert st["type"] == "symlink" and st["target"] == target, st


def test_dev_shm(ct):
    r = ct.report("--create", "/dev/shm", "--stat", "/dev/shm")
    m = mount_at(r, "/dev/shm")
    assert m["fstype"] == "tmpfs"
    for o in ("nosuid", "nodev", "noexec"):
        assert o in m["options"]
    assert "size=65536k" in m["super_options"]
    assert r["stat"]["/dev/shm"]["perm"] == "1777"
    assert r["create"]["/dev/shm"] == "ok"


def test_dev_only_expected_entries(ct):
    r = ct.report("--read", "/dev")
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
               "mqueue", "fd", "stdin", "stdout", "stderr", "console", "core"}
    extra = set(r["read"]["/dev"]["entries"]) - allowed
    assert not extra, "unexpected entries in /dev: %s" % sorted(extra)
