// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for bufq's observability: the trace events, seen by probes
 * this module registers on them, and the debugfs directories, read back
 * through the VFS as an operator would.
 *
 * Every queue made here has a name of its own, and the probes record only
 * the events of that queue, so other queues at work do not disturb them.
 */
#define pr_fmt(fmt) "bufq-obs-test: " fmt

#include <kunit/test.h>
#include <linux/bufq.h>
#include <linux/completion.h>
#include <linux/jiffies.h>
#include <linux/namei.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include <trace/events/bufq.h>

#include "../bufq_core.h"

#define BUFQ_OBS_MAX_EVENTS	64
#define BUFQ_OBS_DEBUGFS	"/sys/kernel/debug/bufq/"

enum bufq_obs_ev {
	EV_CREATE, EV_DESTROY, EV_FETCH, EV_ENQUEUE, EV_DEQUEUE, EV_EXPIRE,
	EV_REUSE, EV_FLUSH, EV_ENUM,
};

/* One event as a probe saw it; a, b, c, d are the event's own values. */
struct bufq_obs_rec {
	enum bufq_obs_ev ev;
	const void *buf;
	long a, b, c, d;
};

struct bufq_obs_log {
	const char *prefix;		/* of the names of the queues to log */
	raw_spinlock_t lock;		/* probes run under the queue's raw locks */
	unsigned int n;
	bool overflow;
	struct bufq_obs_rec rec[BUFQ_OBS_MAX_EVENTS];
};

static void bufq_obs_add(struct bufq_obs_log *log, struct bufq *q,
			 enum bufq_obs_ev ev, const void *buf,
			 long a, long b, long c, long d)
{
	unsigned long flags;

	if (!strstarts(q->name, log->prefix))
		return;
	raw_spin_lock_irqsave(&log->lock, flags);
	if (log->n < BUFQ_OBS_MAX_EVENTS)
		log->rec[log->n++] = (struct bufq_obs_rec){ ev, buf, a, b, c, d };
	else
		log->overflow = true;
	raw_spin_unlock_irqrestore(&log->lock, flags);
}

/* Probes: the depth fields are read as the event's TP_fast_assign does. */
static void bufq_obs_create(void *data, struct bufq *q)
{
	bufq_obs_add(data, q, EV_CREATE, NULL, q->buffer_count,
		     q->max_buffers, q->lookaside, q->with_timer);
}

static void bufq_obs_destroy(void *data, struct bufq *q)
{
	bufq_obs_add(data, q, EV_DESTROY, NULL, bufq_trace_total(q),
		     bufq_trace_free(q), bufq_trace_queued(q), 0);
}

static void bufq_obs_fetch(void *data, struct bufq *q, void *buf, int err,
			   bool grown)
{
	bufq_obs_add(data, q, EV_FETCH, buf, err, grown,
		     bufq_trace_free(q), bufq_trace_total(q));
}

static void bufq_obs_enqueue(void *data, struct bufq *q, void *buf,
			     bool at_head, bool timer, unsigned int msecs)
{
	bufq_obs_add(data, q, EV_ENQUEUE, buf, timer ? 2 : at_head, msecs,
		     bufq_trace_queued(q), 0);
}

static void bufq_obs_dequeue(void *data, struct bufq *q, void *buf)
{
	bufq_obs_add(data, q, EV_DEQUEUE, buf, bufq_trace_queued(q), 0, 0, 0);
}

static void bufq_obs_expire(void *data, struct bufq *q, void *buf)
{
	bufq_obs_add(data, q, EV_EXPIRE, buf, bufq_trace_queued(q), 0, 0, 0);
}

static void bufq_obs_reuse(void *data, struct bufq *q, void *buf, bool kept)
{
	bufq_obs_add(data, q, EV_REUSE, buf, kept, bufq_trace_free(q),
		     bufq_trace_total(q), 0);
}

static void bufq_obs_flush(void *data, struct bufq *q)
{
	bufq_obs_add(data, q, EV_FLUSH, NULL, bufq_trace_queued(q), 0, 0, 0);
}

static void bufq_obs_enum(void *data, struct bufq *q, void *buf, int action)
{
	bufq_obs_add(data, q, EV_ENUM, buf, action, 0, 0, 0);
}

