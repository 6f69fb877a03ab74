"""OCI hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle").

Every hook here is a small shell script that records, into a host directory, its argv, its
environ, the state JSON it got on stdin, its namespace ids (readlink /proc/self/ns/*), the
mountinfo and exe of the container's init (pid from the state), a timestamp (/proc/uptime), and
appends its name to a shared `order` file. The test appends its own markers (create-begin,
create-end, ...) to the same file, and the container process appends "process": order and timing
are read from that one file.

startContainer hooks run after pivot_root, inside the container: their path (/bin/sh) resolves
in the busybox rootfs, and they write to the host directory through a bind mount at /hooklog.
"""
import json
import os
import time

import pytest

import rtt
from conftest import leftovers

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
NS = ["mnt", "net", "pid", "uts", "ipc"]
IN_CONTAINER = "/hooklog"

# Works in dash (host) and busybox sh (rootfs). $N: the record's name, $D: the directory.
RECORD = r"""
cat > "$D/$N.state"
# /proc/self, not /proc/$$: createContainer sees the host's /proc with a pid of the
# container's pid namespace. The redirect is opened by the shell (or its fork, same argv/env).
tr '\0' '\n' < /proc/self/cmdline > "$D/$N.argv"
tr '\0' '\n' < /proc/self/environ > "$D/$N.env"
for x in %s; do echo "$x $(readlink /proc/self/ns/$x)"; done > "$D/$N.ns"
pid=$(grep -o '"pid": *[0-9]*' "$D/$N.state" | grep -o '[0-9]*$')
if [ -n "$pid" ]; then
  readlink /proc/$pid/exe > "$D/$N.exe" 2>/dev/null
  cat /proc/$pid/mountinfo > "$D/$N.pidmounts" 2>/dev/null
fi
cat /proc/self/mountinfo > "$D/$N.mounts"
cut -d' ' -f1 /proc/uptime > "$D/$N.time"
echo "$N" >> "$D/order"
""" % " ".join(NS)


class Rec:
    """The host directory hooks record into, bind-mounted into the container at /hooklog."""

    def __init__(self, env, ct):
        self.dir = env.tmpdir()
        self.ct = ct
        ct.config.setdefault("mounts", []).append(
            {"destination": IN_CONTAINER, "type": "bind", "source": self.dir,
             "options": ["rbind", "rw"]})
        ct.config["hooks"] = {}

    def hook(self, kind, name=None, extra="", argv0=None, env=(), timeout=None):
        """Append a recording hook to hooks[kind]; `extra` is shell run after recording."""
        name = name or kind
        inside = kind == "startContainer"
        d = IN_CONTAINER if inside else self.dir
        script = "N=%s; D=%s\n%s\n%s" % (name, d, RECORD, extra)
        # busybox picks its applet by argv[0]: keep "sh" where /bin/sh is the rootfs's busybox
        args = [argv0 or ("sh" if inside else "hook-" + name), "-c", script]
        h = {"path": "/bin/sh", "args": args, "env": ["HOOK=%s" % name, *env]}
        if timeout is not None:
            h["timeout"] = timeout
        self.ct.config["hooks"].setdefault(kind, []).append(h)
        return h

    def raw(self, kind, hook):
        self.ct.config["hooks"].setdefault(kind, []).append(hook)

    def mark(self, what):
        with open(os.path.join(self.dir, "order"), "a") as f:
            f.write(what + "\n")

    def order(self):
        try:
            return open(os.path.join(self.dir, "order")).read().split()
        except OSError:
            return []

    def read(self, name, what):
        with open(os.path.join(self.dir, "%s.%s" % (name, what)), errors="replace") as f:
            return f.read()

    def has(self, name):
        return os.path.exists(os.path.join(self.dir, "%s.time" % name))

    def state(self, name):
        return json.loads(self.read(name, "state"))

    def ns(self, name):
        return dict(l.split(" ", 1) for l in self.read(name, "ns").splitlines() if " " in l)

    def lines(self, name, what):
        return self.read(name, what).splitlines()

    def process(self, args="echo process >> %s/order" % IN_CONTAINER):
        self.ct.config["process"]["args"] = ["sh", "-c", args]

    def lifecycle(self, keep_running=False):
        """create, start, (wait stopped), delete, with markers around each."""
        ct = self.ct
        self.mark("create-begin")
        ct.create()
        self.mark("create-end")
        self.mark("start-begin")
        ct.start()
        self.mark("start-end")
        if not keep_running:
            ct.wait_stopped()
            self.delete()

    def delete(self, force=False):
        self.mark("delete-begin")
        self.ct.delete(force=force)
        self.mark("delete-end")


