"""linux.seccomp: every action, operator, argument combination, architecture and flag, with
and without noNewPrivileges, for the init and exec'd processes, NOTIFY with a real agent,
refused profiles, podman's default profile, and a differential run against runc.

The container process is /seccomp-probe (runtime-tools-tests/seccomp-probe, built by
hack/build-probes.sh): it makes one raw syscall with the given arguments and prints
`ret=N errno=E NAME`. The expectations below are what runc 1.1.5 (libseccomp 2.5.4) gives, so
the file passes against runc as well (RUNTIME=/usr/sbin/runc); known_failures.py lists where
runc differs and why. Syscalls whose arguments are tested are ones neither the probe's libc nor
runc's init makes after the filter is loaded (getuid, getpgrp, ...): the kernel ignores their
arguments, the filter sees them.
"""
import array
import ctypes
import errno
import fcntl
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import threading

import pytest

import rtt
from conftest import leftovers

RUNC = os.environ.get("RUNC", "/usr/sbin/runc")
DATA = os.path.join(rtt.HERE, "data")
SIGSYS_STATUS = 128 + 31  # `run` exits 128+N when the process is killed by signal N

pytestmark = pytest.mark.skipif(not os.path.exists(rtt.SECCOMP_PROBE),
                                reason="no seccomp probe: run hack/build-probes.sh")


def profile(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def allow(*rules, **kw):
    p = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules)}
    p.update(kw)
    return p


def rule(names, action, errno_ret=None, args=()):
    r = {"names": names if isinstance(names, list) else [names], "action": action}
    if errno_ret is not None:
        r["errnoRet"] = errno_ret
    if args:
        r["args"] = list(args)
    return r


def arg(index, op, value, value_two=None):
    a = {"index": index, "op": "SCMP_CMP_" + op, "value": value}
    if value_two is not None:
        a["valueTwo"] = value_two
    return a


def norm(p):
    """The probe's last line and the exit status; a successful call's return value (a pid, a
    length) is not the filter's business."""
    out = p.stdout.strip().splitlines()
    line = out[-1] if out else "-"
    if line.startswith("ret=") and " errno=0 " in line and not line.startswith("ret=4242 "):
        line = "ret>=0 OK"
    elif line.startswith("ret=-1 errno="):
        line = " ".join(line.split()[:2])  # the errno's name is the probe's libc's business
    return "%s | status %d" % (line, p.returncode)


def errno_result(n):
    return "ret=-1 errno=%d | status %d" % (n, n)


OK = "ret>=0 OK | status 0"
KILLED = "- | status %d" % SIGSYS_STATUS


def run_probe(env, ct, call, seccomp, nnp=True, runtime=None):
    """`run` the probe with `call` under `seccomp` in the foreground; the normalized result."""
    ct.config["process"]["args"] = ["/seccomp-probe"] + call.split()
    ct.config["process"]["noNewPrivileges"] = nnp
    ct.config["linux"]["seccomp"] = seccomp
    ct.save()
    if runtime is None:
        p = env.rt("run", "--bundle", ct.bundle, ct.id)
    else:
        root = env.tmpdir(0o700)
        try:
            p = subprocess.run([runtime, "--root", root, "run", "--bundle", ct.bundle, ct.id],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=rtt.TIMEOUT, errors="replace")
        finally:
            subprocess.run([runtime, "--root", root, "delete", "--force", ct.id], capture_output=True)
    if p.returncode != SIGSYS_STATUS and not p.stdout:
        return "run failed (status %d): %s" % (p.returncode, p.stderr.strip())
    return norm(p)


def check(env, call, seccomp, want, nnp=True):
    ct = env.container()
    got = run_probe(env, ct, call, seccomp, nnp)
    assert got == want, "%s: got %r, want %r" % (call, got, want)


# -- actions ---------------------------------------------------------------------------------

def test_errno_with_errno_ret(env):
    check(env, "uname buf", allow(rule("uname", "SCMP_ACT_ERRNO", 13)), errno_result(13))


def test_errno_default_is_eperm(env):
    check(env, "uname buf", allow(rule("uname", "SCMP_ACT_ERRNO")), errno_result(errno.EPERM))


