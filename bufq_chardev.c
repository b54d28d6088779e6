// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_chardev - /dev/bufq: a queue per open file, made by user space
 *
 * Each open file becomes a bufq file (bufq_file.c) with no queue yet;
 * CONFIGURE checks the request against the module's limits, makes a
 * mappable queue charged to the caller's memory cgroup and binds it to the
 * file, with every operation allowed. The last close destroys it. The
 * user's buffer and its context area share each data area: the buffer
 * first, the context area at the next multiple of 8.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bufq.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>
#include <uapi/linux/bufq.h>

#include "bufq_chardev.h"
#include "bufq_core.h"
#include "bufq_file.h"

static unsigned int bufq_max_buffer_size = SZ_1M;
/* A pipe's 1 MiB of 64 B messages (at a page each, 64 MiB of buffers). */
static unsigned int bufq_max_buffers = 16384;
static unsigned int bufq_max_queue_bytes = SZ_64M;

static int bufq_param_set_limit(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, UINT_MAX);
}

static const struct kernel_param_ops bufq_limit_ops = {
	.set = bufq_param_set_limit,
	.get = param_get_uint,
};

module_param_cb(max_buffer_size, &bufq_limit_ops, &bufq_max_buffer_size, 0644);
MODULE_PARM_DESC(max_buffer_size, "Largest buffer_size of a /dev/bufq queue");
module_param_cb(max_buffers, &bufq_limit_ops, &bufq_max_buffers, 0644);
MODULE_PARM_DESC(max_buffers,
		 "Most buffers in a /dev/bufq queue; cap of lookaside queues configured without one, within max_queue_bytes");
module_param_cb(max_queue_bytes, &bufq_limit_ops, &bufq_max_queue_bytes, 0644);
MODULE_PARM_DESC(max_queue_bytes, "Most bytes of buffer memory per /dev/bufq queue");

/* Check a configuration and work out its layout. */
static int bufq_configure_check(const struct bufq_configure *cmd, u32 *nr,
				u32 *stride)
{
	u32 max_bufs = READ_ONCE(bufq_max_buffers);
	u64 max_bytes = READ_ONCE(bufq_max_queue_bytes);
	bool lookaside = cmd->flags & BUFQ_CONFIGURE_LOOKASIDE;
	u64 bytes;

	if (cmd->flags & ~BUFQ_CONFIGURE_FLAGS_VALID)
		return -EOPNOTSUPP;
	if (!cmd->buffer_size || (!lookaside && !cmd->buffer_count) ||
	    (!lookaside && cmd->max_buffers) ||
	    (cmd->max_buffers && cmd->max_buffers < cmd->buffer_count))
		return -EINVAL;

	bytes = ALIGN((u64)cmd->buffer_size, 8) + cmd->context_size;
	bytes = PAGE_ALIGN(bytes);
	if (bytes > U32_MAX)
		return -EOVERFLOW;
	*stride = bytes;

	/* Without a cap, lookaside gets the most max_queue_bytes allows. */
	*nr = cmd->buffer_count;
	if (lookaside)
		*nr = cmd->max_buffers ?:
		      min_t(u64, max_bufs, max_bytes / *stride);
	if (cmd->buffer_size > READ_ONCE(bufq_max_buffer_size) ||
	    cmd->buffer_count > max_bufs || *nr > max_bufs || !*nr ||
	    *nr < cmd->buffer_count || (u64)*nr * *stride > max_bytes)
		return -E2BIG;
	return 0;
}

/* CONFIGURE, with bf->lock held, on a file not yet bound. */
static int bufq_dev_configure(struct bufq_file *bf, const void *arg)
{
	const struct bufq_configure *cmd = arg;
	char name[BUFQ_DEV_NAME_LEN];	/* names the queue after its owner */
	bool lookaside = cmd->flags & BUFQ_CONFIGURE_LOOKASIDE;
	struct bufq_config qc = {
		.name = name,
		.buffer_count = cmd->buffer_count,
		.lookaside = lookaside,
		.account = true,
		.mappable = true,
		.gfp = GFP_KERNEL_ACCOUNT,
	};
	struct bufq *q;
	u32 nr, stride;
	int ret;

	ret = bufq_configure_check(cmd, &nr, &stride);
	if (ret)
		return ret;
	/* The user's context area is the tail of the data area. */
	qc.buffer_size = ALIGN(cmd->buffer_size, 8) + cmd->context_size;
	qc.max_buffers = lookaside ? nr : 0;
	bufq_dev_name(name, sizeof(name));
	q = bufq_create(&qc);
	if (IS_ERR(q))
		return PTR_ERR(q);
	bufq_file_bind(bf, q, BUFQ_OPS_ALL, cmd->buffer_size,
		       cmd->context_size, ALIGN(cmd->buffer_size, 8));
	return 0;
}

static int bufq_dev_open(struct inode *inode, struct file *file)
{
	return PTR_ERR_OR_ZERO(bufq_file_open(file, bufq_dev_configure, NULL));
}

static const struct file_operations bufq_dev_fops = {
	.owner = THIS_MODULE,
	.open = bufq_dev_open,
};

static struct miscdevice bufq_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "bufq",
	.fops = &bufq_dev_fops,
	.mode = 0600,
};

int bufq_chardev_init(void)
{
	return misc_register(&bufq_miscdev);
}

void bufq_chardev_exit(void)
{
	misc_deregister(&bufq_miscdev);
}
