#!/usr/bin/env python3
"""Turn a `make bench` console log into the table of medians and ratios.

Usage: report.py CONSOLE_LOG [--update]
With --update, also rewrite the table in docs/benchmarks.md (between its
BEGIN/END markers) and draw docs/benchmarks.png with gnuplot.
"""
import os
import statistics
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEGIN, END = "<!-- BEGIN bench table -->", "<!-- END bench table -->"


def parse(path):
    """figures[(test, impl)] = [value per run]; units[test] = unit."""
    figs, units = defaultdict(list), {}
    for line in open(path, errors="replace"):
        w = line.split()
        if len(w) >= 5 and w[0] == "kbench":
            figs[(w[1], w[2])].append(float(w[3]))
            units[w[1]] = w[4]
        elif len(w) == 4 and w[0] == "uopen":
            figs[("open", w[1])].append(float(w[2]))
            units["open"] = w[3]
        elif len(w) == 6 and w[0] == "ubench":
            t, size = w[1], int(w[2])
            for name, v, unit in (("msgs", w[3], "msgs/s"), ("MBps", w[4], "MB/s"),
                                  ("sys", w[5], "syscalls/msg")):
                figs[(f"{name}{size}", t)].append(float(v))
                units[f"{name}{size}"] = unit
    return {k: statistics.median(v) for k, v in figs.items()}, units, figs


def rows(med, units):
    """(figure, unit, bufq impl, bufq value, alternative, its value, ratio)."""
    out = []
    kalts = ["ptr_ring-pair", "kmalloc+list", "mempool+list", "kmem_cache+llist"]
    for test in ["single", "bulk8", "bulk32", "bulk256", "twothread"]:
        for alt in kalts:
            if (test, "bufq") in med and (test, alt) in med:
                b, a = med[(test, "bufq")], med[(test, alt)]
                out.append((f"kernel {test}", units[test], "bufq", b, alt, a, b / a))
    for size in (64, 4096, 65536):
        for name in ("msgs", "MBps"):
            key = f"{name}{size}"
            for mode in ("bufq-rw", "bufq-mmap", "bufq-batch"):
                for alt in ("pipe", "seqpacket"):
                    if (key, mode) in med and (key, alt) in med:
                        b, a = med[(key, mode)], med[(key, alt)]
                        out.append((f"user {size} B", units[key], mode, b, alt, a,
                                    b / a))
    return out


def targets(med):
    """(target, measured, met?)."""
    t = []

    def get(k):
        return med.get(k)
    s, r = get(("single", "bufq")), get(("single", "ptr_ring-pair"))
    if s and r:
        t.append(("single cycle <= ptr_ring pair", f"{s / r:.2f}x", s <= r))
    b = get(("bulk32", "bufq"))
    if s and b:
        t.append(("bulk-32 cycle <= 0.3x single", f"{b / s:.2f}x", b <= 0.3 * s))
    m, p = get(("msgs64", "bufq-batch")), get(("msgs64", "pipe"))
    if m and p:
        t.append(("64 B batch >= 3x pipe msgs/s", f"{m / p:.2f}x", m >= 3 * p))
    m, p = get(("MBps65536", "bufq-mmap")), get(("MBps65536", "pipe"))
    if m and p:
        t.append(("64 KiB mmap >= 2x pipe MB/s", f"{m / p:.2f}x", m >= 2 * p))
    sc = [get((f"sys{z}", "bufq-batch")) for z in (64, 4096, 65536)]
    if all(sc):
        t.append(("batch <= 0.05 syscalls/msg", f"{max(sc):.3f}", max(sc) <= 0.05))
    out, off = get(("single", "bufq-notrace")), get(("single", "bufq-trace-off"))
    if out and off:
        t.append(("trace events off: single cycle <= 1.05x compiled out",
                  f"{off / out:.3f}x", off <= 1.05 * out))
    md = get(("metadata", "bufq"))
    if md:
        t.append(("metadata <= 64 B/buffer", f"{md:.0f} B", md <= 64))
    return t


def fmt(v):
    return f"{v:.3f}" if v < 10 else f"{v:,.0f}"


