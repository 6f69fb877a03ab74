"""exec: every flag, the namespaces and cgroup joined, fds, detach + pid file + reparenting to
a subreaper, /proc/PID/exe protection during exec, LISTEN_FDS, NOTIFY_SOCKET and the error cases."""
import array
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import rtt

NS = ("cgroup", "ipc", "mnt", "net", "pid", "uts", "user")


def running(ct, args=("/checker", "sleep")):
    ct.config["process"]["args"] = list(args)
    ct.create()
    ct.start()
    return ct


def ex(ct, *args, **kw):
    return ct.rt("exec", *args, **kw)


def ex_detached(env, ct, *args):
    """exec -d with stdio not ours to wait on (the process keeps what it inherits)."""
    err = os.path.join(env.tmpdir(), "err")
    with open(err, "w") as e:
        p = ct.rt("exec", "-d", *args, stdout=subprocess.DEVNULL, stderr=e, capture=False)
    p.stderr = open(err).read()
    return p


def ex_report(ct, *flags, probes=()):
    p = ex(ct, *flags, ct.id, "/checker", "report", *probes)
    assert p.returncode == 0, p.stderr
    return json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])


def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[1])


def test_exec_detach_joins_namespaces_cgroup_and_reparents(env, ct):
    running(ct)
    pidfile = os.path.join(env.tmpdir(), "exec.pid")
    p = ex_detached(env, ct, "--pid-file", pidfile, ct.id, "/checker", "sleep")
    assert p.returncode == 0, p.stderr
    epid = int(open(pidfile).read())
    try:
        assert rtt.pid_alive(epid)
        for ns in NS:
            assert os.readlink("/proc/%d/ns/%s" % (epid, ns)) == \
                os.readlink("/proc/%d/ns/%s" % (ct.pid, ns)), ns
        assert open("/proc/%d/cgroup" % epid).read() == open("/proc/%d/cgroup" % ct.pid).read()
        # The runtime exited: the process was reparented to us, the subreaper.
        assert ppid_of(epid) == os.getpid()
        assert os.readlink("/proc/%d/root" % epid) == os.readlink("/proc/%d/root" % ct.pid)
    finally:
        os.kill(epid, signal.SIGKILL)
        assert rtt.wait_gone(epid)


def test_exec_foreground_exit_status(ct):
    running(ct)
    assert ex(ct, ct.id, "sh", "-c", "exit 7").returncode == 7
    assert ex(ct, ct.id, "sh", "-c", "kill -TERM $$").returncode == 128 + signal.SIGTERM
    p = ex(ct, ct.id, "sh", "-c", "echo out-$((40+2)); echo err >&2")
    assert p.stdout == "out-42\n" and p.stderr == "err\n"


def test_exec_foreground_forwards_signals(env, ct):
    running(ct)
    d = env.tmpdir()
    p = env.spawn([rtt.RUNTIME, "--root", env.root, "exec", ct.id, "sh", "-c",
                   "trap 'exit 42' USR1; touch /tmp/ready; while :; do sleep 0.05; done"],
                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "err"), "w"))
    deadline = time.time() + 10
    while not os.path.exists(os.path.join(ct.rootfs, "tmp", "ready")) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    p.send_signal(signal.SIGUSR1)
    assert p.wait(timeout=10) == 42


