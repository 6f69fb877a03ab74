#!/usr/bin/python3
"""hack/bench/bench.py: container start-up benchmarks of husk vs runc vs crun (issue 8).

Run through hack/bench.sh (as root). Every scenario is measured for every runtime in the same
run, interleaved: each pass runs every runtime once, and the order alternates between passes
(forward, reversed). Samples are pooled over the passes; the table shows medians, the
inter-quartile range, mean ± sd, and husk ÷ crun ratios of the medians against issue 8's targets.

Timing: the driver spawns each runtime command with posix_spawn and waits with wait4 (the rusage
gives the peak RSS of `create`). Waiting for a container's exit uses a pidfd of its init, opened
right after `create` (no `state` polling).

crun 1.8.1 refuses this host's hybrid cgroups, so crun runs in a private mount namespace whose
/sys/fs/cgroup is a tmpfs holding bind mounts of the v1 hierarchies only (docs: host.md). The
driver makes that namespace once and setns()es into it around crun's samples; husk and runc run
in the host's mount namespace. Nothing on the host changes.

Every container gets its own bundle dir (config.json; the busybox rootfs is shared, read-only) and
the absolute cgroupsPath /husk-bench/<id>. Everything made is removed at exit, also on failure or
SIGINT/SIGTERM: containers (delete --force), cgroups, state roots, bundles.
"""
import argparse
import ctypes
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "runtime-tools-tests"))
import rtt  # noqa: E402  (busybox rootfs and `runc spec` template)

CLONE_NEWNS = 0x00020000
libc = ctypes.CDLL(None, use_errno=True)
CG_ROOT = "/sys/fs/cgroup"
CG_PARENT = "husk-bench"

# scenario -> (target ratio husk/crun, "le" or "ge", unit)
TARGETS = {
    "lifecycle": (0.8, "le", "ms"),
    "run": (0.8, "le", "ms"),
    "exec": (1.0, "le", "ms"),
    "list": (1.0, "le", "ms"),
    "throughput": (1.25, "ge", "/s"),
    "create_rss": (1.0, "le", "MiB"),
}
TITLES = {
    "lifecycle": "create → start → wait exit → delete",
    "run": "`run` (foreground)",
    "exec": "`exec /bin/true` into a running container",
    "list": "one binary call (`list`, empty root)",
    "throughput": "50 lifecycles, 2 in parallel",
    "create_rss": "peak RSS of `create`",
}


def die(msg):
    raise SystemExit(f"bench: {msg}")


