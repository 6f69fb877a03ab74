"""runc's contract for mounts and the root filesystem (issue 16, part 2): what podman and
images rely on that runc 1.1.5 does. Every case runs against runc as well."""
import os
import subprocess

import pytest

from checks import mount_at
from conftest import leftovers


MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]

# What podman 4.3 puts on the tmpfs mounts of `--read-only` (/tmp, /var/tmp, /run) and `--tmpfs`.
PODMAN_TMPFS = ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]


def _sh(ct, script):
    ct.config["process"]["args"] = ["/bin/sh", "-c", script]


def _run(ct, *create_args):
    """create + start + wait; returns stdout, stderr and the exit status if we reaped it."""
    out = ct.run_to_end(*create_args)
    return out, ct.errors(), ct.reap()


def _image_dir(ct, rel):
    """/data in the image: a file (0640, 1000:1001), a symlink, a subdirectory (0711,
    1002:1003) with a file, an xattr'd file, and the directory itself 0750 1004:1005."""
    d = os.path.join(ct.rootfs, rel.lstrip("/"))
    os.makedirs(os.path.join(d, "sub"))
    with open(os.path.join(d, "f"), "w") as f:
        f.write("from the image\n")
    os.chmod(os.path.join(d, "f"), 0o604)
    os.chown(os.path.join(d, "f"), 1000, 1001)
    os.symlink("f", os.path.join(d, "l"))
    os.lchown(os.path.join(d, "l"), 1006, 1007)
    with open(os.path.join(d, "sub", "g"), "w") as f:
        f.write("nested\n")
    os.chmod(os.path.join(d, "sub"), 0o711)
    os.chown(os.path.join(d, "sub"), 1002, 1003)
    os.chmod(d, 0o750)
    os.chown(d, 1004, 1005)
    return d


# -- 1. tmpcopyup ----------------------------------------------------------------------------

def test_tmpfs_tmpcopyup_copies_image_content(ct):
    host = _image_dir(ct, "/data")
    ct.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                "options": PODMAN_TMPFS})
    _sh(ct, "stat -c '%n %a %u %g %F' /data /data/f /data/sub /data/sub/g; "
            "stat -c '%n %u %g' /data/l; readlink /data/l; cat /data/f /data/sub/g; "
            "echo new > /data/new && grep ' /data ' /proc/mounts")
    out, err, status = _run(ct)
    lines = out.splitlines()
    # the tmpfs root takes the covered directory's mode (its owner stays root, as with runc)
    assert "/data 750 0 0 directory" in lines, out
    assert "/data/f 604 1000 1001 regular file" in lines, out
    assert "/data/sub 711 1002 1003 directory" in lines, out
    assert "/data/sub/g 644 0 0 regular file" in lines, out
    assert "/data/l 1006 1007" in lines, out
    assert "from the image" in lines and "nested" in lines and "f" in lines, out
    assert any(l.startswith("tmpfs /data tmpfs") for l in lines), out
    # the copy lives in the tmpfs: the image is untouched
    assert not os.path.exists(os.path.join(host, "new"))


def test_tmpfs_tmpcopyup_read_only_root(ct):
    # podman run --read-only: a read-only root with tmpfs (tmpcopyup) on /tmp, /var/tmp, /run
    ct.config["root"]["readonly"] = True
    os.makedirs(os.path.join(ct.rootfs, "run/lock"), exist_ok=True)
    with open(os.path.join(ct.rootfs, "run/keep"), "w") as f:
        f.write("kept\n")
    for d in ("/tmp", "/var/tmp", "/run"):
        ct.config["mounts"].append({"destination": d, "type": "tmpfs", "source": "tmpfs",
                                    "options": PODMAN_TMPFS + ["size=65536k"]})
    _sh(ct, "cat /run/keep && test -d /run/lock && echo x > /run/x && echo x > /tmp/x && "
            "echo x > /var/tmp/x && echo writable; echo x > /bin/x || echo ro-root")
    out, err, status = _run(ct)
    assert out.split() == ["kept", "writable", "ro-root"], (out, err)


