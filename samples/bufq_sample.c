// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_sample - three devices showing how a driver uses a buffer queue
 *
 * /dev/bufq-sample: a threaded buffer queue, the DMF_ThreadedBufferQueue
 * pattern. Writers of /dev/bufq-sample are the producers: each write()
 * takes a free buffer (bufq_fetch_wait()), copies the message into it and
 * queues it (bufq_enqueue()). A kernel thread is the consumer: it waits for
 * work (bufq_dequeue_wait()), processes the buffer (counts messages and
 * bytes, folds the data into a CRC32, logs every log_every-th message) and
 * gives it back (bufq_reuse()). read() of /dev/bufq-sample returns a text
 * summary of what the thread has done so far.
 *
 * /dev/bufq-capture: a device that produces frames, played by an hrtimer
 * in hard-IRQ mode, frame_rate times a second. Each tick takes a free
 * buffer of a mappable queue, writes a frame into it (&struct
 * bufq_sample_frame, then a pattern) and queues it; with no buffer free the
 * frame is dropped and counted. User space gets the queue itself: open()
 * hands the file to bufq_file_attach(), which lets it DEQUEUE, REUSE and
 * FLUSH, and user space reads the frames in place from its mapping.
 *
 * /dev/bufq-playback: the other direction. User space FETCHes buffers of a
 * mappable queue, fills them in its mapping and ENQUEUEs them; a kernel
 * thread consumes each in place (counts, CRC32, sequence check) and gives
 * it back.
 *
 * The capture and playback counters are attributes of the misc devices,
 * /sys/class/misc/bufq-{capture,playback}/. The frame format is in
 * samples/bufq_sample.h, for user space to include.
 *
 * Module exit queues a stop message behind any pending work, so each thread
 * finishes what was queued before it is stopped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bufq.h>
#include <linux/crc32.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>

#include "../bufq_compat.h"	/* hrtimer_setup() before 6.13 */
#include "bufq_sample.h"

static unsigned int buffer_count = 16;
module_param(buffer_count, uint, 0444);
MODULE_PARM_DESC(buffer_count, "Buffers in the queue (default 16)");

static unsigned int buffer_size = 4096;
module_param(buffer_size, uint, 0444);
MODULE_PARM_DESC(buffer_size, "Largest message, in bytes (default 4096)");

static unsigned int log_every = 100;
module_param(log_every, uint, 0644);
MODULE_PARM_DESC(log_every, "Log every Nth message processed; 0: never (default 100)");

static unsigned int capture_count = 8;
module_param(capture_count, uint, 0444);
MODULE_PARM_DESC(capture_count, "Buffers of /dev/bufq-capture (default 8)");

static unsigned int frame_size = 4096;
module_param(frame_size, uint, 0444);
MODULE_PARM_DESC(frame_size, "Bytes of a capture frame, header included (default 4096)");

#define BUFQ_CAPTURE_MAX_RATE	100000

static unsigned int frame_rate = 50;
/* module_param_cb() below: its setter restarts the device. */
MODULE_PARM_DESC(frame_rate, "Capture frames per second, at most 100000; 0 stops the device (default 50)");

static unsigned int playback_count = 8;
module_param(playback_count, uint, 0444);
MODULE_PARM_DESC(playback_count, "Buffers of /dev/bufq-playback (default 8)");

static unsigned int playback_size = 4096;
module_param(playback_size, uint, 0444);
MODULE_PARM_DESC(playback_size, "Largest playback message, in bytes (default 4096)");

/* ---- /dev/bufq-sample: a copying write() feeding a kernel thread ---- */

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

