#!/usr/bin/env python3
"""Turn a `make bench` console log into the table of figures and ratios.

Usage: report.py CONSOLE_LOG [--host HOST_FILE] [--icount ICOUNT_LOG]
                 [--agree OTHER_LOG] [--update]
Every figure is min / median / max over the rounds of one boot; a ratio is
bufq's median over the alternative's, with the least, greatest and median
ratio of the rounds (the n-th measurement of each implementation of a figure is
round n: bench-init and bufq_bench.ko interleave them so). HOST_FILE (from
bench.sh) holds the host's load around the VM run; the table says how busy
the host was and warns when it was too busy. ICOUNT_LOG (bench.sh's
second boot, under QEMU -icount) adds the one-thread figures as guest
instructions per cycle. With --update, also rewrite
the table in docs/benchmarks.md (between its BEGIN/END markers) and draw
docs/benchmarks.png with gnuplot. With --agree, also compare every ratio
with those of another run's console log (bench.sh passes the previous
run's; that run's load is read from the host.txt beside it): how far each
moved, and whether the two runs agree on it within 25%.
"""
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEGIN, END = "<!-- BEGIN bench table -->", "<!-- END bench table -->"
KALTS = ["ptr_ring-pair", "page_pool", "kmalloc+list", "mempool+list", "kmem_cache+llist"]
KTESTS = ["single", "bulk8", "bulk32", "bulk256", "twothread", "twothread-p90"]


def parse(path):
    """figs[(test, impl)] = [value per round, in order]; units[test] = unit."""
    figs, units = defaultdict(list), {}
    for line in open(path, errors="replace"):
        w = line.split()
        if len(w) >= 5 and w[0] == "kbench":
            figs[(w[1], w[2])].append(float(w[3]))
            units[w[1]] = w[4]
        elif len(w) >= 5 and w[0] == "ibench":
            # -icount shift=0: a guest ns is a guest instruction.
            figs[("i" + w[1], w[2])].append(float(w[3]) / 1000)
            units["i" + w[1]] = "instructions/cycle"
        elif len(w) == 4 and w[0] == "uopen":
            figs[("open", w[1])].append(float(w[2]))
            units["open"] = w[3]
        elif len(w) == 6 and w[0] == "ubench":
            t, size = w[1], int(w[2])
            for name, v, unit in (("msgs", w[3], "msgs/s"), ("MBps", w[4], "MB/s"),
                                  ("sys", w[5], "syscalls/msg")):
                figs[(f"{name}{size}", t)].append(float(v))
                units[f"{name}{size}"] = unit
    return figs, units


def counted(b, a):
    """bufq ÷ alternative of counted figures: of the least counts, since
    whatever else runs on the vCPU (an interrupt, a kworker) only adds."""
    return min(b) / min(a)


class Ratio:
    """bufq ÷ alternative: of the medians, and its range over the rounds."""

    def __init__(self, b, a):
        self.med = statistics.median(b) / statistics.median(a)
        per = [x / y for x, y in zip(b, a) if y] or [self.med]
        # A round's ratio pairs runs seconds apart: its median is what a
        # host that changes speed between rounds moves least.
        self.lo, self.hi, self.pmed = min(per), max(per), statistics.median(per)

    def spread(self, fmt=".2f"):
        return f"{self.lo:{fmt}}–{self.hi:{fmt}}, median {self.pmed:{fmt}}"

    def __str__(self):
        return f"{self.med:.2f}x (rounds {self.spread()})"


def rows(figs, units):
    """(figure, unit, bufq impl, its values, alternative, its values, Ratio)."""
    out = []
    for test in KTESTS:
        for alt in KALTS:
            if (test, "bufq") in figs and (test, alt) in figs:
                b, a = figs[(test, "bufq")], figs[(test, alt)]
                out.append((f"kernel {test}", units[test], "bufq", b, alt, a, Ratio(b, a)))
    for size in (64, 4096, 65536):
        for name in ("msgs", "MBps"):
            key = f"{name}{size}"
            for mode in ("bufq-rw", "bufq-mmap", "bufq-batch"):
                for alt in ("pipe", "seqpacket"):
                    if (key, mode) in figs and (key, alt) in figs:
                        b, a = figs[(key, mode)], figs[(key, alt)]
                        out.append((f"user {size} B", units[key], mode, b, alt, a,
                                    Ratio(b, a)))
            # A kernel producer: the driver's queue mapped, or copied out.
            if (key, "kmap") in figs and (key, "kcopy") in figs:
                b, a = figs[(key, "kmap")], figs[(key, "kcopy")]
                out.append((f"kernel to user {size} B", units[key], "kmap", b,
                            "kcopy", a, Ratio(b, a)))
    return out


