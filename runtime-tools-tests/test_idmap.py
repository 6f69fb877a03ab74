"""Idmapped mounts (issue 18): a mount's uidMappings/gidMappings and the idmap/ridmap options
(runtime-spec config.md, "POSIX-platform Mounts"), as Kubernetes (hostUsers: false) and podman
(-v SRC:DST:idmap, --userns=auto) ask for them. runc 1.1.5 has no idmapped mounts (runc 1.2)."""
import os

import rtt
from conftest import leftovers

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]
# What the container prints for each path: "name uid gid".
STAT = "for f in %s; do stat -c '%%n %%u %%g' $f; done"


def _userns(ct):
    ct.config["linux"]["namespaces"].append({"type": "user"})
    ct.config["linux"]["uidMappings"] = MAP
    ct.config["linux"]["gidMappings"] = MAP
    # sysfs can only be mounted by the owner of the network namespace (see test_userns.py)
    ct.config["mounts"] = [m for m in ct.config["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    # the container's root (host uid 100000) cannot create mount points in the host-owned image
    for d in ("data", "a", "b", "c"):
        os.makedirs(os.path.join(ct.rootfs, d), exist_ok=True)


def _owned_dir(env, owners=((0, 0), (1000, 1000))):
    """A host directory holding a file per (uid, gid), named u<uid>."""
    d = env.tmpdir()
    for uid, gid in owners:
        p = os.path.join(d, "u%d" % uid)
        with open(p, "w") as f:
            f.write("x")
        os.chown(p, uid, gid)
    return d


def _bind(src, dst, options, **extra):
    m = {"destination": dst, "type": "bind", "source": src, "options": options}
    m.update(extra)
    return m


def _owners(out):
    """{path: (uid, gid)} from the STAT lines of the container's output."""
    res = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith("/"):
            res[parts[0]] = (int(parts[1]), int(parts[2]))
    return res


def _chown_caps(ct):
    for k in ("bounding", "effective", "permitted"):
        ct.config["process"]["capabilities"][k].append("CAP_CHOWN")


def _run_sh(ct, script):
    ct.config["process"]["args"] = ["/bin/sh", "-c", script]
    return ct.run_to_end()


def _host_owner(p):
    st = os.lstat(p)
    return (st.st_uid, st.st_gid)


def test_idmap_option_takes_container_mappings(env, ct):
    # "idmap" without mappings of its own: the container's user-namespace mappings are used,
    # so host uid 0 and 1000 show as 0 and 1000 inside (and not as the overflow id 65534)
    d = _owned_dir(env)
    _userns(ct)
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"]))
    out = _run_sh(ct, STAT % "/data/u0 /data/u1000")
    assert _owners(out) == {"/data/u0": (0, 0), "/data/u1000": (1000, 1000)}, (out, ct.errors())


def test_idmap_mount_mappings(env, ct):
    # the mount's own uidMappings/gidMappings (Kubernetes' form), with the idmap option
    d = _owned_dir(env)
    _userns(ct)
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"], uidMappings=MAP, gidMappings=MAP))
    out = _run_sh(ct, STAT % "/data/u0 /data/u1000")
    assert _owners(out) == {"/data/u0": (0, 0), "/data/u1000": (1000, 1000)}, (out, ct.errors())


def test_idmap_mount_mappings_differ_from_container(env, ct):
    # a mount mapping of its own: on-disk 0..9 become host 101000..101009, i.e. 1000..1009 in
    # the container (0→100000); on-disk 1000 is outside the mount's mapping (overflow id)
    d = _owned_dir(env, owners=((0, 0), (5, 5), (1000, 1000)))
    _userns(ct)
    mm = [{"containerID": 0, "hostID": 101000, "size": 10}]
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"], uidMappings=mm, gidMappings=mm))
    out = _run_sh(ct, STAT % "/data/u0 /data/u5 /data/u1000")
    assert _owners(out) == {"/data/u0": (1000, 1000), "/data/u5": (1005, 1005),
                            "/data/u1000": (65534, 65534)}, (out, ct.errors())


def test_idmap_created_files_unshifted_on_host(env, ct):
    # what the container creates lands on disk with the container's ids, not the shifted host ids
    d = _owned_dir(env)
    _userns(ct)
    _chown_caps(ct)
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"]))
    out = _run_sh(ct, "touch /data/by-root && mkdir /data/dir && touch /data/by-user && "
                      "chown 1000:1000 /data/by-user && echo done")
    assert "done" in out, (out, ct.errors())
    assert _host_owner(os.path.join(d, "by-root")) == (0, 0)
    assert _host_owner(os.path.join(d, "dir")) == (0, 0)
    assert _host_owner(os.path.join(d, "by-user")) == (1000, 1000)


def test_idmap_created_by_nonroot_user(env, ct):
    d = _owned_dir(env)
    os.chmod(d, 0o777)
    _userns(ct)
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"]))
    out = _run_sh(ct, "touch /data/mine && echo 1 >> /data/u1000 && echo done")
    assert "done" in out, (out, ct.errors())
    assert _host_owner(os.path.join(d, "mine")) == (1000, 1000)


def test_plain_bind_in_userns_shows_overflow(env, ct):
    # the baseline the idmap cases differ from: without idmap, host root's files are unmapped
    d = _owned_dir(env)
    _userns(ct)
    ct.config["mounts"].append(_bind(d, "/data", ["bind"]))
    out = _run_sh(ct, STAT % "/data/u0 /data/u1000")
    assert _owners(out) == {"/data/u0": (65534, 65534), "/data/u1000": (65534, 65534)}, out


def _dir_with_submount(env):
    d = _owned_dir(env)
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    env.mount("-t", "tmpfs", "-o", "size=1m", "rtt-idmap-sub", target=sub)
    p = os.path.join(sub, "f")
    with open(p, "w") as f:
        f.write("x")
    os.chown(p, 1000, 1000)
    return d


def test_ridmap_idmaps_submounts(env, ct):
    d = _dir_with_submount(env)
    _userns(ct)
    ct.config["mounts"].append(_bind(d, "/data", ["rbind", "ridmap"]))
    out = _run_sh(ct, STAT % "/data/u1000 /data/sub/f")
    assert _owners(out) == {"/data/u1000": (1000, 1000), "/data/sub/f": (1000, 1000)}, (out, ct.errors())


def test_idmap_rbind_idmaps_top_only(env, ct):
    # "idmap" is not recursive (spec): the submount of an rbind keeps its plain view
    d = _dir_with_submount(env)
    _userns(ct)
    ct.config["mounts"].append(_bind(d, "/data", ["rbind", "idmap"]))
    out = _run_sh(ct, STAT % "/data/u1000 /data/sub/f")
    assert _owners(out) == {"/data/u1000": (1000, 1000), "/data/sub/f": (65534, 65534)}, (out, ct.errors())


def test_idmap_tmpfs_source(env, ct):
    d = env.tmpdir()
    env.mount("-t", "tmpfs", "-o", "size=1m", "rtt-idmap-tmpfs", target=d)
    for uid in (0, 1000):
        p = os.path.join(d, "u%d" % uid)
        open(p, "w").close()
        os.chown(p, uid, uid)
    _userns(ct)
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"]))
    out = _run_sh(ct, (STAT % "/data/u0 /data/u1000") + "; touch /data/new")
    assert _owners(out) == {"/data/u0": (0, 0), "/data/u1000": (1000, 1000)}, (out, ct.errors())
    assert _host_owner(os.path.join(d, "new")) == (0, 0)


def _overlay(env):
    base = env.tmpdir()
    lower, upper, work, merged = (os.path.join(base, n) for n in ("lower", "upper", "work", "merged"))
    for p in (lower, upper, work, merged):
        os.mkdir(p)
    env.mount("-t", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work),
              "rtt-idmap-overlay", target=merged)
    return merged


def test_idmap_overlay_source_refused_named(env, ct):
    # overlayfs (kernel 6.18) does not allow idmapped mounts of itself (no FS_ALLOW_IDMAP: it
    # takes idmapped *layers* instead); mount_setattr says EINVAL, and the error names the mount
    # and the filesystem instead of leaving the files unmapped
    merged = _overlay(env)
    _userns(ct)
    ct.config["mounts"].append(_bind(merged, "/data", ["bind", "idmap"]))
    err = _create_fails(env, ct)
    if rtt.is_husk():
        assert "/data" in err and "overlay" in err and "idmap" in err, err


def test_plain_bind_overlay_source_in_userns(env, ct):
    # the same overlay without idmap is fine (files of unmapped owners show as 65534)
    merged = _overlay(env)
    open(os.path.join(merged, "f"), "w").close()
    _userns(ct)
    ct.config["mounts"].append(_bind(merged, "/data", ["bind"]))
    out = _run_sh(ct, STAT % "/data/f")
    assert _owners(out) == {"/data/f": (65534, 65534)}, (out, ct.errors())


def _create_fails(env, ct):
    r = ct.create(check=False)
    assert r.returncode != 0, r
    assert not leftovers(env, ct)
    return r.stderr_text


def test_idmap_mappings_without_userns_refused(env, ct):
    d = _owned_dir(env)
    ct.config["mounts"].append(_bind(d, "/data", ["bind"], uidMappings=MAP, gidMappings=MAP))
    err = _create_fails(env, ct)
    if rtt.is_husk():
        assert "/data" in err and "user namespace" in err, err


def test_idmap_option_without_userns_refused(env, ct):
    d = _owned_dir(env)
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"]))
    err = _create_fails(env, ct)
    if rtt.is_husk():
        assert "/data" in err and "user namespace" in err, err


def test_idmap_on_non_bind_refused(env, ct):
    _userns(ct)
    ct.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                                "options": ["idmap"]})
    err = _create_fails(env, ct)
    if rtt.is_husk():
        assert "/data" in err and "bind" in err, err