def test_tmpfs_tmpcopyup_read_only_tmpfs(ct):
    # "ro" with tmpcopyup: the content is copied first, then the tmpfs is made read-only;
    # seen from the host through the created init's root
    host = _image_dir(ct, "/data")
    ct.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                "options": PODMAN_TMPFS + ["ro"]})
    ct.config["process"]["args"] = ["/bin/sh", "-c", "cat /data/f; echo x > /data/new || echo ro"]
    ct.create()
    seen = "/proc/%d/root/data" % ct.pid
    with open(os.path.join(seen, "f")) as f:
        assert f.read() == "from the image\n"
    assert os.readlink(os.path.join(seen, "l")) == "f"
    assert os.stat(seen).st_dev != os.stat(host).st_dev
    ct.start()
    ct.wait_stopped()
    assert ct.output().splitlines() == ["from the image", "ro"], ct.errors()


def test_tmpfs_tmpcopyup_xattrs(ct):
    # user.* xattrs of the image's files come along (tmpfs keeps them)
    host = _image_dir(ct, "/data")
    os.setxattr(os.path.join(host, "f"), "user.origin", b"image")
    os.setxattr(os.path.join(host, "sub"), "user.origin", b"dir")
    ct.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                "options": PODMAN_TMPFS})
    ct.create()
    seen = "/proc/%d/root/data" % ct.pid
    assert os.stat(seen).st_dev != os.stat(host).st_dev
    assert os.getxattr(os.path.join(seen, "f"), "user.origin") == b"image"
    assert os.getxattr(os.path.join(seen, "sub"), "user.origin") == b"dir"


# -- 2. tmpfs mode= ---------------------------------------------------------------------------

@pytest.mark.parametrize("existing", [False, True], ids=["new-dir", "image-dir"])
@pytest.mark.parametrize("mode", ["444", "1777", "700"])
def test_tmpfs_mode_is_root_mode(ct, mode, existing):
    if existing:
        os.makedirs(os.path.join(ct.rootfs, "mnt/m"), mode=0o755)
    ct.config["mounts"].append({"destination": "/mnt/m", "type": "tmpfs", "source": "tmpfs",
                                "options": ["nosuid", "mode=" + mode]})
    r = ct.report("--stat", "/mnt/m", "--create", "/mnt/m")
    assert r["stat"]["/mnt/m"]["perm"] == mode, r["stat"]
    if mode != "1777":  # tmpfs's default mode is not listed
        assert "mode=%s" % mode in mount_at(r, "/mnt/m")["super_options"]
    # root without CAP_DAC_OVERRIDE (runc's default capabilities) obeys the mode
    assert r["create"]["/mnt/m"] == ("EACCES" if mode == "444" else "ok")


def test_tmpfs_mode_with_tmpcopyup(ct):
    # podman --tmpfs /data:mode=444 (podman adds tmpcopyup): the copy goes in, the root is 444
    _image_dir(ct, "/data")
    ct.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                "options": PODMAN_TMPFS + ["mode=444"]})
    r = ct.report("--stat", "/data", "--read", "/data")
    assert r["stat"]["/data"]["perm"] == "444", r["stat"]
    assert sorted(r["read"]["/data"]["entries"]) == ["f", "l", "sub"], r["read"]


def test_tmpfs_without_mode_keeps_image_dir_mode(ct):
    # no mode=: the tmpfs root takes the mode of the directory it covers (runc)
    os.makedirs(os.path.join(ct.rootfs, "mnt/m"))
    os.chmod(os.path.join(ct.rootfs, "mnt/m"), 0o1770)
    ct.config["mounts"].append({"destination": "/mnt/m", "type": "tmpfs", "source": "tmpfs",
                                "options": ["nosuid"]})
    r = ct.report("--stat", "/mnt/m")
    assert r["stat"]["/mnt/m"]["perm"] == "1770", r["stat"]


# -- 3. read-only /dev -----------------------------------------------------------------------

def _dev_mount(ct):
    return next(m for m in ct.config["mounts"] if m["destination"] == "/dev")


def test_dev_tmpfs_read_only(ct):
    _dev_mount(ct)["options"].append("ro")
    r = ct.report("--create", "/dev", "--open-w", "/dev/null", "--ptmx")
    dev = mount_at(r, "/dev")
    assert "ro" in dev["options"], dev
    assert r["create"]["/dev"] == "EROFS"
    assert r["open_w"]["/dev/null"] == "ok"
    assert mount_at(r, "/dev/pts")["fstype"] == "devpts"
    assert mount_at(r, "/dev/shm")["fstype"] == "tmpfs"


