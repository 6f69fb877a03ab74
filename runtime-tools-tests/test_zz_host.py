"""Host-side checks after the cases above ran (this file's name sorts last)."""
import os
import stat

import rtt


def test_host_dev_null_unchanged():
    # runtimes have been seen to chown the host's /dev/null when binding it into a container
    st = os.stat("/dev/null")
    assert stat.S_ISCHR(st.st_mode)
    assert os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_no_cgroup_dirs_left():
    left = []
    for parent in rtt.cgroup_dirs(rtt.CGROUP_PARENT):
        left += [os.path.join(parent, d) for d in os.listdir(parent)
                 if os.path.isdir(os.path.join(parent, d)) and d in rtt.ISSUED_IDS]
    assert left == []


def test_no_mounts_left():
    # nothing the runtimes mounted for this session's bundles may remain in our mount namespace
    left = [l for l in open("/proc/self/mountinfo").read().splitlines()
            if "/rtt-b-" in l or "/rtt-t-" in l or "/rtt-root-" in l]
    assert left == []


def test_no_processes_left():
    # container inits are reparented to the suite (a subreaper): none may still be alive
    me = os.getpid()
    alive = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or not rtt.pid_alive(int(pid)):
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == me:
            alive.append("%s (%s)" % (pid, st[st.index("(") + 1:st.rindex(")")]))
    assert alive == []
