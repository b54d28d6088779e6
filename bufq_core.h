/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufq internals shared by the core and the character device.
 */
#ifndef _BUFQ_CORE_H
#define _BUFQ_CORE_H

#include <linux/bufq.h>
#include <linux/sched.h>

/*
 * A buffer's state doubles as its signature: a stray pointer is unlikely to
 * sit 8 bytes after one of these values.
 */
enum bufq_state {
	BUFQ_STATE_FREE = 0x62516600,	/* on the producer list */
	BUFQ_STATE_QUEUED = 0x62516601,	/* on the consumer list */
	BUFQ_STATE_HELD = 0x62516602,	/* owned by a client */
};

/* Written just past the data area and just past the context area. */
#define BUFQ_SENTINEL	0x5e5e7a11U

/*
 * One slab object: this header, the data area (the client's handle points
 * at it), a sentinel, the context area, a sentinel, and with timers a
 * struct bufq_timed.
 */
struct bufq_buf {
	struct list_head node;		/* producer or consumer list */
	struct bufq *q;
	u32 state;			/* enum bufq_state */
	u8 data[] __aligned(8);
};

/* Per-buffer timer state; the queue has one timer for all of them. */
struct bufq_timed {
	unsigned long deadline;		/* jiffies */
	bufq_timer_fn fn;
	void *arg;
	unsigned int msecs;
	bool armed;
};

int bufq_chardev_init(void);
void bufq_chardev_exit(void);

/*
 * Observability (bufq_trace.c, bufq_debugfs.c). What the trace events and
 * debugfs read from a queue goes through these helpers, so that a new
 * queue layout changes them and nothing else.
 */

/* "<cfg.name>-<id>": the queue's name without the slab cache's "bufq-". */
static inline const char *bufq_label(const struct bufq *q)
{
	return q->name + sizeof("bufq-") - 1;
}

static inline unsigned int bufq_trace_free(const struct bufq *q)
{
	return READ_ONCE(q->nr_free);
}

static inline unsigned int bufq_trace_queued(const struct bufq *q)
{
	return READ_ONCE(q->nr_queued);
}

static inline unsigned int bufq_trace_total(const struct bufq *q)
{
	return READ_ONCE(q->total);
}

u64 bufq_trace_id(const void *buf);
void bufq_trace_enqueue_bulk(struct bufq *q, unsigned int n);

/* Longest name bufq_dev_name() makes, with its NUL. */
#define BUFQ_DEV_NAME_LEN	(sizeof("dev--") + 10 + TASK_COMM_LEN)

void bufq_dev_name(char *name, size_t size);
void bufq_debugfs_init(void);
void bufq_debugfs_exit(void);
void bufq_debugfs_add(struct bufq *q);
void bufq_debugfs_remove(struct bufq *q);
#if IS_ENABLED(CONFIG_KUNIT)
struct seq_file;
void bufq_debugfs_stats(struct seq_file *m, struct bufq *q);
#endif

#endif /* _BUFQ_CORE_H */
