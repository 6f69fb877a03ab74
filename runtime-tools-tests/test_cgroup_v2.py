"""cgroup v2 (a pure unified hierarchy, e.g. the hack/vm guest): linux.resources mapped onto the
v2 files as runc does, controllers enabled in the parents, the init joined at create, the
cgroup namespace's view, kill --all, and removal at delete. Skipped on v1/hybrid hosts."""
import ctypes
import json
import os
import subprocess
import time

import pytest

import rtt

pytestmark = pytest.mark.skipif(not rtt.is_cgroup2(), reason="not a cgroup v2 host")


def cgdir(ct):
    return os.path.join(rtt.CGROUP_ROOT, ct.cgroups_path.lstrip("/"))


def read(ct, name):
    with open(os.path.join(cgdir(ct), name)) as f:
        return f.read().strip()


def test_init_joins_cgroup_at_create(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    assert str(ct.pid) in read(ct, "cgroup.procs").split()


def test_controllers_enabled_in_parents(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 32 << 20}
    ct.config["linux"]["resources"]["pids"] = {"limit": 20}
    ct.create()
    parent = os.path.dirname(cgdir(ct))
    with open(os.path.join(parent, "cgroup.subtree_control")) as f:
        enabled = f.read().split()
    assert "memory" in enabled and "pids" in enabled


def test_memory_limits(ct):
    ct.config["linux"]["resources"]["memory"] = {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20}
    ct.create()
    assert int(read(ct, "memory.max")) == 64 << 20
    assert int(read(ct, "memory.low")) == 32 << 20
    # OCI swap is memory+swap; v2's memory.swap.max is swap alone
    assert int(read(ct, "memory.swap.max")) == 32 << 20


def test_cpu_weight_and_max(ct):
    ct.config["linux"]["resources"]["cpu"] = {"shares": 1024, "quota": 50000, "period": 100000}
    ct.create()
    # The shares→weight mapping crun and runc ≥1.3 use (the default 1024 shares is the
    # default weight 100; runc 1.1's linear formula gave 39).
    assert int(read(ct, "cpu.weight")) == 100
    assert read(ct, "cpu.max") == "50000 100000"


def test_cpuset(ct):
    ct.config["linux"]["resources"]["cpu"] = {"cpus": "0", "mems": "0"}
    ct.create()
    assert read(ct, "cpuset.cpus") == "0"
    assert read(ct, "cpuset.mems") == "0"


def test_pids_limit(ct):
    ct.config["linux"]["resources"]["pids"] = {"limit": 7}
    ct.create()
    assert read(ct, "pids.max") == "7"


def test_unified_key_values(ct):
    ct.config["linux"]["resources"]["unified"] = {"memory.high": "50331648", "pids.max": "9"}
    ct.create()
    assert read(ct, "memory.high") == "50331648"
    assert read(ct, "pids.max") == "9"


def test_unified_unknown_controller_refused(env, ct):
    ct.config["linux"]["resources"]["unified"] = {"nosuchctrl.max": "1"}
    ct.save()
    p = ct.create(check=False)
    assert p.returncode == 1
    from conftest import leftovers
    assert leftovers(env, ct) == []


def test_cgroup_namespace_view(ct):
    ns = ct.config["linux"]["namespaces"]
    if not any(n["type"] == "cgroup" for n in ns):
        ns.append({"type": "cgroup"})
    ct.config["process"]["args"] = ["sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup/cgroup.controllers"]
    out = ct.run_to_end()
    assert "0::/\n" in out
    assert "/sys/fs/cgroup/cgroup.controllers" in out


def test_kill_all_and_delete_removes_cgroup(ct):
    ct.config["process"]["args"] = ["sh", "-c", "sleep 100 & sleep 100 & wait"]
    ct.create()
    ct.start()
    deadline = time.time() + 10
    while time.time() < deadline and len(read(ct, "cgroup.procs").split()) < 3:
        time.sleep(0.05)
    assert len(read(ct, "cgroup.procs").split()) == 3
    ct.kill("--all", ct.id, "KILL")
    ct.wait_stopped()
    ct.delete()
    assert not os.path.exists(cgdir(ct))


# -- linux.resources.devices: an eBPF program on the container's cgroup -----------------------

BPF_PROG_QUERY = 16
BPF_CGROUP_DEVICE = 6
SYS_BPF = 321  # x86_64


class _BpfQuery(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32),
                ("pad", ctypes.c_uint32)]


