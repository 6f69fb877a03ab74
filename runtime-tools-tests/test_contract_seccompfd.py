"""runc's contract, part 2 (issue 16), items 27-30: seccomp's native architecture and an
unreachable NOTIFY agent, no runtime fd reaching the container, and no command that blocks
without bound whatever state the container is in. Every case passes against runc 1.1.5
(RUNTIME=/usr/sbin/runc) as well as husk."""
import array
import errno
import itertools
import json
import os
import shlex
import socket
import subprocess
import threading
import time

import pytest

import rtt
from conftest import leftovers
from test_seccomp import KILLED, OK, allow, errno_result, profile, rule, run_probe


needs_probe = pytest.mark.skipif(not os.path.exists(rtt.SECCOMP_PROBE),
                                 reason="no seccomp probe: run hack/build-probes.sh")


# -- 27: the native architecture is always in the filter ---------------------------------------

@needs_probe
@pytest.mark.parametrize("archs", [["SCMP_ARCH_X86", "SCMP_ARCH_X32"], ["SCMP_ARCH_X86"],
                                   ["SCMP_ARCH_X32"], ["SCMP_ARCH_AARCH64"]],
                         ids=["x86+x32", "x86", "x32", "aarch64"])
def test_native_arch_always_filtered(env, archs):
    """libseccomp's filter always holds the native ABI (seccomp_init adds it; runc only adds the
    listed ones): a profile that lists only other architectures still applies its rules to
    x86-64 syscalls, and lets the others through, instead of killing every x86-64 call."""
    p = allow(rule("uname", "SCMP_ACT_ERRNO", 13), architectures=archs)
    got = run_probe(env, env.container(), "uname buf", p)
    assert got == errno_result(13), got
    got = run_probe(env, env.container(), "getpid", p)
    assert got == OK, got
    if "SCMP_ARCH_X86" in archs:
        assert run_probe(env, env.container(), "--int80 uname buf", p) == errno_result(13)
    else:
        assert run_probe(env, env.container(), "--int80 uname buf", p) == KILLED


@needs_probe
@pytest.mark.parametrize("archs", [["SCMP_ARCH_X86"], ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                                   ["SCMP_ARCH_X86_64"]], ids=["x86", "x86+x32", "x86_64"])
def test_native_arch_enosys_stub_only_when_listed(env, archs):
    """runc's -ENOSYS stub covers the listed architectures only: with x86_64 unlisted an unknown
    x86-64 syscall number gets the default action (EPERM), a listed x86 one ENOSYS."""
    p = profile("seccomp-podman-default.json")
    del p["defaultErrnoRet"]
    p["architectures"] = archs
    listed64 = "SCMP_ARCH_X86_64" in archs
    assert run_probe(env, env.container(), "getcwd buf 4096", p) == OK
    assert run_probe(env, env.container(), "kexec_load 0 0 0 0", p) == errno_result(1)
    assert run_probe(env, env.container(), "1000", p) == errno_result(38 if listed64 else 1)
    want = errno_result(38) if "SCMP_ARCH_X86" in archs else KILLED
    assert run_probe(env, env.container(), "--int80 1000", p) == want


# -- 28: SCMP_ACT_NOTIFY with no agent listening ------------------------------------------------

def _agent_error(text, path):
    """runc: 'failed to connect with seccomp agent specified in the seccomp profile: dial unix P:
    connect: no such file or directory'."""
    low = text.lower()
    return "seccomp agent" in low and path in text and "connect" in low


