// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_sample - a threaded buffer queue, the DMF_ThreadedBufferQueue pattern
 *
 * Writers of /dev/bufq-sample are the producers: each write() takes a free
 * buffer (bufq_fetch_wait()), copies the message into it and queues it
 * (bufq_enqueue()). A kernel thread is the consumer: it waits for work
 * (bufq_dequeue_wait()), processes the buffer (counts messages and bytes,
 * folds the data into a CRC32, logs every log_every-th message) and gives
 * it back (bufq_reuse()). read() of /dev/bufq-sample returns a text summary
 * of what the thread has done so far.
 *
 * Module exit queues a stop message behind any pending work, so the thread
 * finishes what was written before it is stopped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bufq.h>
#include <linux/crc32.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>

static unsigned int buffer_count = 16;
module_param(buffer_count, uint, 0444);
MODULE_PARM_DESC(buffer_count, "Buffers in the queue (default 16)");

static unsigned int buffer_size = 4096;
module_param(buffer_size, uint, 0444);
MODULE_PARM_DESC(buffer_size, "Largest message, in bytes (default 4096)");

static unsigned int log_every = 100;
module_param(log_every, uint, 0644);
MODULE_PARM_DESC(log_every, "Log every Nth message processed; 0: never (default 100)");

/**
 * struct bufq_sample_msg - context area of each buffer
 * @len: bytes of message in the data area
 * @stop: not a message: the thread is to stop after this buffer
 */
struct bufq_sample_msg {
	u32 len;
	bool stop;
};

/**
 * struct bufq_sample_stats - what the thread has processed
 * @messages: messages processed
 * @bytes: bytes in them
 * @crc: running CRC-32 of all their bytes, in order (crc32_le() seeded
 *	with ~0: the final inversion gives the CRC-32 of zlib and gzip)
 * @last_len: length of the last message
 * @last_crc: CRC-32 of the last message alone
 */
struct bufq_sample_stats {
	u64 messages;
	u64 bytes;
	u32 crc;
	u32 last_len;
	u32 last_crc;
};

static struct bufq *bufq_sample_q;
static struct task_struct *bufq_sample_thread;
static DEFINE_SPINLOCK(bufq_sample_lock);
static struct bufq_sample_stats bufq_sample_stats = { .crc = ~0U };

static void bufq_sample_process(const void *buf,
				const struct bufq_sample_msg *msg)
{
	u32 crc = crc32_le(~0U, buf, msg->len) ^ ~0U;
	unsigned int every;
	u64 n;

	spin_lock(&bufq_sample_lock);
	bufq_sample_stats.crc = crc32_le(bufq_sample_stats.crc, buf, msg->len);
	bufq_sample_stats.bytes += msg->len;
	bufq_sample_stats.last_len = msg->len;
	bufq_sample_stats.last_crc = crc;
	n = ++bufq_sample_stats.messages;
	spin_unlock(&bufq_sample_lock);

	every = READ_ONCE(log_every);
	if (every && !(n % every))
		pr_info("message %llu: %u bytes, crc32 %08x\n", n, msg->len,
			crc);
}

/* The consumer: runs until the stop message, then waits for kthread_stop(). */
static int bufq_sample_threadfn(void *unused)
{
	struct bufq_sample_msg *msg;
	bool stop = false;
	void *buf;
	int ret;

	while (!stop) {
		ret = bufq_dequeue_wait(bufq_sample_q, &buf, (void **)&msg);
		if (ret) {
			pr_warn("dequeue failed: %d\n", ret);
			break;
		}
		stop = msg->stop;
		if (!stop)
			bufq_sample_process(buf, msg);
		bufq_reuse(bufq_sample_q, buf);
	}

	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

/* The producer: one message per write(). */
static ssize_t bufq_sample_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	struct bufq_sample_msg *msg;
	void *buf;
	int ret;

	if (!len)
		return 0;
	if (len > bufq_buffer_size(bufq_sample_q))
		return -EMSGSIZE;

	if (file->f_flags & O_NONBLOCK) {
		ret = bufq_fetch(bufq_sample_q, &buf, (void **)&msg);
		if (ret == -ENOBUFS)
			ret = -EAGAIN;
	} else {
		ret = bufq_fetch_wait(bufq_sample_q, &buf, (void **)&msg);
	}
	if (ret)
		return ret;

	if (copy_from_user(buf, ubuf, len)) {
		bufq_reuse(bufq_sample_q, buf);
		return -EFAULT;
	}
	msg->len = len;
	msg->stop = false;
	ret = bufq_enqueue(bufq_sample_q, buf);
	if (ret) {
		bufq_reuse(bufq_sample_q, buf);
		return ret;
	}
	return len;
}