/* After its stop message, a consumer thread waits for kthread_stop(). */
static int bufq_sample_wait_stop(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
	return 0;
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
	return bufq_sample_wait_stop();
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

static int bufq_sample_dev_init(void)
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

static void bufq_sample_dev_exit(void)
{
	/* No file is open (each holds a module reference): no writer left. */
	misc_deregister(&bufq_sample_dev);
	bufq_sample_stop();
	pr_info("processed %llu messages, %llu bytes\n",
		bufq_sample_stats.messages, bufq_sample_stats.bytes);
	bufq_destroy(bufq_sample_q);
}

/* ---- /dev/bufq-capture: an hrtimer plays a device producing frames ---- */

static struct bufq *bufq_capture_q;
static struct hrtimer bufq_capture_timer;
/* Serializes starting and stopping the timer (rate changes, exit). */
static DEFINE_MUTEX(bufq_capture_lock);
static bool bufq_capture_running;	/* under bufq_capture_lock */
static u64 bufq_capture_period_ns;	/* changed only with the timer off */
/* Written by the timer alone, read by sysfs. */
static atomic64_t bufq_capture_frames;	/* frames made: the next seq */
static atomic64_t bufq_capture_drops;	/* of those, not delivered */
static atomic64_t bufq_capture_overruns; /* of the drops, ticks missed */

/* Fill @len bytes at @buf with the pattern of frame @seq after its header. */
static void bufq_sample_fill(void *buf, unsigned int len, u64 seq)
{
	unsigned int i, hdr = sizeof(struct bufq_sample_frame);
	unsigned int words = (len - hdr) / sizeof(u64);
	u64 *w = buf + hdr;
	u8 *p = buf;

	for (i = 0; i < words; i++)
		w[i] = bufq_sample_word(seq, i);
	for (i = hdr + words * sizeof(u64); i < len; i++)
		p[i] = bufq_sample_byte(seq, i);
}

/*
 * Make frame @seq, @drops frames having been dropped before it. Hard IRQ.
 * Return: true if it was queued, false if it was dropped.
 */
static bool bufq_capture_frame(u64 seq, u64 drops)
{
	struct bufq_sample_frame *f;
	u64 now = ktime_get_ns();
	void *buf;

	if (bufq_fetch(bufq_capture_q, &buf, NULL))
		return false;
	f = buf;
	f->magic = BUFQ_SAMPLE_MAGIC;
	f->len = frame_size;
	f->seq = seq;
	f->timestamp_ns = now;
	f->drops = drops;
	bufq_sample_fill(buf, frame_size, seq);
	bufq_set_payload(bufq_capture_q, buf, frame_size);
	if (bufq_enqueue(bufq_capture_q, buf)) {
		bufq_reuse(bufq_capture_q, buf);
		return false;
	}
	return true;
}

/*
 * The device's interrupt: one frame a period. Periods the timer missed
 * (the machine was too busy to run it) are frames the device made and
 * nobody took: they count as drops, and their sequence numbers are gaps.
 */
static enum hrtimer_restart bufq_capture_tick(struct hrtimer *timer)
{
	u64 ticks = hrtimer_forward_now(timer,
					ns_to_ktime(bufq_capture_period_ns));
	u64 missed = ticks ? ticks - 1 : 0;
	u64 seq = atomic64_read(&bufq_capture_frames) + missed;
	u64 drops = atomic64_read(&bufq_capture_drops) + missed;

	if (missed)
		atomic64_add(missed, &bufq_capture_overruns);
	if (!bufq_capture_frame(seq, drops))
		drops++;
	atomic64_set(&bufq_capture_drops, drops);
	atomic64_set(&bufq_capture_frames, seq + 1);
	return HRTIMER_RESTART;
}

/* Stop the device and, at a @rate above 0, start it again. */
static void bufq_capture_restart(unsigned int rate)
{
	lockdep_assert_held(&bufq_capture_lock);
	hrtimer_cancel(&bufq_capture_timer);
	if (!rate)
		return;
	bufq_capture_period_ns = div_u64(NSEC_PER_SEC, rate);
	hrtimer_start(&bufq_capture_timer, ns_to_ktime(bufq_capture_period_ns),
		      HRTIMER_MODE_REL_HARD);
}

static int bufq_capture_rate_set(const char *val,
				 const struct kernel_param *kp)
{
	unsigned int rate;
	int ret;

	ret = kstrtouint(val, 0, &rate);
	if (ret)
		return ret;
	if (rate > BUFQ_CAPTURE_MAX_RATE)
		return -EINVAL;
	mutex_lock(&bufq_capture_lock);
	WRITE_ONCE(frame_rate, rate);
	if (bufq_capture_running)
		bufq_capture_restart(rate);
	mutex_unlock(&bufq_capture_lock);
	return 0;
}

static const struct kernel_param_ops bufq_capture_rate_ops = {
	.set = bufq_capture_rate_set,
	.get = param_get_uint,
};
module_param_cb(frame_rate, &bufq_capture_rate_ops, &frame_rate, 0644);

/* User space may only take frames and give the buffers back. */
static int bufq_capture_open(struct inode *inode, struct file *file)
{
	static const struct bufq_file_config cfg = {
		.ops = BUFQ_OPS_DEQUEUE | BUFQ_OPS_REUSE | BUFQ_OPS_FLUSH,
		.owner = THIS_MODULE,
	};

	return bufq_file_attach(file, bufq_capture_q, &cfg);
}

static const struct file_operations bufq_capture_fops = {
	.owner = THIS_MODULE,
	.open = bufq_capture_open,
};

static ssize_t frames_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)atomic64_read(&bufq_capture_frames));
}
static DEVICE_ATTR_RO(frames);