def test_exec_process_file(env, ct):
    running(ct)
    f = os.path.join(env.tmpdir(), "process.json")
    with open(f, "w") as fh:
        json.dump({"args": ["/checker", "report"], "cwd": "/tmp", "env": ["PATH=/bin", "HUSK_P=1"],
                   "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]},
                   "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                    "permitted": ["CAP_KILL"]}}, fh)
    r = ex_report_file(ct, f)
    assert int(r["status"]["CapBnd"], 16) == rtt.cap_mask(["CAP_KILL"])
    with open(f) as fh:
        pj = json.load(fh)
    del pj["capabilities"]
    with open(f, "w") as fh:
        json.dump(pj, fh)
    # The other flags are ignored with --process.
    r = ex_report_file(ct, f, "--cwd", "/", "-e", "HUSK_F=1", "-u", "0")
    assert r["cwd"] == "/tmp"
    assert r["env"].get("HUSK_P") == "1" and "HUSK_F" not in r["env"]
    assert r["status"]["Uid"].split()[0] == "1000" and r["status"]["Gid"].split()[0] == "1000"
    assert r["status"]["Groups"].split() == ["5"]
    # Capabilities it does not set are the container's; rlimits it does not set are not
    # (runc 1.1.5 leaves the caller's then).
    with open(f, "w") as fh:
        json.dump({"args": ["sh", "-c", "exit 9"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 0, "gid": 0}}, fh)
    assert ex(ct, "--process", f, ct.id).returncode == 9


def ex_report_file(ct, f, *ignored):
    with open(f) as fh:
        assert json.load(fh)["args"][0] == "/checker"
    p = ex(ct, "--process", f, *ignored, ct.id)
    assert p.returncode == 0, p.stderr
    return json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])


def test_exec_cwd_env_user_gids(ct):
    ct.config["process"]["env"].append("HUSK_BASE=base")
    running(ct)
    # (runc's flag parser refuses both forms of one flag in a command line)
    r = ex_report(ct, "--cwd", "/tmp", "-e", "HUSK_A=1", "-e", "HUSK_BASE=over",
                  "-u", "1000:1000", "-g", "7", "-g", "8")
    assert r["cwd"] == "/tmp"
    assert r["env"]["HUSK_A"] == "1" and r["env"]["HUSK_BASE"] == "over"
    assert r["env"]["PATH"].startswith("/usr/local/sbin")
    assert r["status"]["Uid"].split() == ["1000"] * 4
    assert r["status"]["Gid"].split() == ["1000"] * 4
    assert r["status"]["Groups"].split() == ["7", "8"]
    r = ex_report(ct, "--user", "1000", "--env", "X=1")
    assert r["status"]["Uid"].split()[0] == "1000" and r["status"]["Gid"].split()[0] == "0"


def test_exec_bad_args(ct):
    running(ct)
    for flags in (["--cwd", "relative"], ["-u", "x"], ["-u", "1:x"]):
        p = ex(ct, *flags, ct.id, "true")
        assert p.returncode == 255, (flags, p.returncode, p.stderr)
        assert p.stderr.strip()
    p = ex(ct, ct.id)
    assert p.returncode != 0


def test_exec_cap(ct):
    running(ct)
    r = ex_report(ct, "--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_RAW")
    want = rtt.cap_mask(["CAP_SYS_ADMIN", "CAP_NET_RAW"])
    for k in ("CapBnd", "CapEff", "CapPrm"):
        assert int(r["status"][k], 16) & want == want, (k, r["status"][k])
    r = ex_report(ct)
    assert int(r["status"]["CapBnd"], 16) == rtt.cap_mask(
        ct.config["process"]["capabilities"]["bounding"])


def test_exec_no_new_privs(ct):
    ct.config["process"]["noNewPrivileges"] = False
    running(ct)
    assert ex_report(ct)["status"]["NoNewPrivs"] == "0"
    assert ex_report(ct, "--no-new-privs")["status"]["NoNewPrivs"] == "1"


def test_exec_rlimits_and_seccomp_of_the_container(ct):
    ct.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 777, "soft": 555}]
    ct.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["syslog"], "action": "SCMP_ACT_ERRNO"}]}
    running(ct)
    r = ex_report(ct)
    assert r["status"]["Seccomp"] == "2"
    nofile = r["rlimits"]["RLIMIT_NOFILE"]
    assert nofile in ([555, 777], {"soft": 555, "hard": 777}), nofile