def test_idmap_unsupported_filesystem_named(env, ct):
    # procfs cannot be idmapped: the error names the mount and the filesystem
    _userns(ct)
    ct.config["mounts"].append(_bind("/proc/sys/kernel", "/data", ["bind", "idmap"]))
    err = _create_fails(env, ct)
    if rtt.is_husk():
        assert "/data" in err and "proc" in err and "idmap" in err, err


def _children():
    me = str(os.getpid())
    kids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            kids.append(p)
    return kids


def _mounts():
    with open("/proc/self/mountinfo") as f:
        return sorted(l.split()[4] for l in f)


def test_idmap_nothing_left_after_delete(env, ct):
    # two mapping sets (the container's, and a mount's own), several mounts each
    d = _owned_dir(env)
    _userns(ct)
    mm = [{"containerID": 0, "hostID": 101000, "size": 10}]
    ct.config["mounts"] += [_bind(d, "/a", ["bind", "idmap"]), _bind(d, "/b", ["bind", "idmap"]),
                            _bind(d, "/c", ["bind", "idmap"], uidMappings=mm, gidMappings=mm)]
    ct.config["process"]["args"] = ["/bin/sleep", "100"]
    mounts_before = _mounts()
    kids_before = _children()
    ct.create()
    ct.start()
    # only the container's init is ours: the short-lived namespace holders are gone
    extra = set(_children()) - set(kids_before)
    assert extra == {str(ct.pid)}, extra
    with open("/proc/%d/mountinfo" % ct.pid) as f:
        inside = {l.split()[4]: l.split()[5] for l in f}
    for m in ("/a", "/b", "/c"):
        assert "idmapped" in inside.get(m, ""), inside
    ct.kill(ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    ct.reap()
    assert _mounts() == mounts_before
    assert set(_children()) <= set(kids_before)
    assert not leftovers(env, ct)


def test_idmap_rootfs(env, ct):
    # the rootfs itself idmapped (a bind of root.path for "/" with idmap): the host-owned image
    # shows its real owners inside and is writable by the container's root, unshifted on disk
    _userns(ct)
    ct.config["root"]["readonly"] = False
    ct.config["mounts"].insert(0, _bind(ct.rootfs, "/", ["rbind", "idmap"]))
    out = _run_sh(ct, (STAT % "/bin/busybox /etc/passwd /") + "; mkdir /made && touch /made/f && echo done")
    assert _owners(out) == {"/bin/busybox": (0, 0), "/etc/passwd": (0, 0), "/": (0, 0)}, (out, ct.errors())
    assert "done" in out, (out, ct.errors())
    assert _host_owner(os.path.join(ct.rootfs, "made", "f")) == (0, 0)


def test_idmap_rootfs_with_own_mappings_and_mounts(env, ct):
    # the rootfs mount's own mappings, and an idmapped volume on top of it
    d = _owned_dir(env)
    _userns(ct)
    ct.config["mounts"].insert(0, _bind(ct.rootfs, "/", ["rbind"], uidMappings=MAP, gidMappings=MAP))
    ct.config["mounts"].append(_bind(d, "/vol", ["bind", "idmap"]))
    out = _run_sh(ct, STAT % "/etc/passwd /vol/u1000")
    assert _owners(out) == {"/etc/passwd": (0, 0), "/vol/u1000": (1000, 1000)}, (out, ct.errors())
    # /vol was created through the idmapped rootfs: owned by on-disk root
    assert _host_owner(os.path.join(ct.rootfs, "vol")) == (0, 0)


def test_idmap_rootfs_other_source_refused(env, ct):
    d = _owned_dir(env)
    _userns(ct)
    ct.config["mounts"].insert(0, _bind(d, "/", ["rbind", "idmap"]))
    err = _create_fails(env, ct)
    if rtt.is_husk():
        assert "root.path" in err, err


def test_idmap_rootfs_in_inaccessible_bundle(env, ct):
    # a 0700 bundle of the host's root: the container's root cannot reach the rootfs path, so
    # the idmapped clone is attached elsewhere in its namespace (docs/userns.md)
    _userns(ct)
    os.chmod(ct.bundle, 0o700)
    ct.config["mounts"].insert(0, _bind(ct.rootfs, "/", ["rbind", "idmap"]))
    out = _run_sh(ct, STAT % "/etc/passwd /bin/busybox")
    assert _owners(out) == {"/etc/passwd": (0, 0), "/bin/busybox": (0, 0)}, (out, ct.errors())


def test_idmap_file_source_read_only(env, ct):
    # a single file, idmapped and read-only: owners mapped, writes refused (ro applied on top)
    d = _owned_dir(env)
    _userns(ct)
    open(os.path.join(ct.rootfs, "etc", "f1000"), "w").close()
    ct.config["mounts"].append(_bind(os.path.join(d, "u1000"), "/etc/f1000", ["bind", "ro", "idmap"]))
    out = _run_sh(ct, (STAT % "/etc/f1000") + "; echo x > /etc/f1000 || echo refused")
    assert _owners(out) == {"/etc/f1000": (1000, 1000)}, (out, ct.errors())
    assert "refused" in out and "Read-only file system" in ct.errors(), (out, ct.errors())
    with open(os.path.join(d, "u1000")) as f:
        assert f.read() == "x"


def test_idmap_in_joined_user_namespace(env, ct):
    # "idmap" without mappings in a container that joins a user namespace by path: the mount
    # takes that namespace's mappings (the container's own)
    import time
    p = env.spawn(["unshare", "--user", "sleep", "300"])
    host_user = os.readlink("/proc/self/ns/user")
    for _ in range(200):
        if os.readlink("/proc/%d/ns/user" % p.pid) != host_user:
            break
        time.sleep(0.01)
    for f in ("uid_map", "gid_map"):
        with open("/proc/%d/%s" % (p.pid, f), "w") as fh:
            fh.write("0 100000 65536\n")
    d = _owned_dir(env)
    _userns(ct)
    del ct.config["linux"]["uidMappings"], ct.config["linux"]["gidMappings"]
    for n in ct.config["linux"]["namespaces"]:
        if n["type"] == "user":
            n["path"] = "/proc/%d/ns/user" % p.pid
    ct.config["mounts"].append(_bind(d, "/data", ["bind", "idmap"]))
    out = _run_sh(ct, STAT % "/data/u0 /data/u1000")
    assert _owners(out) == {"/data/u0": (0, 0), "/data/u1000": (1000, 1000)}, (out, ct.errors())