def all_hooks(env, ct):
    rec = Rec(env, ct)
    for k in KINDS:
        rec.hook(k)
    rec.process()
    return rec


def between(order, item, lo, hi):
    i = order.index(item)
    return order.index(lo) < i < order.index(hi)


def ns_of(pid):
    return {x: os.readlink("/proc/%d/ns/%s" % (pid, x)) for x in NS}


# -- order and timing ----------------------------------------------------------------------

def test_hooks_order_and_timing(env, ct):
    rec = all_hooks(env, ct)
    rec.lifecycle()
    o = rec.order()
    assert [x for x in o if x in KINDS] == KINDS, o
    for k in ("prestart", "createRuntime", "createContainer"):
        assert between(o, k, "create-begin", "create-end"), (k, o)
    assert between(o, "startContainer", "start-begin", "process"), o
    assert between(o, "poststart", "start-begin", "start-end"), o
    assert between(o, "poststop", "delete-begin", "delete-end"), o
    assert o.count("process") == 1 and all(o.count(k) == 1 for k in KINDS), o
    times = [float(rec.read(k, "time")) for k in KINDS]
    assert times == sorted(times), times


def test_hooks_in_a_list_run_in_listed_order(env, ct):
    rec = Rec(env, ct)
    for k in KINDS:
        for i in range(3):
            rec.hook(k, name="%s-%d" % (k, i))
    rec.process()
    rec.lifecycle()
    o = rec.order()
    for k in KINDS:
        assert [x for x in o if x.startswith(k + "-")] == ["%s-%d" % (k, i) for i in range(3)], o


def test_poststart_after_process_started(env, ct):
    """poststart runs after the user process was exec'd (its exe is the program, not the
    runtime) and before `start` returns."""
    rec = all_hooks(env, ct)
    rec.process("echo process >> %s/order; exec sleep 2" % IN_CONTAINER)
    rec.lifecycle(keep_running=True)
    exe = rec.read("poststart", "exe").strip()
    # the program's busybox (shown relative to the container's root), not the runtime
    assert exe.endswith("/bin/busybox") and os.path.basename(rtt.RUNTIME) not in exe, exe
    # the runtime runs it while still in `start`: the container is already running
    assert ct.status() == "running"
    o = rec.order()
    assert between(o, "poststart", "start-begin", "start-end"), o
    rec.delete(force=True)


def test_start_container_runs_before_process(env, ct):
    rec = all_hooks(env, ct)
    rec.hook("startContainer", name="slow-startContainer", extra="sleep 1")
    rec.lifecycle()
    o = rec.order()
    assert o.index("startContainer") < o.index("slow-startContainer") < o.index("process"), o
    # `start` was called before it ran: it is not part of `create`
    assert o.index("start-begin") < o.index("startContainer"), o


def test_create_hooks_see_mounts_before_pivot_root(env, ct):
    """createRuntime (runtime ns) and createContainer (container mount ns) run after the mounts
    of config.json exist and before pivot_root: the rootfs is still at its host path."""
    rec = all_hooks(env, ct)
    rec.lifecycle()
    proc_at = ct.rootfs + "/proc"
    for k, what in (("prestart", "pidmounts"), ("createRuntime", "pidmounts"),
                    ("createContainer", "mounts")):
        points = [l.split()[4] for l in rec.lines(k, what)]
        assert proc_at in points, (k, proc_at, points[-5:])
        assert ct.rootfs + IN_CONTAINER in points, (k, points[-5:])
    # createContainer's root is still the host's: its mountinfo shows the rootfs at its path
    # and not at /
    roots = [l.split()[4] for l in rec.lines("createContainer", "mounts")]
    assert "/" in roots and ct.rootfs in roots


# -- state on stdin ------------------------------------------------------------------------

EXPECTED_STATUS = {
    # runtime-tools validation/hooks_stdin and crun: "created" (runc 1.1.5: "creating")
    "prestart": "created",
    "createRuntime": "creating",
    "createContainer": "creating",
    "startContainer": "created",
    "poststart": "running",
    "poststop": "stopped",
}


@pytest.mark.parametrize("kind", KINDS)
def test_hook_state_status(env, ct, kind):
    rec = all_hooks(env, ct)
    rec.lifecycle()
    st = rec.state(kind)
    assert st["status"] == EXPECTED_STATUS[kind], st