def table(med, units, nruns):
    lines = [f"Medians of {nruns} runs in one boot. Kernel cycle figures are "
             "picoseconds per cycle (lower is better); the others are rates "
             "(higher is better), except syscalls/msg.", "",
             "| figure | unit | bufq | median | alternative | median | bufq ÷ alt |",
             "|---|---|---|---:|---|---:|---:|"]
    for f, unit, impl, b, alt, a, ratio in rows(med, units):
        lines.append(f"| {f} | {unit} | {impl} | {fmt(b)} | {alt} | {fmt(a)} | "
                     f"{ratio:.2f} |")
    lines += ["", "| syscalls per message | 64 B | 4 KiB | 64 KiB |", "|---|---:|---:|---:|"]
    for t in ("pipe", "seqpacket", "bufq-rw", "bufq-mmap", "bufq-batch"):
        v = [med.get((f"sys{z}", t)) for z in (64, 4096, 65536)]
        if all(x is not None for x in v):
            lines.append(f"| {t} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
    lines += ["", "| memory and lifetime | bufq |", "|---|---:|"]
    for size in (64, 4096, 65536):
        v = med.get((f"footprint{size}", "bufq"))
        if v is not None:
            lines.append(f"| bytes per {size} B buffer (footprint) | {v:,.0f} |")
    for n in (100, 10000):
        v = med.get((f"expiry{n}", "bufq"))
        if v is not None:
            lines.append(f"| longest timer expiry, {n} queued (half timed) | "
                         f"{v / 1000:,.1f} µs |")
    for what in ("bufq", "pipe"):
        v = med.get(("open", what))
        if v is not None:
            label = ("open + CONFIGURE + close of /dev/bufq" if what == "bufq"
                     else "pipe() + close")
            lines.append(f"| {label} | {v:,.0f} /s |")
    tp = [med.get(("single", f"bufq-{k}")) for k in ("notrace", "trace-off", "trace-on")]
    if all(tp):
        out, off, on = tp
        lines += ["", "| bufq single cycle, ps | events compiled out | compiled in, off | "
                  "on (all, to the ring buffer) | off ÷ out | on − off |",
                  "|---|---:|---:|---:|---:|---:|",
                  f"| median | {fmt(out)} | {fmt(off)} | {fmt(on)} | {off / out:.3f} | "
                  f"{fmt(on - off)} |"]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for name, got, ok in targets(med):
        lines.append(f"| {name} | {got} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines)


def chart(med, units, png):
    data = os.path.join(os.path.dirname(png), "benchmarks.dat")
    sel = [r for r in rows(med, units)
           if r[4] in ("ptr_ring-pair", "pipe") and r[0] != "kernel twothread"
           or r[0] == "kernel twothread" and r[4] == "ptr_ring-pair"]
    with open(data, "w") as f:
        for i, (fig, unit, impl, _, alt, _, ratio) in enumerate(sel):
            label = f"{fig} {unit} {impl}/{alt}"
            f.write(f'{i} {ratio:.4f} "{label}"\n')
    script = f"""
set terminal pngcairo size 1400,800 font ",9"
set bmargin 16
set output "{png}"
set title "bufq ÷ alternative, one make bench run under QEMU TCG (higher is better for rates, lower for kernel ps/cycle)"
set style fill solid 0.6
set boxwidth 0.7
set logscale y 2
set yrange [0.25:8]
set ylabel "ratio"
set xtics rotate by -60 scale 0
set grid ytics
unset key
plot "{data}" using 1:2:xtic(3) with boxes lc rgb "#3060a0", 1 with lines lc rgb "red" lw 2
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    med, units, figs = parse(sys.argv[1])
    if not med:
        sys.exit("report.py: no figures in the log")
    nruns = max(len(v) for v in figs.values())
    text = table(med, units, nruns)
    print(text)
    if "--update" in sys.argv:
        doc = os.path.join(ROOT, "docs", "benchmarks.md")
        body = open(doc).read()
        a, b = body.index(BEGIN) + len(BEGIN), body.index(END)
        open(doc, "w").write(body[:a] + "\n" + text + "\n" + body[b:])
        chart(med, units, os.path.join(ROOT, "docs", "benchmarks.png"))
    missed = [t for t in targets(med) if not t[2]]
    print(f"\n{len(targets(med)) - len(missed)} of {len(targets(med))} targets met")


if __name__ == "__main__":
    main()