def targets(figs):
    """(target, measured, met?); met on the ratio of medians."""
    t = []
    med = {k: statistics.median(v) for k, v in figs.items()}

    def ratio(x, y):
        if x in figs and y in figs:
            return Ratio(figs[x], figs[y])
        return None

    r = ratio(("single", "bufq"), ("single", "ptr_ring-pair"))
    if r:
        t.append(("single cycle <= ptr_ring pair", str(r), r.med <= 1))
    r = ratio(("bulk32", "bufq"), ("bulk32", "ptr_ring-pair"))
    if r:
        t.append(("bulk-32 <= ptr_ring pair bulk-32", str(r), r.med <= 1))
    s, b = med.get(("single", "bufq")), med.get(("bulk32", "bufq"))
    if s and b:
        t.append(("bulk-32 cycle <= 0.3x single", f"{b / s:.2f}x", b <= 0.3 * s))
    r = ratio(("twothread", "bufq"), ("twothread", "ptr_ring-pair"))
    if r:
        t.append(("two threads >= 1.0x ptr_ring pair (buffers/s)", str(r), r.med >= 1))
    r = ratio(("twothread-p90", "bufq"), ("twothread-p90", "ptr_ring-pair"))
    if r:
        t.append(("two threads >= 1.0x ptr_ring pair, while both run "
                  "(p90 of 256-buffer windows)", str(r), r.med >= 1))
    r = ratio(("single", "bufq"), ("single", "page_pool"))
    if r:
        t.append(("single cycle within 1.2x of page_pool's recycle path "
                  "(its cache, allow_direct)", str(r), r.med <= 1.2))
    r = ratio(("twothread", "bufq"), ("twothread", "page_pool"))
    if r:
        t.append(("two threads, reused on the other CPU, within 1.2x of page_pool's "
                  "recycle path (its ptr_ring)", str(r), r.med >= 1 / 1.2))
    r = ratio(("twothread-p90", "bufq"), ("twothread-p90", "page_pool"))
    if r:
        t.append(("two threads within 1.2x of page_pool's recycle path, while "
                  "both run (p90 of 256-buffer windows)", str(r), r.med >= 1 / 1.2))
    r = ratio(("msgs64", "bufq-batch"), ("msgs64", "pipe"))
    if r:
        t.append(("64 B batch >= 3x pipe msgs/s", str(r), r.med >= 3))
    r = ratio(("MBps65536", "bufq-mmap"), ("MBps65536", "pipe"))
    if r:
        t.append(("64 KiB mmap >= 2x pipe MB/s", str(r), r.med >= 2))
    sc = [med.get((f"sys{z}", "bufq-batch")) for z in (64, 4096, 65536)]
    if all(sc):
        t.append(("batch <= 0.05 syscalls/msg", f"{max(sc):.3f}", max(sc) <= 0.05))
    r = ratio(("msgs65536", "kmap"), ("msgs65536", "kcopy"))
    if r:
        t.append(("kernel producer, user consumer, 64 KiB: mapped driver file "
                  ">= 3x a copying read() (msgs/s)", str(r), r.med >= 3))
    sc = [med.get((f"sys{z}", "kmap")) for z in (64, 4096, 65536)]
    if all(sc):
        t.append(("mapped driver file <= 0.05 syscalls/msg", f"{max(sc):.3f}",
                  max(sc) <= 0.05))
    r = ratio(("single", "bufq-trace-off"), ("single", "bufq-notrace"))
    if r:
        t.append(("trace events off: single cycle <= 1.05x compiled out",
                  f"{r.med:.3f}x (rounds {r.spread('.3f')})", r.med <= 1.05))
    ip = [figs.get(("isingle", f"bufq-{k}")) for k in ("trace-off", "notrace")]
    if all(ip):
        c = counted(*ip)
        t.append(("trace events off: single cycle <= 1.05x compiled out, counted "
                  "(guest instructions, least of each)", f"{c:.3f}x", c <= 1.05))
    md = med.get(("metadata", "bufq"))
    if md:
        t.append(("metadata <= 64 B/buffer", f"{md:.0f} B", md <= 64))
    return t


