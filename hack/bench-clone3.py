#!/usr/bin/python3
"""hack/bench-clone3.py [N]: what clone3(CLONE_INTO_CGROUP) saves in `create`.

Runs N rounds; each round creates and deletes one container with every variant, in turn:
  clone3    husk as is (on a unified host: the init is born in its cgroup)
  fallback  husk with HUSK_NO_CLONE3=1 (fork, then a cgroup.procs write)
  base=PATH another husk binary (e.g. a build without the feature: BASE=/path/husk)
and prints, per variant, the median wall time of `create` and the medians of husk's own phase
timings (--debug): spawn/clone[3-into-cgroup], spawn/cgroup-add-task, spawn/init-setup and
create/spawn (the whole fork-to-ready). Needs root, busybox-static; RUNTIME=/path picks husk
(default target/release/husk); CGROUPNS=1 gives the container a cgroup namespace. The bundle's
cgroupsPath is /husk-bench-clone3-<pid>/c, removed at the end. On a v1/hybrid host both husk
variants take the fallback path.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def phases(log):
    out = {}
    with open(log) as f:
        for line in f:
            if " phase=" not in line:
                continue
            msg = line.split('msg="', 1)[1]
            what, rest = msg.split(" phase=", 1)
            name, ms = rest.split()[:2]
            key = "%s/%s" % (what, "clone*" if name.startswith("clone") else name)
            out[key] = float(ms.split("=")[1].rstrip('"'))
    return out


def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    husk = os.environ.get("RUNTIME") or os.path.join(ROOT, "target/release/husk")
    variants = [("clone3", husk, {}), ("fallback", husk, {"HUSK_NO_CLONE3": "1"})]
    if os.environ.get("BASE"):
        variants.append(("base", os.environ["BASE"], {}))
    work = tempfile.mkdtemp(prefix="husk-bench-clone3-")
    cg = "/husk-bench-clone3-%d" % os.getpid()
    bundle = os.path.join(work, "bundle")
    # As hack/mkbundle.sh does (called directly: the v2 guest has no bash).
    subprocess.run([sys.executable, os.path.join(ROOT, "runtime-tools-tests/rtt.py"), "bundle", bundle,
                    "--cgroups-path", cg + "/c", "--checker", "", "--", "sleep", "100"], check=True,
                   stdout=subprocess.DEVNULL)
    if os.environ.get("CGROUPNS"):
        # A cgroup namespace: the init then waits to be in its cgroup before its mount work.
        with open(os.path.join(bundle, "config.json")) as f:
            cfg = json.load(f)
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
    state = os.path.join(work, "state")
    results = {name: {"wall": []} for name, _, _ in variants}
    try:
        for i in range(n):
            for name, binary, extra in variants:
                log = os.path.join(work, "log")
                e = dict(os.environ, **extra)
                t = time.perf_counter()
                subprocess.run([binary, "--root", state, "--debug", "--log", log, "create", "--bundle", bundle,
                                "b"], env=e, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                wall = (time.perf_counter() - t) * 1e3
                subprocess.run([binary, "--root", state, "delete", "--force", "b"], check=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                reap()
                r = results[name]
                r["wall"].append(wall)
                for k, v in phases(log).items():
                    r.setdefault(k, []).append(v)
                os.unlink(log)
    finally:
        subprocess.run([husk, "--root", state, "delete", "--force", "b"], capture_output=True)
        reap()
        shutil.rmtree(work, ignore_errors=True)
        for base in ("/sys/fs/cgroup", *("/sys/fs/cgroup/" + c for c in os.listdir("/sys/fs/cgroup"))):
            d = base + cg
            if os.path.isdir(d):
                for sub in ("c", ""):
                    try:
                        os.rmdir(os.path.join(d, sub))
                    except OSError:
                        pass
    keys = ["wall", "spawn/clone*", "spawn/cgroup-add-task", "spawn/init-setup", "create/spawn"]
    print("%d rounds, median ms" % n)
    print("%-10s" % "variant" + "".join("%24s" % k for k in keys))
    for name, _, _ in variants:
        r = results[name]
        cells = ["%.3f" % statistics.median(r[k]) if r.get(k) else "-" for k in keys]
        print("%-10s" % name + "".join("%24s" % c for c in cells))


if __name__ == "__main__":
    main()