def test_default_action_errno_with_default_errno_ret(env):
    # podman's profile with another default errno: a syscall it does not name gets it.
    p = profile("seccomp-podman-default.json")
    named = {n for r in p["syscalls"] for n in r["names"]}
    assert "tuxcall" not in named
    p["defaultErrnoRet"] = 52
    check(env, "tuxcall", p, errno_result(52))
    del p["defaultErrnoRet"]
    check(env, "tuxcall", p, errno_result(errno.EPERM))


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS"])
def test_kill_actions_die_of_sigsys(env, action):
    check(env, "getpgrp", allow(rule("getpgrp", action)), KILLED)


def test_trap_raises_sigsys(env):
    p = allow(rule("getpgid", "SCMP_ACT_TRAP"))
    check(env, "--catch-sigsys getpgid 0", p, "SIGSYS syscall=121 arch=0xc000003e errno=0 | status 0")
    check(env, "getpgid 0", p, KILLED)


def test_trace_without_tracer_is_enosys(env):
    check(env, "getsid 0", allow(rule("getsid", "SCMP_ACT_TRACE", 3)), errno_result(errno.ENOSYS))


def test_log_allows(env):
    check(env, "getpriority 0 0", allow(rule("getpriority", "SCMP_ACT_LOG")), OK)


def test_allow_rule_under_default_errno(env):
    p = profile("seccomp-podman-default.json")
    check(env, "getcwd buf 4096", p, OK)
    check(env, "kexec_load 0 0 0 0", p, errno_result(errno.EPERM))


def test_default_allow_lets_other_calls_through(env):
    check(env, "getcwd buf 4096", allow(rule("uname", "SCMP_ACT_ERRNO")), OK)


# -- operators, 64-bit halves, AND, OR ---------------------------------------------------------

OPS = allow(
    rule("getuid", "SCMP_ACT_ERRNO", 41, [arg(0, "NE", 7)]),
    rule("getgid", "SCMP_ACT_ERRNO", 42, [arg(0, "LT", 0x100000000)]),
    rule("geteuid", "SCMP_ACT_ERRNO", 43, [arg(0, "LE", 0x100000005)]),
    rule("getegid", "SCMP_ACT_ERRNO", 44, [arg(0, "EQ", 0x100000005)]),
    rule("getppid", "SCMP_ACT_ERRNO", 45, [arg(0, "GE", 0x100000000)]),
    rule("getpgrp", "SCMP_ACT_ERRNO", 46, [arg(0, "GT", 0x1ffffffff)]),
    rule("getsid", "SCMP_ACT_ERRNO", 47, [arg(0, "MASKED_EQ", 0xff000000ff, 0x1200000034)]),
    # several args in one rule: ANDed
    rule("getpriority", "SCMP_ACT_ERRNO", 48, [arg(0, "EQ", 1), arg(1, "EQ", 2)]),
    # several rules for one syscall: ORed
    rule("umask", "SCMP_ACT_ERRNO", 49, [arg(0, "EQ", 0o1)]),
    rule("umask", "SCMP_ACT_ERRNO", 50, [arg(0, "EQ", 0o2)]),
)

OP_CASES = [
    ("getuid 7", OK), ("getuid 8", errno_result(41)), ("getuid 0x100000007", errno_result(41)),
    ("getgid 0xffffffff", errno_result(42)), ("getgid 0x100000000", OK), ("getgid 0", errno_result(42)),
    ("geteuid 0x100000005", errno_result(43)), ("geteuid 0x100000006", OK),
    ("geteuid 0x200000000", OK), ("geteuid 6", errno_result(43)),
    ("getegid 0x100000005", errno_result(44)), ("getegid 5", OK), ("getegid 0x200000005", OK),
    ("getppid 0xffffffff", OK), ("getppid 0x100000000", errno_result(45)), ("getppid -1", errno_result(45)),
    ("getpgrp 0x1ffffffff", OK), ("getpgrp 0x200000000", errno_result(46)),
    ("getpgrp 0xffffffffffff", errno_result(46)),
    ("getsid 0x1200000034", errno_result(47)), ("getsid 0x12abcdef34", errno_result(47)),
    ("getsid 0x1300000034", errno_result(errno.ESRCH)), ("getsid 0x34", errno_result(errno.ESRCH)),
    ("getpriority 1 2", errno_result(48)), ("getpriority 1 3", errno_result(errno.ESRCH)),
    ("getpriority 0 2", errno_result(errno.ESRCH)),
    ("umask 1", errno_result(49)), ("umask 2", errno_result(50)), ("umask 3", OK),
]


