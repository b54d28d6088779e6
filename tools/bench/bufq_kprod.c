// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_kprod - a kernel producer feeding a user consumer, two ways (make bench)
 *
 * A kernel thread per device fills buffers as fast as their consumer
 * gives them back, standing in for a device: it writes a sequence number
 * at the start of each message and a word of every cache line after it,
 * as a device's DMA would dirty them, sets the payload and queues it.
 *
 *  - /dev/bufq-kmap: the queue is mappable and the file is
 *    bufq_file_attach()ed (DEQUEUE, REUSE): user space reads the messages
 *    in place and hands them back, BATCH at a time.
 *  - /dev/bufq-kcopy: the same queue behind a read() handler that copies
 *    each message out and reuses the buffer, as a driver without bufq's
 *    file would write it.
 *
 * Parameters: size (bytes per message), count (buffers per queue).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bufq.h>
#include <linux/cache.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/task.h>
#include <linux/uaccess.h>

static unsigned int size = 4096;
module_param(size, uint, 0444);
MODULE_PARM_DESC(size, "Bytes per message (default 4096)");

static unsigned int count = 64;
module_param(count, uint, 0444);
MODULE_PARM_DESC(count, "Buffers per queue (default 64)");

/**
 * struct bufq_kprod - one device: its queue and its producer thread
 * @q: the queue
 * @thread: the producer
 * @dev: the device node
 */
struct bufq_kprod {
	struct bufq *q;
	struct task_struct *thread;
	struct miscdevice dev;
};

static struct bufq_kprod bufq_kprod_map, bufq_kprod_copy;

/* The device's DMA: a sequence number, then a word per cache line. */
static void bufq_kprod_fill(u8 *p, unsigned int len, u64 seq)
{
	unsigned int off;

	memcpy(p, &seq, min_t(unsigned int, len, sizeof(seq)));
	for (off = L1_CACHE_BYTES; off + sizeof(u64) <= len;
	     off += L1_CACHE_BYTES)
		*(u64 *)(p + off) = seq;
}

/* Holds a reference: stops at -ESHUTDOWN, when module exit destroys q. */
static int bufq_kprod_thread(void *arg)
{
	struct bufq *q = arg;
	u64 seq = 0;
	void *buf;

	while (!bufq_fetch_wait(q, &buf, NULL)) {
		bufq_kprod_fill(buf, size, seq++);
		bufq_set_payload(q, buf, size);
		if (bufq_enqueue(q, buf))
			bufq_reuse(q, buf);
		cond_resched();
	}
	bufq_put(q);
	return 0;
}

static int bufq_kprod_map_open(struct inode *inode, struct file *file)
{
	static const struct bufq_file_config fc = {
		.ops = BUFQ_OPS_DEQUEUE | BUFQ_OPS_REUSE,
		.owner = THIS_MODULE,
	};

	return bufq_file_attach(file, bufq_kprod_map.q, &fc);
}

/* The copying read(): one whole message per call. */
static ssize_t bufq_kprod_read(struct file *file, char __user *ubuf,
			       size_t len, loff_t *ppos)
{
	struct bufq *q = bufq_kprod_copy.q;
	unsigned int n;
	void *buf;
	int ret;

	ret = bufq_dequeue_wait(q, &buf, NULL);
	if (ret)
		return ret;
	n = bufq_payload(q, buf);
	if (n > len || copy_to_user(ubuf, buf, n)) {
		if (bufq_enqueue_at_head(q, buf))
			bufq_reuse(q, buf);
		return n > len ? -EMSGSIZE : -EFAULT;
	}
	bufq_reuse(q, buf);
	return n;
}

static const struct file_operations bufq_kprod_map_fops = {
	.owner = THIS_MODULE,
	.open = bufq_kprod_map_open,
};

static const struct file_operations bufq_kprod_copy_fops = {
	.owner = THIS_MODULE,
	.open = nonseekable_open,
	.read = bufq_kprod_read,
};

static void bufq_kprod_stop(struct bufq_kprod *k)
{
	if (k->dev.minor != MISC_DYNAMIC_MINOR)
		misc_deregister(&k->dev);
	bufq_destroy(k->q);	/* the thread's fetch fails: it puts and ends */
	if (k->thread) {
		kthread_stop(k->thread);
		put_task_struct(k->thread);
	}
}

static int bufq_kprod_start(struct bufq_kprod *k, const char *name,
			    const struct file_operations *fops)
{
	struct bufq_config cfg = {
		.name = name,
		.buffer_count = count,
		.buffer_size = size,
		.mappable = true,
	};
	int ret;

	k->dev.minor = MISC_DYNAMIC_MINOR;
	k->q = bufq_create(&cfg);
	if (IS_ERR(k->q)) {
		ret = PTR_ERR(k->q);
		k->q = NULL;
		return ret;
	}
	bufq_get(k->q);		/* the thread's */
	k->thread = kthread_run(bufq_kprod_thread, k->q, "%s", name);
	if (IS_ERR(k->thread)) {
		ret = PTR_ERR(k->thread);
		k->thread = NULL;
		bufq_put(k->q);
		return ret;
	}
	get_task_struct(k->thread);
	k->dev.name = name;
	k->dev.fops = fops;
	k->dev.mode = 0600;
	ret = misc_register(&k->dev);
	if (ret)
		k->dev.minor = MISC_DYNAMIC_MINOR;
	return ret;
}

static int __init bufq_kprod_init(void)
{
	int ret;

	if (!size || !count)
		return -EINVAL;
	ret = bufq_kprod_start(&bufq_kprod_map, "bufq-kmap",
			       &bufq_kprod_map_fops);
	if (ret)
		goto err_map;
	ret = bufq_kprod_start(&bufq_kprod_copy, "bufq-kcopy",
			       &bufq_kprod_copy_fops);
	if (ret)
		goto err_copy;
	return 0;

err_copy:
	bufq_kprod_stop(&bufq_kprod_copy);
err_map:
	bufq_kprod_stop(&bufq_kprod_map);
	return ret;
}

static void __exit bufq_kprod_exit(void)
{
	bufq_kprod_stop(&bufq_kprod_copy);
	bufq_kprod_stop(&bufq_kprod_map);
}

module_init(bufq_kprod_init);
module_exit(bufq_kprod_exit);

MODULE_DESCRIPTION("bufq benchmark: a kernel producer for a user consumer");
MODULE_LICENSE("GPL");
