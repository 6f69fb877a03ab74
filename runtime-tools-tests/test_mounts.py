"""Root filesystem and `mounts`: types, options, propagation, masked and readonly paths."""
import os

import pytest

from checks import mount_at
from conftest import leftovers


DEFAULT_MOUNTS = [("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                  ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue"), ("/sys", "sysfs")]


def test_default_mounts(ct):
    r = ct.report()
    for path, fstype in DEFAULT_MOUNTS:
        m = mount_at(r, path)
        assert m, "no mount at %s" % path
        assert m["fstype"] == fstype, m
    assert "ro" in mount_at(r, "/sys")["options"]
    cg = mount_at(r, "/sys/fs/cgroup")
    assert cg, "no mount at /sys/fs/cgroup"
    # v1: a tmpfs holding one read-only cgroup mount per hierarchy; v2: one cgroup2 mount
    cgroup_mounts = [m for m in r["mountinfo"] if m["mountpoint"].startswith("/sys/fs/cgroup")
                     and m["fstype"] in ("cgroup", "cgroup2")]
    assert cgroup_mounts
    assert all("ro" in m["options"] for m in cgroup_mounts), cgroup_mounts
    dev = mount_at(r, "/dev")
    assert "mode=755" in dev["super_options"] and "size=65536k" in dev["super_options"]


def _hostdir(env, content="hello"):
    d = env.tmpdir()
    with open(os.path.join(d, "file"), "w") as f:
        f.write(content)
    return d


def test_bind_mount_ro(env, ct):
    src = _hostdir(env)
    ct.config["mounts"].append({"destination": "/mnt/ro", "type": "bind", "source": src,
                                "options": ["bind", "ro"]})
    r = ct.report("--read", "/mnt/ro/file", "--create", "/mnt/ro")
    assert r["read"]["/mnt/ro/file"]["content"] == "hello"
    assert r["create"]["/mnt/ro"] == "EROFS"
    assert "ro" in mount_at(r, "/mnt/ro")["options"]
    assert os.listdir(src) == ["file"]


def test_bind_mount_rw(env, ct):
    src = _hostdir(env)
    ct.config["mounts"].append({"destination": "/mnt/rw", "type": "bind", "source": src,
                                "options": ["bind", "rw"]})
    r = ct.report("--create", "/mnt/rw")
    assert r["create"]["/mnt/rw"] == "ok"


def test_bind_mount_file(env, ct):
    src = _hostdir(env, "file-content")
    ct.config["mounts"].append({"destination": "/etc/bound", "type": "bind",
                                "source": os.path.join(src, "file"), "options": ["bind", "ro"]})
    r = ct.report("--read", "/etc/bound")
    assert r["read"]["/etc/bound"]["content"] == "file-content"


@pytest.fixture
def src_with_submount(env):
    src = _hostdir(env)
    os.mkdir(os.path.join(src, "sub"))
    env.mount("-t", "tmpfs", "-o", "size=1m", "rtt-sub", target=os.path.join(src, "sub"))
    with open(os.path.join(src, "sub", "inner"), "w") as f:
        f.write("inner")
    return src


def test_rbind_mount_recursive(env, ct, src_with_submount):
    ct.config["mounts"].append({"destination": "/mnt/r", "type": "bind",
                                "source": src_with_submount, "options": ["rbind", "ro"]})
    r = ct.report("--read", "/mnt/r/sub/inner")
    assert r["read"]["/mnt/r/sub/inner"].get("content") == "inner"
    assert mount_at(r, "/mnt/r/sub")["fstype"] == "tmpfs"


def test_bind_mount_not_recursive(env, ct, src_with_submount):
    ct.config["mounts"].append({"destination": "/mnt/b", "type": "bind",
                                "source": src_with_submount, "options": ["bind"]})
    r = ct.report("--read", "/mnt/b/sub")
    assert r["read"]["/mnt/b/sub"].get("entries") == []
    assert mount_at(r, "/mnt/b/sub") is None


@pytest.mark.parametrize("opt", ["nosuid", "nodev", "noexec", "noatime"])
def test_bind_mount_flag(env, ct, opt):
    src = _hostdir(env)
    ct.config["mounts"].append({"destination": "/mnt/f", "type": "bind", "source": src,
                                "options": ["bind", opt]})
    r = ct.report()
    assert opt in mount_at(r, "/mnt/f")["options"]


def test_tmpfs_size_mode(ct):
    ct.config["mounts"].append({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                                "options": ["nosuid", "nodev", "size=1m", "mode=1770"]})
    r = ct.report("--stat", "/mnt/t", "--create", "/mnt/t")
    m = mount_at(r, "/mnt/t")
    assert m["fstype"] == "tmpfs"
    assert "size=1024k" in m["super_options"]
    assert "mode=1770" in m["super_options"]
    assert "nosuid" in m["options"] and "nodev" in m["options"]
    assert r["stat"]["/mnt/t"]["perm"] == "1770"
    assert r["create"]["/mnt/t"] == "ok"


def test_mount_propagation_shared(env, ct):
    src = _hostdir(env)
    ct.config["mounts"].append({"destination": "/mnt/s", "type": "bind", "source": src,
                                "options": ["rbind", "rshared"]})
    r = ct.report()
    assert any(o.startswith("shared:") for o in mount_at(r, "/mnt/s")["optional"])


def test_mount_propagation_private(env, ct):
    src = _hostdir(env)
    ct.config["mounts"].append({"destination": "/mnt/p", "type": "bind", "source": src,
                                "options": ["rbind", "rprivate"]})
    r = ct.report()
    assert mount_at(r, "/mnt/p")["optional"] == []