def device_programs(ct):
    """Ids of the BPF_CGROUP_DEVICE programs attached to the container's cgroup itself."""
    libc = ctypes.CDLL(None, use_errno=True)
    ids = (ctypes.c_uint32 * 64)()
    fd = os.open(cgdir(ct), os.O_RDONLY | os.O_DIRECTORY)
    try:
        q = _BpfQuery(target_fd=fd, attach_type=BPF_CGROUP_DEVICE,
                      prog_ids=ctypes.addressof(ids), prog_cnt=64)
        if libc.syscall(SYS_BPF, BPF_PROG_QUERY, ctypes.byref(q), ctypes.sizeof(q)) != 0:
            raise OSError(ctypes.get_errno(), "BPF_PROG_QUERY")
        return list(ids[:q.prog_cnt])
    finally:
        os.close(fd)


def kmsg_node(ct, path="/dev/husk-kmsg"):
    # /dev/kmsg (1:11) is in no default rule and opens write-only without privileges.
    ct.config["linux"]["devices"] = [{"path": path, "type": "c", "major": 1, "minor": 11,
                                      "fileMode": 0o666}]


def test_devices_default_rules(ct):
    """runc's default rules: the default devices and ptys work, other devices are refused."""
    kmsg_node(ct)
    probes = ["--open-w", "/dev/husk-kmsg"]
    for d in ("null", "zero", "full", "random", "urandom"):
        probes += ["--open-r", "/dev/" + d, "--open-w", "/dev/" + d]
    r = ct.report(*probes, "--ptmx")
    for d in ("null", "zero", "full", "random", "urandom"):
        assert r["open_r"]["/dev/" + d] == "ok" and r["open_w"]["/dev/" + d] == "ok", (d, r)
    assert r["ptmx"].startswith("ok:/dev/pts/"), r["ptmx"]
    assert r["open_w"]["/dev/husk-kmsg"] == "EPERM"


def test_devices_exactly_one_program(ct):
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    assert len(device_programs(ct)) == 1


@pytest.mark.parametrize("name,minor", [("null", 3), ("full", 7)])
def test_devices_deny_rule_overrides_listed_default(ct, name, minor):
    """A default device that linux.devices lists is left to the rules (runc drops its default
    allow rule), so a deny of it keeps it closed while /dev/zero stays usable."""
    path = "/dev/" + name
    ct.config["linux"]["devices"] = [{"path": path, "type": "c", "major": 1, "minor": minor,
                                      "fileMode": 0o666}]
    ct.config["linux"]["resources"]["devices"] = [
        {"allow": True, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": minor, "access": "rwm"}]
    r = ct.report("--open-r", path, "--open-w", path,
                  "--open-r", "/dev/zero", "--open-w", "/dev/zero")
    assert r["open_r"][path] == "EPERM" and r["open_w"][path] == "EPERM"
    assert r["open_r"]["/dev/zero"] == "ok" and r["open_w"]["/dev/zero"] == "ok"


def test_devices_allow_rule_opens_a_device(ct):
    kmsg_node(ct)
    ct.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "w"})
    r = ct.report("--open-w", "/dev/husk-kmsg", "--open-r", "/dev/husk-kmsg")
    assert r["open_w"]["/dev/husk-kmsg"] == "ok"
    # read was not granted
    assert r["open_r"]["/dev/husk-kmsg"] == "EPERM"


def test_devices_mknod_allowed_but_open_denied(ct):
    """runc's defaults allow mknod of any device ("c *:* m", "b *:* m") but not its use."""
    caps = ct.config["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = caps[k] + ["CAP_MKNOD"]
    ct.config["process"]["args"] = [
        "sh", "-c", "mknod /dev/husk-loop b 7 0 && echo mknod-b-ok; "
                    "mknod /dev/husk-mem c 1 1 && echo mknod-c-ok; "
                    "exec /checker report --open-r /dev/husk-loop --open-r /dev/husk-mem"]
    out = ct.run_to_end()
    assert "mknod-b-ok" in out and "mknod-c-ok" in out, (out, ct.errors())
    r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    assert r["open_r"]["/dev/husk-loop"] == "EPERM"
    assert r["open_r"]["/dev/husk-mem"] == "EPERM"


def test_devices_hole_in_wildcard_rule_refused(env, ct):
    """Taking access away from part of a wider allow rule is refused (cgroup v1 would silently
    ignore it; runc refuses it on v2 too)."""
    ct.config["linux"]["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"}]
    ct.save()
    p = ct.create(check=False)
    assert p.returncode != 0
    from conftest import leftovers
    assert leftovers(env, ct) == []


