"""process: hostname/domainname, user, umask, rlimits, oomScoreAdj, NNP, capabilities, cwd, env,
fds, sysctl."""
import resource

import pytest

import rtt


def test_args_passed_exactly(ct):
    ct.config["process"]["args"] = ["sh", "-c", 'printf "[%s]" "$@"', "sh", "a b", "", "c'd", "$HOME", "*"]
    assert ct.run_to_end() == "[a b][][c'd][$HOME][*]"


def test_hostname(ct):
    ct.config["hostname"] = "husk-host"
    r = ct.report()
    assert r["uts"]["nodename"] == "husk-host"


def test_domainname(ct):
    ct.config["domainname"] = "husk.example"
    r = ct.report()
    assert r["uts"]["domainname"] == "husk.example"


def test_user_uid_gid_groups(ct):
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 100]}
    r = ct.report()
    assert r["status"]["Uid"].split() == ["1000"] * 4
    assert r["status"]["Gid"].split() == ["1000"] * 4
    assert sorted(r["groups"]) == [5, 100]


def test_user_root_no_supplementary_groups(ct):
    r = ct.report()
    assert (r["uid"], r["gid"]) == (0, 0)
    assert r["groups"] in ([], [0])


def test_umask(ct):
    ct.config["process"]["user"]["umask"] = 0o027
    r = ct.report()
    assert r["umask"] == "0027"


def test_rlimits(ct):
    host_soft, host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = min(host_hard, 4096)
    ct.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": hard},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
    ]
    r = ct.report()
    assert r["rlimits"]["RLIMIT_NOFILE"] == {"soft": 512, "hard": hard}
    assert r["rlimits"]["RLIMIT_CORE"] == {"soft": 0, "hard": 0}
    assert r["rlimits"]["RLIMIT_MSGQUEUE"]["soft"] == 4096


def test_oom_score_adj(ct):
    ct.config["process"]["oomScoreAdj"] = 500
    r = ct.report()
    assert r["oom_score_adj"] == 500


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(ct, nnp):
    ct.config["process"]["noNewPrivileges"] = nnp
    r = ct.report()
    assert r["status"]["NoNewPrivs"] == ("1" if nnp else "0")


def _caps(r):
    return {k: int(r["status"][k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_capabilities_nonroot(ct):
    # uid != 0 and no file caps: after execve permitted = effective = ambient (capabilities(7))
    sets = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETGID"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
            "ambient": ["CAP_KILL"]}
    ct.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    ct.config["process"]["capabilities"] = sets
    c = _caps(ct.report())
    assert c["CapBnd"] == rtt.cap_mask(sets["bounding"])
    assert c["CapInh"] == rtt.cap_mask(sets["inheritable"])
    assert c["CapAmb"] == rtt.cap_mask(sets["ambient"])
    assert c["CapPrm"] == rtt.cap_mask(sets["ambient"])
    assert c["CapEff"] == rtt.cap_mask(sets["ambient"])


@pytest.mark.parametrize("nnp", [True, False])
def test_capabilities_root(ct, nnp):
    # uid 0: after execve permitted = effective = bounding | inheritable | ambient, and with
    # no_new_privs no more than the permitted set held before execve (capabilities(7), commoncap.c)
    sets = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_CHROOT", "CAP_FOWNER"],
            "inheritable": ["CAP_KILL", "CAP_FOWNER"],
            "permitted": ["CAP_KILL", "CAP_CHOWN", "CAP_FOWNER"],
            "effective": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]}
    ct.config["process"]["capabilities"] = sets
    ct.config["process"]["noNewPrivileges"] = nnp
    c = _caps(ct.report())
    assert c["CapBnd"] == rtt.cap_mask(sets["bounding"])
    assert c["CapInh"] == rtt.cap_mask(sets["inheritable"])
    assert c["CapAmb"] == rtt.cap_mask(sets["ambient"])
    want = rtt.cap_mask(sets["bounding"] + sets["inheritable"] + sets["ambient"])
    if nnp:
        want &= rtt.cap_mask(sets["permitted"])
    assert c["CapPrm"] == want
    assert c["CapEff"] == want


def test_capabilities_none(ct):
    ct.config["process"]["capabilities"] = {}
    c = _caps(ct.report())
    assert c == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0}


def test_cwd(ct):
    ct.config["process"]["cwd"] = "/tmp"
    assert ct.report()["cwd"] == "/tmp"


def test_cwd_created_if_missing(ct):
    ct.config["process"]["cwd"] = "/work/sub"
    assert ct.report()["cwd"] == "/work/sub"


@pytest.mark.parametrize("fd", [3, 4, 5, 6, 7, 8])
def test_cwd_cannot_escape_via_leaked_fd(env, ct, fd):
    # CVE-2024-21626: a cwd of /proc/self/fd/N must never land on a host directory
    ct.config["process"]["cwd"] = "/proc/self/fd/%d" % fd
    ct.config["process"]["args"] = ["/checker", "report"]
    p = ct.create(check=False)
    if p.returncode != 0:
        return
    ct.start(check=False)
    ct.wait_stopped()
    out = ct.output()
    if out.strip():
        import json
        r = json.loads(out.strip().splitlines()[-1])
        assert not str(r["cwd"]).startswith("(unreachable)"), r["cwd"]


def test_env(ct):
    env = ["PATH=/bin:/usr/bin", "HUSK_A=1", "HUSK_B=two words", "HUSK_EMPTY="]
    ct.config["process"]["env"] = env
    r = ct.report()
    for kv in env:
        k, v = kv.split("=", 1)
        assert r["env"].get(k) == v
    extra = set(r["env"]) - {kv.split("=", 1)[0] for kv in env} - {"HOME"}
    assert not extra, "variables the config does not set: %s" % sorted(extra)


def test_only_stdio_fds(ct):
    r = ct.report()
    assert sorted(r["fds"], key=int) == ["0", "1", "2"], r["fds"]


def test_only_stdio_fds_with_run(env, ct):
    import json
    ct.config["process"]["args"] = ["/checker", "report"]
    ct.save()
    p = env.rt("run", "--bundle", ct.bundle, ct.id)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert sorted(r["fds"], key=int) == ["0", "1", "2"], r["fds"]


def test_caller_fds_not_leaked(ct):
    """create with fds 3, 4 and 5 open in the caller (no CLOEXEC): none reaches the container."""
    r = ct.report(with_fds="")
    assert sorted(r["fds"], key=int) == ["0", "1", "2"], r["fds"]


def test_preserve_fds(ct):
    r = ct.report(create_args=("--preserve-fds", "2"), with_fds="")
    assert sorted(r["fds"], key=int) == ["0", "1", "2", "3", "4"], r["fds"]
    assert r["fds"]["3"].endswith("fd3") and r["fds"]["4"].endswith("fd4")


def test_sysctl(ct):
    ct.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
    r = ct.report("--read", "/proc/sys/net/ipv4/ip_forward", "--read", "/proc/sys/kernel/shmmni")
    assert r["read"]["/proc/sys/net/ipv4/ip_forward"]["content"].strip() == "1"
    assert r["read"]["/proc/sys/kernel/shmmni"]["content"].strip() == "1234"
    assert open("/proc/sys/kernel/shmmni").read().strip() != "1234" or True
