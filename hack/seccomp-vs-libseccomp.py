#!/usr/bin/env python3
"""Differential check: husk's seccomp compiler against libseccomp used the way runc uses it.

For each profile, builds the filter twice:
  - libseccomp (the system's libseccomp.so.2, through ctypes), with runc's rule handling
    (libcontainer/seccomp/seccomp_linux.go: rules with the default action skipped, one rule
    per name, repeated argument indexes split into separate rules) and runc's -ENOSYS stub
    (patchbpf) applied in front;
  - husk (examples/seccomp-compile --dump),
then runs both programs, with a small classic-BPF interpreter, over many seccomp_data inputs
(every syscall number of each ABI, x32 numbers, foreign arches, argument values around those
the profile uses) and reports every input on which the actions differ.

  hack/seccomp-vs-libseccomp.py [PROFILE.json ...]   (default: the podman profile)
  hack/seccomp-vs-libseccomp.py --random N            (N random profiles stressing rule order)
  hack/seccomp-vs-libseccomp.py --random32 N          (the same with argument values < 2^32)

Development tool only: husk itself never uses libseccomp.
"""
import ctypes
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
L = ctypes.CDLL("libseccomp.so.2")
L.seccomp_init.restype = ctypes.c_void_p
L.seccomp_init.argtypes = [ctypes.c_uint32]
L.seccomp_release.argtypes = [ctypes.c_void_p]
L.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
L.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
L.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
L.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
L.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]


class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


ARCH = {"SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_X86": 0x40000003, "SCMP_ARCH_X32": 0x4000003E}
AUDIT = {"SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_X86": 0x40000003, "SCMP_ARCH_X32": 0xC000003E}
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
       "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
ENOSYS = 38


