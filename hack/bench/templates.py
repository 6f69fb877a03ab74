#!/usr/bin/python3
"""hack/bench/templates.py W [SANDBOX_PID]: the config templates of hack/bench.sh ("@ID@" is the
container id, replaced per container by drv.c) in W/<name>.json.

- runc-spec templates (issue 8's scenarios): `runc spec` defaults via rtt.make_config, no seccomp,
  the shared read-only busybox rootfs W/rootfs;
- real callers' templates (issue 23) from hack/bench/fixtures/{podman,cri}.json as podman 4.3 and
  containerd's CRI plugin wrote them (hack/bench/capture-fixtures.sh). Only what is specific to
  the capturing host is rewritten: root.path (W/rootfs; the rootfs flags as captured),
  linux.cgroupsPath (/husk-bench/<id>), bind-mount sources that do not exist here (files and the
  /dev/shm directory under W/binds, made here), joined namespace paths (/proc/<pid>/ns/* of the
  pod sandbox: SANDBOX_PID, a holder process bench.sh starts), and process.args (the workload:
  `true` for lifecycles, `sleep` for containers that must stay up, an echo for the checks).
"""
import copy
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "runtime-tools-tests"))
import rtt  # noqa: E402

VERIFY = ["/bin/sh", "-c", "echo bench-ran; cat /proc/self/cgroup"]


def real(w, name, args, sandbox):
    c = json.load(open(os.path.join(HERE, "fixtures", name + ".json")))
    c = copy.deepcopy(c)
    c["root"] = dict(c.get("root", {}), path=os.path.join(w, "rootfs"))
    c["linux"]["cgroupsPath"] = "/husk-bench/@ID@"
    c["process"]["args"] = list(args)
    binds = os.path.join(w, "binds", name)
    for m in c.get("mounts", []):
        if m.get("type") == "bind" and not os.path.exists(m["source"]):
            src = os.path.join(binds, os.path.basename(m["source"]))
            if m["destination"] == "/dev/shm":
                os.makedirs(src, exist_ok=True)
            else:
                os.makedirs(binds, exist_ok=True)
                if not os.path.exists(src):
                    with open(src, "w") as f:
                        f.write({"hostname": "bench\n", "hosts": "127.0.0.1 localhost\n"}.get(os.path.basename(src), ""))
            m["source"] = src
            # The mount point, made once in the shared rootfs (not under /dev: a tmpfs there).
            if not m["destination"].startswith("/dev/"):
                dst = os.path.join(w, "rootfs", m["destination"].lstrip("/"))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if not os.path.exists(dst):
                    open(dst, "w").close()
    for ns in c["linux"].get("namespaces", []):
        if "path" in ns:
            if not sandbox:
                raise SystemExit("templates.py: %s joins namespaces: give the sandbox pid" % name)
            ns["path"] = re.sub(r"^/proc/\d+/", "/proc/%s/" % sandbox, ns["path"])
    return c


def main():
    w = sys.argv[1]
    sandbox = sys.argv[2] if len(sys.argv) > 2 else None
    rtt.make_rootfs(os.path.join(w, "rootfs"), checker=None)

    def put(name, c):
        with open(os.path.join(w, name + ".json"), "w") as f:
            json.dump(c, f)

    def tpl(args, resources=None):
        c = rtt.make_config(args, cgroups_path="/husk-bench/@ID@")
        c["root"] = {"path": os.path.join(w, "rootfs"), "readonly": True}
        if resources:
            c["linux"]["resources"].update(resources)
        return c

    put("true", tpl(["/bin/true"]))
    put("sleep", tpl(["/bin/sleep", "1000000"]))
    put("verify", tpl(VERIFY))
    put("mem512k", tpl(["/bin/true"], {"memory": {"limit": 524288}}))
    put("pids1", tpl(["/bin/true"], {"pids": {"limit": 1}}))
    for name in ("podman", "cri"):
        put(name + "-true", real(w, name, ["true"], sandbox))
        put(name + "-sleep", real(w, name, ["sleep", "1000000"], sandbox))
        put(name + "-verify", real(w, name, VERIFY, sandbox))


if __name__ == "__main__":
    main()