def test_dev_bind_read_only(env, ct):
    src = env.tmpdir()
    ct.config["mounts"] = [m for m in ct.config["mounts"] if m["destination"] != "/dev"]
    ct.config["mounts"].insert(1, {"destination": "/dev", "type": "bind", "source": src,
                                   "options": ["rbind", "ro"]})
    ct.config["linux"]["devices"] = [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3,
                                      "fileMode": 0o666, "uid": 0, "gid": 0}]
    r = ct.report("--create", "/dev", "--open-w", "/dev/null")
    assert "ro" in mount_at(r, "/dev")["options"]
    assert r["create"]["/dev"] == "EROFS"
    assert mount_at(r, "/dev/pts")["fstype"] == "devpts"
    assert r["open_w"]["/dev/null"] == "ok"


# -- 4. /proc or /sys a symlink in the rootfs -------------------------------------------------

@pytest.mark.parametrize("target", ["proc", "sys"])
@pytest.mark.parametrize("link", ["self", "elsewhere"])
def test_proc_sys_symlink_refused(env, ct, target, link):
    p = os.path.join(ct.rootfs, target)
    os.rmdir(p)
    if link == "self":
        os.symlink("/" + target, p)
    else:
        os.makedirs(os.path.join(ct.rootfs, "elsewhere"))
        os.symlink("/elsewhere", p)
    p = ct.create(check=False)
    assert p.returncode == 1, p.stderr_text
    fstype = "proc" if target == "proc" else "sysfs"
    assert "must be mounted on ordinary directory" in p.stderr_text, p.stderr_text
    assert fstype in p.stderr_text
    assert not leftovers(env, ct)
    if link == "elsewhere":
        assert os.listdir(os.path.join(ct.rootfs, "elsewhere")) == []


# -- 5. --no-pivot hides the host's procfs ----------------------------------------------------

def _nested_userns_caps(ct):
    # writing a uid map that maps root to the namespace's creator needs CAP_SETFCAP (5.12+)
    for k in ("bounding", "effective", "permitted"):
        ct.config["process"]["capabilities"][k].append("CAP_SETFCAP")


def test_no_pivot_cannot_mount_fresh_proc(ct):
    # In a user namespace of its own, the container may mount procfs only if a fully visible
    # one is in its mount namespace: with --no-pivot the host's /proc must not count.
    _nested_userns_caps(ct)
    _sh(ct, "unshare -mrpf sh -c 'mount -t proc none /proc && echo MOUNTED'; echo rc=$?")
    out, err, status = _run(ct, "--no-pivot")
    assert "MOUNTED" not in out, out
    assert "rc=1" in out, (out, err)
    assert "ermission denied" in err, err


def test_pivot_cannot_mount_fresh_proc(ct):
    _nested_userns_caps(ct)
    _sh(ct, "unshare -mrpf sh -c 'mount -t proc none /proc && echo MOUNTED'; echo rc=$?")
    out, err, status = _run(ct)
    assert "MOUNTED" not in out and "rc=1" in out, (out, err)


# -- 6. no mount namespace -------------------------------------------------------------------

def _umount_all(path):
    """Unmount everything stacked on `path` (in the test's mount namespace)."""
    for _ in range(10):
        if subprocess.run(["mountpoint", "-q", path]).returncode != 0:
            return
        subprocess.run(["umount", "-l", path], capture_output=True)


def _no_mount_ns(ct):
    ct.config["linux"]["namespaces"] = [n for n in ct.config["linux"]["namespaces"]
                                        if n["type"] != "mount"]
    # runc needs a /proc in the rootfs (it reads /proc/self/fd before exec)
    ct.config["mounts"] = [m for m in ct.config["mounts"] if m["destination"] == "/proc"]
    ct.config["linux"]["maskedPaths"] = []
    ct.config["linux"]["readonlyPaths"] = []


