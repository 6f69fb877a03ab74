"""Fixtures of the conformance suite. Every container, cgroup dir, mount, process and temp dir a
test makes is removed in teardown, also when the test fails."""
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import rtt
from known_failures import KNOWN_FAILURES

PR_SET_CHILD_SUBREAPER = 36


def pytest_configure(config):
    config.addinivalue_line("markers", "husk_only: asserts husk's own error wording")
    config.addinivalue_line("markers", "security: runtime-escape regression cases (test_security.py)")


def pytest_report_header(config):
    p, out = rtt.runtime_version()
    first = out.splitlines()[0] if p and out.strip() else out
    return "runtime under test: %s (%s)" % (rtt.RUNTIME, first)


def pytest_collection_modifyitems(config, items):
    name = rtt.runtime_name()
    known = KNOWN_FAILURES.get(name, {})
    for item in items:
        reason = known.get(item.name) or known.get(item.originalname)
        # "cgroup v1: ..." marks a failure seen only on a v1/hybrid host (not in the v2 guest)
        if reason and reason.startswith("cgroup v1:") and rtt.is_cgroup2():
            reason = None
        if reason:
            # "flaky: ..." marks a race the runtime loses only sometimes: not strict
            strict = not reason.startswith("flaky:")
            item.add_marker(pytest.mark.xfail(reason="%s: %s" % (name, reason), strict=strict))
        if item.get_closest_marker("husk_only") and name != "husk":
            item.add_marker(pytest.mark.skip(reason="asserts husk's own wording"))


@pytest.fixture(scope="session", autouse=True)
def session_setup():
    if not os.access(rtt.RUNTIME, os.X_OK):
        pytest.exit("no runtime binary at %s (set RUNTIME=...)" % rtt.RUNTIME, returncode=2)
    if not os.access(rtt.CHECKER, os.X_OK):
        pytest.exit("no checker at %s: build runtime-tools-tests/checker first (see README)"
                    % rtt.CHECKER, returncode=2)
    # Become a subreaper, as containerd-shim and conmon are: container inits are reparented to us.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    base = tempfile.mkdtemp(prefix="rtt-base-")
    os.chmod(base, 0o755)
    rootfs = os.path.join(base, "rootfs")
    rtt.make_rootfs(rootfs)
    rtt.BASE_ROOTFS = rootfs
    yield
    shutil.rmtree(base, ignore_errors=True)
    for p in rtt.cgroup_dirs(rtt.CGROUP_PARENT):
        try:
            os.rmdir(p)  # only if empty: other runs may share it
        except OSError:
            pass