def test_hook_state_fields(env, ct):
    rec = all_hooks(env, ct)
    ct.config["annotations"] = {"org.example.hook": "yes"}
    rec.lifecycle(keep_running=True)
    spec_version = ct.state(check=True)["ociVersion"]
    assert spec_version.startswith("1."), spec_version
    rec.delete(force=True)
    for k in KINDS:
        st = rec.state(k)
        assert st["id"] == ct.id, (k, st)
        # The spec version the state complies with: the runtime's own, as `state` reports it
        # (runc writes the runtime-spec version it was built with, whatever the config says).
        assert st["ociVersion"] == spec_version, (k, st)
        assert os.path.realpath(st["bundle"]) == os.path.realpath(ct.bundle), (k, st)
        assert st.get("annotations", {}).get("org.example.hook") == "yes", (k, st)


@pytest.mark.parametrize("annotated", [False, True])
def test_hook_state_key_order(env, ct, annotated):
    # specs-go State's field order, as runc writes it; an empty annotations map is left out.
    # A stopped container's state (poststop) has no pid: the spec requires it only while the
    # container is created or running, and runc leaves it out.
    rec = all_hooks(env, ct)
    keys = ["ociVersion", "id", "status", "pid", "bundle"]
    if annotated:
        ct.config["annotations"] = {"org.example.hook": "yes"}
        keys.append("annotations")
    rec.lifecycle()
    for k in KINDS:
        pairs = json.loads(rec.read(k, "state"), object_pairs_hook=lambda kv: kv)
        want = [x for x in keys if not (k == "poststop" and x == "pid")]
        assert [name for name, _ in pairs] == want, (k, pairs)


def test_hook_state_pid_is_host_pid(env, ct):
    """state.pid is the container process "as seen by the host", in every hook before it
    exits (poststop may see it or not)."""
    rec = all_hooks(env, ct)
    rec.process("echo process >> %s/order; exec sleep 2" % IN_CONTAINER)
    rec.lifecycle(keep_running=True)
    pid = ct.state()["pid"]
    for k in KINDS[:5]:
        assert rec.state(k)["pid"] == pid, (k, rec.state(k), pid)
    rec.delete(force=True)


# -- namespaces ----------------------------------------------------------------------------

def test_hook_namespaces(env, ct):
    rec = all_hooks(env, ct)
    rec.process("echo process >> %s/order; exec sleep 2" % IN_CONTAINER)
    rec.lifecycle(keep_running=True)
    ours = ns_of(os.getpid())
    theirs = ns_of(ct.state()["pid"])
    assert ours != theirs
    for k in ("prestart", "createRuntime", "poststart"):
        assert rec.ns(k) == ours, (k, rec.ns(k), ours)
    for k in ("createContainer", "startContainer"):
        assert rec.ns(k) == theirs, (k, rec.ns(k), theirs)
    rec.delete(force=True)
    assert rec.ns("poststop") == ours
    # prestart: "called after the container namespaces are created" (it can see them)
    assert rec.read("prestart", "pidmounts")


# -- path, args, env, stdin ----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_hook_argv0_and_env_exact(env, ct, kind):
    rec = Rec(env, ct)
    inside = kind == "startContainer"
    argv0 = "sh" if inside else "custom-argv0"
    # a host-side hook can take any argv[0]; dash does not care
    rec.hook(kind, argv0=argv0, env=["A=1", "B=two words", "EMPTY="])
    rec.process()
    rec.lifecycle()
    argv = rec.lines(kind, "argv")
    assert argv[0] == argv0 and argv[1] == "-c", argv
    assert rec.lines(kind, "env") == ["HOOK=%s" % kind, "A=1", "B=two words", "EMPTY="]


def test_hook_without_args_or_env(env, ct):
    """No args: argv is [path]; no env: an empty environment."""
    rec = Rec(env, ct)
    d = env.tmpdir()
    script = os.path.join(d, "hook")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ncat >/dev/null\n"
                "{ tr '\\0' ' ' < /proc/$$/cmdline; echo; tr '\\0' ' ' < /proc/$$/environ; echo; }"
                " >> %s/noargs\n" % rec.dir)
    os.chmod(script, 0o755)
    rec.raw("createRuntime", {"path": script})
    rec.process()
    rec.lifecycle()
    lines = open(os.path.join(rec.dir, "noargs")).read().split("\n")
    # the kernel runs "#!/bin/sh" as: /bin/sh SCRIPT  (argv[0] of the hook was SCRIPT)
    assert lines[0].split() == ["/bin/sh", script], lines
    assert lines[1].strip() == "", lines


