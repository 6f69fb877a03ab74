"""What a user who installs husk sees of it (issue 21): `--version` names the build (version,
the git commit, the runtime-spec version) in runc's format, and `--help` is laid out as runc's
(usage, version, the commands, the global options)."""
import re

import pytest


def test_version_names_commit_and_spec(env):
    p = env.rt("--version", global_args=[])
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert re.match(r"^\S+ version \S+$", lines[0]), lines
    commit = [l[len("commit: "):] for l in lines if l.startswith("commit: ")]
    assert len(commit) == 1, lines
    # Built from a checkout (or a package build that passes the commit): a real commit.
    assert commit[0] and not commit[0].startswith("unknown"), lines
    assert any(re.match(r"^spec: 1\.\d+\.\d+", l) for l in lines), lines


@pytest.mark.husk_only
def test_version_commit_is_a_git_hash(env):
    p = env.rt("--version", global_args=[])
    commit = next(l for l in p.stdout.splitlines() if l.startswith("commit: "))
    assert re.match(r"^commit: [0-9a-f]{40}(-dirty)?$", commit), commit


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_commands_and_global_options_as_runc(env, flag):
    p = env.rt(flag, global_args=[])
    assert p.returncode == 0
    out = p.stdout
    for section in ["NAME:", "USAGE:", "VERSION:", "COMMANDS:", "GLOBAL OPTIONS:"]:
        assert re.search(rf"^{section}$", out, re.M), (section, out)
    # Each command on a line of its own under COMMANDS:, before GLOBAL OPTIONS:.
    commands = out.split("COMMANDS:", 1)[1].split("GLOBAL OPTIONS:", 1)[0]
    listed = {l.split()[0].rstrip(",") for l in commands.splitlines() if l.strip()}
    for c in ["create", "start", "state", "kill", "delete", "run", "exec", "list", "spec", "ps",
              "pause", "resume", "update", "events", "features"]:
        assert c in listed, (c, commands)
    options = out.split("GLOBAL OPTIONS:", 1)[1]
    for o in ["--root", "--log", "--log-format", "--debug", "--systemd-cgroup", "--rootless"]:
        assert o in options, (o, options)
    # The commands are listed alphabetically (runc's order, but for its late `features`).
    names = [l.split()[0].rstrip(",") for l in commands.splitlines() if l.strip()]
    names = [n for n in names if n not in ("features", "help")]
    assert names == sorted(names), names