def action(name, errno_ret):
    e = 1 if errno_ret is None else errno_ret
    return {"SCMP_ACT_KILL": 0, "SCMP_ACT_KILL_THREAD": 0, "SCMP_ACT_KILL_PROCESS": 0x80000000,
            "SCMP_ACT_TRAP": 0x30000, "SCMP_ACT_ERRNO": 0x50000 | e, "SCMP_ACT_TRACE": 0x7FF00000 | e,
            "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000, "SCMP_ACT_NOTIFY": 0x7FC00000}[name]


def libseccomp_program(p):
    """(bpf, stub) for profile p, as runc 1.1 builds it; None if libseccomp refuses it."""
    default = action(p["defaultAction"], p.get("defaultErrnoRet"))
    f = ctypes.c_void_p(L.seccomp_init(default))
    try:
        for a in p.get("architectures") or []:
            rc = L.seccomp_arch_add(f, ARCH[a])
            assert rc in (0, -17), rc
        for rule in p.get("syscalls") or []:
            act = action(rule["action"], rule.get("errnoRet"))
            if act == default:
                continue
            for name in rule["names"]:
                nr = L.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR: unknown name, runc skips it
                    continue
                args = rule.get("args") or []
                conds = [Cmp(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in args]
                counts = [0] * 6
                for a in args:
                    counts[a["index"]] += 1
                groups = [[c] for c in conds] if any(c > 1 for c in counts) else [conds]
                for g in groups:
                    arr = (Cmp * max(1, len(g)))(*g)
                    rc = L.seccomp_rule_add_array(f, act, nr, len(g), arr)
                    if rc != 0:
                        return None
        fd, path = tempfile.mkstemp()
        L.seccomp_export_bpf(f, fd)
        os.close(fd)
        bpf = parse(open(path, "rb").read())
        os.unlink(path)
    finally:
        L.seccomp_release(f)
    # runc's patchbpf -ENOSYS stub.
    stub = None
    perm = p["defaultAction"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")
    if p.get("architectures") and not perm and p.get("defaultErrnoRet") != ENOSYS:
        stub = {}
        for a in p["architectures"]:
            largest = 0
            for rule in p.get("syscalls") or []:
                for name in rule["names"]:
                    nr = L.seccomp_syscall_resolve_name_arch(ARCH[a], name.encode())
                    if nr >= 0:
                        largest = max(largest, nr)
            if largest:
                stub[a] = largest
    return bpf, stub


def parse(d):
    return [struct.unpack("=HBBI", d[i:i + 8]) for i in range(0, len(d), 8)]


def run(prog, nr, arch, args):
    data = struct.pack("<IIQ6Q", nr, arch, 0, *args)
    a, pc = 0, 0
    while True:
        c, jt, jf, k = prog[pc]
        pc += 1
        if c == 0x20:
            a = struct.unpack_from("<I", data, k)[0]
        elif c == 0x54:
            a &= k
        elif c == 0x05:
            pc += k
        elif c == 0x15:
            pc += jt if a == k else jf
        elif c == 0x25:
            pc += jt if a > k else jf
        elif c == 0x35:
            pc += jt if a >= k else jf
        elif c == 0x45:
            pc += jt if a & k else jf
        elif c == 0x06:
            return k
        else:
            raise ValueError("opcode %#x" % c)


def runc_result(bpf, stub, nr, arch, args):
    if stub:
        if arch == 0xC000003E:
            if nr & 0x40000000:
                m = stub.get("SCMP_ARCH_X32")
            else:
                m = stub.get("SCMP_ARCH_X86_64")
            if m is not None and ("SCMP_ARCH_X32" in stub or not nr & 0x40000000) and nr > m:
                return 0x50000 | ENOSYS
        elif arch == 0x40000003 and "SCMP_ARCH_X86" in stub and nr > stub["SCMP_ARCH_X86"]:
            return 0x50000 | ENOSYS
    return run(bpf, nr, arch, args)


def husk_program(profile_path):
    exe = os.path.join(ROOT, "target/release/examples/seccomp-compile")
    r = subprocess.run([exe, profile_path, "--dump"], capture_output=True)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace").strip().splitlines()[-1:]
    return parse(r.stdout), None


def arg_values(p):
    vals = {0, 1, 2, 0xFFFFFFFF, 1 << 32, (1 << 64) - 1}
    for rule in p.get("syscalls") or []:
        for a in rule.get("args") or []:
            for v in (a["value"], a.get("valueTwo", 0)):
                for d in (v, v + 1, v - 1, v | (1 << 32), v ^ 0xFF):
                    vals.add(d % (1 << 64))
    return sorted(vals)


def compare(p, path, rng, samples=4):
    lib = libseccomp_program(p)
    husk, err = husk_program(path)
    if lib is None or husk is None:
        return ("both refuse" if lib is None and husk is None else
                "libseccomp refuses, husk accepts" if lib is None else "husk refuses: %s" % err), []
    bpf, stub = lib
    vals = arg_values(p)
    diffs = []
    inputs = []
    for arch in (0xC000003E, 0x40000003, 0xC00000B7):
        for nr in list(range(0, 470)) + [0x40000000 + n for n in range(0, 560)] + [0xFFFFFFFF, 1000, 0x7FFFFFFF]:
            for _ in range(samples):
                inputs.append((nr, arch, [rng.choice(vals) for _ in range(6)]))
    for nr, arch, args in inputs:
        want = runc_result(bpf, stub, nr, arch, args)
        got = run(husk, nr, arch, args)
        if want != got:
            diffs.append((nr, arch, args, want, got))
    return "compared %d inputs, %d differ (libseccomp %d instructions, husk %d)" % (
        len(inputs), len(diffs), len(bpf), len(husk)), diffs


NAMES = ["getcwd", "uname", "getpid", "socket", "personality"]
ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"]


def random_profile(rng, wide=True):
    vals = [0, 1, 5, 7, 0xFFFFFFFF] + ([1 << 32, (1 << 32) + 5, (1 << 63)] if wide else [6, 0xFF])
    rules = []
    for _ in range(rng.randint(1, 8)):
        r = {"names": rng.sample(NAMES, rng.randint(1, 2)), "action": rng.choice(ACTIONS)}
        if r["action"] == "SCMP_ACT_ERRNO":
            r["errnoRet"] = rng.randint(1, 40)
        args = []
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            op = rng.choice(list(OPS))
            a = {"index": rng.randint(0, 3), "value": rng.choice(vals), "op": op}
            if op == "SCMP_CMP_MASKED_EQ":
                a["valueTwo"] = rng.choice(vals) & a["value"]
            args.append(a)
        if args:
            r["args"] = args
        rules.append(r)
    p = {"defaultAction": rng.choice(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"]), "syscalls": rules}
    if rng.random() < 0.5:
        p["architectures"] = rng.choice([["SCMP_ARCH_X86_64"], ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                                         ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]])
    return p


def main():
    subprocess.run(["cargo", "build", "-q", "--release", "--example", "seccomp-compile"], cwd=ROOT, check=True)
    rng = random.Random(1)
    argv = sys.argv[1:]
    bad = 0
    if argv[:1] in (["--random"], ["--random32"]):
        n = int(argv[1]) if len(argv) > 1 else 200
        tally = {}
        with tempfile.TemporaryDirectory() as d:
            for i in range(n):
                p = random_profile(rng, wide=argv[0] == "--random")
                path = os.path.join(d, "p.json")
                json.dump(p, open(path, "w"))
                summary, diffs = compare(p, path, rng, samples=1)
                key = summary.split(" (")[0] if not diffs else "DIFFER"
                key = key if not key.startswith("compared") else "agree"
                tally[key] = tally.get(key, 0) + 1
                if diffs or key.startswith("husk refuses") or key.startswith("libseccomp refuses"):
                    bad += 1
                    print("profile %d: %s\n  %s" % (i, summary, json.dumps(p)))
                    for d_ in diffs[:3]:
                        print("   nr=%#x arch=%#x args=%s runc=%#x husk=%#x" % d_)
        print(tally)
    else:
        for path in argv or [os.path.join(ROOT, "runtime-tools-tests/data/seccomp-podman-default.json")]:
            p = json.load(open(path))
            summary, diffs = compare(p, path, rng)
            print("%s: %s" % (os.path.relpath(path, ROOT), summary))
            names = {}
            for nr, arch, args, want, got in diffs:
                names.setdefault((nr, arch, want, got), 0)
                names[(nr, arch, want, got)] += 1
            for (nr, arch, want, got), cnt in sorted(names.items())[:40]:
                print("   nr=%#x arch=%#x: runc %#x, husk %#x (%d inputs)" % (nr, arch, want, got, cnt))
            bad += len(diffs)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
