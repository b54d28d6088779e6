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

# checkpatch --strict, sparse and a W=1 build; see tools/vm/lint.sh.
lint:
	@tools/vm/lint.sh

# bufqctl, the command-line tool for /dev/bufq: static, so that it also
# runs in the VM's initramfs. Man page: tools/bufqctl/bufqctl.1.
BUFQCTL := build/bufqctl
bufqctl: $(BUFQCTL)
BUFQCTL_SRC := tools/bufqctl/bufqctl.c tools/bufqctl/bufqctl_obs.c
$(BUFQCTL): $(BUFQCTL_SRC) tools/bufqctl/bufqctl.h include/uapi/linux/bufq.h
	@mkdir -p $(@D)
	$(CC) -static -O2 -Wall -I include/uapi -o $@ $(BUFQCTL_SRC)

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

.PHONY: all modules clean check lint bufqctl demo vm-shell bench bench-update
