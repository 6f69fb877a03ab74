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
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "summary": summ, "cpu_ms": cpu, "verdicts": verdicts, "checks": checks,
                       "raw": samples}, f, indent=1)
    if a.chart:
        chart(a.chart, summ, names)
    if a.doc:
        head = (f"Run {meta['date']} on {meta['cpu_model']} ({meta['cpus']} vCPUs), kernel {meta['kernel']}, "
                f"{meta['hyperfine']}: {meta['passes']} interleaved passes × {meta['runs']} runs per runtime "
                f"and scenario (load average at the end: {meta['loadavg']}). Versions: "
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
    missed = [sc for sc, v in verdicts.items() if not v["met"]]
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)


if __name__ == "__main__":
    main()