static void bufq_obs_unregister(struct bufq_obs_log *log)
{
	unregister_trace_bufq_create(bufq_obs_create, log);
	unregister_trace_bufq_destroy(bufq_obs_destroy, log);
	unregister_trace_bufq_fetch(bufq_obs_fetch, log);
	unregister_trace_bufq_enqueue(bufq_obs_enqueue, log);
	unregister_trace_bufq_dequeue(bufq_obs_dequeue, log);
	unregister_trace_bufq_timer_expire(bufq_obs_expire, log);
	unregister_trace_bufq_reuse(bufq_obs_reuse, log);
	unregister_trace_bufq_flush(bufq_obs_flush, log);
	unregister_trace_bufq_enumerate(bufq_obs_enum, log);
	tracepoint_synchronize_unregister();
}

static int bufq_obs_register(struct bufq_obs_log *log)
{
	int ret;

	ret = register_trace_bufq_create(bufq_obs_create, log) ?:
	      register_trace_bufq_destroy(bufq_obs_destroy, log) ?:
	      register_trace_bufq_fetch(bufq_obs_fetch, log) ?:
	      register_trace_bufq_enqueue(bufq_obs_enqueue, log) ?:
	      register_trace_bufq_dequeue(bufq_obs_dequeue, log) ?:
	      register_trace_bufq_timer_expire(bufq_obs_expire, log) ?:
	      register_trace_bufq_reuse(bufq_obs_reuse, log) ?:
	      register_trace_bufq_flush(bufq_obs_flush, log) ?:
	      register_trace_bufq_enumerate(bufq_obs_enum, log);
	if (ret)
		bufq_obs_unregister(log);	/* unregistering a stranger is harmless */
	return ret;
}

/* What a test expects, in order; buf is an index into its buffers, or -1. */
struct bufq_obs_want {
	enum bufq_obs_ev ev;
	int buf;
	long a, b, c, d;
};

static const char * const bufq_obs_ev_names[] = {
	"create", "destroy", "fetch", "enqueue", "dequeue", "timer_expire",
	"reuse", "flush", "enumerate",
};

static void bufq_obs_expect(struct kunit *test, struct bufq_obs_log *log,
			    const struct bufq_obs_want *want, unsigned int n,
			    void **bufs)
{
	const struct bufq_obs_rec *r;
	unsigned int i;

	KUNIT_EXPECT_FALSE(test, log->overflow);
	KUNIT_EXPECT_EQ(test, log->n, n);
	for (i = 0; i < min(n, log->n); i++) {
		r = &log->rec[i];
		KUNIT_EXPECT_EQ_MSG(test, r->ev, want[i].ev, "event %u is %s", i,
				    bufq_obs_ev_names[r->ev]);
		KUNIT_EXPECT_PTR_EQ_MSG(test, r->buf,
					want[i].buf < 0 ? NULL : bufs[want[i].buf],
					"event %u (%s)", i, bufq_obs_ev_names[r->ev]);
		KUNIT_EXPECT_EQ_MSG(test, r->a, want[i].a, "event %u", i);
		KUNIT_EXPECT_EQ_MSG(test, r->b, want[i].b, "event %u", i);
		KUNIT_EXPECT_EQ_MSG(test, r->c, want[i].c, "event %u", i);
		KUNIT_EXPECT_EQ_MSG(test, r->d, want[i].d, "event %u", i);
	}
}

static struct bufq_obs_log *bufq_obs_log_start(struct kunit *test,
					       const char *prefix)
{
	struct bufq_obs_log *log = kunit_kzalloc(test, sizeof(*log), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, log);
	log->prefix = prefix;
	raw_spin_lock_init(&log->lock);
	KUNIT_ASSERT_EQ(test, bufq_obs_register(log), 0);
	return log;
}

struct bufq_obs_timer {
	struct completion done;
	void *buf;
};

static void bufq_obs_timer_fn(struct bufq *q, void *buf, void *ctx, void *arg)
{
	struct bufq_obs_timer *t = arg;

	t->buf = buf;
	bufq_reuse(q, buf);
	complete(&t->done);
}