def test_hooks_not_reading_stdin(env, ct):
    """A state bigger than a pipe buffer, and hooks that exit without reading it: the runtime
    neither dies of SIGPIPE nor hangs nor fails."""
    rec = Rec(env, ct)
    ct.config["annotations"] = {"org.example.big.%d" % i: "x" * 1000 for i in range(300)}
    for k in KINDS:
        rec.raw(k, {"path": "/bin/sh", "args": ["sh", "-c", "echo %s >> %s/order" %
                                                (k, IN_CONTAINER if k == "startContainer" else rec.dir)]})
    rec.process()
    rec.lifecycle()
    assert sorted(x for x in rec.order() if x in KINDS) == sorted(KINDS)


def test_hook_gets_whole_state(env, ct):
    rec = Rec(env, ct)
    ct.config["annotations"] = {"org.example.big.%d" % i: "x" * 1000 for i in range(300)}
    rec.hook("createRuntime")
    rec.hook("poststop")
    rec.process()
    rec.lifecycle()
    assert len(rec.state("createRuntime")["annotations"]) == 300
    assert len(rec.state("poststop")["annotations"]) == 300


# -- failures ------------------------------------------------------------------------------

FAIL = "echo hook-said-no >&2; exit 3"


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook(env, ct, kind):
    """Create fails with an error carrying the exit status and stderr; later hooks and the
    process never run; nothing is left behind; poststop hooks run (lifecycle step 12-13)."""
    rec = Rec(env, ct)
    rec.hook(kind, name="failing", extra=FAIL)
    rec.hook(kind, name="after-failing")
    for later in KINDS[KINDS.index(kind) + 1:]:
        if later != "poststop":
            rec.hook(later)
    rec.hook("poststop")
    rec.process()
    rec.mark("create-begin")
    p = ct.create(check=False)
    rec.mark("create-end")
    assert p.returncode != 0
    err = p.stderr_text
    assert "exit status 3" in err and "hook-said-no" in err, err
    o = rec.order()
    assert "failing" in o and "after-failing" not in o, o
    assert not any(k in o for k in KINDS[KINDS.index(kind) + 1:5]), o
    assert "process" not in o
    assert leftovers(env, ct) == []
    assert ct.state() is None
    assert between(o, "poststop", "failing", "create-end"), o
    assert rec.state("poststop")["status"] == "stopped"


@pytest.mark.husk_only
@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer", "startContainer"])
def test_failing_hook_error_names_it(env, ct, kind):
    rec = Rec(env, ct)
    rec.hook(kind, name="ok")
    rec.hook(kind, name="failing", extra=FAIL)
    rec.process()
    p = ct.create(check=False)
    if kind == "startContainer":
        assert p.returncode == 0
        p = ct.start(check=False)
        err = p.stderr
    else:
        err = p.stderr_text
    assert p.returncode == 1
    assert "running %s hook #1 (/bin/sh): exit status 3: hook-said-no" % kind in err, err


def test_failing_start_container_hook(env, ct):
    """start fails with the hook's exit status and stderr; the process never runs; the
    container is stopped; delete runs poststop and leaves nothing behind."""
    rec = Rec(env, ct)
    rec.hook("startContainer", name="failing", extra=FAIL)
    rec.hook("startContainer", name="after-failing")
    rec.hook("poststart")
    rec.hook("poststop")
    rec.process()
    ct.create()
    p = ct.start(check=False)
    assert p.returncode != 0
    assert "exit status 3" in p.stderr and "hook-said-no" in p.stderr, p.stderr
    ct.wait_stopped()
    o = rec.order()
    assert "failing" in o and "after-failing" not in o and "process" not in o, o
    assert "poststart" not in o, o
    rec.delete()
    assert rec.order().count("poststop") == 1
    assert leftovers(env, ct) == []


def test_failing_poststart_hook_warns_and_continues(env, ct):
    rec = Rec(env, ct)
    rec.hook("poststart", name="failing", extra=FAIL)
    rec.hook("poststart", name="after-failing")
    rec.process("echo process >> %s/order; exec sleep 2" % IN_CONTAINER)
    ct.create()
    p = ct.start(check=False)
    assert p.returncode == 0, p.stderr
    assert "hook-said-no" in p.stderr or "exit status 3" in p.stderr, p.stderr
    o = rec.order()
    assert "failing" in o and "after-failing" in o, o
    assert ct.status() == "running"
    ct.wait_stopped()
    assert "process" in rec.order()