def host_load(path):
    """(lines describing the host's load, warnings) from bench.sh's file."""
    h = {}
    try:
        for line in open(path):
            w = line.split()
            if len(w) >= 3 and w[0] == "host":
                h[w[1]] = w[2:]
    except OSError:
        return [], []
    try:
        cpus, vcpus = int(h["cpus"][0]), int(h["vcpus"][0])
        tck = float(h["clk_tck"][0])
        wall = float(h["wall"][1]) - float(h["wall"][0])
        busy = (float(h["busy_ticks"][1]) - float(h["busy_ticks"][0])) / tck / wall
        vm = (float(h["vm_ticks"][1]) - float(h["vm_ticks"][0])) / tck / wall
        before, after = h["loadavg_before"], h["loadavg_after"]
    except (KeyError, IndexError, ValueError, ZeroDivisionError):
        return ["Host load: not recorded."], []
    others = max(0.0, busy - vm)
    free = max(0, cpus - vcpus)
    lines = [f"Host: {cpus} CPUs, the VM {vcpus} vCPUs, {wall:.0f} s. "
             f"Load average (1, 5, 15 min) before the VM run {' '.join(before)}, "
             f"after {' '.join(after)}. "
             f"The VM got {vm:.2f} CPUs on average ({vm / vcpus:.0%} of its vCPUs; "
             f"an idle vCPU takes none); other processes took {others:.2f} CPUs."]
    warn = []
    if others > free + 0.25:
        warn.append(f"WARNING: the host was busy: other processes took {others:.2f} "
                    f"CPUs on average while the VM ran, more than the {free} the host "
                    f"has beyond the VM's {vcpus} vCPUs: figures are slowed "
                    f"unevenly; trust only ratios whose rounds agree.")
    # The 1-minute load average covers the run's last minute, in which the
    # VM may keep all its vCPUs busy, not the run's mean (vm): a load above
    # the host's CPUs means that something waited for one.
    if float(after[0]) > cpus + 0.5:
        warn.append(f"WARNING: the host was busy: its load average after the run "
                    f"({after[0]}) exceeds its {cpus} CPUs by more than half a CPU: "
                    f"tasks waited for a CPU.")
    oops = int(h.get("guest_oops", ["0"])[0])
    if oops:
        warn.append(f"WARNING: the guest's kernel log has {oops} BUG, WARNING, Oops or "
                    f"Call Trace lines (build/bench/console.log): the run is suspect.")
    return lines, warn


AGREE = 1.25    # two runs agree on a ratio if the larger is at most this times the other


def agrees(a, b):
    """The same test whichever run is which."""
    return max(a / b, b / a) <= AGREE


def moved(a, b):
    """A ratio's move from B to A, in bold if the runs do not agree on it."""
    d = f"{a / b - 1:+.1%}"
    return d if agrees(a, b) else f"**{d}**"


def agreement(figs, units, other, other_host):
    """Every ratio of this run beside OTHER's (MB/s ones are msgs/s ones)."""
    ofigs, ounits = parse(other)
    mine = {(r[0], r[2], r[4]): r for r in rows(figs, units) if r[1] != "MB/s"}
    theirs = {(r[0], r[2], r[4]): r for r in rows(ofigs, ounits) if r[1] != "MB/s"}
    keys = [k for k in mine if k in theirs]
    hl = " ".join(host_load(other_host)[0])
    load = re.search(r"The VM got ([0-9.]+) CPUs.*other processes took ([0-9.]+) CPUs", hl)
    lines = [f"Agreement with the run of {other}"
             + (f" (the VM got {load[1]} CPUs, other processes {load[2]})" if load else "")
             + ": each ratio of medians (in brackets, the median of round ratios) "
             "in both runs and how far it moved from that run to this one; the runs "
             f"agree on a ratio if the larger of its two values is at most {AGREE}x "
             "the smaller (a move from −20% to +25%, the same whichever run is which)."]
    if len(keys) < len(mine):
        lines.append(f"{len(mine) - len(keys)} of this run's {len(mine)} ratios are not "
                     "in that run: they are left out.")
    if not keys:
        return lines
    lines += ["", "| figure | bufq ÷ alt | this run | that run | moved (of medians) | "
              "moved (median of rounds) |", "|---|---|---:|---:|---:|---:|"]
    n_med = n_rnd = 0
    for k in keys:
        a, b = mine[k][6], theirs[k][6]
        n_med += agrees(a.med, b.med)
        n_rnd += agrees(a.pmed, b.pmed)
        lines.append(f"| {k[0]} | {k[1]} ÷ {k[2]} | {a.med:.2f}x ({a.pmed:.2f}) | "
                     f"{b.med:.2f}x ({b.pmed:.2f}) | {moved(a.med, b.med)} | "
                     f"{moved(a.pmed, b.pmed)} |")
    lines += ["", f"{n_med} of {len(keys)} ratios agree within {AGREE}x by the "
              f"ratio of medians, {n_rnd} of {len(keys)} by the median of round ratios"]
    return lines


