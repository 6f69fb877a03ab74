"""A small Kubernetes CRI client for hack/e2e/cri.sh: drives containerd's CRI plugin the way
the kubelet would (pod sandbox, two containers sharing its namespaces, ExecSync, resource
updates, exit codes, stop/remove), printing PASS/FAIL per step and 'N passed, M failed'.

Usage: cri_client.py SOCKET STUBS_DIR IMAGE CGROUP_PARENT LOG_DIR
"""
import os
import sys
import time
import uuid

sock, stubs, image, cgroup_parent, log_dir = sys.argv[1:6]
sys.path.insert(0, stubs)
import grpc  # noqa: E402
import api_pb2 as pb  # noqa: E402
import api_pb2_grpc as pbg  # noqa: E402

channel = grpc.insecure_channel("unix://" + sock)
rt = pbg.RuntimeServiceStub(channel)
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("PASS", name)
    else:
        failed += 1
        print("FAIL", name, detail)


def call(name, fn, *args, **kw):
    try:
        return fn(*args, timeout=60, **kw)
    except grpc.RpcError as e:
        check(name, False, "%s: %s" % (e.code(), e.details()))
        return None


uid = uuid.uuid4().hex[:8]
pod_cfg = pb.PodSandboxConfig(
    metadata=pb.PodSandboxMetadata(name="husk-e2e-pod", uid=uid, namespace="default", attempt=0),
    log_directory=log_dir,
    linux=pb.LinuxPodSandboxConfig(
        cgroup_parent=cgroup_parent,
        security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.POD, ipc=pb.POD)),
    ),
)
v = call("version", rt.Version, pb.VersionRequest())
check("version", v is not None and v.runtime_name == "containerd", v)
r = call("RunPodSandbox", rt.RunPodSandbox, pb.RunPodSandboxRequest(config=pod_cfg, runtime_handler="husk"))
check("RunPodSandbox", r is not None)
if r is None:
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1)
pod = r.pod_sandbox_id


def container(name, cmd, resources=None):
    cfg = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=name, attempt=0),
        image=pb.ImageSpec(image=image),
        command=cmd,
        log_path=name + ".log",
        linux=pb.LinuxContainerConfig(resources=resources or pb.LinuxContainerResources()),
    )
    c = call("CreateContainer " + name, rt.CreateContainer,
             pb.CreateContainerRequest(pod_sandbox_id=pod, config=cfg, sandbox_config=pod_cfg))
    check("CreateContainer " + name, c is not None)
    return c.container_id if c else None


def status(cid):
    s = call("ContainerStatus", rt.ContainerStatus, pb.ContainerStatusRequest(container_id=cid))
    return s.status if s else None


def exec_sync(cid, cmd):
    return call("ExecSync", rt.ExecSync, pb.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=20))


c1 = container("c1", ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"])
c2 = container("c2", ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"])
for cid, name in ((c1, "c1"), (c2, "c2")):
    if cid:
        check("StartContainer " + name,
              call("StartContainer " + name, rt.StartContainer, pb.StartContainerRequest(container_id=cid)) is not None)
        st = status(cid)
        check("%s running" % name, st is not None and st.state == pb.CONTAINER_RUNNING, st and st.state)

e = exec_sync(c1, ["sh", "-c", "echo exec-ok; exit 3"])
check("ExecSync output", e is not None and e.stdout.strip() == b"exec-ok", e)
check("ExecSync exit code", e is not None and e.exit_code == 3, e and e.exit_code)

ns1 = exec_sync(c1, ["sh", "-c", "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid"])
ns2 = exec_sync(c2, ["sh", "-c", "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid"])
check("containers share the pod's ipc and pid namespaces",
      ns1 is not None and ns2 is not None and ns1.stdout == ns2.stdout and ns1.stdout, (ns1, ns2))
host_net = os.readlink("/proc/self/ns/net").encode()
n1 = exec_sync(c1, ["readlink", "/proc/self/ns/net"])
check("host-network pod uses the node's network namespace", n1 is not None and n1.stdout.strip() == host_net,
      n1 and n1.stdout)

limit = 96 * 1024 * 1024
u = call("UpdateContainerResources", rt.UpdateContainerResources, pb.UpdateContainerResourcesRequest(
    container_id=c1, linux=pb.LinuxContainerResources(memory_limit_in_bytes=limit)))
check("UpdateContainerResources", u is not None)
found = []
for root, dirs, files in os.walk("/sys/fs/cgroup/memory" + cgroup_parent):
    if os.path.basename(root).endswith(c1) or os.path.basename(root) == c1:
        with open(os.path.join(root, "memory.limit_in_bytes")) as f:
            found.append(int(f.read()))
check("updated memory limit in the host cgroup", found == [limit], found)

c3 = container("c3", ["sh", "-c", "exit 5"])
if c3:
    call("StartContainer c3", rt.StartContainer, pb.StartContainerRequest(container_id=c3))
    st = None
    for _ in range(100):
        st = status(c3)
        if st is not None and st.state == pb.CONTAINER_EXITED:
            break
        time.sleep(0.1)
    check("exited container's exit code", st is not None and st.state == pb.CONTAINER_EXITED and st.exit_code == 5,
          st and (st.state, st.exit_code))

for cid, name in ((c1, "c1"), (c2, "c2"), (c3, "c3")):
    if cid:
        check("StopContainer " + name, call("StopContainer " + name, rt.StopContainer,
              pb.StopContainerRequest(container_id=cid, timeout=5)) is not None)
        check("RemoveContainer " + name, call("RemoveContainer " + name, rt.RemoveContainer,
              pb.RemoveContainerRequest(container_id=cid)) is not None)
check("StopPodSandbox", call("StopPodSandbox", rt.StopPodSandbox, pb.StopPodSandboxRequest(pod_sandbox_id=pod)) is not None)
check("RemovePodSandbox", call("RemovePodSandbox", rt.RemovePodSandbox,
      pb.RemovePodSandboxRequest(pod_sandbox_id=pod)) is not None)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