def test_rootfs_propagation_shared(ct):
    ct.config["linux"]["rootfsPropagation"] = "shared"
    r = ct.report()
    assert any(o.startswith("shared:") for o in mount_at(r, "/")["optional"])


def test_mount_destination_symlink_stays_in_rootfs(env, ct):
    """A symlink in the rootfs pointing out of it, used as a mount destination, resolves inside."""
    outside = env.tmpdir()
    target = os.path.join(outside, "created")  # absent on the host: a naive mkdir would make it
    os.symlink(target, os.path.join(ct.rootfs, "escape-abs"))
    os.symlink("../../../../../../.." + target + "-rel", os.path.join(ct.rootfs, "escape-rel"))
    ct.config["mounts"].append({"destination": "/escape-abs", "type": "tmpfs", "source": "tmpfs",
                                "options": ["size=1m"]})
    ct.config["mounts"].append({"destination": "/escape-rel", "type": "tmpfs", "source": "tmpfs",
                                "options": ["size=1m"]})
    ct.config["root"]["readonly"] = False
    ct.config["process"]["args"] = ["/checker", "report"]
    p = ct.create(check=False)
    # on the host: nothing was created or mounted outside the rootfs
    assert os.listdir(outside) == []
    host_mounts = open("/proc/self/mountinfo").read()
    assert outside not in host_mounts
    if p.returncode != 0:
        assert leftovers(env, ct) == []
        return
    mi = open("/proc/%d/mountinfo" % ct.pid).read()
    assert (target) in mi or os.path.isdir(ct.rootfs + target), \
        "the tmpfs was not mounted at the symlink's target resolved inside the rootfs"
    ct.start()
    ct.wait_stopped()
    assert os.listdir(outside) == []


def test_masked_paths(ct):
    os.makedirs(os.path.join(ct.rootfs, "masked-dir"))
    with open(os.path.join(ct.rootfs, "masked-dir", "secret"), "w") as f:
        f.write("secret")
    with open(os.path.join(ct.rootfs, "masked-file"), "w") as f:
        f.write("secret")
    ct.config["linux"]["maskedPaths"] += ["/masked-dir", "/masked-file"]
    defaults = [p for p in ("/proc/keys", "/proc/timer_list", "/proc/kcore", "/sys/firmware")
                if os.path.exists(p)]
    probes = ["--read", "/masked-dir", "--read", "/masked-file"]
    for p in defaults:
        probes += ["--read", p]
    r = ct.report(*probes)
    assert r["read"]["/masked-dir"] == {"entries": []}
    assert r["read"]["/masked-file"] == {"content": ""}
    for p in defaults:
        want = {"entries": []} if os.path.isdir(p) else {"content": ""}
        assert r["read"][p] == want, p


def test_readonly_paths(ct):
    os.makedirs(os.path.join(ct.rootfs, "ro-dir"))
    os.makedirs(os.path.join(ct.rootfs, "rw-dir"))
    ct.config["root"]["readonly"] = False
    ct.config["linux"]["readonlyPaths"] += ["/ro-dir"]
    files = [p for p in ("/proc/sys/kernel/hostname", "/proc/irq/default_smp_affinity",
                         "/proc/sysrq-trigger") if os.path.exists(p)]
    probes = ["--create", "/ro-dir", "--create", "/rw-dir"]
    for p in files:
        probes += ["--open-w", p]
    r = ct.report(*probes)
    assert r["create"]["/ro-dir"] == "EROFS"
    assert r["create"]["/rw-dir"] == "ok"
    for p in files:
        assert r["open_w"][p] == "EROFS", p


@pytest.mark.parametrize("readonly", [True, False])
def test_root_readonly(ct, readonly):
    ct.config["root"]["readonly"] = readonly
    r = ct.report("--create", "/")
    assert r["create"]["/"] == ("EROFS" if readonly else "ok")
    assert ("ro" in mount_at(r, "/")["options"]) == readonly


def test_no_pivot(ct):
    r = ct.report("--read", "/", create_args=("--no-pivot",))
    assert "checker" in r["read"]["/"]["entries"]
    assert r["cwd"] == "/"
    assert mount_at(r, "/proc")["fstype"] == "proc"


def test_rbind_rro_recursive_readonly(env, ct, src_with_submount):
    # "rro": read-only applied recursively (mount_setattr AT_RECURSIVE), submounts included
    ct.config["mounts"].append({"destination": "/mnt/rro", "type": "bind",
                                "source": src_with_submount, "options": ["rbind", "rro"]})
    r = ct.report("--create", "/mnt/rro", "--create", "/mnt/rro/sub")
    assert r["create"]["/mnt/rro"] == "EROFS"
    assert r["create"]["/mnt/rro/sub"] == "EROFS"


def test_proc_mount_data_options(ct):
    for m in ct.config["mounts"]:
        if m["destination"] == "/proc":
            m["options"] = ["nosuid", "noexec", "nodev", "hidepid=2"]
    r = ct.report()
    m = mount_at(r, "/proc")
    assert m["fstype"] == "proc"
    assert {"nosuid", "noexec", "nodev"} <= set(m["options"])
    assert "hidepid=invisible" in m["super_options"] or "hidepid=2" in m["super_options"]


def test_mqueue_and_sysfs_flags(ct):
    r = ct.report()
    mq = mount_at(r, "/dev/mqueue")
    assert mq["fstype"] == "mqueue"
    assert {"nosuid", "noexec", "nodev"} <= set(mq["options"])
    sysfs = mount_at(r, "/sys")
    assert {"ro", "nosuid", "noexec", "nodev"} <= set(sysfs["options"])
