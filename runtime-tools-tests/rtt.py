"""Helpers of the conformance suite: the runtime under test, busybox bundles, containers.

Also a small CLI used by hack/mkbundle.sh:
    python3 rtt.py bundle DIR [--cgroups-path P] [--checker PATH] [--] [ARGS...]
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RUNTIME = os.environ.get("RUNTIME") or os.path.join(REPO, "target", "release", "husk")
CHECKER = os.environ.get("CHECKER") or os.path.join(
    HERE, "checker", "target", "x86_64-unknown-linux-gnu", "release", "checker")
BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")
# The static seccomp probe (hack/build-probes.sh), copied into every bundle as /seccomp-probe.
SECCOMP_PROBE = os.environ.get("SECCOMP_PROBE") or os.path.join(REPO, "target", "probes", "seccomp-probe")
CGROUP_ROOT = "/sys/fs/cgroup"
# One parent cgroup per suite session (husk-test-<pid>): sessions running side by side never
# see or remove each other's cgroups. RTT_CGROUP_PARENT overrides it.
CGROUP_PARENT = os.environ.get("RTT_CGROUP_PARENT") or "husk-test-%d" % os.getpid()
TIMEOUT = 30

# `runc spec` (runc 1.1.5) output, verbatim: the template every bundle starts from.
RUNC_SPEC = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                       {"type": "uts"}, {"type": "mount"}],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]


def cap_mask(names):
    m = 0
    for n in names:
        m |= 1 << CAPS.index(n)
    return m


def spec_template():
    return copy.deepcopy(RUNC_SPEC)


def runtime_version():
    try:
        p = subprocess.run([RUNTIME, "--version"], capture_output=True, text=True, timeout=10)
    except OSError as e:
        return None, str(e)
    return p, p.stdout


def runtime_name():
    p, out = runtime_version()
    if p is None or not out.strip():
        return "unknown"
    return out.splitlines()[0].split()[0]


def is_husk():
    p, out = runtime_version()
    return bool(p) and out.startswith("husk version")


def make_rootfs(rootfs, checker=CHECKER):
    """A busybox-static rootfs: bin/busybox + applet symlinks, /etc/passwd, /etc/group."""
    os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            link = os.path.join(rootfs, "bin", a)
            if not os.path.lexists(link):
                os.symlink("busybox", link)
    for d in ("etc", "proc", "sys", "dev", "tmp", "root"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n"
                "user:x:1000:1000:user:/tmp:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nusers:x:100:\nuser:x:1000:\nnogroup:x:65534:\n")
    if checker and os.path.exists(checker):
        shutil.copy2(checker, os.path.join(rootfs, "checker"))
        os.chmod(os.path.join(rootfs, "checker"), 0o755)
    if os.path.exists(SECCOMP_PROBE):
        shutil.copy2(SECCOMP_PROBE, os.path.join(rootfs, "seccomp-probe"))
        os.chmod(os.path.join(rootfs, "seccomp-probe"), 0o755)


def make_config(args, cgroups_path=None):
    c = spec_template()
    c["process"]["terminal"] = False
    c["process"]["args"] = list(args)
    if cgroups_path:
        c["linux"]["cgroupsPath"] = cgroups_path
    return c


def write_config(bundle, config):
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def make_bundle(bundle, args, cgroups_path=None, checker=CHECKER):
    os.makedirs(bundle, exist_ok=True)
    os.chmod(bundle, 0o755)
    make_rootfs(os.path.join(bundle, "rootfs"), checker)
    c = make_config(args, cgroups_path)
    write_config(bundle, c)
    return c


# Every id this session handed out: the host checks look for leftovers of these only, since
# other sessions (other worktrees) may have live containers under the same parent cgroup.
ISSUED_IDS = set()


def short_id(prefix="ht"):
    i = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    ISSUED_IDS.add(i)
    return i


def is_cgroup2():
    """A pure (unified) cgroup v2 host: /sys/fs/cgroup itself is the cgroup2 root."""
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def cgroup_dirs(rel):
    """Existing dirs named /sys/fs/cgroup/<every hierarchy>/<rel> (or /sys/fs/cgroup/<rel> on a
    pure cgroup v2 host)."""
    out = []
    if is_cgroup2():
        p = os.path.join(CGROUP_ROOT, rel.lstrip("/"))
        return [p] if os.path.isdir(p) else []
    try:
        ctrls = sorted(os.listdir(CGROUP_ROOT))
    except OSError:
        return out
    for c in ctrls:
        p = os.path.join(CGROUP_ROOT, c, rel.lstrip("/"))
        if os.path.isdir(p):
            out.append(p)
    return out


def rmdir_cgroup_tree(path):
    """rmdir a cgroup dir and its children, deepest first (cgroup dirs refuse rm -r)."""
    if not os.path.isdir(path):
        return
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for d in dirnames:
            try:
                os.rmdir(os.path.join(dirpath, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def proc_starttime(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rindex(")") + 2:].split()[19]
    except (OSError, ValueError):
        return None


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rindex(")") + 2:].split()[0]
    except (OSError, ValueError):
        return None


def pid_alive(pid):
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def try_reap(pid):
    """Reap pid if it is our (subreaper) child and has exited; returns its wait status or None."""
    try:
        wpid, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if wpid == pid else None


def read_counter(rootfs):
    """The number a counting loop in the container writes to /tmp/n (0 before the first)."""
    try:
        with open(os.path.join(rootfs, "tmp", "n")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def with_fds(tmpdir, argv, pre=""):
    """A command that runs `argv` with fds 3, 4 and 5 open (no CLOEXEC) on the empty files fd3,
    fd4 and fd5 it makes in `tmpdir`; `pre` goes before argv's exec (environment assignments).
    Returns the command."""
    files = []
    for n in (3, 4, 5):
        f = os.path.join(tmpdir, "fd%d" % n)
        open(f, "w").close()
        files.append(f)
    script = 'exec 3<"$1" 4<"$2" 5<"$3"; shift 3; %s exec "$@"' % pre
    return ["sh", "-c", script, "sh", *files, *argv]


def wait_gone(pids, timeout=10):
    """Wait until no process of `pids` (one pid or several) is alive, reaping those that are our
    children; True if they were all gone within `timeout` seconds."""
    pids = [pids] if isinstance(pids, int) else list(pids)
    deadline = time.time() + timeout
    while True:
        for p in pids:
            try_reap(p)
        if not any(pid_alive(p) for p in pids):
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.02)


def reap_children():
    """Reap every exited child (container processes reparented to the suite, a subreaper): a pid
    namespace's init cannot finish exiting while a member is an unreaped zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv):
    if len(argv) < 2 or argv[0] != "bundle":
        print(__doc__, file=sys.stderr)
        return 2
    d = argv[1]
    rest = argv[2:]
    cg = None
    checker = None
    while rest and rest[0].startswith("--"):
        if rest[0] == "--":
            rest = rest[1:]
            break
        if rest[0] == "--cgroups-path":
            cg, rest = rest[1], rest[2:]
        elif rest[0] == "--checker":
            checker, rest = rest[1], rest[2:]
        else:
            print("unknown option %s" % rest[0], file=sys.stderr)
            return 2
    make_bundle(d, rest or ["sh"], cg, checker)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
