#!/usr/bin/python3
"""hack/bench/objects.py ROOT W NAME LEVEL: what LEVEL running containers of one runtime leave on
the host (husk, runc and crun keep no daemon: the host side is the state dir and the kernel's
objects), as JSON on stdout. Containers are W/s<i> (drv.c populate: pid file W/s<i>/pid, id
NAME's scale-<NAME>-<i>, cgroup /husk-bench/<id>).

- state_bytes: apparent size of everything under ROOT (files and dirs, du --apparent-size -b),
  state_kib: blocks allocated (du -k), both per container;
- per container (the mean over all of them): processes in its pids cgroup, the init's open fds,
  namespaces it does not share with the host (ns inode differs from this script's), mounts in its mount
  namespace, cgroup directories made for it (hierarchies holding husk-bench/<id>), the init's RSS.
"""
import json
import os
import subprocess
import sys

root, w, name, level = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HIER = [h for h in sorted(os.listdir("/sys/fs/cgroup")) if os.path.isdir("/sys/fs/cgroup/" + h)
        and not os.path.islink("/sys/fs/cgroup/" + h)]


def du(args):
    return int(subprocess.run(["du", "-s"] + args + [root], capture_output=True, text=True).stdout.split()[0])


def count(path, f=None):
    try:
        with open(path) as fh:
            return sum(1 for line in fh if (f is None or f(line)))
    except OSError:
        return 0


host_ns = {n: os.stat("/proc/self/ns/" + n).st_ino for n in os.listdir("/proc/self/ns")}
acc = {"procs": 0, "fds": 0, "namespaces": 0, "mounts": 0, "cgroup_dirs": 0, "rss_kib": 0}
seen = 0
for i in range(level):
    cid = "scale-%s-%d" % (name, i)
    try:
        pid = int(open(os.path.join(w, "s%d" % i, "pid")).read().strip())
    except (OSError, ValueError):
        continue
    seen += 1
    acc["procs"] += count("/sys/fs/cgroup/pids/husk-bench/%s/cgroup.procs" % cid)
    try:
        acc["fds"] += len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        pass
    for n, ino in host_ns.items():
        try:
            acc["namespaces"] += os.stat("/proc/%d/ns/%s" % (pid, n)).st_ino != ino
        except OSError:
            pass
    acc["mounts"] += count("/proc/%d/mountinfo" % pid)
    acc["cgroup_dirs"] += sum(os.path.isdir("/sys/fs/cgroup/%s/husk-bench/%s" % (h, cid)) for h in HIER)
    acc["rss_kib"] += next((int(line.split()[1]) for line in open("/proc/%d/status" % pid)
                            if line.startswith("VmRSS:")), 0)
out = {"runtime": name, "level": level, "containers_checked": seen,
       "state_bytes": du(["-b"]) / max(level, 1), "state_kib": du(["-k"]) / max(level, 1)}
out.update({k: v / max(seen, 1) for k, v in acc.items()})
print(json.dumps(out))
