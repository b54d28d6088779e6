// SPDX-License-Identifier: GPL-2.0
/*
 * The module's version: the VERSION file, which Kbuild passes in as
 * BUFQ_VERSION, as the Makefile does for bufqctl and packaging for the
 * Debian and DKMS packages, so that all of them agree.
 */
#include <linux/module.h>

MODULE_VERSION(BUFQ_VERSION);