static ssize_t drops_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)atomic64_read(&bufq_capture_drops));
}
static DEVICE_ATTR_RO(drops);

static ssize_t overruns_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n",
			  (u64)atomic64_read(&bufq_capture_overruns));
}
static DEVICE_ATTR_RO(overruns);

static struct attribute *bufq_capture_attrs[] = {
	&dev_attr_frames.attr,
	&dev_attr_drops.attr,
	&dev_attr_overruns.attr,
	NULL,
};
ATTRIBUTE_GROUPS(bufq_capture);

static struct miscdevice bufq_capture_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "bufq-capture",
	.fops = &bufq_capture_fops,
	.groups = bufq_capture_groups,
	.mode = 0600,
};

static int bufq_capture_init(void)
{
	struct bufq_config cfg = {
		.name = "bufq_capture",
		.buffer_count = capture_count,
		.buffer_size = frame_size,
		.mappable = true,
	};
	int ret;

	if (!capture_count || frame_size < sizeof(struct bufq_sample_frame))
		return -EINVAL;
	bufq_capture_q = bufq_create(&cfg);
	if (IS_ERR(bufq_capture_q))
		return PTR_ERR(bufq_capture_q);
	hrtimer_setup(&bufq_capture_timer, bufq_capture_tick, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL_HARD);

	ret = misc_register(&bufq_capture_dev);
	if (ret)
		goto err_queue;

	mutex_lock(&bufq_capture_lock);
	bufq_capture_running = true;
	bufq_capture_restart(frame_rate);
	mutex_unlock(&bufq_capture_lock);
	pr_info("/dev/%s: %u buffers, frames of %u bytes at %u/s\n",
		bufq_capture_dev.name, capture_count, frame_size, frame_rate);
	return 0;

err_queue:
	bufq_destroy(bufq_capture_q);
	return ret;
}

static void bufq_capture_exit(void)
{
	misc_deregister(&bufq_capture_dev);
	mutex_lock(&bufq_capture_lock);
	bufq_capture_running = false;
	hrtimer_cancel(&bufq_capture_timer);
	mutex_unlock(&bufq_capture_lock);
	pr_info("captured %lld frames, %lld dropped\n",
		atomic64_read(&bufq_capture_frames),
		atomic64_read(&bufq_capture_drops));
	bufq_destroy(bufq_capture_q);
}

/* ---- /dev/bufq-playback: a kernel thread consumes user buffers ---- */

