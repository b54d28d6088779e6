# SPDX-License-Identifier: GPL-2.0
# Out-of-tree build: `make` builds bufq.ko against the running kernel,
# or against KDIR.
KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

# Boot the modules and tests in a QEMU debug kernel; see tools/vm/check.sh.
check:
	@tools/vm/check.sh

# The same in a KCSAN kernel (KASAN off): tests/kcsan.config over debug.config,
# watching one access in BUFQ_KCSAN_SKIP (default 500; the kernel's is 4000).
check-kcsan:
	@BUFQ_FRAGMENT="$(CURDIR)/tests/debug.config $(CURDIR)/tests/kcsan.config" \
		BUFQ_OUT=$${BUFQ_OUT:-build/check-kcsan} BUFQ_TIMEOUT=$${BUFQ_TIMEOUT:-2400} \
		BUFQ_CMDLINE="kcsan.skip_watch=$${BUFQ_KCSAN_SKIP:-500} $${BUFQ_CMDLINE:-}" \
		tools/vm/check.sh

# A long run of the multi-process stress kselftest (and KUnit suites named
# *stress*): BUFQ_STRESS_OPS operations in all (default 2000000).
stress:
	@SELFTESTS=tests/bufq_stress_test.c BUFQ_OUT=build/stress \
		BUFQ_KUNIT_FILTER="$${BUFQ_KUNIT_FILTER:-*stress*}" \
		BUFQ_STRESS_OPS=$${BUFQ_STRESS_OPS:-2000000} \
		BUFQ_TEST_TIMEOUT=$${BUFQ_TEST_TIMEOUT:-5400} \
		BUFQ_TIMEOUT=$${BUFQ_TIMEOUT:-6000} tools/vm/check.sh

# checkpatch --strict, sparse and a W=1 build; see tools/vm/lint.sh.
lint:
	@tools/vm/lint.sh

# bufqctl, the command-line tool for /dev/bufq: static, so that it also
# runs in the VM's initramfs. Man page: tools/bufqctl/bufqctl.1.
BUFQCTL := build/bufqctl
bufqctl: $(BUFQCTL)
$(BUFQCTL): tools/bufqctl/bufqctl.c include/uapi/linux/bufq.h
	@mkdir -p $(@D)
	$(CC) -static -O2 -Wall -I include/uapi -o $@ $<

# Boot Debian's stock 6.12 kernel (downloaded, never installed) with bufq
# and bufq_sample loaded and show them at work; see tools/vm/demo.sh.
demo:
	@tools/vm/demo.sh

# The same VM, to an interactive shell with the modules loaded.
vm-shell:
	@tools/vm/demo.sh --shell

# Benchmarks in the stock kernel: prints the table; `make bench-update`
# also rewrites docs/benchmarks.md and its chart. See tools/bench/bench.sh.
bench:
	@tools/bench/bench.sh

bench-update:
	@tools/bench/bench.sh --update

.PHONY: all modules clean check check-kcsan stress lint bufqctl demo vm-shell bench bench-update
