// SPDX-License-Identifier: GPL-2.0
/*
 * bufq module: the core and its first client, /dev/bufq. The core knows
 * nothing of the character device; this file starts both.
 */
#include <linux/module.h>

#include "bufq_chardev.h"
#include "bufq_core.h"

static int __init bufq_module_init(void)
{
	int ret;

	ret = bufq_core_init();
	if (ret)
		return ret;
	bufq_trace_init();
	bufq_debugfs_init();
	ret = bufq_chardev_init();
	if (ret) {
		bufq_debugfs_exit();
		bufq_core_exit();
	}
	return ret;
}

static void __exit bufq_module_exit(void)
{
	bufq_chardev_exit();
	bufq_core_exit();
	bufq_debugfs_exit();
}

module_init(bufq_module_init);
module_exit(bufq_module_exit);

MODULE_DESCRIPTION("bufq: producer/consumer buffer queue");
MODULE_LICENSE("GPL");
