# SPDX-License-Identifier: GPL-2.0
# Out-of-tree build: `make` builds bufq.ko against the running kernel,
# or against KDIR.
KDIR ?= /lib/modules/$(shell uname -r)/build

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

.PHONY: all modules clean
