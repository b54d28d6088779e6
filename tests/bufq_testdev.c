// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_testdev - a driver whose queue user space reaches through
 * bufq_file_attach(), with knobs for tests/bufq_testdev_test.c
 *
 * /dev/bufq-testdev: every open attaches the current queue, a mappable
 * queue of BUFQ_TESTDEV_COUNT buffers, with the operations in the ops
 * parameter. Writable parameters play what a driver may do while files
 * are open:
 *
 *  - unplug: the device goes away: bufq_destroy() of the queue, a new one
 *    for the files opened after.
 *  - kfetch / kput: the driver fetches every free buffer and holds them,
 *    or gives back what it holds; kheld reads how many it holds.
 *  - kreuse=N: the driver hands in the Nth buffer it knows (one of those
 *    it fetched at creation, in the order it got them), whoever holds it;
 *    kresult reads what bufq_reuse() returned. A driver bug, for the test
 *    that user-held buffers are refused to the kernel.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bufq.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>

#define BUFQ_TESTDEV_COUNT	4
#define BUFQ_TESTDEV_SIZE	256

static unsigned int ops = BUFQ_OPS_ALL;
module_param(ops, uint, 0644);
MODULE_PARM_DESC(ops, "enum bufq_ops of files opened from now on");

static int kresult;
module_param(kresult, int, 0444);
MODULE_PARM_DESC(kresult, "What the last kreuse's bufq_reuse() returned");

static unsigned int kheld;
module_param(kheld, uint, 0444);
MODULE_PARM_DESC(kheld, "Buffers the driver holds (kfetch)");

/* Serializes the knobs and open() against each other. */
static DEFINE_MUTEX(bufq_testdev_lock);
static struct bufq *bufq_testdev_q;
static void *bufq_testdev_known[BUFQ_TESTDEV_COUNT];
static void *bufq_testdev_held[BUFQ_TESTDEV_COUNT];

/* A new queue; its buffers' addresses, as the driver first fetched them. */
static struct bufq *bufq_testdev_make(void)
{
	struct bufq_config cfg = {
		.name = "bufq_testdev",
		.buffer_count = BUFQ_TESTDEV_COUNT,
		.buffer_size = BUFQ_TESTDEV_SIZE,
		.mappable = true,
	};
	struct bufq *q = bufq_create(&cfg);
	unsigned int i;

	if (IS_ERR(q))
		return q;
	for (i = 0; i < BUFQ_TESTDEV_COUNT; i++)
		bufq_fetch(q, &bufq_testdev_known[i], NULL);
	for (i = 0; i < BUFQ_TESTDEV_COUNT; i++)
		bufq_reuse(q, bufq_testdev_known[i]);
	return q;
}

/* Give back what the driver holds. */
static void bufq_testdev_put(void)
{
	while (kheld)
		bufq_reuse(bufq_testdev_q, bufq_testdev_held[--kheld]);
}

static int bufq_testdev_unplug(const char *val, const struct kernel_param *kp)
{
	struct bufq *q;

	mutex_lock(&bufq_testdev_lock);
	bufq_testdev_put();
	q = bufq_testdev_q;
	bufq_testdev_q = bufq_testdev_make();
	if (IS_ERR(bufq_testdev_q)) {
		bufq_testdev_q = q;
		mutex_unlock(&bufq_testdev_lock);
		return -ENOMEM;
	}
	mutex_unlock(&bufq_testdev_lock);
	bufq_destroy(q);	/* open files keep it: they see ENODEV */
	return 0;
}

static int bufq_testdev_kfetch(const char *val, const struct kernel_param *kp)
{
	mutex_lock(&bufq_testdev_lock);
	while (kheld < BUFQ_TESTDEV_COUNT &&
	       !bufq_fetch(bufq_testdev_q, &bufq_testdev_held[kheld], NULL))
		kheld++;
	mutex_unlock(&bufq_testdev_lock);
	return 0;
}

static int bufq_testdev_kput(const char *val, const struct kernel_param *kp)
{
	mutex_lock(&bufq_testdev_lock);
	bufq_testdev_put();
	mutex_unlock(&bufq_testdev_lock);
	return 0;
}

static int bufq_testdev_kreuse(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret = kstrtouint(val, 0, &n);

	if (ret)
		return ret;
	if (n >= BUFQ_TESTDEV_COUNT)
		return -EINVAL;
	mutex_lock(&bufq_testdev_lock);
	kresult = bufq_reuse(bufq_testdev_q, bufq_testdev_known[n]);
	mutex_unlock(&bufq_testdev_lock);
	return 0;
}

#define BUFQ_TESTDEV_KNOB(_name, _fn)					\
	static const struct kernel_param_ops bufq_testdev_##_name##_ops = { \
		.set = _fn,						\
	};								\
	module_param_cb(_name, &bufq_testdev_##_name##_ops, NULL, 0200)

BUFQ_TESTDEV_KNOB(unplug, bufq_testdev_unplug);
BUFQ_TESTDEV_KNOB(kfetch, bufq_testdev_kfetch);
BUFQ_TESTDEV_KNOB(kput, bufq_testdev_kput);
BUFQ_TESTDEV_KNOB(kreuse, bufq_testdev_kreuse);

static int bufq_testdev_open(struct inode *inode, struct file *file)
{
	struct bufq_file_config cfg = {
		.ops = READ_ONCE(ops),
		.owner = THIS_MODULE,
	};
	int ret;

	mutex_lock(&bufq_testdev_lock);
	ret = bufq_file_attach(file, bufq_testdev_q, &cfg);
	mutex_unlock(&bufq_testdev_lock);
	return ret;
}

static const struct file_operations bufq_testdev_fops = {
	.owner = THIS_MODULE,
	.open = bufq_testdev_open,
};

static struct miscdevice bufq_testdev_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "bufq-testdev",
	.fops = &bufq_testdev_fops,
	.mode = 0600,
};

static int __init bufq_testdev_init(void)
{
	int ret;

	bufq_testdev_q = bufq_testdev_make();
	if (IS_ERR(bufq_testdev_q))
		return PTR_ERR(bufq_testdev_q);
	ret = misc_register(&bufq_testdev_dev);
	if (ret)
		bufq_destroy(bufq_testdev_q);
	return ret;
}

static void __exit bufq_testdev_exit(void)
{
	misc_deregister(&bufq_testdev_dev);
	bufq_testdev_put();
	bufq_destroy(bufq_testdev_q);
}

module_init(bufq_testdev_init);
module_exit(bufq_testdev_exit);

MODULE_DESCRIPTION("bufq test driver: a driver's queue in user space");
MODULE_LICENSE("GPL");
