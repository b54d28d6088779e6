# SPDX-License-Identifier: GPL-2.0
# Out-of-tree build: `make` builds bufq.ko against the running kernel,
# or against KDIR.
KDIR ?= /lib/modules/$(shell uname -r)/build
# One version for the module, bufqctl, DKMS and the Debian packages.
BUFQ_VERSION := $(shell cat $(CURDIR)/VERSION)
BUFQ_VERSION_DEF = -DBUFQ_VERSION='"$(BUFQ_VERSION)"'

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
BUFQCTL_SRC := tools/bufqctl/bufqctl.c tools/bufqctl/bufqctl_obs.c
BUFQCTL_HDR := tools/bufqctl/bufqctl.h include/uapi/linux/bufq.h \
	samples/bufq_sample.h VERSION
$(BUFQCTL): $(BUFQCTL_SRC) $(BUFQCTL_HDR)
	@mkdir -p $(@D)
	$(CC) -static -O2 -Wall -I include/uapi -I samples $(BUFQ_VERSION_DEF) \
		-o $@ $(BUFQCTL_SRC)

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

# ---- Installing (README "Install") ----
# make [KDIR=...] && make install [DESTDIR=/stage] [PREFIX=/usr/local]
# bufq.ko through kbuild's modules_install (INSTALL_MOD_PATH=$(DESTDIR))
# and depmod; bufqctl and its man page; the uapi header as <linux/bufq.h>;
# a udev rule giving /dev/bufq to group bufq, mode 0660; a modules-load.d
# entry. `make uninstall` takes the same variables.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
UDEVRULESDIR ?= /etc/udev/rules.d
MODULESLOADDIR ?= /etc/modules-load.d
INSTALL_MOD_DIR ?= extra
# The headers' kernel.release is not always `uname -r` (Debian's 6.1 says
# 6.1.N); utsrelease.h is.
KRELEASE = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h)
DEPMOD ?= /sbin/depmod
# Distribution headers carry no signing key: skip kbuild's failing attempt
# (README "Secure Boot" signs with a MOK instead).
BUFQ_NO_SIGN = $(if $(wildcard $(KDIR)/certs/signing_key.pem),,CONFIG_MODULE_SIG_ALL=)
# The installed bufqctl links dynamically, with the caller's flags.
CFLAGS ?= -O2 -g
BUFQCTL_DYN := build/install/bufqctl

$(BUFQCTL_DYN): $(BUFQCTL_SRC) $(BUFQCTL_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wall -I include/uapi -I samples $(BUFQ_VERSION_DEF) \
		$(LDFLAGS) -o $@ $(BUFQCTL_SRC)

install: install-modules install-tools install-data

install-modules:
	@test -n "$(KRELEASE)" || { echo "no kernel headers in KDIR=$(KDIR)"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) BUFQ_CORE_ONLY=1 modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) BUFQ_CORE_ONLY=1 \
		INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=$(INSTALL_MOD_DIR) \
		$(BUFQ_NO_SIGN) modules_install
	$(DEPMOD) $(if $(DESTDIR),-b $(DESTDIR)) $(KRELEASE)

install-tools: $(BUFQCTL_DYN)
	install -D -m 0755 $(BUFQCTL_DYN) $(DESTDIR)$(BINDIR)/bufqctl
	install -D -m 0644 tools/bufqctl/bufqctl.1 $(DESTDIR)$(MANDIR)/man1/bufqctl.1
	install -D -m 0644 include/uapi/linux/bufq.h $(DESTDIR)$(INCLUDEDIR)/linux/bufq.h

# On a live system (no DESTDIR) also make the group and tell udev.
install-data:
	install -D -m 0644 dist/udev/60-bufq.rules $(DESTDIR)$(UDEVRULESDIR)/60-bufq.rules
	install -D -m 0644 dist/modules-load/bufq.conf \
		$(DESTDIR)$(MODULESLOADDIR)/bufq.conf
ifeq ($(DESTDIR),)
	getent group bufq >/dev/null || groupadd --system bufq
	-udevadm control --reload-rules && udevadm trigger --subsystem-match=misc
endif

# The group stays: files may still belong to it.
uninstall:
	@test -n "$(KRELEASE)" || { echo "no kernel headers in KDIR=$(KDIR)"; exit 1; }
	rm -f $(DESTDIR)/lib/modules/$(KRELEASE)/$(INSTALL_MOD_DIR)/bufq.ko \
		$(DESTDIR)/lib/modules/$(KRELEASE)/$(INSTALL_MOD_DIR)/bufq.ko.*
	$(DEPMOD) $(if $(DESTDIR),-b $(DESTDIR)) $(KRELEASE)
	rm -f $(DESTDIR)$(BINDIR)/bufqctl $(DESTDIR)$(MANDIR)/man1/bufqctl.1 \
		$(DESTDIR)$(INCLUDEDIR)/linux/bufq.h \
		$(DESTDIR)$(UDEVRULESDIR)/60-bufq.rules \
		$(DESTDIR)$(MODULESLOADDIR)/bufq.conf

# The sources DKMS builds from: $(DESTDIR)/usr/src/bufq-$(BUFQ_VERSION),
# then `dkms install bufq/$(BUFQ_VERSION)` (dkms.conf; bufq-dkms does both).
DKMS_SRC = $(DESTDIR)/usr/src/bufq-$(BUFQ_VERSION)
install-dkms-src:
	install -d $(DKMS_SRC)/include/linux $(DKMS_SRC)/include/uapi/linux
	install -m 0644 Makefile Kbuild VERSION $(wildcard bufq_*.c bufq_*.h) \
		$(DKMS_SRC)/
	install -m 0644 include/linux/bufq.h $(DKMS_SRC)/include/linux/
	install -m 0644 include/uapi/linux/bufq.h $(DKMS_SRC)/include/uapi/linux/
	sed 's/#MODULE_VERSION#/$(BUFQ_VERSION)/' dkms.conf >$(DKMS_SRC)/dkms.conf

# Stage an install in a scratch DESTDIR and check every file; see
# tools/install-test.sh (make check runs it against the 6.1 headers).
install-test:
	@tools/install-test.sh

# Real dkms (Debian's package) add/build/install/remove against unpacked
# stock 6.1 and 6.12 headers, in a private mount namespace; see
# tools/dkms-test.sh.
dkms-test:
	@tools/dkms-test.sh

# bufq-dkms and bufqctl .debs from dpkg-buildpackage, then lintian; see
# tools/deb.sh.
deb:
	@tools/deb.sh

# Build, load and run the demo on each Debian 12 stock kernel (6.1 and
# 6.12, generic, rt and cloud) and print the matrix; see tools/vm/compat.sh.
compat:
	@tools/vm/compat.sh

.PHONY: install install-modules install-tools install-data uninstall \
	install-dkms-src install-test dkms-test deb compat
