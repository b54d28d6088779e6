// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_debugfs - /sys/kernel/debug/bufq/<queue>/{config,stats}
 *
 * One directory per live queue, made by bufq_init() and removed when
 * destruction begins; named "<cfg.name>-<id>" for a kernel client's queue
 * and "dev-<pid>-<comm>-<id>" for a /dev/bufq file's (bufq_dev_name()).
 * debugfs is optional: without it, or if a directory cannot be made, the
 * queue works the same, unseen.
 *
 * Removal waits for readers in the files (debugfs proxies their
 * operations), so a reader never sees a queue that is being freed.
 */
#include <kunit/visibility.h>
#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "bufq_core.h"

static struct dentry *bufq_debugfs_root;

/* A queue's directory, and who made the queue. */
struct bufq_debugfs_dir {
	struct list_head node;		/* on bufq_debugfs_dirs */
	struct bufq *q;
	struct dentry *dir;
	pid_t pid;
	char comm[TASK_COMM_LEN];
};

/* Queue to directory, for removal (struct bufq has no room for it). */
static LIST_HEAD(bufq_debugfs_dirs);
static DEFINE_MUTEX(bufq_debugfs_lock);

/**
 * bufq_dev_name() - name a queue after the task configuring it
 * @name: filled with "dev-<tgid>-<comm>", NUL-terminated
 * @size: bytes at @name, BUFQ_DEV_NAME_LEN for the whole name
 *
 * Characters of comm that would not be safe in a file name or a trace
 * filter become '_'.
 */
void bufq_dev_name(char *name, size_t size)
{
	char comm[TASK_COMM_LEN];
	char *c;

	get_task_comm(comm, current);
	for (c = comm; *c; c++)
		if (!isalnum(*c) && !strchr("._+-", *c))
			*c = '_';
	snprintf(name, size, "dev-%d-%s", task_tgid_nr(current), comm);
}

static const char *bufq_yes_no(bool v)
{
	return v ? "yes" : "no";
}

static int bufq_config_show(struct seq_file *m, void *v)
{
	struct bufq_debugfs_dir *d = m->private;
	struct bufq *q = d->q;

	seq_printf(m, "name: %s\n", bufq_label(q));
	seq_printf(m, "creator: %d %s\n", d->pid, d->comm);
	seq_printf(m, "buffer_count: %u\n", q->buffer_count);
	seq_printf(m, "buffer_size: %u\n", q->buffer_size);
	seq_printf(m, "context_size: %u\n", q->context_size);
	seq_printf(m, "max_buffers: %u\n", q->max_buffers);
	seq_printf(m, "lookaside: %s\n", bufq_yes_no(q->lookaside));
	seq_printf(m, "with_timer: %s\n", bufq_yes_no(q->with_timer));
	seq_printf(m, "gfp: %pGg\n", &q->gfp);
	if (q->reuse_cleanup)
		seq_printf(m, "reuse_cleanup: %ps\n", q->reuse_cleanup);
	else
		seq_puts(m, "reuse_cleanup: none\n");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bufq_config);

/* Bytes of memory the queue holds: its buffers and its bookkeeping. */
static u64 bufq_footprint(struct bufq *q, const struct bufq_stats *st)
{
	return st->mem_bytes + sizeof(*q) + q->buffer_count * sizeof(void *);
}

/**
 * bufq_debugfs_stats() - print a queue's counters as its "stats" file does
 * @m: the seq_file to print to
 * @q: the queue
 *
 * Visible to the KUnit suite, which cannot read a debugfs file itself
 * (debugfs files have no read_iter for kernel_read()).
 *
 * Context: process context; takes the queue's locks.
 */
VISIBLE_IF_KUNIT void bufq_debugfs_stats(struct seq_file *m, struct bufq *q)
{
	struct bufq_stats st;

	bufq_get_stats(q, &st);
	seq_printf(m, "total: %u\n", st.total);
	seq_printf(m, "free: %u\n", st.free);
	seq_printf(m, "queued: %u\n", st.queued);
	seq_printf(m, "held: %u\n", st.held);
	seq_printf(m, "high_water: %u\n", st.high_water);
	seq_printf(m, "grown: %lu\n", st.grown);
	seq_printf(m, "fetch_failed: %lu\n", st.fetch_failed);
	seq_printf(m, "timers_armed: %u\n", st.timed);
	seq_printf(m, "overhead: %u\n", st.overhead);
	seq_printf(m, "footprint: %llu\n", bufq_footprint(q, &st));
}
EXPORT_SYMBOL_IF_KUNIT(bufq_debugfs_stats);

static int bufq_stats_show(struct seq_file *m, void *v)
{
	struct bufq_debugfs_dir *d = m->private;

	bufq_debugfs_stats(m, d->q);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bufq_stats);

/**
 * bufq_debugfs_add() - give a new queue its debugfs directory
 * @q: the queue, fully initialized
 *
 * Names it after bufq_label(), any '/' in it as '_'. Failure is not an
 * error: the queue just has no directory.
 *
 * Context: process context; may sleep.
 */
void bufq_debugfs_add(struct bufq *q)
{
	struct bufq_debugfs_dir *d;
	char *name;

	if (IS_ERR_OR_NULL(bufq_debugfs_root))
		return;
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	name = kstrdup(bufq_label(q), GFP_KERNEL);
	if (!d || !name)
		goto out;
	strreplace(name, '/', '_');
	d->q = q;
	d->pid = task_tgid_nr(current);
	get_task_comm(d->comm, current);
	d->dir = debugfs_create_dir(name, bufq_debugfs_root);
	if (IS_ERR(d->dir))
		goto out;
	debugfs_create_file("config", 0444, d->dir, d, &bufq_config_fops);
	debugfs_create_file("stats", 0444, d->dir, d, &bufq_stats_fops);
	mutex_lock(&bufq_debugfs_lock);
	list_add(&d->node, &bufq_debugfs_dirs);
	mutex_unlock(&bufq_debugfs_lock);
	d = NULL;
out:
	kfree(name);
	kfree(d);
}

/**
 * bufq_debugfs_remove() - remove a queue's debugfs directory
 * @q: the queue
 *
 * Waits for readers of its files; none can start after. Nothing to do
 * for a queue that got no directory.
 *
 * Context: process context; may sleep.
 */
void bufq_debugfs_remove(struct bufq *q)
{
	struct bufq_debugfs_dir *d, *found = NULL;

	mutex_lock(&bufq_debugfs_lock);
	list_for_each_entry(d, &bufq_debugfs_dirs, node) {
		if (d->q == q) {
			list_del(&d->node);
			found = d;
			break;
		}
	}
	mutex_unlock(&bufq_debugfs_lock);
	if (!found)
		return;
	debugfs_remove(found->dir);
	kfree(found);
}

/**
 * bufq_debugfs_init() - make /sys/kernel/debug/bufq
 *
 * Context: module init.
 */
void bufq_debugfs_init(void)
{
	bufq_debugfs_root = debugfs_create_dir("bufq", NULL);
}

/**
 * bufq_debugfs_exit() - remove /sys/kernel/debug/bufq
 *
 * Context: module exit, once every queue is gone.
 */
void bufq_debugfs_exit(void)
{
	debugfs_remove(bufq_debugfs_root);
}
