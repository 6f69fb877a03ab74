#!/usr/bin/python3
"""hack/bench/report.py DOC RESULTS.json TABLE.md: put the benchmark table (and the machine,
the versions, the method's parameters) into DOC between the BENCH:BEGIN/BENCH:END markers,
leaving the rest of the document (its analysis, the seccomp section) alone."""
import json
import os
import sys

BEGIN, END = "<!-- BENCH:BEGIN (hack/bench.sh writes this part) -->", "<!-- BENCH:END -->"


def main():
    doc, res, table = sys.argv[1:4]
    with open(res) as f:
        r = json.load(f)
    with open(table) as f:
        tab = f.read().rstrip() + "\n"
    m = r["meta"]
    load = open("/proc/loadavg").read().split()[:3]
    head = (f"Run {m['date']}, kernel {m['kernel']}, {m['cpus']} vCPUs, {m['passes']} interleaved passes "
            f"per scenario (load average at the end: {' '.join(load)}). Versions: "
            + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".\n\n")
    block = f"{BEGIN}\n{head}{tab}{END}"
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        post = rest.split(END, 1)[1]
        text = pre + block + post
    else:
        text = text.rstrip() + "\n\n## Start-up: husk vs runc vs crun (issue 8)\n\n" + block + "\n"
    with open(doc, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