/* Remove the second buffer the walk meets; continue on the first. */
static enum bufq_enum_action bufq_obs_enum_fn(struct bufq *q, void *buf,
					      void *ctx, void *arg)
{
	int *seen = arg;

	return (*seen)++ ? BUFQ_ENUM_REMOVE_AND_STOP : BUFQ_ENUM_CONTINUE;
}

enum { A, B, C, X, Y, NBUF };

/* Expected events of bufq_obs_test_sequence(), in order. */
static const struct bufq_obs_want bufq_obs_sequence[] = {
	{ EV_CREATE, -1, 2, 3, 1, 1 },		/* count, max, lookaside, timer */
	{ EV_FETCH, A, 0, 0, 1, 2 },		/* err, grown, free, total */
	{ EV_FETCH, B, 0, 0, 0, 2 },
	{ EV_FETCH, C, 0, 1, 0, 3 },		/* grown */
	{ EV_FETCH, -1, -ENOBUFS, 0, 0, 3 },	/* max_buffers reached */
	{ EV_ENQUEUE, A, 0, 0, 1, 0 },		/* tail, msecs, queued */
	{ EV_ENQUEUE, B, 1, 0, 2, 0 },		/* head */
	{ EV_ENQUEUE, C, 2, 1, 3, 0 },		/* timer, 1 ms */
	{ EV_EXPIRE, C, 2, 0, 0, 0 },		/* queued */
	{ EV_REUSE, C, 0, 0, 3, 0 },		/* kept, free, total: shrunk */
	{ EV_ENUM, B, BUFQ_ENUM_CONTINUE, 0, 0, 0 },
	{ EV_ENUM, A, BUFQ_ENUM_REMOVE_AND_STOP, 0, 0, 0 },
	{ EV_DEQUEUE, B, 0, 0, 0, 0 },		/* queued */
	{ EV_REUSE, B, 1, 1, 2, 0 },
	{ EV_ENQUEUE, A, 0, 0, 1, 0 },
	{ EV_FLUSH, -1, 1, 0, 0, 0 },		/* queued */
	{ EV_REUSE, A, 1, 2, 2, 0 },
	{ EV_FETCH, X, 0, 0, 1, 2 },		/* bulk, one event each */
	{ EV_FETCH, Y, 0, 0, 0, 2 },
	{ EV_ENQUEUE, X, 0, 0, 2, 0 },		/* bulk: depth after the call */
	{ EV_ENQUEUE, Y, 0, 0, 2, 0 },
	{ EV_DEQUEUE, X, 1, 0, 0, 0 },
	{ EV_DEQUEUE, Y, 0, 0, 0, 0 },
	{ EV_REUSE, X, 1, 1, 2, 0 },
	{ EV_REUSE, Y, 1, 2, 2, 0 },
	{ EV_DESTROY, -1, 2, 2, 0, 0 },		/* total, free, queued */
	{ EV_FLUSH, -1, 0, 0, 0, 0 },		/* destroy flushes */
};

/*
 * One queue through every kind of event, single-threaded: each event fires
 * once per operation, in order, naming the buffer it is about, with the
 * depths of that moment. The failed fetches the events report are the
 * ones bufq_get_stats() counts.
 */
