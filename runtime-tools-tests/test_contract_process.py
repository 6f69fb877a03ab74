"""runc's contract, process part (issue 16, items 8-14): HOME and duplicate env entries, a cwd
only root can reach, unknown capability names, ambient capabilities for exec, execve errors,
the pty slave's owner, and exec's consoleSize and user-less process files. Every case holds
for runc 1.1.5 as well: the expectations are what runc does on this machine."""
import json
import os
import subprocess
import time

import pytest

import rtt
from test_tty import listen, read_until, recv_master, under_script


def environ_of(text):
    """The entries of a /proc/PID/environ dump, in order."""
    return [e for e in text.split("\0") if e]


def env_values(entries, key):
    return [e.split("=", 1)[1] for e in entries if e.split("=", 1)[0] == key]


def said(text):
    """Error output with the log format's escaped quotes undone, lower-cased."""
    return text.replace('\\"', '"').lower()


def running(ct, args=("/checker", "sleep")):
    ct.config["process"]["args"] = list(args)
    ct.create()
    ct.start()
    return ct


def run_exec(ct, *args, **kw):
    return ct.rt("exec", *args, **kw)


# -- item 8: HOME, duplicate variables -------------------------------------------------------

@pytest.mark.parametrize("uid,home", [(0, "/root"), (1000, "/tmp"), (4242, "/")],
                         ids=["root", "passwd-user", "no-passwd-entry"])
@pytest.mark.parametrize("given", ["missing", "empty"])
def test_home_from_passwd(ct, uid, home, given):
    env = ["PATH=/bin", "A=1"] + (["HOME="] if given == "empty" else [])
    ct.config["process"]["env"] = env
    ct.config["process"]["user"] = {"uid": uid, "gid": uid}
    ct.config["process"]["args"] = ["cat", "/proc/self/environ"]
    entries = environ_of(ct.run_to_end())
    assert env_values(entries, "HOME") == [home], entries
    assert env_values(entries, "A") == ["1"], entries


def test_home_given_is_kept(ct):
    ct.config["process"]["env"] = ["PATH=/bin", "HOME=/elsewhere"]
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    ct.config["process"]["args"] = ["cat", "/proc/self/environ"]
    assert env_values(environ_of(ct.run_to_end()), "HOME") == ["/elsewhere"]


def test_env_given_twice_appears_once_last_wins(ct):
    ct.config["process"]["env"] = ["PATH=/bin", "DUP=first", "OTHER=x", "DUP=last", "HOME=/h", "HOME="]
    ct.config["process"]["args"] = ["cat", "/proc/self/environ"]
    entries = environ_of(ct.run_to_end())
    assert env_values(entries, "DUP") == ["last"], entries
    assert env_values(entries, "OTHER") == ["x"], entries
    # the last HOME is empty: it comes from /etc/passwd (root)
    assert env_values(entries, "HOME") == ["/root"], entries
    assert len(entries) == len({e.split("=", 1)[0] for e in entries}), entries


def test_exec_home_from_passwd(ct):
    ct.config["process"]["env"] = ["PATH=/bin", "DUP=1", "DUP=2"]
    running(ct)
    p = run_exec(ct, "-u", "1000", ct.id, "cat", "/proc/self/environ")
    assert p.returncode == 0, p.stderr
    entries = environ_of(p.stdout)
    assert env_values(entries, "HOME") == ["/tmp"], entries
    assert env_values(entries, "DUP") == ["2"], entries
    p = run_exec(ct, "-e", "HOME=", ct.id, "cat", "/proc/self/environ")
    assert p.returncode == 0, p.stderr
    assert env_values(environ_of(p.stdout), "HOME") == ["/root"], p.stdout


# -- item 9: a cwd only root can reach --------------------------------------------------------

def _root_only_dir(ct):
    d = os.path.join(ct.rootfs, "secret", "inner")
    os.makedirs(d)
    os.chmod(os.path.join(ct.rootfs, "secret"), 0o700)
    os.chmod(d, 0o777)
    return "/secret/inner"


def test_cwd_reachable_only_by_root(ct):
    ct.config["process"]["cwd"] = _root_only_dir(ct)
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    r = ct.report()
    assert r["uid"] == 1000
    assert r["cwd"] == "/secret/inner"


def test_exec_cwd_reachable_only_by_root(ct):
    cwd = _root_only_dir(ct)
    running(ct)
    p = run_exec(ct, "-u", "1000:1000", "--cwd", cwd, ct.id, "/checker", "report")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert (r["uid"], r["cwd"]) == (1000, cwd)