def fmt(v):
    return f"{v:.3f}" if v < 10 else f"{v:,.0f}"


def mmm(v):
    """min / median / max."""
    return f"{fmt(min(v))} / **{fmt(statistics.median(v))}** / {fmt(max(v))}"


def table(figs, units, nruns, host=([], [])):
    lines = []
    hl, warn = host
    if hl or warn:
        lines += hl + [""] + [w + "  " for w in warn] + ([""] if warn else [])
    lines += [f"Min / **median** / max of {nruns} rounds in one boot, the "
              "implementations of each figure interleaved. Kernel cycle figures are "
              "picoseconds per cycle (lower is better); the others are rates "
              "(higher is better), except syscalls/msg. bufq ÷ alt is the ratio of "
              "the medians (what the targets are judged on); rounds, the least and "
              "greatest ratio within one round, and the median of those ratios.",
              "",
              "| figure | unit | bufq | min / median / max | alternative | "
              "min / median / max | bufq ÷ alt | rounds |",
              "|---|---|---|---:|---|---:|---:|---:|"]
    for f, unit, impl, b, alt, a, r in rows(figs, units):
        lines.append(f"| {f} | {unit} | {impl} | {mmm(b)} | {alt} | {mmm(a)} | "
                     f"{r.med:.2f} | {r.spread()} |")
    med = {k: statistics.median(v) for k, v in figs.items()}
    lines += ["", "| syscalls per message | 64 B | 4 KiB | 64 KiB |", "|---|---:|---:|---:|"]
    for t in ("pipe", "seqpacket", "bufq-rw", "bufq-mmap", "bufq-batch", "kmap",
              "kcopy"):
        v = [med.get((f"sys{z}", t)) for z in (64, 4096, 65536)]
        if all(x is not None for x in v):
            lines.append(f"| {t} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
    lines += ["", "| memory and lifetime | bufq (min / median / max) |", "|---|---:|"]
    for size in (64, 4096, 65536):
        v = figs.get((f"footprint{size}", "bufq"))
        if v:
            lines.append(f"| bytes per {size} B buffer (footprint) | "
                         f"{statistics.median(v):,.0f} |")
    for n in (100, 10000):
        v = figs.get((f"expiry{n}", "bufq"))
        if v:
            lines.append(f"| longest timer expiry, {n} queued (half timed) | "
                         f"{min(v) / 1000:,.1f} / {statistics.median(v) / 1000:,.1f} / "
                         f"{max(v) / 1000:,.1f} µs |")
    for what in ("bufq", "pipe"):
        v = figs.get(("open", what))
        if v:
            label = ("open + CONFIGURE + close of /dev/bufq" if what == "bufq"
                     else "pipe() + close")
            lines.append(f"| {label} | {min(v):,.0f} / {statistics.median(v):,.0f} / "
                         f"{max(v):,.0f} per s |")
    tp = [figs.get(("single", f"bufq-{k}")) for k in ("notrace", "trace-off", "trace-on")]
    if all(tp):
        out, off, on = tp
        mo, mf, mn = (statistics.median(v) for v in tp)
        lines += ["", "| bufq single cycle, ps | events compiled out | compiled in, off | "
                  "on (all, to the ring buffer) | off ÷ out | on − off |",
                  "|---|---:|---:|---:|---:|---:|",
                  f"| min / **median** / max | {mmm(out)} | {mmm(off)} | {mmm(on)} | "
                  f"{mf / mo:.3f} | {fmt(mn - mf)} |"]
        ip = [figs.get(("isingle", f"bufq-{k}")) for k in ("notrace", "trace-off")]
        if all(ip):
            lines.append(f"| counted, guest instructions (min / max) | "
                         f"{min(ip[0]):,.1f} / {max(ip[0]):,.1f} | "
                         f"{min(ip[1]):,.1f} / {max(ip[1]):,.1f} | | "
                         f"{counted(ip[1], ip[0]):.3f} | |")
    ins = [(t, alt) for t in KTESTS for alt in KALTS
           if ("i" + t, "bufq") in figs and ("i" + t, alt) in figs]
    if ins:
        lines += ["", "Guest instructions per cycle, counted in a second boot under "
                  "`-icount shift=0` (a count, not a time, nearly the same whatever "
                  "the host does; min / max of its rounds; the ratio is of the "
                  "least counts, as anything else the vCPU ran adds to a count):", "",
                  "| figure | bufq | alternative | alternative's | bufq ÷ alt |",
                  "|---|---:|---|---:|---:|"]
        for t, alt in ins:
            b, a = figs[("i" + t, "bufq")], figs[("i" + t, alt)]
            lines.append(f"| kernel {t} | {min(b):,.1f} / {max(b):,.1f} | {alt} | "
                         f"{min(a):,.1f} / {max(a):,.1f} | "
                         f"{counted(b, a):.2f} |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for name, got, ok in targets(figs):
        lines.append(f"| {name} | {got} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines)


def chart(figs, units, png):
    data = os.path.join(os.path.dirname(png), "benchmarks.dat")
    sel = [r for r in rows(figs, units) if r[4] in ("ptr_ring-pair", "pipe")
           or r[4] == "page_pool" and r[0] in ("kernel single", "kernel twothread")]
    with open(data, "w") as f:
        for i, (fig, unit, impl, _, alt, _, r) in enumerate(sel):
            label = f"{fig} {unit} {impl}/{alt}"
            f.write(f'{i} {r.med:.4f} "{label}" {r.lo:.4f} {r.hi:.4f}\n')
    script = f"""
set terminal pngcairo size 1400,800 font ",9"
set bmargin 16
set output "{png}"
set title "bufq ÷ alternative, one make bench run under QEMU TCG (higher is better for rates, lower for kernel ps/cycle); bars: ratio of medians, whiskers: least and greatest ratio of a round"
set style fill solid 0.6
set boxwidth 0.7
set logscale y 2
set yrange [0.125:16]
set ylabel "ratio"
set xtics rotate by -60 scale 0
set grid ytics
unset key
plot "{data}" using 1:2:xtic(3) with boxes lc rgb "#3060a0", \\
     "{data}" using 1:2:4:5 with yerrorbars pt 0 lc rgb "black", \\
     1 with lines lc rgb "red" lw 2
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def take_opt(args, name):
    """The value of option NAME, taken out of ARGS; None if absent."""
    if name not in args:
        return None
    i = args.index(name)
    value = args[i + 1]
    del args[i:i + 2]
    return value


def main():
    args = sys.argv[1:]
    hostfile, icount = take_opt(args, "--host"), take_opt(args, "--icount")
    other = take_opt(args, "--agree")
    host = host_load(hostfile) if hostfile else ([], [])
    figs, units = parse(args[0])
    if icount:
        ifigs, iunits = parse(icount)
        figs.update((k, v) for k, v in ifigs.items() if k[0].startswith("i"))
        units.update(iunits)
    if not figs:
        sys.exit("report.py: no figures in the log")
    nruns = max(len(v) for v in figs.values())
    text = table(figs, units, nruns, host)
    print(text)
    if "--update" in args:
        doc = os.path.join(ROOT, "docs", "benchmarks.md")
        body = open(doc).read()
        a, b = body.index(BEGIN) + len(BEGIN), body.index(END)
        open(doc, "w").write(body[:a] + "\n" + text + "\n" + body[b:])
        chart(figs, units, os.path.join(ROOT, "docs", "benchmarks.png"))
    t = targets(figs)
    missed = [x for x in t if not x[2]]
    if other:
        agree = agreement(figs, units, other,
                          os.path.join(os.path.dirname(other), "host.txt"))
        print("\n" + "\n".join(agree))
    print(f"\n{len(t) - len(missed)} of {len(t)} targets met")
    for w in host[1]:
        print(w)


if __name__ == "__main__":
    main()