static int bufq_sample_show(struct seq_file *m, void *unused)
{
	struct bufq_sample_stats st;
	struct bufq_stats qs;

	spin_lock(&bufq_sample_lock);
	st = bufq_sample_stats;
	spin_unlock(&bufq_sample_lock);
	bufq_get_stats(bufq_sample_q, &qs);

	seq_printf(m, "messages: %llu\n", st.messages);
	seq_printf(m, "bytes: %llu\n", st.bytes);
	seq_printf(m, "crc32: %08x\n", st.crc ^ ~0U);
	seq_printf(m, "last: %u bytes, crc32 %08x\n", st.last_len,
		   st.last_crc);
	seq_printf(m, "queue: %u buffers of %u bytes, free %u, queued %u, held %u, high water %u\n",
		   qs.total, bufq_buffer_size(bufq_sample_q), qs.free,
		   qs.queued, qs.held, qs.high_water);
	return 0;
}

static int bufq_sample_open(struct inode *inode, struct file *file)
{
	/* misc_open() left the miscdevice here; seq_open() wants it empty. */
	file->private_data = NULL;
	return single_open(file, bufq_sample_show, NULL);
}

static const struct file_operations bufq_sample_fops = {
	.owner = THIS_MODULE,
	.open = bufq_sample_open,
	.read = seq_read,
	.write = bufq_sample_write,
	.llseek = seq_lseek,
	.release = single_release,
};

static struct miscdevice bufq_sample_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "bufq-sample",
	.fops = &bufq_sample_fops,
	.mode = 0600,
};

/* Queue the stop message behind all pending work; the thread reuses it. */
static void bufq_sample_stop(void)
{
	struct bufq_sample_msg *msg;
	void *buf;

	/* Not interruptible by a signal here: the thread gives buffers back. */
	while (bufq_fetch_wait(bufq_sample_q, &buf, (void **)&msg) == -ERESTARTSYS)
		schedule_timeout_uninterruptible(1);
	msg->len = 0;
	msg->stop = true;
	bufq_enqueue(bufq_sample_q, buf);
	kthread_stop(bufq_sample_thread);
}

static int __init bufq_sample_init(void)
{
	struct bufq_config cfg = {
		.name = "bufq_sample",
		.buffer_count = buffer_count,
		.buffer_size = buffer_size,
		.context_size = sizeof(struct bufq_sample_msg),
	};
	int ret;

	if (!buffer_count || !buffer_size)
		return -EINVAL;
	bufq_sample_q = bufq_create(&cfg);
	if (IS_ERR(bufq_sample_q))
		return PTR_ERR(bufq_sample_q);

	bufq_sample_thread = kthread_run(bufq_sample_threadfn, NULL,
					 "bufq_sample");
	if (IS_ERR(bufq_sample_thread)) {
		ret = PTR_ERR(bufq_sample_thread);
		goto err_queue;
	}

	ret = misc_register(&bufq_sample_dev);
	if (ret)
		goto err_thread;

	pr_info("/dev/%s: %u buffers of %u bytes\n", bufq_sample_dev.name,
		buffer_count, buffer_size);
	return 0;

err_thread:
	bufq_sample_stop();
err_queue:
	bufq_destroy(bufq_sample_q);
	return ret;
}

static void __exit bufq_sample_exit(void)
{
	/* No file is open (each holds a module reference): no writer left. */
	misc_deregister(&bufq_sample_dev);
	bufq_sample_stop();
	pr_info("processed %llu messages, %llu bytes\n",
		bufq_sample_stats.messages, bufq_sample_stats.bytes);
	bufq_destroy(bufq_sample_q);
}

module_init(bufq_sample_init);
module_exit(bufq_sample_exit);

MODULE_DESCRIPTION("bufq sample: a kernel thread consuming a buffer queue fed by /dev/bufq-sample");
MODULE_LICENSE("GPL");