def test_cwd_missing_component_not_a_dir_fails(ct):
    open(os.path.join(ct.rootfs, "afile"), "w").close()
    ct.config["process"]["cwd"] = "/afile"
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    p = ct.create(check=False)
    assert p.returncode == 1
    assert "/afile" in p.stderr_text
    assert ct.state() is None


# -- item 10: unknown capability names --------------------------------------------------------

def test_unknown_capability_ignored_with_warning(env, ct):
    caps = ct.config["process"]["capabilities"]
    caps["bounding"] = ["CAP_KILL", "CAP_CHOWN", "CAP_UNKNOWN"]
    caps["effective"] = ["CAP_KILL", "CAP_NEWER_THAN_THIS_KERNEL"]
    caps["permitted"] = ["CAP_KILL", "CAP_CHOWN", "CAP_UNKNOWN"]
    caps["ambient"] = []
    log = os.path.join(env.tmpdir(), "log.json")
    r = ct.report()
    status = {k: int(r["status"][k], 16) for k in ("CapBnd", "CapPrm", "CapEff")}
    assert status["CapBnd"] == rtt.cap_mask(["CAP_KILL", "CAP_CHOWN"])
    assert status["CapPrm"] & rtt.cap_mask(["CAP_KILL"])
    text = ct.errors()
    assert "CAP_UNKNOWN" in text and "CAP_NEWER_THAN_THIS_KERNEL" in text, text
    assert "ignoring unknown or unavailable capabilities" in text, text
    # with --log the warning goes to the log
    c2 = env.container()
    c2.config["process"]["capabilities"]["bounding"].append("CAP_UNKNOWN")
    c2.config["process"]["args"] = ["/bin/true"]
    c2.save()
    p = env.rt("--log", log, "run", "--bundle", c2.bundle, c2.id)
    assert p.returncode == 0, p.stderr
    assert "CAP_UNKNOWN" in open(log).read()


def test_exec_process_file_unknown_capability_ignored(env, ct):
    running(ct)
    f = os.path.join(env.tmpdir(), "p.json")
    with open(f, "w") as fh:
        json.dump({"args": ["grep", "CapBnd", "/proc/self/status"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 0, "gid": 0},
                   "capabilities": {"bounding": ["CAP_KILL", "CAP_UNKNOWN"], "permitted": ["CAP_KILL"],
                                    "effective": ["CAP_KILL"]}}, fh)
    p = run_exec(ct, "--process", f, ct.id)
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[1], 16) == rtt.cap_mask(["CAP_KILL"]), p.stdout
    assert "CAP_UNKNOWN" in p.stderr


def test_exec_cap_flag_unknown_capability_ignored(env, ct):
    """`exec --cap NAME` with a name the runtime does not know: runc warns ("ignoring unknown or
    unavailable capabilities: [NAME]") and runs the process with the known ones added."""
    running(ct)
    p = run_exec(ct, "--cap", "CAP_BOGUS", "--cap", "CAP_KILL", ct.id, "grep", "CapBnd", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[1], 16) & rtt.cap_mask(["CAP_KILL"]), p.stdout
    assert "CAP_BOGUS" in p.stderr and "ignoring unknown or unavailable capabilities" in p.stderr, p.stderr


# -- item 11: ambient capabilities for exec ---------------------------------------------------