@pytest.mark.parametrize("call,want", OP_CASES, ids=[c for c, _ in OP_CASES])
def test_operators(env, call, want):
    check(env, call, OPS, want)


def test_first_match_in_libseccomp_order(env):
    # personality: MASKED_EQ → 33, GT 2^32 → 34, NE 7 && LE 9 → 35 (data/seccomp-actions.json)
    p = profile("seccomp-actions.json")
    for call, want in [("personality 8", errno_result(33)), ("personality 0x100000001 10", errno_result(34)),
                       ("personality 6 9", errno_result(35)), ("personality 6 10", OK),
                       ("getrlimit 3 buf", errno_result(36)), ("getrlimit 5 buf", errno_result(36)),
                       ("getrlimit 4 buf", OK)]:
        check(env, call, p, want)


# -- architectures ---------------------------------------------------------------------------

def test_int80_matched_against_x86_table_when_listed(env):
    p = allow(rule("uname", "SCMP_ACT_ERRNO", 13), architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    check(env, "--int80 uname buf", p, errno_result(13))
    check(env, "--int80 getpid", p, OK)


@pytest.mark.parametrize("call", ["--int80 uname buf", "--int80 getpid"])
def test_int80_bypass_is_killed_when_x86_not_listed(env, call):
    p = allow(rule("uname", "SCMP_ACT_ERRNO", 13), architectures=["SCMP_ARCH_X86_64"])
    check(env, call, p, KILLED)


def test_int80_bypass_is_killed_with_no_architectures(env):
    # No architectures: the native ABI only.
    check(env, "--int80 uname buf", allow(rule("uname", "SCMP_ACT_ERRNO", 13)), KILLED)


def test_x32_killed_unless_listed(env):
    p = allow(rule("uname", "SCMP_ACT_ERRNO", 13), architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    check(env, "--x32 uname buf", p, KILLED)
    p["architectures"].append("SCMP_ARCH_X32")
    check(env, "--x32 uname buf", p, errno_result(13))


# -- flags -----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
def test_flags(env, flag):
    check(env, "uname buf", allow(rule("uname", "SCMP_ACT_ERRNO", 13), flags=[flag]), errno_result(13))


def speculation(env, flags):
    ct = env.container()
    ct.config["process"]["args"] = ["sh", "-c", "grep Speculation_Store_Bypass /proc/self/status"]
    ct.config["linux"]["seccomp"] = allow(rule("uname", "SCMP_ACT_ERRNO"), flags=flags)
    ct.save()
    p = env.rt("run", "--bundle", ct.bundle, ct.id)
    assert p.returncode == 0, p.stderr
    return p.stdout.split(":", 1)[1].strip()


def test_spec_allow_leaves_speculation_alone(env):
    base = speculation(env, [])
    spec_allow = speculation(env, ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    assert "force" not in spec_allow, spec_allow
    if base != "thread force mitigated":
        pytest.skip("this CPU/kernel does not force SSB mitigation for seccomp (%r)" % base)


# -- noNewPrivileges -------------------------------------------------------------------------

@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_filter_with_and_without_nnp(env, nnp):
    p = allow(rule("uname", "SCMP_ACT_ERRNO", 13), rule("getpgrp", "SCMP_ACT_KILL_PROCESS"))
    check(env, "uname buf", p, errno_result(13), nnp=nnp)
    check(env, "getpgrp", p, KILLED, nnp=nnp)


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_status_shows_filter_and_nnp(env, nnp):
    ct = env.container()
    ct.config["process"]["args"] = ["sh", "-c", "grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status"]
    ct.config["process"]["noNewPrivileges"] = nnp
    ct.config["linux"]["seccomp"] = allow(rule("uname", "SCMP_ACT_ERRNO"))
    ct.save()
    p = env.rt("run", "--bundle", ct.bundle, ct.id)
    assert p.returncode == 0, p.stderr
    st = dict(l.split(":\t", 1) for l in p.stdout.splitlines())
    assert st["NoNewPrivs"] == ("1" if nnp else "0")
    assert st["Seccomp"] == "2"
    assert st["Seccomp_filters"] == "1"


# -- exec ------------------------------------------------------------------------------------

@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_exec_process_is_filtered(env, nnp):
    ct = env.container(["sleep", "30"])
    ct.config["process"]["noNewPrivileges"] = nnp
    ct.config["linux"]["seccomp"] = allow(rule("uname", "SCMP_ACT_ERRNO", 13))
    ct.create()
    ct.start()
    p = ct.rt("exec", ct.id, "/seccomp-probe", "uname", "buf")
    assert norm(p) == errno_result(13), (p.stdout, p.stderr)
    p = ct.rt("exec", ct.id, "/seccomp-probe", "getcwd", "buf", "4096")
    assert norm(p) == OK, (p.stdout, p.stderr)
    ct.kill(ct.id, "KILL")


# -- NOTIFY ----------------------------------------------------------------------------------

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif) (80 bytes)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp) (24 bytes)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
NR_GETPPID = 110
NR_GETPGRP = 111


class Agent:
    """A seccomp agent on a unix socket: takes each listener (SCM_RIGHTS) with the container
    process state, then answers notifications: getppid → 4242, getpgrp → EXDEV (18), anything
    else continues."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.states = []
        self.notified = []
        self.errors = []
        self.stop = False
        self.threads = [threading.Thread(target=self.accept, daemon=True)]
        self.threads[0].start()

    def accept(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError as e:
                self.errors.append("accept: %s" % e)
                return
            with conn:
                fds = array.array("i")
                msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4 * fds.itemsize))
                for level, typ, data in anc:
                    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                self.states.append((json.loads(msg), len(fds)))
                if fds:
                    t = threading.Thread(target=self.serve, args=(fds[0],), daemon=True)
                    self.threads.append(t)
                    t.start()

    def serve(self, fd):
        try:
            poll = select.poll()
            poll.register(fd, select.POLLIN)
            while not self.stop:
                ev = poll.poll(200)
                if not ev:
                    continue
                if ev[0][1] & select.POLLIN:
                    buf = bytearray(80)
                    try:
                        fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf)
                    except OSError as e:
                        if e.errno in (errno.ENOENT, errno.EINTR):
                            continue
                        raise
                    nid, pid, _flags, nr, arch = struct.unpack_from("=QIIiI", buf, 0)
                    args = struct.unpack_from("=6Q", buf, 32)
                    self.notified.append((nr, arch, args))
                    if nr == NR_GETPPID:
                        resp = struct.pack("=QqiI", nid, 4242, 0, 0)
                    elif nr == NR_GETPGRP:
                        resp = struct.pack("=QqiI", nid, 0, -errno.EXDEV, 0)
                    else:
                        resp = struct.pack("=QqiI", nid, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
                    try:
                        fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp)
                    except OSError as e:
                        if e.errno != errno.ENOENT:  # the caller died meanwhile
                            raise
                elif ev[0][1] & (select.POLLHUP | select.POLLERR):
                    return  # no process uses the filter any more
        except Exception as e:  # reported by the test
            self.errors.append("serve: %r" % e)
        finally:
            os.close(fd)

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join(timeout=5)
        self.sock.close()


@pytest.fixture
def agent(env):
    d = env.tmpdir()
    a = Agent(os.path.join(d, "agent.sock"))
    yield a
    a.close()


def notify_profile(agent, *rules, flags=None):
    p = allow(rule("getppid", "SCMP_ACT_NOTIFY"), rule("getpgrp", "SCMP_ACT_NOTIFY"), *rules,
              listenerPath=agent.path, listenerMetadata="rtt-meta")
    if flags:
        p["flags"] = flags
    return p


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_notify_listener_sent_and_answered(env, agent, nnp):
    ct = env.container()
    p = notify_profile(agent, rule("uname", "SCMP_ACT_ERRNO", 13))
    got = run_probe(env, ct, "getppid", p, nnp=nnp)
    assert got == "ret=4242 errno=0 OK | status 0", got
    assert not agent.errors, agent.errors
    assert len(agent.states) == 1
    st, nfds = agent.states[0]
    assert nfds == 1
    assert st["fds"] == ["seccompFd"]
    assert st["metadata"] == "rtt-meta"
    assert st["state"]["id"] == ct.id
    assert st["state"]["status"] == "creating"
    assert st["state"]["bundle"] == ct.bundle
    assert st["pid"] == st["state"]["pid"] and st["pid"] > 0
    assert (NR_GETPPID, 0xc000003e, (0,) * 6) in agent.notified
    # The other rules of the profile still apply.
    ct2 = env.container()
    assert run_probe(env, ct2, "uname buf", p, nnp=nnp) == errno_result(13)
    ct3 = env.container()
    assert run_probe(env, ct3, "getpgrp", p, nnp=nnp) == errno_result(errno.EXDEV)


def test_notify_in_user_namespace(env, agent):
    # The runtime takes the listener from a process in another user namespace (pidfd_getfd).
    from test_userns import _userns
    ct = env.container()
    _userns(ct)
    p = notify_profile(agent)
    assert run_probe(env, ct, "getppid", p) == "ret=4242 errno=0 OK | status 0"
    assert not agent.errors, agent.errors
    assert agent.states[0][0]["state"]["status"] == "creating"


def kernel_has_seccomp_flag(flag):
    """seccomp(SET_MODE_FILTER, flag, NULL): EFAULT if the kernel knows the flag, EINVAL if not
    (nothing is installed)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(317), ctypes.c_long(1), ctypes.c_ulong(flag), None)
    return rc < 0 and ctypes.get_errno() == errno.EFAULT


SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5


def test_notify_wait_killable_recv(env, agent):
    if not kernel_has_seccomp_flag(SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV):
        pytest.skip("this kernel has no SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux >= 5.19)")
    ct = env.container()
    p = notify_profile(agent, flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    assert run_probe(env, ct, "getppid", p) == "ret=4242 errno=0 OK | status 0"


def test_notify_exec_process(env, agent):
    ct = env.container(["sleep", "30"])
    ct.config["linux"]["seccomp"] = notify_profile(agent)
    ct.create()
    ct.start()
    p = ct.rt("exec", ct.id, "/seccomp-probe", "getppid")
    assert norm(p) == "ret=4242 errno=0 OK | status 0", (p.stdout, p.stderr)
    assert not agent.errors, agent.errors
    assert len(agent.states) == 2
    st, _ = agent.states[1]
    assert st["state"]["id"] == ct.id
    assert st["state"]["status"] == "running"
    assert st["state"]["pid"] == ct.pid
    assert st["pid"] != ct.pid
    ct.kill(ct.id, "KILL")


def test_notify_without_agent_fails_create(env):
    ct = env.container()
    d = env.tmpdir()
    ct.config["linux"]["seccomp"] = allow(rule("getppid", "SCMP_ACT_NOTIFY"),
                                          listenerPath=os.path.join(d, "nobody.sock"))
    p = ct.create(check=False)
    assert p.returncode != 0
    assert "nobody.sock" in p.stderr_text
    assert leftovers(env, ct) == []


# -- refused profiles ------------------------------------------------------------------------

BAD_PROFILES = {
    "unknown-action": ({"names": ["uname"], "action": "SCMP_ACT_BOGUS"}, "linux.seccomp.syscalls[1]"),
    "unknown-op": ({"names": ["uname"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}, "linux.seccomp.syscalls[1]"),
    "arg-index-6": ({"names": ["uname"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}, "linux.seccomp.syscalls[1]"),
    "errnoRet-on-allow": ({"names": ["uname"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5},
                          "linux.seccomp.syscalls[1]"),
}


@pytest.mark.parametrize("case", sorted(BAD_PROFILES))
def test_bad_profile_refused(env, case):
    bad, where = BAD_PROFILES[case]
    ct = env.container()
    ct.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO",
                                     "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ALLOW"}, bad]}
    p = ct.create(check=False)
    assert p.returncode == 1, p.stderr_text
    assert leftovers(env, ct) == []
    if rtt.is_husk():
        assert where in p.stderr_text, p.stderr_text


# -- podman's default profile ----------------------------------------------------------------

@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_podman_default_profile_in_force(env, nnp):
    ct = env.container()
    ct.config["process"]["args"] = [
        "sh", "-c", "/seccomp-probe kexec_load 0 0 0 0; /seccomp-probe personality 0x8000000; "
                    "/seccomp-probe clone3 0 0; /seccomp-probe getcwd buf 4096; echo done"]
    ct.config["process"]["noNewPrivileges"] = nnp
    ct.config["linux"]["seccomp"] = profile("seccomp-podman-default.json")
    ct.save()
    p = env.rt("run", "--bundle", ct.bundle, ct.id)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "ret=-1 errno=1 EPERM"
    assert lines[1] == "ret=-1 errno=38 ENOSYS"
    assert lines[2] == "ret=-1 errno=22 EINVAL"  # clone3 is allowed: the kernel refuses a NULL args
    assert lines[3].startswith("ret=") and "errno=0" in lines[3]
    assert lines[4] == "done"


# -- differential: the same probe calls under husk and runc ----------------------------------

DIFF_CASES = {
    "seccomp-podman-default.json": [
        "getcwd buf 4096", "uname buf", "sethostname str:x 1", "kexec_load 0 0 0 0",
        "personality 0", "personality 0xffffffff", "personality 0x8000000", "personality 0x100000000",
        "socket 16 3 9", "socket 16 3 0", "socket 2 1 0", "clone3 0 0", "1000", "450", "462",
        "--int80 getcwd buf 4096", "--int80 socketcall 1 0", "--int80 1000", "--int80 kexec_load",
        "--x32 getcwd buf 4096", "--x32 kexec_load", "--catch-sigsys getpid",
    ],
    "seccomp-actions.json": [
        "getcwd buf 4095", "getcwd buf 4096", "getcwd buf 100 5", "uname buf", "getppid", "getpgrp",
        "--catch-sigsys getpgid 0", "getsid 0", "getpriority 0 0", "personality 8", "personality 0x108",
        "personality 9", "personality 0x100000001 10", "personality 7 10", "personality 6 9",
        "personality 6 10", "getrlimit 3 buf", "getrlimit 5 buf", "getrlimit 4 buf",
        "--int80 getcwd buf 4096", "--int80 getcwd buf 100 5", "--int80 uname buf", "--x32 getcwd buf 10",
    ],
}
DIFF_PARAMS = [(name, case, nnp) for name, cases in DIFF_CASES.items() for case in cases
               for nnp in (True, False)
               # without NNP runc loads the filter before its own getcwd check, which
               # seccomp-actions.json refuses: runc cannot start there at all (docs/seccomp.md)
               if nnp or name != "seccomp-actions.json"]


@pytest.mark.parametrize("name,case,nnp", DIFF_PARAMS,
                         ids=["%s:%s:%s" % (n[8:-5], c.replace(" ", "_"), "nnp" if x else "no-nnp")
                              for n, c, x in DIFF_PARAMS])
def test_same_as_runc(env, name, case, nnp):
    if rtt.runtime_name() == "runc" or not os.access(RUNC, os.X_OK):
        pytest.skip("compares the runtime under test with %s" % RUNC)
    p = profile(name)
    ours = run_probe(env, env.container(), case, p, nnp=nnp)
    theirs = run_probe(env, env.container(), case, p, nnp=nnp, runtime=RUNC)
    assert ours == theirs, "%s %s: ours %r, runc %r" % (name, case, ours, theirs)


# Where runc 1.1.5 is wrong: libseccomp 2.5.4 compares a stale accumulator when two rules on one
# 64-bit argument fall through into each other (docs/seccomp.md, "Differences"). These expect
# what the profile says.
@pytest.mark.parametrize("call,want", [("getcwd buf 0x100000000", errno_result(13)),
                                       ("getcwd buf 100 0x100000005", OK)], ids=["a1-2^32", "a2-high-half"])
def test_64bit_fallthrough_per_profile(env, call, want):
    check(env, call, profile("seccomp-actions.json"), want)