class Container:
    def __init__(self, env, args):
        self.env = env
        self.id = rtt.short_id()
        self.bundle = tempfile.mkdtemp(prefix="rtt-b-")
        os.chmod(self.bundle, 0o755)
        shutil.copytree(rtt.BASE_ROOTFS, self.rootfs, symlinks=True)
        self.cgroups_path = "/%s/%s" % (rtt.CGROUP_PARENT, self.id)
        self.config = rtt.make_config(args, self.cgroups_path)
        self.pid = None
        self.starttime = None
        self.exit_status = None
        self.out_path = os.path.join(self.bundle, "out")
        self.err_path = os.path.join(self.bundle, "err")
        self.pid_file = os.path.join(self.bundle, "pid")

    @property
    def rootfs(self):
        return os.path.join(self.bundle, "rootfs")

    @property
    def root(self):
        return self.env.root

    def save(self):
        rtt.write_config(self.bundle, self.config)

    def rt(self, *args, **kw):
        return self.env.rt(*args, **kw)

    # -- lifecycle -------------------------------------------------------------------------
    def create(self, *extra, check=True, save=True, id=None, pid_file=True, with_fds=None):
        """`with_fds`: run create with fds 3-5 open, after these shell assignments (see Env.rt)."""
        if save:
            self.save()
        cid = self.id if id is None else id
        args = ["create", "--bundle", self.bundle]
        if pid_file:
            args += ["--pid-file", self.pid_file]
        args += list(extra) + [cid]
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            p = self.env.rt(*args, stdout=out, stderr=err, capture=False, with_fds=with_fds)
        p.stderr_text = open(self.err_path, errors="replace").read()
        if check and p.returncode != 0:
            raise AssertionError("create %s failed (%d): %s" % (cid, p.returncode, p.stderr_text))
        if p.returncode == 0 and cid == self.id:
            self.record_pid()
        return p

    def record_pid(self):
        st = self.state()
        if st and st.get("pid"):
            self.pid = int(st["pid"])
            self.starttime = rtt.proc_starttime(self.pid)

    def start(self, check=True):
        p = self.rt("start", self.id)
        if check and p.returncode != 0:
            raise AssertionError("start failed (%d): %s" % (p.returncode, p.stderr))
        return p

    def state(self, check=False):
        p = self.rt("state", self.id)
        if p.returncode != 0:
            if check:
                raise AssertionError("state failed (%d): %s" % (p.returncode, p.stderr))
            return None
        return json.loads(p.stdout)

    def status(self):
        st = self.state()
        return st["status"] if st else None

    def kill(self, *args, check=True):
        p = self.rt("kill", *args)
        if check and p.returncode != 0:
            raise AssertionError("kill failed (%d): %s" % (p.returncode, p.stderr))
        return p

    def delete(self, force=False, check=True):
        p = self.rt("delete", *(["--force"] if force else []), self.id)
        if check and p.returncode != 0:
            raise AssertionError("delete failed (%d): %s" % (p.returncode, p.stderr))
        return p

    def reap(self):
        if self.pid and self.exit_status is None:
            s = rtt.try_reap(self.pid)
            if s is not None:
                self.exit_status = s
        return self.exit_status

    def wait_stopped(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.reap()
            if self.status() == "stopped":
                return True
            time.sleep(0.02)
        raise AssertionError("container %s not stopped after %ss (status %s)"
                             % (self.id, timeout, self.status()))

    def wait_output(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.output():
                return True
            time.sleep(0.02)
        raise AssertionError("no %r in output after %ss: %r" % (text, timeout, self.output()))

    def output(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def errors(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def run_to_end(self, *create_args, with_fds=None):
        """create + start, wait until stopped, return stdout."""
        self.create(*create_args, with_fds=with_fds)
        self.start()
        self.wait_stopped()
        return self.output()

    def report(self, *probes, create_args=(), with_fds=None):
        """Run the checker as the container process and return its JSON report."""
        self.config["process"]["args"] = ["/checker", "report", *probes]
        out = self.run_to_end(*create_args, with_fds=with_fds)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if not lines:
            raise AssertionError("checker printed no report; stdout %r stderr %r"
                                 % (out, self.errors()))
        return json.loads(lines[-1])

    def cgroup_dirs(self):
        return rtt.cgroup_dirs(self.cgroups_path)

    # -- teardown ----------------------------------------------------------------------------
    def cleanup(self):
        self.rt("delete", "--force", self.id)
        if self.pid and rtt.proc_starttime(self.pid) == self.starttime and self.starttime:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            for _ in range(100):
                self.reap()
                if not rtt.pid_alive(self.pid):
                    break
                time.sleep(0.01)
            self.rt("delete", "--force", self.id)
        for p in self.cgroup_dirs():
            procs = os.path.join(p, "cgroup.procs")
            try:
                for pid in open(procs).read().split():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        for p in self.cgroup_dirs():
            for _ in range(50):
                rtt.rmdir_cgroup_tree(p)
                if not os.path.isdir(p):
                    break
                time.sleep(0.02)
        shutil.rmtree(self.bundle, ignore_errors=True)


class Env:
    """One test's runtime environment: its own --root state dir, its containers, its mounts."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="rtt-root-")
        self.containers = []
        self.mounts = []
        self.procs = []
        self.tmpdirs = []
        self.global_args = []

    def rt(self, *args, stdout=None, stderr=None, capture=True, timeout=rtt.TIMEOUT,
           global_args=None, stdin=subprocess.DEVNULL, with_fds=None):
        """Run the runtime with `args`. `with_fds`: with fds 3, 4 and 5 open on files of a fresh
        tmpdir, the runtime started after these shell assignments ("" for none; rtt.with_fds)."""
        g = self.global_args if global_args is None else global_args
        cmd = [rtt.RUNTIME, "--root", self.root, *g, *args]
        if with_fds is not None:
            cmd = rtt.with_fds(self.tmpdir(), cmd, with_fds)
        if capture:
            return subprocess.run(cmd, stdin=stdin, capture_output=True, text=True,
                                  timeout=timeout, errors="replace")
        return subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=stderr, timeout=timeout)

    def container(self, args=("/bin/true",)):
        c = Container(self, list(args))
        self.containers.append(c)
        return c

    def tmpdir(self, mode=0o755):
        d = tempfile.mkdtemp(prefix="rtt-t-")
        os.chmod(d, mode)
        self.tmpdirs.append(d)
        return d

    def mount(self, *args, target):
        subprocess.run(["mount", *args, target], check=True)
        self.mounts.append(target)

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        for c in self.containers:
            try:
                c.cleanup()
            except Exception:
                pass
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except Exception:
                pass
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for d in self.tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        rtt.reap_children()


@pytest.fixture
def env():
    e = Env()
    try:
        yield e
    finally:
        e.cleanup()


@pytest.fixture
def ct(env):
    """A container object with a fresh bundle running /bin/true until the test changes it."""
    return env.container()


def leftovers(env, c, cid=None):
    """What a failed command left behind: state entries, cgroup dirs, processes in the bundle."""
    left = []
    entries = os.listdir(env.root) if os.path.isdir(env.root) else []
    # Not container state: names no container id can have (husk's "@seccomp-cache" of compiled
    # seccomp programs, shared by all containers under the root).
    entries = [e for e in entries if not e.startswith("@")]
    if entries:
        left.append("state entries in root: %s" % entries)
    cg = c.cgroup_dirs()
    if cg:
        left.append("cgroup dirs: %s" % cg)
    # processes: any left in the bundle's rootfs (no pivot) and any orphan reparented to us (we
    # are a subreaper) that is not one of this test's own helpers or other containers
    mine = {p.pid for p in env.procs} | {o.pid for o in env.containers if o is not c and o.pid}
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in mine or not rtt.pid_alive(int(pid)):
            continue
        try:
            root = os.readlink("/proc/%s/root" % pid)
            with open("/proc/%s/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if root.startswith(c.bundle) or ppid == me:
            left.append("process %s (%s) root %s ppid %d" % (
                pid, st[st.index("(") + 1:st.rindex(")")], root, ppid))
    return left
