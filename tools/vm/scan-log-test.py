#!/usr/bin/env python3
"""Regression tests of scan-log.py's console rules (run by `make lint`)."""
import importlib.util
import os
import unittest

spec = importlib.util.spec_from_file_location(
    "scan_log", os.path.join(os.path.dirname(__file__), "scan-log.py"))
scan_log = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scan_log)

WB, WE = "bufq-test: expect WARNING begin", "bufq-test: expect WARNING end"
OB, OE = "bufq-test: expect OOM begin", "bufq-test: expect OOM end"
BARE = ["FAULT_INJECTION: forcing a failure.", "CPU: 0 UID: 0 PID: 1 Comm: t",
        "Call Trace:", " <TASK>", " dump_stack_lvl+0x1/0x2", " </TASK>"]
WARN = ["------------[ cut here ]------------",
        "WARNING: CPU: 0 PID: 1 at f.c:1 f+0x1/0x2 [bufq]", "Call Trace:",
        " <TASK>", " </TASK>", "---[ end trace 0000000000000000 ]---"]


def oom(constraint):
    return ["t invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0",
            "Call Trace:", " <TASK>", " </TASK>",
            f"oom-kill:constraint={constraint},nodemask=(null),task=t",
            "Memory cgroup out of memory: Killed process 5 (t) total-vm:1kB"]


def kcsan(top1, top2):
    return ["=" * 66, "BUG: KCSAN: data-race in a / b", "",
            "write to 0xffff8880 of 4 bytes by task 1 on cpu 0:", top1,
            " caller+0x1/0x2 [bufq]", "",
            "read to 0xffff8880 of 4 bytes by interrupt on cpu 1:", top2,
            "", "Reported by Kernel Concurrency Sanitizer on:", "=" * 66]


def scan(lines):
    checks, notes = [], []
    scan_log.scan_console(lines, checks, notes)
    return [name for name, _ in checks], notes


class ConsoleRules(unittest.TestCase):
    def test_bare_stack_dump_in_window(self):
        self.assertEqual(scan([WB] + BARE + [WE])[0], [])

    def test_bare_stack_dump_outside_window(self):
        self.assertEqual(scan(BARE)[0], ["unexpected Call Trace"])

    def test_bare_dump_allowance_ends_with_window(self):
        self.assertEqual(scan([WB] + BARE + [WE] + BARE)[0],
                         ["unexpected Call Trace"])

    def test_warning(self):
        self.assertEqual(scan([WB] + WARN + [WE])[0], [])
        self.assertEqual(scan(WARN)[0], ["WARNING outside window"])

    def test_memcg_oom_in_window(self):
        self.assertEqual(scan([OB] + oom("CONSTRAINT_MEMCG") + [OE])[0], [])

    def test_global_oom_in_window(self):
        self.assertEqual(scan([OB] + oom("CONSTRAINT_NONE") + [OE])[0],
                         ["OOM not contained by a memory cgroup"])

    def test_oom_outside_window(self):
        self.assertIn("OOM outside window",
                      scan(oom("CONSTRAINT_MEMCG"))[0])

    def test_kcsan_in_bufq(self):
        self.assertEqual(scan(kcsan(" f+0x1/0x2 [bufq]", " g+0x1/0x2"))[0],
                         ["KCSAN"])

    def test_kcsan_in_kernel_below_bufq(self):
        checks, notes = scan(kcsan(" rcu_a+0x1/0x2", " rcu_b+0x1/0x2"))
        self.assertEqual(checks, [])
        self.assertEqual(len(notes), 1)

    def test_kasan_never_allowed(self):
        self.assertEqual(scan([WB, "BUG: KASAN: use-after-free in f", WE])[0],
                         ["KASAN"])


if __name__ == "__main__":
    unittest.main()