static void bufq_obs_test_sequence(struct kunit *test)
{
	struct bufq_config cfg = {
		.name = "obs-seq", .buffer_count = 2, .buffer_size = 64,
		.lookaside = true, .max_buffers = 3, .with_timer = true,
	};
	struct bufq_obs_timer tm;
	struct bufq_obs_log *log;
	void *bufs[NBUF], *got[2];
	struct bufq_stats st;
	struct bufq *q;
	int seen = 0;

	log = bufq_obs_log_start(test, "obs-seq-");
	q = bufq_create(&cfg);
	if (IS_ERR(q))
		bufq_obs_unregister(log);
	KUNIT_ASSERT_FALSE(test, IS_ERR(q));
	init_completion(&tm.done);

	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &bufs[A], NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &bufs[B], NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &bufs[C], NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &got[0], NULL), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[A]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[B]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_with_timer(q, bufs[C], 1,
						      bufq_obs_timer_fn, &tm), 0);
	KUNIT_EXPECT_GT(test, wait_for_completion_timeout(&tm.done, 30 * HZ), 0);
	KUNIT_EXPECT_PTR_EQ(test, tm.buf, bufs[C]);
	bufq_enumerate(q, bufq_obs_enum_fn, &seen, &got[0], NULL);
	KUNIT_EXPECT_PTR_EQ(test, got[0], bufs[A]);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &got[0], NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, got[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[A]), 0);
	bufq_flush(q);
	KUNIT_EXPECT_EQ(test, bufq_fetch_bulk(q, got, 2), 2);
	bufs[X] = got[0];
	bufs[Y] = got[1];
	KUNIT_EXPECT_EQ(test, bufq_enqueue_bulk(q, got, 2), 2);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_bulk(q, got, 2), 2);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, got, 2), 2);
	bufq_get_stats(q, &st);
	bufq_destroy(q);
	bufq_obs_unregister(log);

	bufq_obs_expect(test, log, bufq_obs_sequence,
			ARRAY_SIZE(bufq_obs_sequence), bufs);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 1);
	/* The grown buffer is a new one; the bulk calls reuse A and B. */
	KUNIT_EXPECT_PTR_NE(test, bufs[C], bufs[A]);
	KUNIT_EXPECT_PTR_NE(test, bufs[C], bufs[B]);
	KUNIT_EXPECT_PTR_NE(test, bufs[A], bufs[B]);
}

/* What @q's debugfs "stats" file shows, into @buf. */
static void bufq_obs_stats_text(struct bufq *q, char *buf, size_t size)
{
	struct seq_file m = { .buf = buf, .size = size - 1 };

	bufq_debugfs_stats(&m, q);
	buf[m.count] = '\0';
}

/* The number after "@key: " on a line of @text, or -1. */
static long bufq_obs_value(const char *text, const char *key)
{
	size_t len = strlen(key);
	const char *p = text;
	char num[24];
	size_t n;
	long v;

	for (; (p = strstr(p, key)); p += len) {
		if ((p != text && p[-1] != '\n') || p[len] != ':')
			continue;
		n = strcspn(p + len + 2, "\n") + 1;
		strscpy(num, p + len + 2, min(sizeof(num), n));
		return kstrtol(num, 10, &v) ? -1 : v;
	}
	return -1;
}

static bool bufq_obs_exists_file(const char *dir, const char *file)
{
	char *path = kasprintf(GFP_KERNEL, BUFQ_OBS_DEBUGFS "%s/%s", dir, file);
	struct path p;
	int ret;

	if (!path)
		return false;
	ret = kern_path(path, LOOKUP_FOLLOW, &p);
	kfree(path);
	if (!ret)
		path_put(&p);
	return !ret;
}

static bool bufq_obs_exists(const char *dir)
{
	return bufq_obs_exists_file(dir, "");
}

/* The debugfs directory of @q: its name. */
static const char *bufq_obs_dir(struct bufq *q)
{
	return q->name;
}

/* Every counter of "stats" equals bufq_get_stats(), read at quiescence. */
static void bufq_obs_expect_stats(struct kunit *test, struct bufq *q,
				  char *text, unsigned int armed)
{
	struct bufq_stats st;
	u64 min_fp;

	bufq_obs_stats_text(q, text, PAGE_SIZE);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "total"), st.total);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "free"), st.free);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "queued"), st.queued);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "held"), st.held);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "high_water"), st.high_water);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "grown"), st.grown);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "fetch_failed"),
			st.fetch_failed);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "overhead"), st.overhead);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "timers_armed"), armed);
	min_fp = (u64)st.total * (bufq_buffer_size(q) + 16 + st.overhead);
	KUNIT_EXPECT_GE(test, bufq_obs_value(text, "footprint"), min_fp);
}

static void bufq_obs_nop_timer(struct bufq *q, void *buf, void *ctx, void *arg)
{
	bufq_reuse(q, buf);
}

/*
 * A queue's directory has its files, and goes when the queue does. Its
 * "stats" show the counters of bufq_get_stats() plus the timers armed.
 * (The files' text through the VFS, and "config", are checked from user
 * space by tests/bufq_obs_test.c.)
 */