/**
 * struct bufq_playback_stats - what the playback thread has consumed
 * @messages: messages consumed
 * @bytes: bytes in them
 * @crc: running CRC-32 of all their bytes, in order, as for
 *	&struct bufq_sample_stats
 * @last_seq: sequence number of the last message with a frame header
 * @seq_errors: messages whose frame header did not follow the one before
 *	(sequence neither the next one nor 0, which starts a new stream) or
 *	gave a length other than the message's
 * @have_seq: @last_seq is valid
 */
struct bufq_playback_stats {
	u64 messages;
	u64 bytes;
	u32 crc;
	u64 last_seq;
	u64 seq_errors;
	bool have_seq;
};

static struct bufq *bufq_playback_q;
static struct task_struct *bufq_playback_thread;
/*
 * The stop message. The data areas are user space's to fill and the
 * context area would show in INFO, so the message is known by its address.
 */
static void *bufq_playback_stop_buf;
static DEFINE_SPINLOCK(bufq_playback_lock);
/* Written by the thread alone, under the lock; read under it. */
static struct bufq_playback_stats bufq_playback_stats = { .crc = ~0U };

/*
 * Consume a message in place. User space may still be writing to it: read
 * the header once, trust nothing in it.
 */
static void bufq_playback_consume(const void *buf, unsigned int len)
{
	struct bufq_playback_stats *st = &bufq_playback_stats;
	u32 crc = crc32_le(st->crc, buf, len);
	struct bufq_sample_frame f;
	bool frame = false, bad = false;

	if (len >= sizeof(f)) {
		memcpy(&f, buf, sizeof(f));
		frame = f.magic == BUFQ_SAMPLE_MAGIC;
	}
	if (frame)
		bad = f.len != len ||
		      (f.seq && (!st->have_seq || f.seq != st->last_seq + 1));

	spin_lock(&bufq_playback_lock);
	st->crc = crc;
	st->bytes += len;
	st->messages++;
	if (frame) {
		st->last_seq = f.seq;
		st->have_seq = true;
	}
	if (bad)
		st->seq_errors++;
	spin_unlock(&bufq_playback_lock);
}

static int bufq_playback_threadfn(void *unused)
{
	bool stop = false;
	void *buf;
	int ret;

	while (!stop) {
		ret = bufq_dequeue_wait(bufq_playback_q, &buf, NULL);
		if (ret) {
			pr_warn("playback: dequeue failed: %d\n", ret);
			break;
		}
		/* Its enqueue, under the queue's lock, published the address. */
		stop = buf == READ_ONCE(bufq_playback_stop_buf);
		if (!stop)
			bufq_playback_consume(buf,
					      bufq_payload(bufq_playback_q, buf));
		bufq_reuse(bufq_playback_q, buf);
	}
	return bufq_sample_wait_stop();
}

/* User space may only fill buffers and give them to the thread. */
static int bufq_playback_open(struct inode *inode, struct file *file)
{
	static const struct bufq_file_config cfg = {
		.ops = BUFQ_OPS_FETCH | BUFQ_OPS_ENQUEUE | BUFQ_OPS_REUSE,
		.owner = THIS_MODULE,
	};

	return bufq_file_attach(file, bufq_playback_q, &cfg);
}

static const struct file_operations bufq_playback_fops = {
	.owner = THIS_MODULE,
	.open = bufq_playback_open,
};

/* Queue the stop message behind all pending work; the thread reuses it. */
static void bufq_playback_stop(void)
{
	void *buf;

	while (bufq_fetch_wait(bufq_playback_q, &buf, NULL) == -ERESTARTSYS)
		schedule_timeout_uninterruptible(1);
	WRITE_ONCE(bufq_playback_stop_buf, buf);
	bufq_enqueue(bufq_playback_q, buf);
	kthread_stop(bufq_playback_thread);
}

static void bufq_playback_snapshot(struct bufq_playback_stats *st)
{
	spin_lock(&bufq_playback_lock);
	*st = bufq_playback_stats;
	spin_unlock(&bufq_playback_lock);
}

static ssize_t messages_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct bufq_playback_stats st;

	bufq_playback_snapshot(&st);
	return sysfs_emit(buf, "%llu\n", st.messages);
}
static DEVICE_ATTR_RO(messages);

