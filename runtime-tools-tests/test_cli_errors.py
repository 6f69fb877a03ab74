"""ids, bad input, --log/--log-format, --version: clear errors, exit 1, nothing left behind."""
import json
import os

import pytest

import rtt
from conftest import leftovers


@pytest.mark.parametrize("bad", ["", "/", "..", ".", "../x", "a/b", "x\ny", "x\x01y", "x\x7f"],
                         ids=["empty", "slash", "dotdot", "dot", "dotdot-x", "a-slash-b",
                              "newline", "ctrl-a", "del"])
def test_bad_id_refused(env, ct, bad):
    outside = os.path.join(os.path.dirname(env.root), "x")
    existed = os.path.exists(outside)
    p = ct.create(id=bad, check=False)
    assert p.returncode == 1
    assert p.stderr_text.strip()
    assert leftovers(env, ct) == []
    assert os.path.exists(outside) == existed, "a state dir was made outside --root"


def test_duplicate_id_refused(env, ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    before = ct.state()
    cg_before = ct.cgroup_dirs()
    other = env.container(["sleep", "30"])
    p = other.create(id=ct.id, check=False)
    assert p.returncode == 1
    assert p.stderr_text.strip()
    after = ct.state()
    assert after == before, "the first container changed"
    assert rtt.pid_alive(ct.pid)
    assert ct.cgroup_dirs() == cg_before
    assert other.cgroup_dirs() == []
    ct.start()
    assert ct.status() == "running"


def _expect_failed_create(env, c, *words):
    p = c.create(check=False, save=False)
    assert p.returncode == 1, p
    msg = p.stderr_text.strip()
    assert msg, "no error message"
    assert leftovers(env, c) == []
    assert c.state() is None
    if rtt.is_husk():
        for w in words:
            assert w in msg, "husk's error %r does not mention %r" % (msg, w)
    return msg


def test_malformed_config_refused(env, ct):
    with open(os.path.join(ct.bundle, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": {')
    _expect_failed_create(env, ct, "config.json")


def test_bad_field_type_refused(env, ct):
    ct.config["process"]["user"]["uid"] = "root"
    ct.save()
    _expect_failed_create(env, ct, "process.user.uid")


def test_unknown_oci_major_refused(env, ct):
    ct.config["ociVersion"] = "2.0.0"
    ct.save()
    _expect_failed_create(env, ct, "ociVersion")


def test_missing_rootfs_refused(env, ct):
    ct.config["root"]["path"] = "no-such-rootfs"
    ct.save()
    _expect_failed_create(env, ct, "no-such-rootfs")


def test_missing_process_args_refused(env, ct):
    del ct.config["process"]["args"]
    ct.save()
    _expect_failed_create(env, ct, "process.args")


def test_missing_config_refused(env, ct):
    _expect_failed_create(env, ct, "config.json")


def test_missing_executable_refused(env, ct):
    # the workload binary does not exist: create (or start) must fail and nothing may remain
    ct.config["process"]["args"] = ["/no/such/binary"]
    ct.save()
    p = ct.create(check=False, save=False)
    if p.returncode == 0:
        s = ct.start(check=False)
        assert s.returncode != 0 or ct.wait_stopped()
        ct.delete(force=True)
    else:
        assert p.returncode == 1
    assert leftovers(env, ct) == []


@pytest.mark.parametrize("form", ["equals", "separate"])
def test_log_json_error_line(env, form):
    log = os.path.join(env.tmpdir(), "log.json")
    fmt = ["--log-format=json"] if form == "equals" else ["--log-format", "json"]
    p = env.rt("state", "no-such-ctr", global_args=["--log", log, *fmt])
    assert p.returncode == 1
    lines = [l for l in open(log).read().splitlines() if l.strip()]
    assert lines, "nothing written to --log"
    last = json.loads(lines[-1])
    assert last["level"] == "error"
    assert last["msg"]
    assert last["time"]


def test_log_json_on_create_failure(env, ct):
    # conmon and containerd's shim show the last JSON line's msg as the user's error
    log = os.path.join(env.tmpdir(), "log.json")
    ct.config["root"]["path"] = "no-such-rootfs"
    ct.save()
    env.global_args = ["--log-format=json", "--log", log]
    p = ct.create(check=False, save=False)
    assert p.returncode == 1
    lines = [l for l in open(log).read().splitlines() if l.strip()]
    assert lines, "nothing written to --log"
    last = json.loads(lines[-1])
    assert last["level"] == "error" and last["msg"] and last["time"]
    assert leftovers(env, ct) == []


def test_log_format_text_accepted(env):
    log = os.path.join(env.tmpdir(), "log.txt")
    p = env.rt("state", "no-such-ctr", global_args=["--log", log, "--log-format", "text"])
    assert p.returncode == 1
    assert open(log).read().strip()


def test_version(env):
    p = env.rt("--version", global_args=[])
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert " version " in lines[0]
    assert any(l.startswith("spec: 1.") for l in lines)


@pytest.mark.husk_only
def test_husk_version_lines(env):
    p = env.rt("--version", global_args=[])
    lines = p.stdout.splitlines()
    assert lines[0].startswith("husk version ")
    assert any(l.startswith("commit: ") for l in lines)


@pytest.mark.husk_only
def test_husk_error_names_object(env):
    p = env.rt("state", "no-such-ctr")
    assert "no-such-ctr" in p.stderr
    assert "not found" in p.stderr or "does not exist" in p.stderr


def test_concurrent_create_same_id(env):
    """Concurrent creates of one id serialize: exactly one wins, the others fail cleanly.
    Races are probabilistic: several rounds of four concurrent creates."""
    import subprocess
    for _ in range(8):
        cs = [env.container(["sleep", "30"]) for _ in range(4)]
        cid = cs[0].id
        procs = []
        for c in cs:
            c.save()
            out = open(c.err_path, "ab")
            procs.append((c, out, env.spawn(
                [rtt.RUNTIME, "--root", env.root, "create", "--bundle", c.bundle, cid],
                stdout=out, stderr=out)))
        rcs = []
        for c, out, p in procs:
            rcs.append(p.wait(timeout=rtt.TIMEOUT))
            out.close()
        winner = cs[rcs.index(0)] if 0 in rcs else cs[0]
        winner.id = cid
        winner.record_pid()
        assert sorted(rcs) == [0, 1, 1, 1], [(rc, c.errors()) for rc, c in zip(rcs, cs)]
        st = json.loads(env.rt("state", cid).stdout)
        assert st["status"] == "created"
        assert os.path.realpath(st["bundle"]) == os.path.realpath(winner.bundle)
        for c in cs:
            if c is not winner:
                assert c.cgroup_dirs() == []
        winner.delete(force=True)


def test_failed_mount_leaves_nothing(env, ct):
    # fails late, after namespaces and cgroups exist: everything must be undone
    ct.config["mounts"].append({"destination": "/mnt/x", "type": "bind",
                                "source": "/nonexistent-rtt-source", "options": ["bind"]})
    ct.save()
    # husk names the JSON path of the entry (mounts[7]: runc spec's defaults have 7 mounts)
    _expect_failed_create(env, ct, "mounts[7]", "/nonexistent-rtt-source")


def test_failed_sysctl_leaves_nothing(env, ct):
    ct.config["linux"]["sysctl"] = {"net.ipv4.no_such_sysctl": "1"}
    ct.save()
    _expect_failed_create(env, ct, "net.ipv4.no_such_sysctl")


def test_systemd_cgroup_without_systemd_fails(env, ct):
    if os.path.exists("/run/systemd/system"):
        pytest.skip("systemd is running here")
    ct.save()
    p = env.rt("--systemd-cgroup", "create", "--bundle", ct.bundle, ct.id)
    assert p.returncode != 0
    assert p.stderr.strip()
    assert leftovers(env, ct) == []


@pytest.mark.parametrize("flag", [["--debug"], ["--rootless", "false"], ["--rootless=auto"]])
def test_global_flags_accepted(env, ct, flag):
    ct.config["process"]["args"] = ["sh", "-c", "echo flag-ok"]
    env.global_args = flag
    assert "flag-ok" in ct.run_to_end()


def test_no_new_keyring(ct):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    host = libc.syscall(250, 0, -3, 0)  # keyctl(KEYCTL_GET_KEYRING_ID, SESSION, 0)
    r = ct.report(create_args=("--no-new-keyring",))
    assert r["session_keyring"] == host


def test_new_keyring_by_default(ct):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    host = libc.syscall(250, 0, -3, 0)
    r = ct.report()
    assert r["session_keyring"] > 0
    assert r["session_keyring"] != host


@pytest.mark.parametrize("args", [["--version"], ["features"], ["list"], ["list", "--format", "json"]],
                         ids=["version", "features", "list", "list-json"])
def test_closed_stdout_ends_quietly_by_sigpipe(env, args):
    """A reader that went away (`husk --version | head -1`, a caller that closed its pipe): the
    runtime dies of SIGPIPE as runc (Go) does, without a panic, an abort or an error line."""
    import subprocess
    if args[0] == "list":
        args = ["--root", env.root] + args
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([rtt.RUNTIME] + args, stdout=w, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=rtt.TIMEOUT)
    finally:
        os.close(w)
    assert p.returncode == -13, (p.returncode, p.stderr)
    assert p.stderr == b"", p.stderr