def test_failing_poststop_hook_warns_and_continues(env, ct):
    rec = Rec(env, ct)
    rec.hook("poststop", name="failing", extra=FAIL)
    rec.hook("poststop", name="after-failing")
    rec.process()
    ct.create()
    ct.start()
    ct.wait_stopped()
    p = ct.delete(check=False)
    assert p.returncode == 0, p.stderr
    o = rec.order()
    assert "failing" in o and "after-failing" in o, o
    assert leftovers(env, ct) == []


def kill_recorded(path):
    """Kill a process a hook started and recorded, if it is still there (test cleanup)."""
    try:
        pid = int(open(path).read())
        if rtt.pid_alive(pid):
            os.kill(pid, 9)
    except (OSError, ValueError):
        pass


def test_hook_timeout_fails_create(env, ct):
    """The hook is killed when its timeout passes, with what it started (its process group);
    that counts as a failure: create fails, nothing is left behind."""
    rec = Rec(env, ct)
    child = os.path.join(rec.dir, "slow.child")
    rec.hook("createRuntime", name="slow", timeout=1,
             extra="sleep 20 & echo $! > %s; wait; echo survived >> %s/order" % (child, rec.dir))
    rec.hook("createRuntime", name="after-slow")
    rec.process()
    try:
        t0 = time.monotonic()
        p = ct.create(check=False)
        took = time.monotonic() - t0
        assert p.returncode != 0
        assert took < 10, took
        o = rec.order()
        assert "slow" in o and "after-slow" not in o, o
        assert leftovers(env, ct) == []
        time.sleep(0.2)
        assert "survived" not in rec.order()
        assert not rtt.pid_alive(int(open(child).read()))
    finally:
        kill_recorded(child)


def test_hook_timeout_in_container(env, ct):
    """createContainer runs in the container's init: the timeout holds there too."""
    rec = Rec(env, ct)
    child = os.path.join(rec.dir, "slow.child")
    rec.hook("createContainer", name="slow", timeout=1,
             extra="sleep 20 & echo $! > %s; wait" % child)
    rec.process()
    try:
        t0 = time.monotonic()
        p = ct.create(check=False)
        assert p.returncode != 0
        assert time.monotonic() - t0 < 10
        assert leftovers(env, ct) == []
    finally:
        kill_recorded(child)


def test_hook_within_timeout_succeeds(env, ct):
    rec = Rec(env, ct)
    for k in KINDS:
        rec.hook(k, timeout=10)
    rec.process()
    rec.lifecycle()
    assert sorted(x for x in rec.order() if x in KINDS) == sorted(KINDS)


def test_poststart_timeout_warns_and_continues(env, ct):
    rec = Rec(env, ct)
    child = os.path.join(rec.dir, "slow.child")
    rec.hook("poststart", name="slow", timeout=1, extra="sleep 20 & echo $! > %s; wait" % child)
    rec.hook("poststart", name="after-slow")
    rec.process("echo process >> %s/order; exec sleep 3" % IN_CONTAINER)
    try:
        ct.create()
        t0 = time.monotonic()
        p = ct.start(check=False)
        assert p.returncode == 0, p.stderr
        assert time.monotonic() - t0 < 10
        assert "after-slow" in rec.order()
        assert ct.status() == "running"
    finally:
        kill_recorded(child)


# -- run -----------------------------------------------------------------------------------

def test_run_runs_all_hooks_in_order(env, ct):
    rec = all_hooks(env, ct)
    ct.save()
    rec.mark("run-begin")
    p = ct.rt("run", "--bundle", ct.bundle, ct.id)
    rec.mark("run-end")
    assert p.returncode == 0, p.stderr
    o = rec.order()
    assert [x for x in o if x in KINDS] == KINDS, o
    assert o.index("startContainer") < o.index("process"), o
    assert rec.state("poststart")["status"] == "running"
    assert rec.state("poststop")["status"] == "stopped"
    assert ct.state() is None


def test_run_detached_runs_poststart(env, ct):
    rec = all_hooks(env, ct)
    rec.process("echo process >> %s/order; exec sleep 2" % IN_CONTAINER)
    ct.save()
    rec.mark("run-begin")
    p = ct.rt("run", "--detach", "--bundle", ct.bundle, ct.id)
    rec.mark("run-end")
    assert p.returncode == 0, p.stderr
    ct.record_pid()
    o = rec.order()
    assert [x for x in o if x in KINDS] == KINDS[:5], o
    assert between(o, "poststart", "run-begin", "run-end"), o
    assert rec.state("poststart")["status"] == "running"
    rec.delete(force=True)
    assert rec.order().count("poststop") == 1