def test_exec_apparmor_and_label_without_lsm_fail_clearly(ct):
    if os.path.exists("/sys/fs/selinux/enforce") or \
            open("/sys/module/apparmor/parameters/enabled").read().startswith("Y") \
            if os.path.exists("/sys/module/apparmor/parameters/enabled") else False:
        pytest.skip("an LSM is enabled on this host")
    running(ct)
    for flags in (["--apparmor", "husk-test"], ["--process-label", "system_u:system_r:container_t:s0"]):
        p = ex(ct, *flags, ct.id, "true")
        assert p.returncode == 255, (flags, p.stderr)
        assert "apparmor" in p.stderr.lower() or "selinux" in p.stderr.lower(), p.stderr


def test_exec_stopped_refused(ct):
    ct.config["process"]["args"] = ["true"]
    ct.run_to_end()
    p = ex(ct, ct.id, "true")
    assert p.returncode == 255
    assert "stopped" in p.stderr


def _freeze(ct, on):
    """Freeze or thaw the container's cgroup behind the runtime's back; wait for the kernel."""
    if rtt.is_cgroup2():
        d = ct.cgroup_dirs()[0]
        f, v, done = "cgroup.freeze", "1" if on else "0", lambda: ("frozen %d" % on) in open(
            os.path.join(d, "cgroup.events")).read().splitlines()
    else:
        d = [d for d in ct.cgroup_dirs() if "/freezer/" in d][0]
        state = "FROZEN" if on else "THAWED"
        f, v, done = "freezer.state", state, lambda: open(os.path.join(d, "freezer.state")).read().strip() == state
    with open(os.path.join(d, f), "w") as out:
        out.write(v)
    deadline = time.time() + 10
    while not done() and time.time() < deadline:
        time.sleep(0.02)