@pytest.mark.parametrize("how", ["create-missing", "run-missing", "create-refused", "run-dir"])
def test_notify_unreachable_agent_names_it_and_leaves_nothing(env, how):
    ct = env.container()
    d = env.tmpdir()
    path = os.path.join(d, "agent.sock")
    if how.endswith("refused"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)  # bound, never listening: ECONNREFUSED
        s.close()
    elif how.endswith("dir"):
        os.mkdir(path)
    ct.config["process"]["noNewPrivileges"] = True
    ct.config["linux"]["seccomp"] = allow(rule("getppid", "SCMP_ACT_NOTIFY"), listenerPath=path)
    if how.startswith("create"):
        p = ct.create(check=False)
        err = p.stderr_text
    else:
        ct.save()
        p = env.rt("run", "--bundle", ct.bundle, ct.id)
        err = p.stderr
    assert p.returncode == 1, (p.returncode, err)
    assert _agent_error(err, path), err
    want = {"create-missing": "no such file or directory", "run-missing": "no such file or directory",
            "create-refused": "connection refused", "run-dir": "connection refused"}[how]
    assert want in err.lower(), err
    assert leftovers(env, ct) == []
    assert ct.rt("state", ct.id).returncode != 0


def test_notify_exec_with_agent_gone_fails_cleanly(env):
    """The agent that took the init's listener is gone when an exec comes: exec fails naming the
    agent's path, no process of it is left in the container, the container keeps running."""
    d = env.tmpdir()
    path = os.path.join(d, "agent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    ct = env.container(["sleep", "60"])
    ct.config["process"]["noNewPrivileges"] = True
    ct.config["linux"]["seccomp"] = allow(rule("getppid", "SCMP_ACT_NOTIFY"), listenerPath=path)
    ct.create()
    conn, _ = srv.accept()  # the init's listener came (and stays with us, unused)
    conn.close()
    srv.close()
    os.unlink(path)
    ct.start()
    procs_before = _cgroup_procs(ct)
    p = ct.rt("exec", ct.id, "/bin/sleep", "30")
    assert p.returncode != 0
    assert _agent_error(p.stderr, path), p.stderr
    assert _cgroup_procs(ct) == procs_before
    assert ct.status() == "running"
    ct.kill(ct.id, "KILL")


def _cgroup_procs(ct):
    for d in ct.cgroup_dirs():
        if "/pids/" in d or "/memory/" in d:
            with open(os.path.join(d, "cgroup.procs")) as f:
                return sorted(f.read().split())
    raise AssertionError("no cgroup dir for %s" % ct.id)


# -- 29: no fd of the runtime reaches the container process -------------------------------------

FD_OPTIONS = ("console", "preserve", "pidfile", "notify")
FD_COMBOS = [c for n in range(len(FD_OPTIONS) + 1) for c in itertools.combinations(FD_OPTIONS, n)]
# create (then start), run -d, run in the foreground, exec -d, exec in the foreground
# (a foreground `run` or `exec` refuses --console-socket, as runc: "cannot use console socket if
# runc will not detach or allocate tty")
# run-tty / exec-tty: in the foreground with a terminal the runtime makes (under `script`, as
# the caller's terminal), so the runtime keeps a pty master and proxies.
FD_CASES = [(cmd, combo) for cmd in ("create", "run-d", "run", "exec-d", "exec", "run-tty", "exec-tty")
            for combo in FD_COMBOS
            if not (cmd in ("run", "exec", "run-tty", "exec-tty") and "console" in combo)]


def _console_listener(env):
    path = os.path.join(env.tmpdir(), "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.settimeout(rtt.TIMEOUT)
    return srv, path


def _take_master(srv):
    conn, _ = srv.accept()
    with conn:
        fds = array.array("i")
        _, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    assert len(fds) == 1, "no pty master over the console socket"
    return fds[0]


def _drain(sock):
    while True:
        try:
            sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return


def _wait_report(path, timeout=rtt.TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                text = f.read()
            if text.endswith("}\n"):
                return json.loads(text)
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError("no complete report at %s after %ss" % (path, timeout))


@pytest.mark.parametrize("cmd,combo", FD_CASES,
                         ids=["%s:%s" % (c, "+".join(o) or "plain") for c, o in FD_CASES])
def test_no_runtime_fd_reaches_the_process(env, cmd, combo):
    """The container process (init or exec'd) holds exactly stdio plus the --preserve-fds ones,
    whatever mix of --console-socket, --preserve-fds, --pid-file and NOTIFY_SOCKET the caller
    uses; the caller holds fds 3-5 open (3 and 4 preserved when asked), the runtime logs with
    --log. The process writes `/checker report` into a host dir bind-mounted at /out."""
    out_dir = env.tmpdir(0o777)
    files = []
    for n in (3, 4, 5):
        f = os.path.join(out_dir, "fd%d" % n)
        open(f, "w").close()
        files.append(f)
    report = "/out/report"
    # "mv" once the report is complete: the reader never sees half a report.
    # With NOTIFY_SOCKET the init then says READY=1 (runc's `run` waits for it, even with -d).
    proc = ["sh", "-c", "/checker report > %s.tmp 2>/dev/null; mv %s.tmp %s; "
            '[ -z "$NOTIFY_SOCKET" ] || /checker notify READY=1' % (report, report, report)]
    ct = env.container(["sleep", "60"] if cmd.startswith("exec") else proc)
    ct.config["mounts"].append({"destination": "/out", "type": "bind", "source": out_dir,
                                "options": ["rbind", "rw"]})
    terminal = "console" in combo
    ct.config["process"]["terminal"] = (terminal or cmd == "run-tty") and not cmd.startswith("exec")
    ct.save()
    e = dict(os.environ)
    e.pop("NOTIFY_SOCKET", None)
    notify = None
    if "notify" in combo:
        npath = os.path.join(env.tmpdir(), "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(npath)
        notify.settimeout(0.2)
        e["NOTIFY_SOCKET"] = npath
        # Read as systemd does: a received BARRIER=1's fd is closed (acknowledged) at once.
        threading.Thread(target=_drain, args=(notify,), daemon=True).start()
    srv = cpath = None
    if terminal:
        srv, cpath = _console_listener(env)
    log = os.path.join(env.tmpdir(), "log.json")
    if cmd.startswith("exec"):
        ct.create()
        ct.start()
    args = {"create": ["create", "--bundle", ct.bundle], "run-d": ["run", "-d", "--bundle", ct.bundle],
            "run": ["run", "--bundle", ct.bundle], "exec-d": ["exec", "-d"], "exec": ["exec"],
            "run-tty": ["run", "--bundle", ct.bundle], "exec-tty": ["exec", "-t"]}[cmd]
    if terminal:
        args += (["-t"] if cmd.startswith("exec") else []) + ["--console-socket", cpath]
    if "preserve" in combo:
        args += ["--preserve-fds", "2"]
    if "pidfile" in combo:
        args += ["--pid-file", os.path.join(out_dir, "pid")]
    args.append(ct.id)
    if cmd.startswith("exec"):
        args += proc
    script = 'exec 3<"$1" 4<"$2" 5<"$3"; shift 3; exec "$@"'
    full = ["sh", "-c", script, "sh", *files, rtt.RUNTIME, "--root", env.root, "--log", log, *args]
    if cmd.endswith("-tty"):
        full = ["script", "-qec", shlex.join(full), "/dev/null"]
    masters = []
    try:
        with open(ct.out_path, "ab") as out, open(ct.err_path, "ab") as err:
            p = env.spawn(full, stdout=out, stderr=err, env=e)
            if terminal:
                masters.append(_take_master(srv))
            rc = p.wait(timeout=rtt.TIMEOUT)
        assert rc == 0, (rc, ct.errors())
        if cmd in ("create", "run-d"):
            ct.record_pid()
        if cmd == "create":
            ct.start()
        r = _wait_report(os.path.join(out_dir, "report"))
    finally:
        for m in masters:
            os.close(m)
        for s in (srv, notify):
            if s:
                s.close()
    want = ["0", "1", "2"] + (["3", "4"] if "preserve" in combo else [])
    assert sorted(r["fds"], key=int) == want, r["fds"]
    if "preserve" in combo:
        assert r["fds"]["3"].endswith("/fd3") and r["fds"]["4"].endswith("/fd4"), r["fds"]
    if terminal or cmd.endswith("-tty"):
        assert r["fds"]["0"].startswith("/dev/pts/"), r["fds"]


# -- 30: no command blocks without bound, whatever the container's state -----------------------

HANG_STATES = ["created", "created-init-gone", "paused", "paused-exec-stuck", "stopped", "cgroup-gone",
               "init-gone", "state-truncated", "state-garbage", "root-full"]
HANG_COMMANDS = {
    "state": ["state"],
    "start": ["start"],
    "kill": ["kill", "{id}", "TERM"],
    "kill-all": ["kill", "--all", "{id}", "KILL"],
    "delete": ["delete"],
    "delete-force": ["delete", "--force"],
    "exec": ["exec", "{id}", "true"],
    "exec-ignore-paused": ["exec", "--ignore-paused", "{id}", "true"],
    "ps": ["ps"],
    "pause": ["pause"],
    "resume": ["resume"],
    "update": ["update", "--pids-limit", "99"],
    "events-stats": ["events", "--stats"],
    "events": ["events", "--interval", "100ms"],
    "list": ["list"],
}
HANG_CASES = [pytest.param(s, c, id="%s:%s" % (s, c)) for s in HANG_STATES for c in HANG_COMMANDS]
HANG_LIMIT = 10  # seconds: every command here returns in well under one


def _argv(cmd, cid):
    a = HANG_COMMANDS[cmd]
    if cmd == "list":
        return list(a)
    if "{id}" in a:
        return [x.replace("{id}", cid) for x in a]
    return a + [cid]


def _into_state(env, ct, state):
    """Bring a fresh container into `state`."""
    if state == "stopped":
        ct.config["process"]["args"] = ["true"]
    else:
        ct.config["process"]["args"] = ["sleep", "60"]
    if state == "root-full":
        env.mount("-t", "tmpfs", "-o", "size=1m,mode=700", "rtt-full-root", target=env.root)
    ct.create()
    if state == "created":
        return
    if state == "created-init-gone":
        _kill_init(ct)
        return
    ct.start()
    if state == "stopped":
        ct.wait_stopped()
    elif state.startswith("paused"):
        ct.rt("pause", ct.id)
        assert ct.status() == "paused"
    elif state == "cgroup-gone":
        # The init moved to the session's parent cgroup, the container's dirs removed.
        for d in ct.cgroup_dirs():
            with open(os.path.join(os.path.dirname(d), "cgroup.procs"), "w") as f:
                f.write(str(ct.pid))
        for d in ct.cgroup_dirs():
            rtt.rmdir_cgroup_tree(d)
        assert ct.cgroup_dirs() == []
    elif state == "init-gone":
        _kill_init(ct)
    elif state.startswith("state-"):
        path = os.path.join(env.root, ct.id, "state.json")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2] if state == "state-truncated" else b"\x00garbage{")
    elif state == "root-full":
        try:
            with open(os.path.join(env.root, "filler"), "wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def _kill_init(ct):
    os.kill(ct.pid, 9)
    deadline = time.time() + 10
    while rtt.pid_alive(ct.pid) and time.time() < deadline:
        ct.reap()
        time.sleep(0.01)
    assert not rtt.pid_alive(ct.pid)


@pytest.mark.parametrize("state,cmd", HANG_CASES)
def test_command_returns_in_any_state(env, state, cmd):
    """Every command, against a container in every unusual state, returns (success or a clear
    error) within HANG_LIMIT seconds. A streaming `events` ends once the container is gone.
    `paused-exec-stuck`: another runtime command (an `exec --ignore-paused` whose process is
    frozen) never finishes; nothing else may queue behind it forever."""
    ct = env.container()
    stuck = None
    try:
        _into_state(env, ct, state)
        if state == "paused-exec-stuck":
            stuck = env.spawn([rtt.RUNTIME, "--root", env.root, "exec", "--ignore-paused", ct.id, "true"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        _run_bounded(env, ct, state, cmd)
    finally:
        if stuck is not None:
            stuck.kill()
            stuck.wait()
            # What the stuck exec left frozen in the container's cgroup is thawed from the host,
            # so that the fixture can remove everything.
            for d in ct.cgroup_dirs():
                for f, v in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                    if os.path.exists(os.path.join(d, f)):
                        with open(os.path.join(d, f), "w") as fh:
                            fh.write(v)
            ct.rt("delete", "--force", ct.id, timeout=HANG_LIMIT)


def _run_bounded(env, ct, state, cmd):
    argv = _argv(cmd, ct.id)
    if cmd == "events":
        p = env.spawn([rtt.RUNTIME, "--root", env.root, *argv], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
        try:
            rc = p.wait(timeout=1)
        except subprocess.TimeoutExpired:
            # Still streaming: it must end once the container is deleted.
            d = ct.rt("delete", "--force", ct.id, timeout=HANG_LIMIT)
            if state == "root-full":
                os.unlink(os.path.join(env.root, "filler"))
                d = ct.rt("delete", "--force", ct.id, timeout=HANG_LIMIT)
            try:
                rc = p.wait(timeout=HANG_LIMIT)
            except subprocess.TimeoutExpired:
                raise AssertionError("events still running %ss after delete --force (%s)"
                                     % (HANG_LIMIT, d.stderr))
        _record(state, cmd, rc)
        return
    if cmd == "exec-ignore-paused" and state.startswith("paused"):
        # The exec'd process is born frozen, and the runtime waits for it as runc 1.1.5 does:
        # its exit condition is `resume` (or `delete --force`), which must get through at once.
        p = env.spawn([rtt.RUNTIME, "--root", env.root, *argv], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
        time.sleep(1)
        r = ct.rt("resume", ct.id, timeout=HANG_LIMIT)
        assert r.returncode == 0, r.stderr
        try:
            rc = p.wait(timeout=HANG_LIMIT)
        except subprocess.TimeoutExpired:
            raise AssertionError("exec --ignore-paused still blocked %ss after resume" % HANG_LIMIT)
        assert rc == 0, p.stderr.read()
        _record(state, cmd, rc)
        d = ct.rt("delete", "--force", ct.id, timeout=HANG_LIMIT)
        assert d.returncode == 0, d.stderr
        assert ct.cgroup_dirs() == []
        return
    try:
        p = ct.rt(*argv, timeout=HANG_LIMIT)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s blocked for %ss on a %s container" % (" ".join(argv), HANG_LIMIT, state))
    _record(state, cmd, p.returncode, p.stderr)
    if state == "root-full":
        os.unlink(os.path.join(env.root, "filler"))
    # And delete --force removes it, also past a stuck command (runc 1.1.5 cannot remove a
    # container whose state.json is corrupt: "unexpected EOF"; husk removes its state and warns).
    d = ct.rt("delete", "--force", ct.id, timeout=HANG_LIMIT)
    if not state.startswith("state-"):
        assert d.returncode == 0, d.stderr
        assert ct.rt("state", ct.id).returncode != 0
        assert ct.cgroup_dirs() == []


def _record(state, cmd, rc, err=""):
    out = os.environ.get("RTT_HANG_RECORD")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"state": state, "cmd": cmd, "rc": rc, "err": (err or "").strip()[-300:]}) + "\n")


def test_run_tty_notify_socket_output_before_ready_does_not_hang(env, ct):
    """`run` in the foreground with a terminal and NOTIFY_SOCKET: the container writes more than
    a pty holds before it says READY=1. The runtime must keep proxying the terminal while it
    waits for READY (husk used to wait first: the container blocked on the full pty, husk on
    READY, both forever)."""
    npath = os.path.join(env.tmpdir(), "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(npath)
    ct.config["process"]["terminal"] = True
    ct.config["process"]["args"] = ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo; "
                                    "/checker notify READY=1; echo after-ready"]
    ct.save()
    e = dict(os.environ, NOTIFY_SOCKET=npath)
    cmd = [rtt.RUNTIME, "--root", env.root, "run", "--bundle", ct.bundle, ct.id]
    try:
        p = subprocess.run(["script", "-qec", shlex.join(cmd), "/dev/null"], env=e,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=HANG_LIMIT * 2)
    except subprocess.TimeoutExpired:
        raise AssertionError("run -t with NOTIFY_SOCKET blocked for %ss" % (HANG_LIMIT * 2))
    finally:
        notify.close()
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode(errors="replace")
    assert out.count("x") >= 200000 and "after-ready" in out, out[-300:]
