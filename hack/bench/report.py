#!/usr/bin/python3
"""hack/bench/report.py RES [--doc DOC] [--json OUT] [--chart PNG]: the report of hack/bench.sh.

RES holds what the run made: RES/<scenario>/<runtime>/<pass>.json (hyperfine's --export-json),
RES/create_rss/<runtime>.txt (KiB per line), RES/checks/<check>-<runtime>.txt (exit code, last
stderr line) and RES/meta.json. Prints the tables; with --doc, puts them (and the machine, the
versions, the method's parameters) into DOC between the BENCH markers, leaving the rest alone;
--json writes summaries and raw samples; --chart draws the husk ÷ crun (and runc ÷ crun) ratios
with gnuplot, as "lower is better" throughout (throughput as time per container)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BEGIN, END = "<!-- BENCH:BEGIN (hack/bench.sh writes this part) -->", "<!-- BENCH:END -->"
# scenario -> (title, unit, target husk/crun, "le"/"ge")
SCENARIOS = {
    "lifecycle": ("create → start → wait exit → delete", "ms", 0.8, "le"),
    "run": ("`run` (foreground)", "ms", 0.8, "le"),
    "exec": ("`exec /bin/true` into a running container", "ms", 1.0, "le"),
    "list": ("one binary call (`list`, empty root)", "ms", 1.0, "le"),
    "throughput": ("50 lifecycles, 2 in parallel", "/s", 1.25, "ge"),
    "create_rss": ("peak RSS of `create`", "MiB", 1.0, "le"),
}
CHECKS = {"mem512k": "memory.limit = 512 KiB", "pids1": "pids.max = 1"}
# Issue 23: real callers' configs and scale.
REAL = {"podman": "podman 4.3 (`podman run --rm busybox true`)", "cri": "containerd CRI (pod container)"}
STEPS = ["create", "start", "wait exit", "delete"]
SCALE_OPS = ["list", "state", "ps", "exec", "kill", "create"]
# (key, title, unit, target husk/crun, how)
TARGETS23 = [
    ("real_podman_lifecycle", "podman config: lifecycle", "ms", 0.5, "le"),
    ("exec_podman", "podman config: exec", "ms", 0.5, "le"),
    ("scale_list_max", "`list` with the most containers", "ms", 0.5, "le"),
    ("tp_podman_w8", "podman config: containers/s, 8 workers", "/s", 2.0, "ge"),
    ("rss_podman", "podman config: peak RSS of `create`", "MiB", 1.0, "le"),
]


def summary(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"n": len(xs), "median": statistics.median(xs), "q1": q[0], "q3": q[2],
            "mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": xs[0], "max": xs[-1]}


def load(res, names):
    """{scenario: {runtime: [samples in the scenario's unit]}}, {scenario: {runtime: cpu ms}}."""
    samples, cpu = {}, {}
    for sc in SCENARIOS:
        d = os.path.join(res, sc)
        if not os.path.isdir(d):
            continue
        for n in names:
            if sc == "create_rss":
                p = os.path.join(d, n + ".txt")
                if os.path.exists(p):
                    samples.setdefault(sc, {})[n] = [int(x) / 1024 for x in open(p).read().split()]
                continue
            rd = os.path.join(d, n)
            if not os.path.isdir(rd):
                continue
            xs, cpus = [], []
            for f in sorted(os.listdir(rd)):
                r = json.load(open(os.path.join(rd, f)))["results"][0]
                xs += r["times"]
                cpus += [r["user"] + r["system"]] * len(r["times"])
            if sc == "throughput":
                samples.setdefault(sc, {})[n] = [50 / t for t in xs]
            else:
                samples.setdefault(sc, {})[n] = [t * 1000 for t in xs]
                cpu.setdefault(sc, {})[n] = statistics.fmean(cpus) * 1000
    return samples, cpu


def fmt(v, unit):
    return f"{v:.1f}" if unit == "/s" else f"{v:.2f}"


def tables(samples, cpu, checks, names):
    out, verdicts, summ = [], {}, {}
    out.append("| scenario | " + " | ".join(f"{n}: median [IQR] (mean ± sd)" for n in names)
               + " | husk ÷ crun | target | met |")
    out.append("|---" * (len(names) + 4) + "|")
    for sc, (title, unit, target, how) in SCENARIOS.items():
        if sc not in samples:
            continue
        s = {n: summary(v) for n, v in samples[sc].items()}
        summ[sc] = s
        cells = [f"{fmt(s[n]['median'], unit)} {unit} [{fmt(s[n]['q1'], unit)}–{fmt(s[n]['q3'], unit)}] "
                 f"({fmt(s[n]['mean'], unit)} ± {fmt(s[n]['sd'], unit)})" if n in s else "–" for n in names]
        ratio = ok = None
        if "husk" in s and "crun" in s:
            ratio = s["husk"]["median"] / s["crun"]["median"]
            ok = ratio <= target if how == "le" else ratio >= target
            verdicts[sc] = {"ratio": ratio, "target": target, "how": how, "met": ok}
        out.append(f"| {title} | " + " | ".join(cells) + f" | {'–' if ratio is None else f'{ratio:.2f}'} | "
                   f"{'≤' if how == 'le' else '≥'} {target} | {'–' if ok is None else ('yes' if ok else '**no**')} |")
    out.append("")
    if checks:
        out.append("| start check | " + " | ".join(names) + " |")
        out.append("|---" * (len(names) + 1) + "|")
        for c, label in CHECKS.items():
            if c not in checks:
                continue
            cells = []
            for n in names:
                rc, err = checks[c].get(n, ("?", ""))
                cells.append("starts" if rc == "0" else f"fails ({rc}): {err.replace('|', '/')}")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    if cpu:
        out.append("| mean CPU time (user + sys, hyperfine) | " + " | ".join(names) + " | husk ÷ crun |")
        out.append("|---" * (len(names) + 2) + "|")
        for sc, r in cpu.items():
            ratio = f"{r['husk'] / r['crun']:.2f}" if "husk" in r and "crun" in r and r["crun"] else "–"
            out.append(f"| {SCENARIOS[sc][0]} | " + " | ".join(f"{r[n]:.2f} ms" if n in r else "–" for n in names)
                       + f" | {ratio} |")
        out.append("")
    out += raw_block(samples, names)
    return "\n".join(out), verdicts, summ


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def cell(xs, unit="ms"):
    if not xs:
        return "–"
    m = summary(xs)
    return f"{fmt(m['median'], unit)} [{fmt(m['q1'], unit)}–{fmt(m['q3'], unit)}]"


def ratio_s(a, b):
    return f"{a / b:.2f}" if a == a and b == b and b else "–"


def load23(res, names):
    """The issue 23 results: {"real": {cfg: {rt: [[create, start, wait, delete], ...]}},
    "hf": {scenario: {rt: [samples]}} (exec_*, tp_*), "rss": {rt: [MiB]}, "scale": {level: {op:
    {rt: [ms]}}}, "objects": {rt: {level: {...}}}, "meminfo": {...}, "phases": {...}, "load": [...]}."""
    out = {"real": {}, "hf": {}, "rss": {}, "scale": {}, "scale_cpu": {}, "objects": {}, "meminfo": {}, "phases": {},
           "load": [], "verify": []}
    for cfg in REAL:
        d = os.path.join(res, "real", cfg)
        for n in names:
            p = os.path.join(d, n + ".txt")
            if os.path.exists(p):
                out["real"].setdefault(cfg, {})[n] = [list(map(float, ln.split())) for ln in open(p) if ln.strip()]
    tp_n = int(open(os.path.join(res, "tp_n.txt")).read()) if os.path.exists(os.path.join(res, "tp_n.txt")) else 0
    for sc in sorted(os.listdir(res)):
        if not (sc.startswith("exec_") or sc.startswith("tp_")):
            continue
        for n in names:
            rd = os.path.join(res, sc, n)
            if not os.path.isdir(rd):
                continue
            xs = []
            for f in sorted(os.listdir(rd)):
                xs += json.load(open(os.path.join(rd, f)))["results"][0]["times"]
            out["hf"].setdefault(sc, {})[n] = [tp_n / t for t in xs] if sc.startswith("tp_") else [t * 1000 for t in xs]
    for n in names:
        p = os.path.join(res, "rss_podman", n + ".txt")
        if os.path.exists(p):
            out["rss"][n] = [int(x) / 1024 for x in open(p).read().split()]
    sd = os.path.join(res, "scale")
    if os.path.isdir(sd):
        for lvl in os.listdir(sd):
            if not lvl.isdigit():
                continue
            for op in SCALE_OPS:
                for n in names:
                    p = os.path.join(sd, lvl, op, n + ".txt")
                    if os.path.exists(p):
                        rows = [ln.split() for ln in open(p) if ln.strip()]
                        out["scale"].setdefault(int(lvl), {}).setdefault(op, {})[n] = [float(x[0]) for x in rows]
                        if all(len(x) > 1 for x in rows):
                            out["scale_cpu"].setdefault(int(lvl), {}).setdefault(op, {})[n] = \
                                [float(x[1]) for x in rows]
        od = os.path.join(sd, "objects")
        for f in sorted(os.listdir(od)) if os.path.isdir(od) else []:
            if f.endswith(".json"):
                o = json.load(open(os.path.join(od, f)))
                out["objects"].setdefault(o["runtime"], {})[o["level"]] = o
            elif f.startswith("meminfo-"):
                _, n, lvl, when = f[:-4].split("-")
                words = open(os.path.join(od, f)).read().split()
                out["meminfo"].setdefault(n, {}).setdefault(int(lvl), {})[when] = \
                    {words[i].rstrip(":"): int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    pd = os.path.join(res, "phases")
    for f in sorted(os.listdir(pd)) if os.path.isdir(pd) else []:
        for ln in open(os.path.join(pd, f)):
            if "phase=" not in ln:
                continue
            msg = ln.split('msg="', 1)[1].split('"', 1)[0]
            what, ph, ms = msg.split()
            out["phases"].setdefault((what, ph.split("=", 1)[1]), []).append(float(ms.split("=", 1)[1]))
    lp = os.path.join(res, "load.txt")
    if os.path.exists(lp):
        out["load"] = [ln.split() for ln in open(lp) if ln.strip()]
    vd = os.path.join(res, "verify")
    if os.path.isdir(vd):
        out["verify"] = sorted(f[:-4] for f in os.listdir(vd))
    return out


PHASE_NOTES = {
    ("create", "config"): "read + validate config.json",
    ("create", "plan"): "namespaces, mounts, process, seccomp (compile cache)",
    ("create", "state-dir"): "mkdir, flock, first state.json",
    ("create", "cgroup"): "cgroup dirs in each v1 hierarchy, limits, device rules",
    ("spawn", "clone"): "clone of the init with its new namespaces",
    ("spawn", "cgroup-add-task"): "init into its cgroups (cgroup.procs); the init meanwhile mounts",
    ("spawn", "init-setup"): "rest of the init's set-up after that, up to Ready",
}


def tables23(r, names):
    """Markdown for the issue 23 results, the target verdicts and the scale plot's data."""
    out, verdicts = [], {}
    others = [n for n in names]

    def verdict(key, hv, cv):
        for k, title, unit, target, how in TARGETS23:
            if k == key and hv == hv and cv == cv and cv:
                rr = hv / cv
                verdicts[key] = {"title": title, "unit": unit, "husk": hv, "crun": cv, "ratio": rr, "target": target,
                                 "how": how, "met": rr <= target if how == "le" else rr >= target}

    if r["verify"]:
        out.append("Checked before timing (each runtime ran the config and printed `bench-ran` and its "
                   "cgroup `/husk-bench/<id>`): " + ", ".join(f"`{v}`" for v in r["verify"]) + ".")
        out.append("")
    if r["real"]:
        out.append("#### Real callers' configs: lifecycle by step (wall ms, median [IQR])")
        out.append("")
        out.append("| config | step | " + " | ".join(others) + " | husk ÷ crun |")
        out.append("|---" * (len(others) + 3) + "|")
        for cfg, per in r["real"].items():
            for i, st in enumerate(STEPS + ["lifecycle (sum)"]):
                col = {n: [sum(x) if i == 4 else x[i] for x in per[n]] for n in per}
                hv, cv = med(col.get("husk", [])), med(col.get("crun", []))
                out.append(f"| {cfg} | {st} | " + " | ".join(cell(col.get(n, [])) for n in others)
                           + f" | {ratio_s(hv, cv)} |")
                if i == 4 and cfg == "podman":
                    verdict("real_podman_lifecycle", hv, cv)
        out.append("")
    if r["hf"] or r["rss"]:
        out.append("#### Real callers' configs: exec, throughput, create RSS (median [IQR])")
        out.append("")
        out.append("| scenario | " + " | ".join(others) + " | husk ÷ crun |")
        out.append("|---" * (len(others) + 2) + "|")
        for sc, per in r["hf"].items():
            unit = "/s" if sc.startswith("tp_") else "ms"
            title = (f"`exec /bin/true`, {sc[5:]} config" if sc.startswith("exec_")
                     else f"containers/s, podman config, {sc.split('_w')[1]} workers")
            hv, cv = med(per.get("husk", [])), med(per.get("crun", []))
            out.append(f"| {title} ({unit}) | " + " | ".join(cell(per.get(n, []), unit) for n in others)
                       + f" | {ratio_s(hv, cv)} |")
            verdict(sc, hv, cv)
        if r["rss"]:
            hv, cv = med(r["rss"].get("husk", [])), med(r["rss"].get("crun", []))
            out.append("| peak RSS of `create`, podman config (MiB) | "
                       + " | ".join(cell(r["rss"].get(n, []), "MiB") for n in others) + f" | {ratio_s(hv, cv)} |")
            verdict("rss_podman", hv, cv)
        out.append("")
    if r["scale"]:
        levels = sorted(r["scale"])
        out.append("#### Scale: latency with N running containers under one `--root` (wall ms, median [IQR])")
        out.append("")
        out.append("| operation | N | " + " | ".join(others) + " | husk ÷ crun |")
        out.append("|---" * (len(others) + 3) + "|")
        for op in SCALE_OPS:
            for lvl in levels:
                per = r["scale"][lvl].get(op, {})
                hv, cv = med(per.get("husk", [])), med(per.get("crun", []))
                out.append(f"| {op} | {lvl} | " + " | ".join(cell(per.get(n, [])) for n in others)
                           + f" | {ratio_s(hv, cv)} |")
                if op == "list" and lvl == levels[-1]:
                    verdict("scale_list_max", hv, cv)
        out.append("")
        if r["scale_cpu"]:
            out.append("CPU time of the same calls (user + system of the runtime and what it waited for, wait4; "
                       "ms, median), which the machine's load moves less than the wall time:")
            out.append("")
            out.append("| operation | N | " + " | ".join(others) + " | husk ÷ crun |")
            out.append("|---" * (len(others) + 3) + "|")
            for op in SCALE_OPS:
                for lvl in levels:
                    per = r["scale_cpu"].get(lvl, {}).get(op, {})
                    hv, cv = med(per.get("husk", [])), med(per.get("crun", []))
                    out.append(f"| {op} | {lvl} | " + " | ".join(f"{med(per[n]):.2f}" if per.get(n) else "–"
                                                              for n in others) + f" | {ratio_s(hv, cv)} |")
            out.append("")
        if len(levels) >= 3:
            a, b, c = levels[0], levels[1], levels[-1]
            out.append(f"Growth: cost per added container (µs) from {a} to {b} and from {b} to {c} containers "
                       "(median differences; about equal = linear, the second much larger = worse than linear; "
                       "within ~±20 µs is noise for the flat operations):")
            out.append("")
            out.append("| operation | " + " | ".join(f"{n}: {a}→{b} / {b}→{c}" for n in others) + " |")
            out.append("|---" * (len(others) + 1) + "|")
            for op in SCALE_OPS:
                cells = []
                for n in others:
                    m = [med(r["scale"][lv].get(op, {}).get(n, [])) for lv in (a, b, c)]
                    s1 = (m[1] - m[0]) / (b - a) * 1000
                    s2 = (m[2] - m[1]) / (c - b) * 1000
                    cells.append(f"{s1:.1f} / {s2:.1f}")
                out.append(f"| {op} | " + " | ".join(cells) + " |")
            out.append("")
        out.append("![latency against the number of containers](bench-scale.png)")
        out.append("")
    if r["objects"]:
        top = max(max(v) for v in r["objects"].values())
        out.append(f"#### Host side per container ({top} running podman-config containers per runtime)")
        out.append("")
        rows = [("state dir, apparent bytes", "state_bytes", "{:.0f}"), ("state dir, KiB allocated", "state_kib", "{:.1f}"),
                ("processes in its cgroup", "procs", "{:.2f}"), ("open fds of the init", "fds", "{:.1f}"),
                ("namespaces not shared with the host", "namespaces", "{:.1f}"),
                ("mounts in its mount namespace", "mounts", "{:.1f}"),
                ("cgroup directories made", "cgroup_dirs", "{:.1f}"), ("RSS of the init (KiB)", "rss_kib", "{:.0f}")]
        out.append("| per container | " + " | ".join(others) + " |")
        out.append("|---" * (len(others) + 1) + "|")
        for label, k, f in rows:
            out.append(f"| {label} | " + " | ".join(f.format(r["objects"][n][top][k]) if n in r["objects"]
                                                   and top in r["objects"][n] else "–" for n in others) + " |")
        # Kernel memory: the step to the top level, per added container.
        levels = sorted({lv for per in r["meminfo"].values() for lv in per})
        if len(levels) >= 2:
            lo, hi = levels[-2], levels[-1]
            cells = []
            for n in others:
                mi = r["meminfo"].get(n, {}).get(hi, {})
                if "before" in mi and "after" in mi:
                    keys = ("Slab", "KernelStack", "PageTables", "Percpu")
                    dk = sum(mi["after"].get(k, 0) - mi["before"].get(k, 0) for k in keys)
                    cells.append(f"{dk / (hi - lo):.0f}")
                else:
                    cells.append("–")
            out.append(f"| kernel memory (Slab + KernelStack + PageTables + Percpu), KiB per container added "
                       f"{lo}→{hi} | " + " | ".join(cells) + " |")
        out.append("")
    if r["phases"]:
        out.append("#### husk's phases on the podman config (`--debug`, wall ms)")
        out.append("")
        out.append("| command | phase | median | min | n | what |")
        out.append("|---|---|---|---|---|---|")
        for (what, ph), xs in r["phases"].items():
            out.append(f"| {what} | {ph} | {med(xs):.3f} | {min(xs):.3f} | {len(xs)} | "
                       f"{PHASE_NOTES.get((what, ph), '')} |")
        out.append("")
    if verdicts:
        out.append("#### Issue 23 targets (medians, same run)")
        out.append("")
        out.append("| target | husk | crun | husk ÷ crun | target | met |")
        out.append("|---|---|---|---|---|---|")
        for k, title, unit, target, how in TARGETS23:
            v = verdicts.get(k)
            if v:
                out.append(f"| {title} | {fmt(v['husk'], unit)} {unit} | {fmt(v['crun'], unit)} {unit} | "
                           f"{v['ratio']:.2f} | {'≤' if how == 'le' else '≥'} {target} | "
                           f"{'yes' if v['met'] else '**no**'} |")
        out.append("")
    if r["load"]:
        out.append("Load average (1, 5, 15 min) at the start of each scenario: "
                   + "; ".join(f"{x[0]} {x[1]} UTC: {' '.join(x[2:])}" for x in r["load"]) + ".")
        out.append("")
    return out, verdicts


def raw23(r, names):
    out = ["<details><summary>Raw samples of the issue 23 scenarios</summary>", ""]
    for cfg, per in r["real"].items():
        for n in names:
            if n in per:
                out.append(f"- real {cfg}, {n} (create start wait delete, ms): "
                           + " | ".join(" ".join(f"{v:.2f}" for v in x) for x in per[n]))
    for sc, per in r["hf"].items():
        unit = "/s" if sc.startswith("tp_") else "ms"
        for n in names:
            if n in per:
                out.append(f"- {sc}, {n} ({unit}): " + " ".join(fmt(v, unit) for v in per[n]))
    for n in names:
        if n in r["rss"]:
            out.append(f"- rss_podman, {n} (MiB): " + " ".join(f"{v:.2f}" for v in r["rss"][n]))
    for lvl in sorted(r["scale"]):
        for op in SCALE_OPS:
            for n in names:
                xs = r["scale"][lvl].get(op, {}).get(n)
                if xs:
                    out.append(f"- scale {lvl} {op}, {n} (wall ms): " + " ".join(f"{v:.2f}" for v in xs))
                cs = r["scale_cpu"].get(lvl, {}).get(op, {}).get(n)
                if cs:
                    out.append(f"- scale {lvl} {op}, {n} (CPU ms): " + " ".join(f"{v:.2f}" for v in cs))
    out += ["", "</details>", ""]
    return out


def scale_chart(path, r, names):
    """Latency against the container count, one panel per operation, log-log."""
    levels = sorted(r["scale"])
    if not levels:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for op in SCALE_OPS:
            for lvl in levels:
                per = r["scale"][lvl].get(op, {})
                f.write(f"{lvl} " + " ".join(f"{med(per.get(n, [])):.4f}" for n in names) + "\n")
            f.write("\n\n")
        dat = f.name
    panels = []
    for i, op in enumerate(SCALE_OPS):
        series = ", ".join(f"'{dat}' index {i} using 1:{j + 2} with linespoints lw 2 pt 7 title '{n}'"
                           for j, n in enumerate(names))
        panels.append(f"set title '{op}'\nplot {series}")
    script = f"""
set terminal pngcairo size 1200,700 font 'DejaVu Sans,10'
set output '{path}'
set multiplot layout 2,3 title 'Latency (median wall ms) against running containers under one --root'
set logscale xy
set xrange [{max(levels[0] * 0.7, 0.5)}:{levels[-1] * 1.4}]
set xlabel 'containers'
set ylabel 'ms'
set grid
set key top left
{chr(10).join(panels)}
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        os.unlink(dat)


def raw_block(samples, names):
    """Every sample, per scenario and runtime, in pass order (folded away in the rendered doc)."""
    out = ["<details><summary>Raw samples (per run, in pass order)</summary>", ""]
    for sc, per in samples.items():
        unit = SCENARIOS[sc][1]
        for n in names:
            if n in per:
                out.append(f"- {sc}, {n} ({unit}): " + " ".join(fmt(v, unit) for v in per[n]))
    out += ["", "</details>", ""]
    return out


def chart(path, summ, names):
    """Ratios to crun of the medians, lower is better (throughput inverted), with the targets."""
    rows = []
    for sc, (title, unit, target, how) in SCENARIOS.items():
        s = summ.get(sc)
        if not s or "crun" not in s:
            continue
        def ratio(n):
            if n not in s:
                return float("nan")
            r = s[n]["median"] / s["crun"]["median"]
            return 1 / r if how == "ge" else r
        tgt = 1 / target if how == "ge" else target
        label = {"lifecycle": "lifecycle", "run": "run", "exec": "exec", "list": "list",
                 "throughput": "time/container\\n(50, 2 parallel)", "create_rss": "create RSS"}[sc]
        rows.append((label, [ratio(n) for n in names if n != "crun"], tgt))
    others = [n for n in names if n != "crun"]
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for label, rs, tgt in rows:
            f.write(f'"{label}" ' + " ".join(f"{r:.4f}" for r in rs) + f" {tgt}\n")
        dat = f.name
    tcol = len(others) + 2
    # clustered histogram: bar k of a cluster at x = i + (k - (n - 1) / 2) / (n + gap), gap 1
    husk_x = f"($0 + {(0 - (len(others) - 1) / 2) / (len(others) + 1):.4f})"
    series = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{n} ÷ crun'" for i, n in enumerate(others))
    script = f"""
set terminal pngcairo size 960,500 font 'DejaVu Sans,10'
set bmargin 4
set output '{path}'
set title 'Start-up cost relative to crun 1.8.1 (median; lower is better; 1.0 = crun)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set ylabel 'ratio to crun'
set grid ytics
set key top left
plot {series}, \\
     '{dat}' using {husk_x}:{tcol} with points pt 7 ps 1.5 lc rgb 'black' title 'target (husk)', \\
     1 with lines dt 2 lc rgb 'gray40' notitle
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        os.unlink(dat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("res")
    ap.add_argument("--doc")
    ap.add_argument("--json")
    ap.add_argument("--chart")
    ap.add_argument("--scale-chart")
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.res, "meta.json")))
    names = meta["order"].split(",")
    samples, cpu = load(a.res, names)
    checks = {}
    cd = os.path.join(a.res, "checks")
    if os.path.isdir(cd):
        for f in os.listdir(cd):
            c, n = f[:-4].split("-", 1)
            lines = open(os.path.join(cd, f)).read().split("\n")
            checks.setdefault(c, {})[n] = (lines[0], lines[1] if len(lines) > 1 else "")
    text, verdicts, summ = tables(samples, cpu, checks, names)
    r23 = load23(a.res, names)
    t23, v23 = tables23(r23, names)
    if t23:
        text += "\n### Issue 23: real callers' configs and scale\n\n" + "\n".join(t23) + "\n" + "\n".join(raw23(r23, names))
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "summary": summ, "cpu_ms": cpu, "verdicts": verdicts, "checks": checks,
                       "raw": samples, "issue23": {"verdicts": v23, "real": r23["real"], "hf": r23["hf"],
                                                   "rss_podman": r23["rss"], "scale": r23["scale"],
                                                   "scale_cpu": r23["scale_cpu"],
                                                   "objects": r23["objects"], "meminfo": r23["meminfo"],
                                                   "phases": {f"{k[0]} {k[1]}": v for k, v in r23["phases"].items()},
                                                   "load": r23["load"]}}, f, indent=1)
    if a.chart and summ:
        chart(a.chart, summ, names)
    if a.scale_chart:
        scale_chart(a.scale_chart, r23, names)
    if a.doc:
        head = (f"Run {meta['date']} on {meta['cpu_model']} ({meta['cpus']} vCPUs), kernel {meta['kernel']}, "
                f"{meta['hyperfine']}: {meta['passes']} interleaved passes × {meta['runs']} runs per runtime "
                f"and scenario (load average at the end: {meta['loadavg']})"
                + (f"; throughput {meta['tp_passes']} runs per runtime (real configs: {meta['tp_n']} lifecycles), "
                   f"{meta['rss_runs']} RSS samples, scale levels {meta['scale_levels']} with {meta['scale_passes']} "
                   f"passes × {meta['scale_runs']} calls per operation and runtime, {meta['phase_runs']} --debug "
                   f"lifecycles" if "scale_levels" in meta else "")
                + ". Versions: "
                + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".\n\n"
                + ("![husk and runc relative to crun](bench-ratios.png)\n\n" if a.chart else ""))
        block = f"{BEGIN}\n{head}{text}\n{END}"
        doc = open(a.doc).read() if os.path.exists(a.doc) else "# Benchmarks\n"
        if BEGIN in doc and END in doc:
            pre, rest = doc.split(BEGIN, 1)
            doc = pre + block + rest.split(END, 1)[1]
        else:
            doc = doc.rstrip() + "\n\n## Start-up: husk vs runc vs crun (issue 8)\n\n" + block + "\n"
        with open(a.doc, "w") as f:
            f.write(doc)
    missed = [sc for sc, v in list(verdicts.items()) + list(v23.items()) if not v["met"]]
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)


if __name__ == "__main__":
    main()