def test_exec_paused(env, ct):
    running(ct)
    _freeze(ct, True)
    try:
        p = ex(ct, ct.id, "true")
        assert p.returncode == 255 and "paused" in p.stderr, p.stderr
        pidfile = os.path.join(env.tmpdir(), "p")
        # Accepted with --ignore-paused; it runs once the container thaws.
        q = env.spawn([rtt.RUNTIME, "--root", env.root, "exec", "--ignore-paused", "-d",
                       "--pid-file", pidfile, ct.id, "true"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
    finally:
        _freeze(ct, False)
    assert q.wait(timeout=20) == 0, q.stderr.read()
    assert rtt.wait_gone(int(open(pidfile).read()))


def test_exec_cgroup_sub(ct):
    running(ct)
    if rtt.is_cgroup2():
        # one hierarchy: the sub-path without a controller prefix
        os.mkdir(os.path.join(ct.cgroup_dirs()[0], "sub"))
        r = ex_report(ct, "--cgroup", "sub")
        assert r["cgroup"].strip() == "0::%s/sub" % ct.cgroups_path, r["cgroup"]
        bad = (["--cgroup", "../.."], ["--cgroup", "a:b:c"], ["--cgroup", "nosuch"])
    else:
        pids = [d for d in ct.cgroup_dirs() if "/pids/" in d][0]
        os.mkdir(os.path.join(pids, "sub"))
        r = ex_report(ct, "--cgroup", "pids:sub")
        lines = dict(l.split(":", 2)[1:] for l in r["cgroup"].splitlines())
        assert lines["pids"].endswith("/sub"), r["cgroup"]
        assert not lines["memory"].endswith("/sub")
        bad = (["--cgroup", "nosuchctl:sub"], ["--cgroup", "pids:../.."],
               ["--cgroup", "a:b:c"], ["--cgroup", "sub", "--cgroup", "pids:sub"])
    for b in bad:
        p = ex(ct, *b, ct.id, "true")
        assert p.returncode == 255, (b, p.stderr)


def _exec_with_fds(env, ct, flags, pre=""):
    p = env.rt("exec", *flags, ct.id, "/checker", "report", with_fds=pre)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_exec_no_leaked_fds(env, ct):
    running(ct)
    r = _exec_with_fds(env, ct, [])
    assert sorted(r["fds"], key=int) == ["0", "1", "2"], r["fds"]


def test_exec_preserve_fds(env, ct):
    running(ct)
    r = _exec_with_fds(env, ct, ["--preserve-fds", "2"])
    assert sorted(r["fds"], key=int) == ["0", "1", "2", "3", "4"], r["fds"]
    assert r["fds"]["3"].endswith("fd3") and r["fds"]["4"].endswith("fd4")


def test_exec_ignores_listen_fds(env, ct):
    """runc passes LISTEN_FDS only to a container's init (create/run), not to exec."""
    running(ct)
    r = _exec_with_fds(env, ct, [], pre='LISTEN_PID=$$ LISTEN_FDS=2')
    assert sorted(r["fds"], key=int) == ["0", "1", "2"], r["fds"]
    assert "LISTEN_FDS" not in r["env"]


def test_create_listen_fds(env, ct):
    """systemd socket activation: LISTEN_FDS for our pid → fds 3.. and LISTEN_FDS/LISTEN_PID=1,
    then the --preserve-fds ones after them."""
    r = ct.report(create_args=("--preserve-fds", "1"), with_fds="LISTEN_PID=$$ LISTEN_FDS=2")
    assert sorted(r["fds"], key=int) == ["0", "1", "2", "3", "4", "5"], r["fds"]
    assert r["env"].get("LISTEN_FDS") == "2" and r["env"].get("LISTEN_PID") == "1"
    # Another pid's LISTEN_FDS is not ours: nothing passed.
    r = env.container().report(with_fds="LISTEN_PID=1 LISTEN_FDS=2")
    assert sorted(r["fds"], key=int) == ["0", "1", "2"], r["fds"]
    assert "LISTEN_FDS" not in r["env"]


def test_exec_proc_exe_not_writable_during_exec(env, ct):
    """A process in the container keeps trying to open /proc/N/exe for writing of every other
    process while execs come and go: it must never succeed (CVE-2019-5736)."""
    running(ct, ["/checker", "exe-probe", "3"])
    deadline = time.time() + 2.5
    n = 0
    while time.time() < deadline:
        ex(ct, ct.id, "true")
        n += 1
    ct.wait_stopped(timeout=60)
    r = json.loads([l for l in ct.output().splitlines() if l.startswith("{")][-1])
    assert "ok" not in r["counts"], r
    assert n >= 3, n  # a TCG guest (hack/vm) manages about 5 execs of runc in 2.5 s


def test_exec_detached_tty_without_console_socket_refused(env, ct):
    running(ct)
    p = ex_detached(env, ct, "-t", ct.id, "true")
    assert p.returncode == 255
    assert "console socket" in p.stderr


def test_exec_console_socket_without_tty_refused(env, ct):
    running(ct)
    s = os.path.join(env.tmpdir(), "c.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(s)
    srv.listen(1)
    try:
        for flags in (["--console-socket", s, "-d"], ["--console-socket", s, "-t"]):
            p = ex_detached(env, ct, *flags[:2], ct.id, "true") if "-d" in flags else \
                ex(ct, *flags, ct.id, "true")
            assert p.returncode == 255, flags
            assert "console socket" in p.stderr
    finally:
        srv.close()


# -- NOTIFY_SOCKET ---------------------------------------------------------------------------

def _notify_listener(env):
    path = os.path.join(env.tmpdir(), "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(rtt.TIMEOUT)
    return s, path


def _receive_until_barrier(s):
    """Messages until READY= and MAINPID= arrived, then a BARRIER=1 if one comes (runc 1.1.5
    sends none); closing the fd it carries acknowledges it (as systemd does)."""
    got = []
    while True:
        fds = array.array("i")
        if any(l.startswith("READY=") for l in got) and any(l.startswith("MAINPID=") for l in got):
            s.settimeout(1.5)
            try:
                msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
            except socket.timeout:
                return got
            finally:
                s.settimeout(rtt.TIMEOUT)
        else:
            msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
        for fd in fds:
            os.close(fd)
        text = msg.decode()
        got.extend(l for l in text.split("\n") if l)
        if text.startswith("BARRIER=1"):
            return got


def test_notify_socket_ready_relayed_by_start(env, ct):
    s, path = _notify_listener(env)
    try:
        ct.config["process"]["args"] = [
            "sh", "-c", 'echo "NS=$NOTIFY_SOCKET"; sleep 0.3; /checker notify READY=1; exec /checker sleep']
        e = dict(os.environ, NOTIFY_SOCKET=path)
        ct.save()
        with open(ct.out_path, "ab") as out, open(ct.err_path, "ab") as err:
            p = subprocess.run([rtt.RUNTIME, "--root", env.root, "create", "--bundle", ct.bundle,
                                "--pid-file", ct.pid_file, ct.id], stdin=subprocess.DEVNULL,
                               stdout=out, stderr=err, env=e, timeout=rtt.TIMEOUT)
        assert p.returncode == 0, ct.errors()
        ct.record_pid()
        start = env.spawn([rtt.RUNTIME, "--root", env.root, "start", ct.id], env=e,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        got = _receive_until_barrier(s)
        assert start.wait(timeout=rtt.TIMEOUT) == 0, start.stderr.read()
        assert "READY=1" in got, got
        assert "MAINPID=%d" % ct.pid in got, got
        ct.wait_output("NS=/run/notify/notify.sock")
        ct.wait_output("notify-sent")
    finally:
        s.close()


def test_notify_socket_relays_other_messages(env, ct):
    """husk relays every sd_notify line before READY (runc 1.1 only the READY line)."""
    s, path = _notify_listener(env)
    try:
        ct.config["process"]["args"] = [
            "sh", "-c", '/checker notify STATUS=warming; /checker notify MAINPID=5; sleep 0.2; '
                        '/checker notify READY=1; exec /checker sleep']
        e = dict(os.environ, NOTIFY_SOCKET=path)
        ct.save()
        start = env.spawn([rtt.RUNTIME, "--root", env.root, "run", "-d", "--bundle", ct.bundle,
                           "--pid-file", ct.pid_file, ct.id], env=e,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        got = _receive_until_barrier(s)
        assert start.wait(timeout=rtt.TIMEOUT) == 0, start.stderr.read()
        ct.record_pid()
        assert got.index("STATUS=warming") < got.index("READY=1"), got
        assert "MAINPID=5" not in got and "MAINPID=%d" % ct.pid in got, got
    finally:
        s.close()


def test_notify_socket_start_returns_when_init_exits(env, ct):
    """No READY and the init exits: start does not hang."""
    s, path = _notify_listener(env)
    try:
        ct.config["process"]["args"] = ["sh", "-c", "sleep 0.3"]
        ct.save()
        e = dict(os.environ, NOTIFY_SOCKET=path)
        with open(ct.out_path, "ab") as out, open(ct.err_path, "ab") as err:
            p = subprocess.run([rtt.RUNTIME, "--root", env.root, "create", "--bundle", ct.bundle,
                                ct.id], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=e,
                               timeout=rtt.TIMEOUT)
        assert p.returncode == 0, ct.errors()
        ct.record_pid()
        reaper = threading.Thread(target=lambda: (time.sleep(0.6), ct.reap()))
        reaper.start()
        p = subprocess.run([rtt.RUNTIME, "--root", env.root, "start", ct.id], env=e,
                           capture_output=True, text=True, timeout=rtt.TIMEOUT)
        reaper.join()
        assert p.returncode == 0, p.stderr
    finally:
        s.close()
