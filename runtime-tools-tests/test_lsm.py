"""AppArmor and SELinux on a host WITHOUT them (issue 20; this machine has neither): a profile or
label in config.json (apparmorProfile, selinuxLabel, mountLabel) cannot be applied, and the
container is refused with an error naming the field, leaving nothing behind, as runc 1.1.5 refuses
it (runc fails writing the AppArmor attribute, rejects an SELinux label in its config validation,
and fails its mount with context=). exec --apparmor / --process-label and a process file with
them are refused the same way. With the LSM enabled, hack/vm/lsm-lane.sh checks that they apply."""
import json
import os
import subprocess

import pytest

import rtt

from conftest import leftovers


def apparmor_on():
    try:
        return open("/sys/module/apparmor/parameters/enabled").read().startswith("Y") and \
            os.path.isdir("/sys/kernel/security/apparmor")
    except OSError:
        return False


def selinux_on():
    return os.path.exists("/sys/fs/selinux/enforce")


no_apparmor = pytest.mark.skipif(apparmor_on(), reason="AppArmor is enabled on this host")
no_selinux = pytest.mark.skipif(selinux_on(), reason="SELinux is enabled on this host")

PROFILE = "husk-test-profile"
PLABEL = "system_u:system_r:container_t:s0:c1,c2"
MLABEL = "system_u:object_r:container_file_t:s0:c1,c2"


def refused(env, ct, *words):
    """create fails (exit 1, as runc's), stderr names one of `words`, nothing is left."""
    ct.config["process"]["args"] = ["/checker", "report"]
    p = ct.create(check=False)
    assert p.returncode == 1, (p.returncode, p.stderr_text)
    err = p.stderr_text.lower()
    assert any(w in err for w in words), p.stderr_text
    assert not leftovers(env, ct), leftovers(env, ct)
    # the workload never ran
    assert "uid" not in open(ct.out_path).read()


@no_apparmor
def test_apparmor_profile_refused_without_apparmor(env, ct):
    ct.config["process"]["apparmorProfile"] = PROFILE
    refused(env, ct, "apparmor")


@no_selinux
def test_selinux_label_refused_without_selinux(env, ct):
    ct.config["process"]["selinuxLabel"] = PLABEL
    refused(env, ct, "selinux")


@no_selinux
def test_mount_label_refused_without_selinux(env, ct):
    ct.config["linux"]["mountLabel"] = MLABEL
    # runc: its tmpfs mount of /dev with context="..." fails (EINVAL); husk names the field.
    refused(env, ct, "selinux", "context=")


def test_empty_labels_are_no_request(ct):
    """Empty strings ask for nothing (as in runc): the container runs, unconfined."""
    ct.config["process"]["apparmorProfile"] = ""
    ct.config["process"]["selinuxLabel"] = ""
    ct.config["linux"]["mountLabel"] = ""
    r = ct.report(create_args=())
    assert r["uid"] == 0


def _running(ct):
    ct.config["process"]["args"] = ["/checker", "sleep"]
    ct.create()
    ct.start()


@pytest.mark.parametrize("flag,value,word", [
    pytest.param("--apparmor", PROFILE, "apparmor", marks=no_apparmor),
    pytest.param("--process-label", PLABEL, "selinux", marks=no_selinux),
])
def test_exec_flag_refused(ct, flag, value, word):
    _running(ct)
    p = ct.rt("exec", flag, value, ct.id, "/checker", "report")
    assert p.returncode == 255, (p.returncode, p.stderr)
    assert word in p.stderr.lower(), p.stderr
    assert '"uid"' not in p.stdout
    assert ct.status() == "running"


@pytest.mark.parametrize("field,value,word", [
    pytest.param("apparmorProfile", PROFILE, "apparmor", marks=no_apparmor),
    pytest.param("selinuxLabel", PLABEL, "selinux", marks=no_selinux),
])
def test_exec_process_file_refused(env, ct, field, value, word):
    _running(ct)
    proc = dict(ct.config["process"], args=["/checker", "report"], terminal=False)
    proc[field] = value
    path = os.path.join(env.tmpdir(), "process.json")
    with open(path, "w") as f:
        json.dump(proc, f)
    p = ct.rt("exec", "--process", path, ct.id)
    assert p.returncode == 255, (p.returncode, p.stderr)
    assert word in p.stderr.lower(), p.stderr
    assert '"uid"' not in p.stdout
    assert ct.status() == "running"


@pytest.mark.husk_only
def test_features_lsm_support_and_host():
    """features.md: apparmor/selinux `enabled` is support in this build (true), unrelated to the
    host; husk's run.husk.{apparmor,selinux}.host annotations say whether this host has them."""
    p = subprocess.run([rtt.RUNTIME, "features"], capture_output=True, text=True, timeout=rtt.TIMEOUT)
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["linux"]["apparmor"] == {"enabled": True}
    assert f["linux"]["selinux"] == {"enabled": True}
    assert f["annotations"]["run.husk.apparmor.host"] == str(apparmor_on()).lower()
    assert f["annotations"]["run.husk.selinux.host"] == str(selinux_on()).lower()