def test_no_mount_namespace(ct):
    # No mount namespace: the container shares the caller's and is chrooted into the rootfs
    _no_mount_ns(ct)
    ct.config["process"]["cwd"] = "/work"
    ours = os.readlink("/proc/self/ns/mnt")
    try:
        r = ct.report("--read", "/")
    finally:
        _umount_all(os.path.join(ct.rootfs, "proc"))
        _umount_all(ct.rootfs)
    assert r["ns"]["mnt"] == ours
    assert "checker" in r["read"]["/"]["entries"], r["read"]
    assert r["cwd"] == "/work"
    assert os.path.isdir(os.path.join(ct.rootfs, "work"))
    assert mount_at(r, "/proc")["fstype"] == "proc"
    # the caller's root is untouched
    assert os.readlink("/proc/self/ns/mnt") == ours and os.path.isdir("/proc/self")


def test_no_mount_namespace_masked_paths_refused(env, ct):
    _no_mount_ns(ct)
    ct.config["linux"]["maskedPaths"] = ["/proc/kcore"]
    try:
        p = ct.create(check=False)
    finally:  # a runtime that goes ahead mounts in our namespace
        ct.delete(force=True, check=False)
        _umount_all(os.path.join(ct.rootfs, "proc"))
        _umount_all(ct.rootfs)
    assert p.returncode == 1
    assert "unable to restrict sys entries without a private MNT namespace" in p.stderr_text
    assert not leftovers(env, ct)


# -- 7. user namespace with mounts the mapped root cannot reach -------------------------------

def _userns(ct):
    ct.config["linux"]["namespaces"].append({"type": "user"})
    ct.config["linux"]["uidMappings"] = MAP
    ct.config["linux"]["gidMappings"] = MAP
    ct.config["mounts"] = [m for m in ct.config["mounts"] if m["destination"] != "/sys/fs/cgroup"]


def test_userns_inaccessible_bind_sources(env, ct):
    _userns(ct)
    srcs = []
    for i in (1, 2):
        d = env.tmpdir(mode=0o700)
        os.makedirs(os.path.join(d, "dir"))
        with open(os.path.join(d, "dir", "foo.txt"), "w") as f:
            f.write("foo%d\n" % i)
        srcs.append(os.path.join(d, "dir"))
        ct.config["mounts"].append({"destination": "/tmp/mount-%d" % i, "type": "bind",
                                    "source": srcs[-1], "options": ["bind"]})
    _sh(ct, "cat /tmp/mount-1/foo.txt /tmp/mount-2/foo.txt")
    out, err, status = _run(ct)
    assert out.split() == ["foo1", "foo2"]


@pytest.mark.parametrize("pivot", ["pivot", "no-pivot"])
def test_userns_inaccessible_bundle(env, ct, pivot):
    # the bundle is 0700 root: the container's root (host uid 100000) cannot enter it
    _userns(ct)
    os.chmod(ct.bundle, 0o700)
    src = env.tmpdir(mode=0o700)
    os.makedirs(os.path.join(src, "dir"))
    with open(os.path.join(src, "dir", "foo.txt"), "w") as f:
        f.write("foo\n")
    os.makedirs(os.path.join(ct.rootfs, "mnt/foo"))  # the mapped root may not create it
    ct.config["mounts"].append({"destination": "/mnt/foo", "type": "bind",
                                "source": os.path.join(src, "dir"), "options": ["bind", "ro"]})
    _sh(ct, "cat /etc/passwd >/dev/null && cat /mnt/foo/foo.txt && "
            "grep -c ' /proc proc ' /proc/mounts && echo x > /mnt/foo/x || echo ro")
    out, err, status = _run(ct, *(["--no-pivot"] if pivot == "no-pivot" else []))
    assert out.split() == ["foo", "1", "ro"], (out, err)


def test_userns_bind_before_cgroup_mount(env, ct):
    cgroup = next(m for m in ct.config["mounts"] if m["destination"] == "/sys/fs/cgroup")
    _userns(ct)
    d = env.tmpdir(mode=0o700)
    os.makedirs(os.path.join(d, "dir"))
    with open(os.path.join(d, "dir", "foo.txt"), "w") as f:
        f.write("foo\n")
    ct.config["mounts"].append({"destination": "/tmp/mount-1", "type": "bind",
                                "source": os.path.join(d, "dir"), "options": ["bind"]})
    ct.config["mounts"].append(cgroup)
    _sh(ct, "cat /tmp/mount-1/foo.txt; ls /sys/fs/cgroup/memory/ | grep -c memory.limit_in_bytes")
    out, err, status = _run(ct)
    assert out.split() == ["foo", "1"], (out, err)