def test_devices_update_leaves_the_program(env, ct):
    """Like runc's, update cannot change device rules: those of the resources file are
    ignored and the program stays as it is."""
    kmsg_node(ct)
    ct.config["process"]["args"] = ["sleep", "60"]
    ct.create()
    before = device_programs(ct)
    assert len(before) == 1
    res = os.path.join(env.tmpdir(), "res.json")
    with open(res, "w") as f:
        json.dump({"pids": {"limit": 50}, "devices": [{"allow": True, "access": "rwm"}]}, f)
    p = ct.rt("update", "--resources", res, ct.id)
    assert p.returncode == 0, p.stderr
    assert device_programs(ct) == before
    assert read(ct, "pids.max") == "50"
    ct.start()
    p = ct.rt("exec", ct.id, "/checker", "report", "--open-w", "/dev/husk-kmsg",
              "--open-w", "/dev/null")
    assert p.returncode == 0, p.stderr
    r = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
    assert r["open_w"]["/dev/husk-kmsg"] == "EPERM"
    assert r["open_w"]["/dev/null"] == "ok"


BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_F_ALLOW_MULTI = 2


class _BpfLoad(ctypes.Structure):
    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32)]


class _BpfAttach(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("replace_bpf_fd", ctypes.c_uint32)]


def attach_deny_all(path):
    """Attach a device program denying everything to the cgroup directory `path`."""
    libc = ctypes.CDLL(None, use_errno=True)
    # w0 = 0; exit
    code = bytes([0xb4, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"Apache")
    load = _BpfLoad(prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=2,
                    insns=ctypes.addressof(insns), license=ctypes.addressof(lic))
    prog = libc.syscall(SYS_BPF, BPF_PROG_LOAD, ctypes.byref(load), ctypes.sizeof(load))
    if prog < 0:
        raise OSError(ctypes.get_errno(), "BPF_PROG_LOAD")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        att = _BpfAttach(target_fd=fd, attach_bpf_fd=prog, attach_type=BPF_CGROUP_DEVICE,
                         attach_flags=BPF_F_ALLOW_MULTI)
        if libc.syscall(SYS_BPF, BPF_PROG_ATTACH, ctypes.byref(att), ctypes.sizeof(att)) != 0:
            raise OSError(ctypes.get_errno(), "BPF_PROG_ATTACH")
    finally:
        os.close(fd)
        os.close(prog)


@pytest.mark.parametrize("count", [1, 2])
def test_devices_program_on_existing_cgroup_is_replaced(ct, count):
    """A cgroup that already has device programs (here deny-all ones) gets ours instead of
    them: one replaced in place (BPF_F_REPLACE), several detached after ours is attached."""
    os.makedirs(cgdir(ct))
    for _ in range(count):
        attach_deny_all(cgdir(ct))
    old = device_programs(ct)
    assert len(old) == count
    ct.config["process"]["args"] = ["/checker", "report", "--open-w", "/dev/null"]
    ct.create()
    now = device_programs(ct)
    assert len(now) == 1 and now[0] not in old, (old, now)
    ct.start()
    ct.wait_stopped()
    r = json.loads([l for l in ct.output().splitlines() if l.startswith("{")][-1])
    assert r["open_w"]["/dev/null"] == "ok"

# -- clone3(CLONE_INTO_CGROUP): the init and exec'd processes are born in their cgroup ------------

def launcher_cgroup(ct):
    """A cgroup for the runtime process itself with pids.max 1: the runtime fits, but no child
    it forks can be charged there, even for an instant. Removed by the caller."""
    parent = os.path.dirname(cgdir(ct))
    os.makedirs(parent, exist_ok=True)
    for d in (rtt.CGROUP_ROOT, parent):
        with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
            f.write("+pids")
    launcher = cgdir(ct) + "-launcher"
    os.mkdir(launcher)
    with open(os.path.join(launcher, "pids.max"), "w") as f:
        f.write("1")
    return launcher


def run_in(launcher, ct, *args, extra_env=None):
    """The runtime with `args`, run as the only process of `launcher`; its stderr is returned
    (stdio goes to files: a detached create hands it to the container)."""
    def join():
        with open(os.path.join(launcher, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    e = dict(os.environ, **(extra_env or {}))
    err = os.path.join(ct.bundle, "run-in.err")
    with open(ct.out_path, "ab") as out, open(err, "wb") as errf:
        p = subprocess.run([rtt.RUNTIME, "--root", ct.env.root, *args], preexec_fn=join, env=e,
                           stdin=subprocess.DEVNULL, stdout=out, stderr=errf, timeout=rtt.TIMEOUT)
    with open(err, errors="replace") as f:
        p.stderr = f.read()
    return p


def remove_launcher(launcher):
    for _ in range(100):
        try:
            os.rmdir(launcher)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def phases(log):
    with open(log) as f:
        return [l.split("phase=")[1].split()[0] for l in f if " phase=" in l]


@pytest.mark.husk_only
def test_init_born_in_its_cgroup(ct):
    """create from a cgroup that cannot hold a second process: only an init born in its own
    cgroup (clone3 with CLONE_INTO_CGROUP) gets created; a fork followed by a cgroup.procs write
    fails with EAGAIN (checked with the fork-then-join path forced)."""
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.save()
    log = os.path.join(ct.bundle, "husk.log")
    launcher = launcher_cgroup(ct)
    try:
        forced = run_in(launcher, ct, "create", "--bundle", ct.bundle, ct.id + "x",
                        extra_env={"HUSK_NO_CLONE3": "1"})
        assert forced.returncode != 0 and "EAGAIN" in forced.stderr, forced.stderr
        p = run_in(launcher, ct, "--debug", "--log", log, "create", "--bundle", ct.bundle, ct.id)
        assert p.returncode == 0, p.stderr
        ct.record_pid()
        with open(os.path.join(launcher, "pids.events")) as f:
            refused = int(f.read().split()[1])
    finally:
        remove_launcher(launcher)
    assert refused == 1, "only the forced fork may have hit the launcher's pids.max"
    assert read(ct, "cgroup.procs").split() == [str(ct.pid)]
    got = phases(log)
    assert "clone3-into-cgroup" in got and "cgroup-add-task" not in got, got
    ct.start()
    assert ct.status() == "running"


@pytest.mark.husk_only
def test_exec_born_in_container_cgroup(ct):
    """exec (foreground) from a cgroup that cannot hold a second process: the exec'd process and
    its second fork into the pid namespace are born in the container's cgroup."""
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    ct.start()
    log = os.path.join(ct.bundle, "husk.log")
    launcher = launcher_cgroup(ct)
    try:
        p = run_in(launcher, ct, "--debug", "--log", log, "exec", ct.id, "true")
    finally:
        remove_launcher(launcher)
    assert p.returncode == 0, p.stderr
    assert "clone3-into-cgroup" in phases(log)


@pytest.mark.husk_only
def test_fork_then_join_fallback(ct):
    """HUSK_NO_CLONE3 (a debug knob) forces the path older kernels and v1/hybrid hosts take."""
    ct.config["process"]["args"] = ["sleep", "30"]
    log = os.path.join(ct.bundle, "husk.log")
    ct.env.global_args = ["--debug", "--log", log]
    os.environ["HUSK_NO_CLONE3"] = "1"
    try:
        ct.create()
    finally:
        del os.environ["HUSK_NO_CLONE3"]
    assert read(ct, "cgroup.procs").split() == [str(ct.pid)]
    got = phases(log)
    assert "clone" in got and "cgroup-add-task" in got and "clone3-into-cgroup" not in got, got


@pytest.mark.husk_only
def test_exec_born_in_sub_cgroup(env, ct):
    """exec --cgroup SUB on a unified host: one cgroup2 directory, the process is born in it."""
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    ct.start()
    os.mkdir(os.path.join(cgdir(ct), "sub"))
    log = os.path.join(ct.bundle, "husk.log")
    pidfile = os.path.join(env.tmpdir(), "p")
    p = env.rt("--debug", "--log", log, "exec", "-d", "--pid-file", pidfile, "--cgroup", "sub",
               ct.id, "sleep", "30", capture=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert p.returncode == 0
    pid = open(pidfile).read().strip()
    assert read(ct, "sub/cgroup.procs").split() == [pid]
    assert "clone3-into-cgroup" in phases(log)


@pytest.mark.husk_only
def test_exec_ignore_paused_born_frozen(env, ct):
    """exec --ignore-paused into a frozen cgroup: born there, the process is frozen at once (as a
    process moved in would be) and runs once the container is resumed."""
    ct.config["process"]["args"] = ["sleep", "30"]
    ct.create()
    ct.start()
    assert ct.rt("pause", ct.id).returncode == 0
    pidfile = os.path.join(env.tmpdir(), "p")
    q = env.spawn([rtt.RUNTIME, "--root", env.root, "exec", "--ignore-paused", "-d", "--pid-file", pidfile,
                   ct.id, "true"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    try:
        assert q.poll() is None, "exec finished inside a frozen cgroup"
    finally:
        # Directly, as test_exec.py does on v1: `resume` would wait for the container's lock,
        # which the exec holds until its process is ready.
        with open(os.path.join(cgdir(ct), "cgroup.freeze"), "w") as f:
            f.write("0")
    assert q.wait(timeout=20) == 0, q.stderr.read()