static ssize_t bytes_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct bufq_playback_stats st;

	bufq_playback_snapshot(&st);
	return sysfs_emit(buf, "%llu\n", st.bytes);
}
static DEVICE_ATTR_RO(bytes);

static ssize_t crc_show(struct device *dev, struct device_attribute *attr,
			char *buf)
{
	struct bufq_playback_stats st;

	bufq_playback_snapshot(&st);
	return sysfs_emit(buf, "%08x\n", st.crc ^ ~0U);
}
static DEVICE_ATTR_RO(crc);

static ssize_t last_seq_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct bufq_playback_stats st;

	bufq_playback_snapshot(&st);
	if (!st.have_seq)
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "%llu\n", st.last_seq);
}
static DEVICE_ATTR_RO(last_seq);

static ssize_t seq_errors_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct bufq_playback_stats st;

	bufq_playback_snapshot(&st);
	return sysfs_emit(buf, "%llu\n", st.seq_errors);
}
static DEVICE_ATTR_RO(seq_errors);

static struct attribute *bufq_playback_attrs[] = {
	&dev_attr_messages.attr,
	&dev_attr_bytes.attr,
	&dev_attr_crc.attr,
	&dev_attr_last_seq.attr,
	&dev_attr_seq_errors.attr,
	NULL,
};
ATTRIBUTE_GROUPS(bufq_playback);

static struct miscdevice bufq_playback_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "bufq-playback",
	.fops = &bufq_playback_fops,
	.groups = bufq_playback_groups,
	.mode = 0600,
};

static int bufq_playback_init(void)
{
	struct bufq_config cfg = {
		.name = "bufq_playback",
		.buffer_count = playback_count,
		.buffer_size = playback_size,
		.mappable = true,
	};
	int ret;

	if (!playback_count || !playback_size)
		return -EINVAL;
	bufq_playback_q = bufq_create(&cfg);
	if (IS_ERR(bufq_playback_q))
		return PTR_ERR(bufq_playback_q);

	bufq_playback_thread = kthread_run(bufq_playback_threadfn, NULL,
					   "bufq_playback");
	if (IS_ERR(bufq_playback_thread)) {
		ret = PTR_ERR(bufq_playback_thread);
		goto err_queue;
	}

	ret = misc_register(&bufq_playback_dev);
	if (ret)
		goto err_thread;

	pr_info("/dev/%s: %u buffers of %u bytes\n", bufq_playback_dev.name,
		playback_count, playback_size);
	return 0;

err_thread:
	bufq_playback_stop();
err_queue:
	bufq_destroy(bufq_playback_q);
	return ret;
}

static void bufq_playback_exit(void)
{
	/*
	 * No file is open (each pins the module), so no user space holder is
	 * left to fill the queue: the stop message gets a buffer.
	 */
	misc_deregister(&bufq_playback_dev);
	bufq_playback_stop();
	pr_info("played %llu messages, %llu bytes\n",
		bufq_playback_stats.messages, bufq_playback_stats.bytes);
	bufq_destroy(bufq_playback_q);
}

static int __init bufq_sample_init(void)
{
	int ret;

	ret = bufq_sample_dev_init();
	if (ret)
		return ret;
	ret = bufq_capture_init();
	if (ret)
		goto err_sample;
	ret = bufq_playback_init();
	if (ret)
		goto err_capture;
	return 0;

err_capture:
	bufq_capture_exit();
err_sample:
	bufq_sample_dev_exit();
	return ret;
}

static void __exit bufq_sample_exit(void)
{
	bufq_playback_exit();
	bufq_capture_exit();
	bufq_sample_dev_exit();
}

module_init(bufq_sample_init);
module_exit(bufq_sample_exit);

MODULE_DESCRIPTION("bufq sample: a kernel thread fed by /dev/bufq-sample, a capture and a playback device");
MODULE_LICENSE("GPL");