static void bufq_obs_test_debugfs(struct kunit *test)
{
	struct bufq_config cfg = {
		.name = "obs-dfs", .buffer_count = 4, .buffer_size = 100,
		.context_size = 16, .lookaside = true, .max_buffers = 6,
		.with_timer = true,
	};
	char *text = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	void *bufs[6], *extra;
	struct bufq *q;
	char *dir;
	int i;

	KUNIT_ASSERT_NOT_NULL(test, text);
	q = bufq_create(&cfg);
	KUNIT_ASSERT_FALSE(test, IS_ERR(q));
	dir = kunit_kstrdup(test, bufq_obs_dir(q), GFP_KERNEL);
	KUNIT_EXPECT_TRUE(test, bufq_obs_exists(dir));

	KUNIT_EXPECT_TRUE(test, bufq_obs_exists_file(dir, "config"));
	KUNIT_EXPECT_TRUE(test, bufq_obs_exists_file(dir, "stats"));

	/* Grow to the cap, fail once, queue three (two timed), shrink one. */
	for (i = 0; i < 6; i++)
		KUNIT_EXPECT_EQ(test, bufq_fetch(q, &bufs[i], NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &extra, NULL), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_with_timer(q, bufs[0], 60000,
						      bufq_obs_nop_timer, NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_with_timer(q, bufs[1], 60000,
						      bufq_obs_nop_timer, NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[2]), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[3]), 0);
	bufq_obs_expect_stats(test, q, text, 2);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "total"), 5);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "queued"), 3);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "held"), 2);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "grown"), 2);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "fetch_failed"), 1);

	bufq_flush(q);		/* cancels the timers */
	bufq_obs_expect_stats(test, q, text, 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[4]), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[5]), 0);
	bufq_obs_expect_stats(test, q, text, 0);
	KUNIT_EXPECT_EQ(test, bufq_obs_value(text, "free"), 4);

	bufq_destroy(q);
	KUNIT_EXPECT_FALSE(test, bufq_obs_exists(dir));
}

/*
 * An embedded queue has its directory too, until bufq_exit(); a '/' in
 * the configured name becomes '_'; a queue destroyed while a client still
 * holds a buffer loses its directory at once.
 */
static void bufq_obs_test_debugfs_lifetime(struct kunit *test)
{
	struct bufq_config cfg = { .name = "obs/emb", .buffer_count = 1 };
	struct bufq *q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);
	char *dir;
	void *buf;

	KUNIT_ASSERT_NOT_NULL(test, q);
	KUNIT_ASSERT_EQ(test, bufq_init(q, &cfg), 0);
	dir = kunit_kstrdup(test, bufq_obs_dir(q), GFP_KERNEL);
	KUNIT_EXPECT_TRUE(test, str_has_prefix(dir, "obs/emb-"));
	dir[3] = '_';
	KUNIT_EXPECT_TRUE(test, bufq_obs_exists(dir));
	bufq_exit(q);
	KUNIT_EXPECT_FALSE(test, bufq_obs_exists(dir));

	cfg.name = "obs-held";
	q = bufq_create(&cfg);
	KUNIT_ASSERT_FALSE(test, IS_ERR(q));
	dir = kunit_kstrdup(test, bufq_obs_dir(q), GFP_KERNEL);
	KUNIT_EXPECT_TRUE(test, bufq_obs_exists(dir));
	KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, NULL), 0);
	bufq_destroy(q);
	KUNIT_EXPECT_FALSE(test, bufq_obs_exists(dir));
	bufq_reuse(q, buf);	/* frees the queue */
}

static struct kunit_case bufq_obs_test_cases[] = {
	KUNIT_CASE(bufq_obs_test_sequence),
	KUNIT_CASE(bufq_obs_test_debugfs),
	KUNIT_CASE(bufq_obs_test_debugfs_lifetime),
	{}
};

static struct kunit_suite bufq_obs_test_suite = {
	.name = "bufq_obs",
	.test_cases = bufq_obs_test_cases,
};

kunit_test_suite(bufq_obs_test_suite);

MODULE_DESCRIPTION("KUnit tests for bufq's trace events and debugfs");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
