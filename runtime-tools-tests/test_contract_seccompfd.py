"""runc's contract, part 2 (issue 16), items 27-30: seccomp's native architecture and an
unreachable NOTIFY agent, no runtime fd reaching the container, and no command that blocks
without bound whatever state the container is in. Every case passes against runc 1.1.5
(RUNTIME=/usr/sbin/runc) as well as husk."""
import os
import socket
import subprocess

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