class Runtime:
    def __init__(self, name, path, work, v1only):
        self.name, self.path, self.v1only = name, path, v1only
        self.root = os.path.join(work, "state", name)
        self.empty_root = os.path.join(work, "empty", name)
        os.makedirs(self.root)
        os.makedirs(self.empty_root)
        out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        self.cpu = {}  # scenario -> CPU seconds (user+sys) of the runtime's own processes
        self.version = " ".join(out.splitlines()[0].split()[1:3]) if out else "?"

    def argv(self, *args):
        return [self.path, "--root", self.root, *args]


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="husk-bench.", dir="/run")
        os.chmod(self.work, 0o755)
        self.seq = 0
        self.host_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.v1_ns = None
        self.cur_ns = "host"
        self.runtimes = []
        self.ids = {}  # id -> runtime, every container ever created (for cleanup)
        self.devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.maxrss = os.path.join(self.work, "maxrss")
        subprocess.run(["gcc", "-O2", "-static", "-o", self.maxrss, os.path.join(HERE, "maxrss.c")], check=True)
        self.rootfs = os.path.join(self.work, "rootfs")
        rtt.make_rootfs(self.rootfs, checker=None)

    # ---- mount namespaces ------------------------------------------------------------------
    def make_v1_ns(self):
        """A private mount namespace whose /sys/fs/cgroup holds only the v1 hierarchies."""
        if libc.unshare(CLONE_NEWNS) != 0:
            die(f"unshare: {os.strerror(ctypes.get_errno())}")
        script = r"""
            set -e
            mount --make-rprivate /
            stage=$(mktemp -d /tmp/husk-bench-stage.XXXXXX)
            mount -t tmpfs -o size=16k husk-bench-stage "$stage"
            hier=()
            for c in /sys/fs/cgroup/*; do
              n=$(basename "$c")
              [ "$n" = unified ] && continue
              [ -L "$c" ] && continue
              mountpoint -q "$c" || continue
              mkdir "$stage/$n"; mount --bind "$c" "$stage/$n"; hier+=("$n")
            done
            links=$(cd /sys/fs/cgroup && for l in *; do [ -L "$l" ] && echo "$l:$(readlink "$l")"; done || true)
            mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
            for n in "${hier[@]}"; do mkdir "/sys/fs/cgroup/$n"; mount --move "$stage/$n" "/sys/fs/cgroup/$n"; done
            for l in $links; do ln -s "${l#*:}" "/sys/fs/cgroup/${l%%:*}"; done
            umount "$stage"; rmdir "$stage"
        """
        subprocess.run(["/bin/bash", "-c", script], check=True)
        self.v1_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.enter("host")

    def enter(self, which):
        if which == self.cur_ns:
            return
        fd = self.v1_ns if which == "v1" else self.host_ns
        if libc.setns(fd, CLONE_NEWNS) != 0:
            die(f"setns: {os.strerror(ctypes.get_errno())}")
        self.cur_ns = which

    def enter_for(self, rt):
        self.enter("v1" if rt.v1only else "host")

    # ---- processes ---------------------------------------------------------------------------
    def spawn(self, argv):
        return os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, self.devnull, 0), (os.POSIX_SPAWN_DUP2, self.devnull, 1)])

    def call(self, argv, check=True):
        """Run argv; returns (seconds, rusage)."""
        t0 = time.perf_counter()
        pid = self.spawn(argv)
        _, status, ru = os.wait4(pid, 0)
        dt = time.perf_counter() - t0
        if check and os.waitstatus_to_exitcode(status) != 0:
            die(f"{' '.join(argv)} failed with {os.waitstatus_to_exitcode(status)}")
        return dt, ru

    # ---- bundles -----------------------------------------------------------------------------
    def new_id(self, rt, tag):
        self.seq += 1
        cid = f"hb-{rt.name}-{tag}-{os.getpid()}-{self.seq}"
        self.ids[cid] = rt
        return cid

    def bundle(self, cid, args=("/bin/true",), resources=None):
        b = os.path.join(self.work, "bundles", cid)
        os.makedirs(b)
        c = rtt.make_config(list(args), cgroups_path=f"/{CG_PARENT}/{cid}")
        c["root"] = {"path": self.rootfs, "readonly": True}
        if resources:
            c["linux"]["resources"] = resources
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(c, f)
        return b

    def drop_bundle(self, cid):
        shutil.rmtree(os.path.join(self.work, "bundles", cid), ignore_errors=True)

    # ---- scenarios: each returns one sample ---------------------------------------------------
    def lifecycle(self, rt, tag="lc"):
        """create → start → wait for exit (pidfd) → delete; returns (seconds, create's rusage)."""
        cid = self.new_id(rt, tag)
        b = self.bundle(cid)
        pidfile = os.path.join(b, "pid")
        t0 = time.perf_counter()
        _, ru = self.call(rt.argv("create", "--bundle", b, "--pid-file", pidfile, cid))
        with open(pidfile) as f:
            pfd = os.pidfd_open(int(f.read()))
        _, ru2 = self.call(rt.argv("start", cid))
        select.select([pfd], [], [])
        os.close(pfd)
        _, ru3 = self.call(rt.argv("delete", cid))
        dt = time.perf_counter() - t0
        rt.cpu.setdefault("lifecycle", []).append(cpu(ru) + cpu(ru2) + cpu(ru3))
        del self.ids[cid]
        self.drop_bundle(cid)
        return dt, ru

    def create_rss(self, rt):
        """Peak RSS (KiB) of `create` and the processes it waited for, through the static helper."""
        cid = self.new_id(rt, "rss")
        b = self.bundle(cid)
        r, w = os.pipe()
        pid = os.posix_spawn(self.maxrss, [self.maxrss, *rt.argv("create", "--bundle", b, cid)], os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, self.devnull, 0),
                                           (os.POSIX_SPAWN_DUP2, self.devnull, 1),
                                           (os.POSIX_SPAWN_DUP2, w, 3)])
        os.close(w)
        os.waitpid(pid, 0)
        with os.fdopen(r) as f:
            kib, status = map(int, f.readline().split())
        if status != 0:
            die(f"{rt.name} create failed ({status})")
        self.call(rt.argv("delete", "--force", cid))
        del self.ids[cid]
        self.drop_bundle(cid)
        return kib

    def run_fg(self, rt):
        cid = self.new_id(rt, "run")
        b = self.bundle(cid)
        dt, ru = self.call(rt.argv("run", "--bundle", b, cid))
        rt.cpu.setdefault("run", []).append(cpu(ru))
        if os.path.exists(os.path.join(rt.root, cid)):
            self.call(rt.argv("delete", "--force", cid), check=False)
        else:
            del self.ids[cid]
        self.drop_bundle(cid)
        return dt

    def exec_true(self, rt):
        dt, ru = self.call(rt.argv("exec", rt.sleeper, "/bin/true"))
        rt.cpu.setdefault("exec", []).append(cpu(ru))
        return dt

    def list_empty(self, rt):
        dt, ru = self.call([rt.path, "--root", rt.empty_root, "list"])
        rt.cpu.setdefault("list", []).append(cpu(ru))
        return dt

    def throughput(self, rt, n=50, par=2):
        t0 = time.perf_counter()
        kids = []
        for w in range(par):
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    for i in range(w, n, par):
                        self.seq = 100000 * (w + 1) + i
                        self.lifecycle(rt, tag=f"tp{w}")
                except BaseException as e:  # noqa: BLE001
                    print(f"bench: throughput worker: {e}", file=sys.stderr)
                    code = 1
                os._exit(code)
            kids.append(pid)
        bad = False
        for pid in kids:
            _, st = os.waitpid(pid, 0)
            bad |= st != 0
        dt = time.perf_counter() - t0
        if bad:
            die(f"{rt.name}: a throughput worker failed")
        return n / dt

    def start_check(self, rt, resources, label):
        self.enter_for(rt)
        cid = self.new_id(rt, "chk")
        b = self.bundle(cid, resources=resources)
        p = subprocess.run(rt.argv("run", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        subprocess.run(rt.argv("delete", "--force", cid), capture_output=True)
        if not os.path.exists(os.path.join(rt.root, cid)):
            del self.ids[cid]
        self.drop_bundle(cid)
        rmdir_cgroups(cid)
        err = (p.stderr.strip().splitlines() or [""])[-1][:160]
        return p.returncode == 0, err

    # ---- driver ------------------------------------------------------------------------------
    def passes(self, n, fn):
        """Run fn(rt) n times per runtime, interleaved, order alternating; {name: [samples]}."""
        out = {rt.name: [] for rt in self.runtimes}
        for i in range(n):
            order = self.runtimes if i % 2 == 0 else list(reversed(self.runtimes))
            for rt in order:
                self.enter_for(rt)
                out[rt.name].append(fn(rt))
        self.enter("host")
        return out

    def start_sleepers(self):
        for rt in self.runtimes:
            self.enter_for(rt)
            cid = self.new_id(rt, "sleep")
            b = self.bundle(cid, args=("/bin/sleep", "100000"))
            self.call(rt.argv("run", "--detach", "--bundle", b, cid))
            rt.sleeper = cid
        self.enter("host")

    def cleanup(self):
        for cid, rt in list(self.ids.items()):
            try:
                self.enter_for(rt)
            except SystemExit:
                pass
            subprocess.run(rt.argv("delete", "--force", cid), capture_output=True, timeout=30)
            rmdir_cgroups(cid)
        for rt in self.runtimes:  # anything a forked throughput worker left behind
            try:
                self.enter_for(rt)
                left = os.listdir(rt.root)
            except (SystemExit, OSError):
                continue
            for cid in left:
                subprocess.run(rt.argv("delete", "--force", cid), capture_output=True, timeout=30)
        try:
            self.enter("host")
        except SystemExit:
            pass
        rmdir_cgroups(None)
        shutil.rmtree(self.work, ignore_errors=True)


def cpu(ru):
    return ru.ru_utime + ru.ru_stime


def cgroup_hierarchies():
    out = []
    for n in sorted(os.listdir(CG_ROOT)):
        p = os.path.join(CG_ROOT, n)
        if not os.path.islink(p) and os.path.isdir(p) and os.path.ismount(p):
            out.append(p)
    return out


def rmdir_cgroups(cid):
    """Remove /husk-bench/<cid> (or, with None, all of /husk-bench) from every hierarchy."""
    for h in cgroup_hierarchies():
        top = os.path.join(h, CG_PARENT) if cid is None else os.path.join(h, CG_PARENT, cid)
        if not os.path.isdir(top):
            continue
        for d, _, _ in sorted(os.walk(top), key=lambda x: -x[0].count("/")):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def summary(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"n": len(xs), "median": statistics.median(xs), "q1": q[0], "q3": q[2],
            "mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": xs[0], "max": xs[-1]}


def fmt(v, unit):
    return f"{v:.1f}" if unit == "/s" else (f"{v:.2f}")


def render(results, runtimes, meta, checks):
    names = [rt.name for rt in runtimes]
    lines = []
    head = "| scenario | " + " | ".join(f"{n} median [IQR] (mean ± sd)" for n in names)
    head += " | husk ÷ crun | target | met |"
    lines.append(head)
    lines.append("|---" * (len(names) + 4) + "|")
    verdicts = {}
    for sc, (target, how, unit) in TARGETS.items():
        if sc not in results:
            continue
        r = results[sc]
        cells = []
        for n in names:
            s = r[n]
            cells.append(f"{fmt(s['median'], unit)} {unit} [{fmt(s['q1'], unit)}–{fmt(s['q3'], unit)}]"
                         f" ({fmt(s['mean'], unit)} ± {fmt(s['sd'], unit)})")
        ratio = ok = None
        if "husk" in r and "crun" in r:
            ratio = r["husk"]["median"] / r["crun"]["median"]
            ok = ratio <= target if how == "le" else ratio >= target
            verdicts[sc] = (ratio, ok)
        rs = f"{ratio:.2f}" if ratio is not None else "–"
        mark = "–" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {TITLES[sc]} | " + " | ".join(cells) +
                     f" | {rs} | {'≤' if how == 'le' else '≥'} {target} | {mark} |")
    lines.append("")
    if checks:
        lines.append("| start check | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for label, res in checks.items():
            cells = []
            for n in names:
                ok, err = res[n]
                cells.append("starts" if ok else f"fails: {err}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines), verdicts


def render_cpu(cpu_res, runtimes):
    names = [rt.name for rt in runtimes]
    lines = ["| CPU time (user+sys) of the runtime's processes | " + " | ".join(
        f"{n} median [IQR]" for n in names) + " | husk ÷ crun |", "|---" * (len(names) + 2) + "|"]
    for sc, r in cpu_res.items():
        cells = [f"{r[n]['median']:.2f} ms [{r[n]['q1']:.2f}–{r[n]['q3']:.2f}]" for n in names]
        ratio = f"{r['husk']['median'] / r['crun']['median']:.2f}" if "husk" in r and "crun" in r else "–"
        lines.append(f"| {TITLES[sc]} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", action="append", default=[],
                    help="NAME=PATH[:v1] (repeatable; default husk, runc, crun)")
    ap.add_argument("--passes", type=int, default=int(os.environ.get("PASSES", "30")))
    ap.add_argument("--tp-passes", type=int, default=int(os.environ.get("TP_PASSES", "3")))
    ap.add_argument("--only", default=os.environ.get("ONLY", ""),
                    help="comma-separated scenarios: lifecycle,run,exec,list,throughput,create_rss,checks")
    ap.add_argument("--json", help="write raw samples and summaries here")
    ap.add_argument("--md", help="write the markdown table here")
    args = ap.parse_args()
    if os.getuid() != 0:
        die("must run as root")
    specs = args.runtime or [f"husk={os.path.join(REPO, 'target/release/husk')}",
                             "runc=/usr/sbin/runc", "crun=/usr/bin/crun:v1"]
    only = set(filter(None, args.only.split(","))) or set(TARGETS) | {"checks"}

    bench = Bench(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        bench.make_v1_ns()
        for s in specs:
            name, path = s.split("=", 1)
            v1 = path.endswith(":v1")
            path = path[:-3] if v1 else path
            if not os.access(path, os.X_OK):
                die(f"{name}: no executable {path}")
            bench.runtimes.append(Runtime(name, path, bench.work, v1))
        raw, results = {}, {}

        cpu_res = {}

        def record(sc, samples, scale):
            n_s = len(next(iter(samples.values())))
            cs = {rt.name: rt.cpu[sc][-n_s:] for rt in bench.runtimes if sc in rt.cpu}
            if cs:
                cpu_res[sc] = {n: summary([x * 1000 for x in v]) for n, v in cs.items()}
            raw[sc] = samples
            results[sc] = {n: summary([x * scale for x in v]) for n, v in samples.items()}
            r = results[sc]
            print(f"{sc:11} " + "  ".join(f"{n} {r[n]['median']:.3f}" for n in r), file=sys.stderr)

        # warm-up: page cache, dentries, first cgroup creation
        bench.passes(3, lambda rt: bench.lifecycle(rt))
        if "lifecycle" in only:
            s = bench.passes(args.passes, lambda rt: bench.lifecycle(rt))
            record("lifecycle", {n: [x[0] for x in v] for n, v in s.items()}, 1000)
        if "create_rss" in only:
            record("create_rss", bench.passes(max(5, args.passes // 3), bench.create_rss), 1 / 1024)
        if "run" in only:
            record("run", bench.passes(args.passes, bench.run_fg), 1000)
        if "exec" in only:
            bench.start_sleepers()
            bench.passes(2, bench.exec_true)
            record("exec", bench.passes(args.passes, bench.exec_true), 1000)
        if "list" in only:
            bench.passes(2, bench.list_empty)
            record("list", bench.passes(args.passes * 2, bench.list_empty), 1000)
        if "throughput" in only:
            record("throughput", bench.passes(args.tp_passes, bench.throughput), 1)
        checks = {}
        if "checks" in only:
            for label, res in (("memory.limit = 512 KiB", {"memory": {"limit": 524288}}),
                               ("pids.max = 1", {"pids": {"limit": 1}})):
                checks[label] = {rt.name: bench.start_check(rt, res, label) for rt in bench.runtimes}
            bench.enter("host")
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "passes": args.passes,
            "versions": {rt.name: rt.version for rt in bench.runtimes},
        }
        table, verdicts = render(results, bench.runtimes, meta, checks)
        table += render_cpu(cpu_res, bench.runtimes)
        print(table)
        if args.md:
            with open(args.md, "w") as f:
                f.write(table + "\n")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "summary": results, "raw": raw, "cpu": cpu_res,
                           "checks": checks, "verdicts": verdicts}, f, indent=1)
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