AMBIENT_CAPS = {"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]}


def _status_caps(text):
    return {l.split(":")[0]: int(l.split()[1], 16) for l in text.splitlines() if l.startswith("Cap")}


@pytest.mark.parametrize("how", ["flags", "process-file"])
def test_exec_ambient_capabilities(env, ct, how):
    ct.config["process"]["capabilities"] = AMBIENT_CAPS
    running(ct)
    want = rtt.cap_mask(AMBIENT_CAPS["ambient"])
    if how == "flags":
        p = run_exec(ct, "-u", "1000:1000", ct.id, "grep", "Cap", "/proc/self/status")
    else:
        # a process file without capabilities gets the container's (as runc)
        f = os.path.join(env.tmpdir(), "p.json")
        with open(f, "w") as fh:
            json.dump({"args": ["grep", "Cap", "/proc/self/status"], "cwd": "/", "env": ["PATH=/bin"],
                       "user": {"uid": 1000, "gid": 1000}}, fh)
        p = run_exec(ct, "--process", f, ct.id)
    assert p.returncode == 0, p.stderr
    c = _status_caps(p.stdout)
    assert c["CapAmb"] == want, p.stdout
    # non-root without file caps: permitted = effective = ambient after execve
    assert c["CapPrm"] == want and c["CapEff"] == want, p.stdout
    assert c["CapInh"] == rtt.cap_mask(AMBIENT_CAPS["inheritable"])


# -- item 12: execve errors -----------------------------------------------------------------

def _bad_programs(rootfs):
    with open(os.path.join(rootfs, "noexec"), "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(os.path.join(rootfs, "noexec"), 0o644)
    with open(os.path.join(rootfs, "badfmt"), "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01garbage-not-an-elf")
    os.chmod(os.path.join(rootfs, "badfmt"), 0o755)
    with open(os.path.join(rootfs, "badinterp"), "w") as f:
        f.write("#!/no/such/interpreter\n")
    os.chmod(os.path.join(rootfs, "badinterp"), 0o755)


# (program, what create/exec say before the process runs; None: execve itself fails)
LOOKUP_ERRORS = {
    "missing-abs": ("/nonexist", ['exec: "/nonexist": stat /nonexist', "no such file or directory"]),
    "missing-path": ("nonexist", ['exec: "nonexist": executable file not found in $PATH']),
    "not-executable": ("/noexec", ['exec: "/noexec": permission denied']),
    "directory": ("/tmp", ['exec: "/tmp": permission denied']),
}
EXECVE_ERRORS = {
    "wrong-format": ("/badfmt", "exec format error"),
    "missing-interpreter": ("/badinterp", "no such file or directory"),
}


@pytest.mark.parametrize("case", sorted(LOOKUP_ERRORS))
def test_run_program_lookup_error(env, ct, case):
    prog, words = LOOKUP_ERRORS[case]
    _bad_programs(ct.rootfs)
    ct.config["process"]["args"] = [prog]
    ct.save()
    p = env.rt("run", "--bundle", ct.bundle, ct.id)
    assert p.returncode == 1, (p.returncode, p.stderr)
    for w in words:
        assert w.lower() in said(p.stderr), p.stderr
    assert ct.state() is None


@pytest.mark.parametrize("case", sorted(LOOKUP_ERRORS))
def test_exec_program_lookup_error(env, ct, case):
    prog, words = LOOKUP_ERRORS[case]
    _bad_programs(ct.rootfs)
    running(ct)
    p = run_exec(ct, ct.id, prog)
    assert p.returncode == 255, (p.returncode, p.stderr)
    for w in words:
        assert w.lower() in said(p.stderr), p.stderr
    assert ct.status() == "running"


@pytest.mark.parametrize("case", sorted(EXECVE_ERRORS))
def test_run_execve_error(env, ct, case):
    prog, reason = EXECVE_ERRORS[case]
    _bad_programs(ct.rootfs)
    ct.config["process"]["args"] = [prog]
    ct.save()
    p = env.rt("run", "--bundle", ct.bundle, ct.id)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert prog in p.stderr and reason in p.stderr.lower(), p.stderr


@pytest.mark.parametrize("case", sorted(EXECVE_ERRORS))
def test_created_execve_error_exit_status(env, ct, case):
    # create + start: the container's process fails to exec (a binary of another
    # architecture, say): `start` succeeds, the process's stderr names the program and the
    # reason and it exits with status 1, as runc's init does (callers show that output).
    prog, reason = EXECVE_ERRORS[case]
    _bad_programs(ct.rootfs)
    ct.config["process"]["args"] = [prog]
    ct.create()
    p = ct.start(check=False)
    assert p.returncode == 0, p.stderr
    ct.wait_stopped()
    for _ in range(200):
        if ct.reap() is not None:
            break
        time.sleep(0.01)
    assert ct.exit_status is not None
    assert os.waitstatus_to_exitcode(ct.exit_status) == 1
    assert prog in ct.errors() and reason in ct.errors().lower(), ct.errors()


@pytest.mark.parametrize("case", sorted(EXECVE_ERRORS))
def test_exec_execve_error(env, ct, case):
    prog, reason = EXECVE_ERRORS[case]
    _bad_programs(ct.rootfs)
    running(ct)
    p = run_exec(ct, ct.id, prog)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert prog in p.stderr and reason in p.stderr.lower(), p.stderr
    # detached: the exec succeeds, the process's stderr gets the error, it exits 1
    pidfile = os.path.join(env.tmpdir(), "pid")
    err = os.path.join(env.tmpdir(), "err")
    with open(err, "w") as e:
        p = ct.rt("exec", "-d", "--pid-file", pidfile, ct.id, prog, capture=False,
                  stdout=subprocess.DEVNULL, stderr=e)
    assert p.returncode == 0, open(err).read()
    _, status = os.waitpid(int(open(pidfile).read()), 0)  # reparented to us, the subreaper
    assert os.waitstatus_to_exitcode(status) == 1
    text = open(err).read()
    assert prog in text and reason in text.lower(), text
    assert ct.status() == "running"


# -- item 13: the pty slave's owner -----------------------------------------------------------

def _tty_owner_via_socket(env, ct, exec_args=None):
    srv, path = listen(env)
    master = None
    try:
        if exec_args is None:
            ct.config["process"]["terminal"] = True
            ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
            ct.config["process"]["args"] = ["sh", "-c", "stat -c O=%u:%g:%a $(tty); sleep 1"]
            ct.create("--console-socket", path)
            master, _ = recv_master(srv)
            ct.start()
        else:
            p = ct.rt("exec", "-d", "-t", "--console-socket", path, *exec_args, ct.id,
                      "sh", "-c", "stat -c O=%u:%g:%a $(tty); sleep 1",
                      capture=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert p.returncode == 0
            master, _ = recv_master(srv)
        out = read_until(master, "O=")
        return out[out.index("O="):].split()[0]
    finally:
        srv.close()
        if master is not None:
            os.close(master)


def test_pty_slave_owned_by_process_user(env, ct):
    assert _tty_owner_via_socket(env, ct).startswith("O=1000:5:"), ct.errors()


def test_exec_pty_slave_owned_by_process_user(env, ct):
    running(ct)
    assert _tty_owner_via_socket(env, ct, ["-u", "1000:1000"]).startswith("O=1000:5:")


def test_run_tty_slave_owner_foreground(env, ct):
    ct.config["process"]["terminal"] = True
    ct.config["process"]["user"] = {"uid": 1000, "gid": 100}
    ct.config["process"]["args"] = ["sh", "-c", "stat -c O=%u:%g $(tty)"]
    ct.save()
    p = under_script([rtt.RUNTIME, "--root", env.root, "run", "--bundle", ct.bundle, ct.id])
    out = p.stdout.decode(errors="replace")
    assert "O=1000:5" in out, (out, p.stderr)


# -- item 14: exec's consoleSize and a process file without `user` ----------------------------

def _process_file(env, proc):
    f = os.path.join(env.tmpdir(), "p.json")
    with open(f, "w") as fh:
        json.dump(proc, fh)
    return f


def test_exec_process_file_without_user(env, ct):
    running(ct)
    f = _process_file(env, {"args": ["/checker", "report"], "cwd": "/", "env": ["PATH=/bin"]})
    p = run_exec(ct, "--process", f, ct.id)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert (r["uid"], r["gid"]) == (0, 0)
    assert r["env"].get("HOME") == "/root"


def test_exec_process_file_without_user_tty(env, ct):
    running(ct)
    srv, path = listen(env)
    f = _process_file(env, {"terminal": True, "consoleSize": {"height": 17, "width": 71},
                            "args": ["stty", "size"], "cwd": "/", "env": ["PATH=/bin"]})
    pidfile = os.path.join(env.tmpdir(), "pid")
    master = None
    try:
        p = ct.rt("exec", "-d", "--process", f, "--console-socket", path, "--pid-file", pidfile,
                  ct.id, capture=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert p.returncode == 0
        master, _ = recv_master(srv)
        # stty is the program itself: the size is there at its first instruction
        assert "17 71" in read_until(master, "17 71")
        os.waitpid(int(open(pidfile).read()), 0)
    finally:
        srv.close()
        if master is not None:
            os.close(master)


def test_exec_tty_console_size_from_container(env, ct):
    # exec without --process takes the container's process (consoleSize included), as runc
    ct.config["process"]["consoleSize"] = {"height": 23, "width": 45}
    running(ct)
    srv, path = listen(env)
    pidfile = os.path.join(env.tmpdir(), "pid")
    master = None
    try:
        p = ct.rt("exec", "-d", "-t", "--console-socket", path, "--pid-file", pidfile, ct.id,
                  "stty", "size", capture=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert p.returncode == 0
        master, _ = recv_master(srv)
        assert "23 45" in read_until(master, "23 45")
        os.waitpid(int(open(pidfile).read()), 0)
    finally:
        srv.close()
        if master is not None:
            os.close(master)


def test_exec_tty_foreground_console_size_from_process_file(env, ct):
    running(ct)
    f = _process_file(env, {"terminal": True, "consoleSize": {"height": 12, "width": 34},
                            "args": ["stty", "size"], "cwd": "/", "env": ["PATH=/bin"]})
    p = under_script([rtt.RUNTIME, "--root", env.root, "exec", "-t", "--process", f, ct.id])
    out = p.stdout.decode(errors="replace")
    assert "12 34" in out, (out, p.stderr)
    assert p.returncode == 0
