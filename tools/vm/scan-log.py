#!/usr/bin/env python3
"""Judge a `make check` VM run.

Reads the plan (what the guest was asked to do), the console log (kernel log
with KUnit KTAP and the guest's "bufq-init:" markers) and the tests log
(kselftest TAP and the kmemleak report). Counts leaf test cases (each
parameter of a parameterized KUnit case counts), plus one failed "check" per
problem: sanitizer/lockdep/WARNING reports, kmemleak leaks, failed
insmod/rmmod, missing or incomplete results, a crash or a timeout.

A WARNING splat is allowed only if it starts between the console lines
"bufq-test: expect WARNING begin" and "bufq-test: expect WARNING end"
(printk, or a write(2) to /dev/kmsg from user space); it runs up to its
"---[ end trace" line. A bare stack dump (dump_stack(), e.g. from an
injected allocation failure) is allowed there too, up to the next splat or
the end of the window. BUG/KASAN/KCSAN/UBSAN/lockdep and the like are never
allowed.

A memory cgroup's OOM kill is allowed only between "bufq-test: expect OOM
begin" and "bufq-test: expect OOM end": its report, from "invoked
oom-killer" to "Killed process", must say constraint=CONSTRAINT_MEMCG. Any
other OOM report (global, or outside the window) fails the run.

A KCSAN report counts only if one of its racing accesses is made in a bufq
module (the top frame of an access, "... [bufq]", "[bufq_kunit]"...); a
data race between two accesses of the kernel's own (RCU, timekeeping...),
even below a bufq call, is listed as a note, not a failure: it is not ours
to mark.

With --kunit-filter, a KUnit module none of whose suites match the filter
has no results and that is no failure.

A "client NAME" in the plan is a module that loads only if its own checks
pass (examples/client): its insmod counts as one case. --host-tap adds the
TAP results of host-side checks (tools/vm/host-checks.sh) as a suite.

Prints a per-suite summary and, last, "N passed, N failed".
Exit status 0 only if nothing failed and something passed.
"""
import argparse
import re
import sys

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ?")
RESULT = re.compile(r"^( *)(ok|not ok) \d+(?: -)? ?([^#]*?)\s*(?:#\s*(SKIP|TODO)\b.*)?$")
PLAN = re.compile(r"^( *)1\.\.(\d+)\s*$")

# Console patterns that fail the run, first match wins; (name, regex).
BAD = [
    ("KASAN", re.compile(r"BUG: KASAN:")),
    ("KCSAN", re.compile(r"BUG: KCSAN:")),
    ("UBSAN", re.compile(r"\bUBSAN:")),
    ("lockdep", re.compile(
        r"WARNING: (possible circular locking|possible recursive locking|"
        r"inconsistent lock state|possible irq lock inversion|"
        r"bad unlock balance|held lock freed|lock held when returning|"
        r"suspicious RCU usage|nested lock|possible .*locking)"
        r"|INFO: possible .*locking|DEBUG_LOCKS_WARN_ON|"
        r"BUG: (looking up invalid subclass|key .* has not been registered|"
        r"MAX_LOCK|MAX_STACK_TRACE)")),
    ("list corruption", re.compile(r"list_(add|del) corruption|list corruption")),
    ("kernel panic", re.compile(r"Kernel panic")),
    ("Oops", re.compile(r"\bOops\b|general protection fault|kernel BUG at|"
                        r"BUG: unable to handle")),
    ("BUG", re.compile(r"\bBUG:")),
    ("stall", re.compile(r"rcu.*detected stalls|INFO: task .* blocked for more")),
]
WARN = re.compile(r"WARNING: CPU: \d+ PID: \d+ at ")
OTHER_WARN = re.compile(r"WARNING:|Call Trace:")
END_TRACE = re.compile(r"---\[ end trace")
CUT_HERE = "------------[ cut here ]------------"
WIN_BEGIN = "bufq-test: expect WARNING begin"
WIN_END = "bufq-test: expect WARNING end"
OOM_BEGIN = "bufq-test: expect OOM begin"
OOM_END = "bufq-test: expect OOM end"
OOM_START = re.compile(r"invoked oom-killer:")
OOM_CONSTRAINT = re.compile(r"oom-kill:constraint=(\w+)")
OOM_KILLED = re.compile(r"Killed process \d+")
KCSAN_START = re.compile(r"BUG: KCSAN:")
KCSAN_OURS = re.compile(r"\[bufq\w*\]")
KCSAN_ACCESS = re.compile(r"(read|write).* to 0x[0-9a-f]+ of \d+ bytes by .*:$")


def clean(line):
    return TIMESTAMP.sub("", line.rstrip("\r\n").replace("\r", ""))


def parse_tap(lines):
    """Parse (K)TAP with 4-space nesting.

    Returns (leaves, problems): leaves are (name, "pass"|"fail"|"skip");
    problems are strings (plan not met, results left open).
    """
    done = {}   # depth -> finished nodes at that depth: (name, status, leaves)
    plan = {}   # depth -> announced count of results at that depth
    problems = []
    for line in lines:
        m = PLAN.match(line)
        if m:
            plan[len(m.group(1)) // 4] = int(m.group(2))
            continue
        m = RESULT.match(line)
        if not m:
            continue
        depth = len(m.group(1)) // 4
        name = m.group(3).strip() or "?"
        status = ("skip" if m.group(4) == "SKIP" else
                  "pass" if m.group(2) == "ok" else "fail")
        kids = done.pop(depth + 1, [])
        want = plan.pop(depth + 1, None)
        if want is not None and len(kids) != want:
            problems.append(f"{name}: {len(kids)} of {want} results")
        if kids:
            leaves = [(f"{name}.{n}", s) for _, _, kl in kids for n, s in kl]
            if status == "fail" and all(s != "fail" for _, s in leaves):
                problems.append(f"{name}: failed outside its cases")
        else:
            leaves = [(name, status)]
        done.setdefault(depth, []).append((name, status, leaves))
    top = done.pop(0, [])
    want = plan.pop(0, None)
    if want is not None and len(top) != want:
        problems.append(f"{len(top)} of {want} top-level results")
    # Results of a run cut short (crash) still count, as do their problems.
    for depth, nodes in sorted(done.items()):
        problems.append("cut short after " + ", ".join(n for n, _, _ in nodes))
        top += nodes
    return [leaf for _, _, kl in top for leaf in kl], problems


def scan_oom(line, where, state, checks):
    """Follow OOM reports; return True if @line belongs to an allowed one."""
    if OOM_BEGIN in line or OOM_END in line:
        state["window"] = OOM_BEGIN in line
        state["in_oom"] = False
        return True
    if OOM_START.search(line):
        if not state["window"]:
            checks.append(("OOM outside window", where))
            return False
        state["in_oom"] = True
        return True
    if not state["in_oom"]:
        return False
    m = OOM_CONSTRAINT.search(line)
    if m and m.group(1) != "CONSTRAINT_MEMCG":
        checks.append(("OOM not contained by a memory cgroup", where))
    if OOM_KILLED.search(line):
        state["in_oom"] = False
    return True


def kcsan_foreign(lines, notes):
    """Return the line numbers of KCSAN reports with no frame in bufq.

    A report runs from its "BUG: KCSAN:" line to the next "=====" line.
    """
    skip, start = set(), None
    for no, line in enumerate(lines, 1):
        if KCSAN_START.search(line):
            start = no
        elif start and line.startswith("=" * 20):
            body = lines[start - 1:no]
            tops = [body[i + 1] for i, x in enumerate(body[:-1])
                    if KCSAN_ACCESS.search(x)]
            if not any(KCSAN_OURS.search(x) for x in tops):
                skip.update(range(start, no + 1))
                notes.append(f"KCSAN outside bufq: console.log:{start}: "
                             f"{lines[start - 1].strip()}")
            start = None
    return skip


def scan_console(lines, checks, notes):
    """Append (check name, detail) for every bad report in the kernel log."""
    foreign = kcsan_foreign(lines, notes)
    in_window = False   # between the expect-WARNING markers
    allowed = False     # inside an allowed WARNING splat or bare stack dump
    in_bad = False      # inside a reported splat: its Call Trace is not new
    last_bad = -9       # line of the last report (a WARN() may follow it)
    oom = {"window": False, "in_oom": False}
    for no, line in enumerate(lines, 1):
        if no in foreign:
            continue
        if WIN_BEGIN in line or WIN_END in line:
            in_window = WIN_BEGIN in line
            allowed = False
            continue
        if CUT_HERE in line:    # a new splat begins
            allowed = in_bad = False
            continue
        hit = next((n for n, rx in BAD if rx.search(line)), None)
        where = f"console.log:{no}: {line.strip()}"
        if not hit and scan_oom(line, where, oom, checks):
            continue
        if hit:
            checks.append((hit, where))
            allowed, in_bad, last_bad = False, True, no
        elif WARN.search(line):
            if in_window:
                allowed, in_bad = True, False
            elif no - last_bad > 2:     # else: the WARN() that printed `hit`
                checks.append(("WARNING outside window", where))
                allowed, in_bad = False, True
        elif OTHER_WARN.search(line) and not (allowed or in_bad):
            if in_window and line.strip() == "Call Trace:":
                allowed = True  # a bare stack dump: allowed in the window
                continue
            checks.append(("unexpected " + line.strip().rstrip(":"), where))
            in_bad = True
        if END_TRACE.search(line):
            allowed = in_bad = False


def sections(lines, begin, end):
    """Yield (name, body lines, end line or None) for marker-delimited runs."""
    name, body = None, []
    for line in lines:
        if name is not None and (line + " ").startswith(f"{end} {name} ".replace("  ", " ")):
            yield name, body, line
            name = None
        elif line.startswith(begin):
            if name is not None:
                yield name, body, None
            name, body = line[len(begin):].strip(), []
        elif name is not None:
            body.append(line)
    if name is not None:
        yield name, body, None


def print_details(suites, checks, console, limit=60):
    """Show the log lines behind failures (bounded), ahead of the summary."""
    out = []
    for label, leaves, _, body in suites:
        if all(st != "fail" for _, st in leaves):
            continue
        if label.startswith(("client ", "host")):   # their own messages
            out += [f"{label}: " + x for x in body[-15:]]
            continue
        start = 0
        for i, line in enumerate(body):
            if line.lstrip().startswith("#  RUN"):      # kselftest case start
                start = i
            if re.search(r"(EXPECTATION|ASSERTION) FAILED|try (faulted|timed)",
                         line):                         # KUnit failure text
                out += [f"{label}: " + x for x in body[i:i + 4]]
            elif RESULT.match(line) and line.lstrip().startswith("not ok") \
                    and "#  RUN" in (body[start] if body else ""):
                out += [f"{label}: " + x for x in body[start:i + 1][-15:]]
                start = i
    for name, detail in checks:
        m = re.match(r"console\.log:(\d+):", detail)
        if m and len(out) < limit:
            no = max(int(m.group(1)) - 3, 1)
            out += [f"console.log:{n}: {x}" for n, x in
                    enumerate(console[no - 1:no + 14], no)]
    if out:
        print("---- details (full logs in build/check/) ----")
        print("\n".join(out[:limit]))
        print("----")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu-rc", type=int, default=0)
    ap.add_argument("--host-tap", help="TAP of the host-side checks")
    ap.add_argument("--kunit-filter", default="")
    ap.add_argument("plan")
    ap.add_argument("console")
    ap.add_argument("tests")
    a = ap.parse_args()

    plan = [ln.split()[:2] for ln in open(a.plan) if ln.strip()]
    with open(a.console, errors="replace") as f:
        console = [clean(ln) for ln in f]
    with open(a.tests, errors="replace") as f:
        tests = [clean(ln) for ln in f]

    checks = []   # (name, detail): each one is a failure
    suites = []   # (label, leaves, problems)

    # Guest progress markers, e.g. "bufq-init: insmod bufq rc=0".
    marks = {}
    for line in console:
        m = re.match(r"bufq-init: (\w+ \S+) rc=(-?\d+)$", line)
        if m:
            marks[m.group(1)] = int(m.group(2))
    if a.qemu_rc == 124:
        checks.append(("timeout", "VM killed by timeout"))
    elif a.qemu_rc != 0:
        checks.append(("qemu", f"qemu exited {a.qemu_rc}"))
    if "bufq-init: done" not in console:
        checks.append(("guest did not finish", "no 'bufq-init: done' marker"))

    # KUnit: the KTAP between "insmod NAME" and "insmod NAME rc=" markers.
    ktap = dict((n, b) for n, b, _ in sections(console, "bufq-init: insmod",
                                                "bufq-init: insmod"))
    for kind, name in plan:
        if kind in ("module", "kunit", "client"):
            rc = marks.get(f"insmod {name}")
            if kind == "client":
                # Its load is its verdict: one case, not a check as well.
                suites.append((f"client {name}",
                               [(name, "pass" if rc == 0 else "fail")],
                               [] if rc is not None else ["did not return"],
                               ktap.get(name, [])))
            if rc != 0:
                if kind != "client":
                    checks.append((f"insmod {name}",
                                   "did not return" if rc is None else f"rc={rc}"))
            elif f"rmmod {name}" not in marks:
                checks.append((f"rmmod {name}", "not run"))
            elif marks[f"rmmod {name}"] != 0:
                checks.append((f"rmmod {name}", f"rc={marks[f'rmmod {name}']}"))
        if kind == "kunit":
            leaves, problems = parse_tap(ktap.get(name, []))
            if not leaves and not a.kunit_filter:
                problems.append("no KUnit results")
            suites.append((f"kunit {name}", leaves, problems, ktap.get(name, [])))

    # kselftests: TAP between begin/end markers on the tests port.
    runs = {n: (b, e) for n, b, e in sections(tests, "bufq-selftest: begin",
                                              "bufq-selftest: end")}
    for kind, name in plan:
        if kind != "test":
            continue
        body, end = runs.get(name, ([], None))
        leaves, problems = parse_tap(body)
        if not leaves:
            problems.append("no results")
        if end is None:
            problems.append("did not finish")
        elif not end.endswith(" rc=0") and all(s != "fail" for _, s in leaves):
            problems.append(f"exit status {end.rsplit('rc=', 1)[1]}")
        suites.append((f"selftest {name}", leaves, problems, body))

    # Host-side checks: TAP, one case per result line.
    if a.host_tap is not None:
        try:
            with open(a.host_tap, errors="replace") as f:
                body = [ln.rstrip("\n") for ln in f]
        except OSError:
            body = []
        leaves, problems = parse_tap(body)
        if not leaves:
            problems.append("no results")
        suites.append(("host", leaves, problems, body))

    # kmemleak report (after the modules were unloaded): one check per object.
    reports = [b for _, b, _ in sections(tests, "bufq-kmemleak: begin",
                                         "bufq-kmemleak: end")]
    if not reports and "bufq-init: done" in console:
        checks.append(("kmemleak", "no report"))
    for body in reports:
        for i, line in enumerate(body):
            if not line.startswith("unreferenced object"):
                continue
            rest = body[i + 1:]
            end = next((j for j, x in enumerate(rest)
                        if x.startswith("unreferenced object")), len(rest))
            comm = next((x.strip() for x in rest[:end] if "comm " in x), "")
            frames = [x.strip().split("+")[0] for x in rest[:end]
                      if re.match(r"^\s*[\w.]+\+0x", x)][:5]
            trace = " < ".join(frames)
            checks.append(("kmemleak", f"{line.rstrip(':')} {comm}: {trace}"))
    notes = []   # reported, not failures
    scan_console(console, checks, notes)

    print_details(suites, checks, console)
    passed = failed = skipped = 0
    for label, leaves, problems, _ in suites:
        p = sum(s == "pass" for _, s in leaves)
        f = sum(s == "fail" for _, s in leaves)
        s = sum(s == "skip" for _, s in leaves)
        print(f"{label}: {p} passed, {f} failed, {s} skipped")
        for n, st in leaves:
            if st != "pass":
                print(f"  {st.upper()} {n}")
        for pr in problems:
            print(f"  FAIL {pr}")
        passed, failed, skipped = passed + p, failed + f + len(problems), skipped + s
    for note in notes:
        print(f"note: {note}")
    for name, detail in checks:
        print(f"check FAIL {name}: {detail}")
    failed += len(checks)
    if checks:
        print(f"checks: {len(checks)} failed")
    else:
        print("checks: clean (no sanitizer, lockdep, WARNING, leak, or crash report)")
    if skipped:
        print(f"skipped: {skipped}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
