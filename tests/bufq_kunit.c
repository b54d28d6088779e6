// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for bufq, the producer/consumer buffer queue.
 *
 * Some cases hand bufq a buffer it must refuse, and bufq WARNs when it does.
 * Each such call is bracketed by the console lines "bufq-test: expect WARNING
 * begin" and "bufq-test: expect WARNING end" so that a test harness can tell
 * the provoked splats from real ones; the number of splats is checked here by
 * reading the kernel log back.
 *
 * Timers: a timer that must fire is short. A timer that must still be pending
 * when the test acts on it is longer, and if the host was so slow that it may
 * have expired anyway, the case gives everything back and is skipped rather
 * than failed. Nothing asserts how fast anything is.
 */

#define pr_fmt(fmt) "bufq-test: " fmt

#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/bufq.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/jiffies.h>
#include <linux/kmsg_dump.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <linux/vmalloc.h>

#include "../bufq_compat.h"

#define BUFQ_TEST_COUNT		4
#define BUFQ_TEST_SIZE		64
#define BUFQ_TEST_CTX_SIZE	16
/* A timer that is meant to fire. */
#define BUFQ_TEST_EXPIRE_MS	20
/* A timer that must still be pending when the test acts on it. */
#define BUFQ_TEST_PENDING_MS	250
/* Upper bound on any wait for something that must happen: never hang. */
#define BUFQ_TEST_WAIT_MS	10000
/* How long a helper thread sleeps before it acts. */
#define BUFQ_TEST_HELPER_MS	50
#define BUFQ_TEST_MAX_FIRES	8
#define BUFQ_TEST_FAULT_MAX	200
#define BUFQ_TEST_STRESS_MS	3000

static void bufq_test_config(struct bufq_config *cfg, unsigned int count)
{
	*cfg = (struct bufq_config) {
		.name = "bufq_test",
		.buffer_count = count,
		.buffer_size = BUFQ_TEST_SIZE,
		.context_size = BUFQ_TEST_CTX_SIZE,
	};
}

KUNIT_DEFINE_ACTION_WRAPPER(bufq_test_destroy_action, bufq_destroy,
			    struct bufq *);

/* Creates a queue that is destroyed when the case ends, if not before. */
static struct bufq *bufq_test_create(struct kunit *test,
				     const struct bufq_config *cfg)
{
	struct bufq *q = bufq_create(cfg);
	int ret;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, q);
	ret = kunit_add_action_or_reset(test, bufq_test_destroy_action, q);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return q;
}

/* Destroys a queue made by bufq_test_create() now. */
static void bufq_test_destroy(struct kunit *test, struct bufq *q)
{
	kunit_release_action(test, bufq_test_destroy_action, q);
}

static void *bufq_test_fetch(struct kunit *test, struct bufq *q)
{
	void *buf = NULL;

	KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, NULL), 0);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	return buf;
}

/* Dequeues and reuses every queued buffer; returns how many there were. */
static unsigned int bufq_test_drain(struct kunit *test, struct bufq *q)
{
	unsigned int n = 0;
	void *buf;

	while (!bufq_dequeue(q, &buf, NULL)) {
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
		n++;
	}
	return n;
}

static void __bufq_test_expect_counts(struct kunit *test, struct bufq *q,
				      unsigned int total, unsigned int free,
				      unsigned int queued, unsigned int held,
				      int line)
{
	struct bufq_stats st;

	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ_MSG(test, st.total, total, "line %d", line);
	KUNIT_EXPECT_EQ_MSG(test, st.free, free, "line %d", line);
	KUNIT_EXPECT_EQ_MSG(test, st.queued, queued, "line %d", line);
	KUNIT_EXPECT_EQ_MSG(test, st.held, held, "line %d", line);
	KUNIT_EXPECT_EQ_MSG(test, bufq_count(q), queued, "line %d", line);
}

/* Checks the buffer counts of a quiet queue, and that they add up. */
#define bufq_test_expect_counts(test, q, total, free, queued, held)	\
	__bufq_test_expect_counts(test, q, total, free, queued, held, __LINE__)

static void bufq_test_expect_same_stats(struct kunit *test,
					const struct bufq_stats *a,
					const struct bufq_stats *b)
{
	KUNIT_EXPECT_EQ(test, a->total, b->total);
	KUNIT_EXPECT_EQ(test, a->free, b->free);
	KUNIT_EXPECT_EQ(test, a->queued, b->queued);
	KUNIT_EXPECT_EQ(test, a->held, b->held);
	KUNIT_EXPECT_EQ(test, a->high_water, b->high_water);
	KUNIT_EXPECT_EQ(test, a->grown, b->grown);
	KUNIT_EXPECT_EQ(test, a->fetch_failed, b->fetch_failed);
}

/*
 * Counting WARNs: remember where the kernel log ends, then count the records
 * added since that contain "WARNING:".
 */
struct bufq_test_warn {
	struct kmsg_dump_iter iter;
	bool expected;
	char line[256];
};

static struct bufq_test_warn *bufq_test_warn_alloc(struct kunit *test)
{
	struct bufq_test_warn *w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, w);
	return w;
}

/* @expected: bracket the call for the harness, it is meant to WARN */
static void bufq_test_warn_begin(struct bufq_test_warn *w, bool expected)
{
	w->expected = expected;
	if (expected)
		pr_info("expect WARNING begin\n");
	kmsg_dump_rewind(&w->iter);
	w->iter.cur_seq = w->iter.next_seq;
}

static unsigned int bufq_test_warn_end(struct bufq_test_warn *w)
{
	unsigned int warns = 0;
	size_t len;

	while (kmsg_dump_get_line(&w->iter, false, w->line,
				  sizeof(w->line) - 1, &len)) {
		w->line[len] = '\0';
		if (strstr(w->line, "WARNING:"))
			warns++;
	}
	if (w->expected)
		pr_info("expect WARNING end\n");
	return warns;
}

/* Counts the calls of a reuse_cleanup callback; found through bufq_priv(). */
struct bufq_test_cleanup_log {
	atomic_t calls;
	bool wrong_ctx;
	void *bufs[BUFQ_TEST_MAX_FIRES];
	void *ctxs[BUFQ_TEST_MAX_FIRES];
};

static void bufq_test_cleanup_fn(struct bufq *q, void *buf, void *ctx)
{
	struct bufq_test_cleanup_log *log = bufq_priv(q);
	int i = atomic_inc_return(&log->calls) - 1;

	if (ctx != bufq_context(q, buf))
		log->wrong_ctx = true;
	if (i < BUFQ_TEST_MAX_FIRES) {
		log->bufs[i] = buf;
		log->ctxs[i] = ctx;
	}
}

static struct bufq_test_cleanup_log *
bufq_test_cleanup_config(struct kunit *test, struct bufq_config *cfg)
{
	struct bufq_test_cleanup_log *log;

	log = kunit_kzalloc(test, sizeof(*log), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, log);
	cfg->reuse_cleanup = bufq_test_cleanup_fn;
	cfg->priv = log;
	return log;
}

/* True if the cleanup callback was called for @buf. */
static bool bufq_test_cleaned(struct bufq_test_cleanup_log *log, void *buf)
{
	int i, n = min(atomic_read(&log->calls), BUFQ_TEST_MAX_FIRES);

	for (i = 0; i < n; i++)
		if (log->bufs[i] == buf)
			return true;
	return false;
}

/* Records the calls of a timer callback; passed as its argument. */
struct bufq_test_timer_log {
	struct bufq *q;
	atomic_t fired;
	int expect;
	struct completion done;
	bool wrong_args;
	bool not_softirq;
	struct bufq_stats st;
	void *bufs[BUFQ_TEST_MAX_FIRES];
	unsigned long when[BUFQ_TEST_MAX_FIRES];
};

static void bufq_test_timer_fn(struct bufq *q, void *buf, void *ctx,
			       void *arg)
{
	struct bufq_test_timer_log *log = arg;
	int i = atomic_inc_return(&log->fired) - 1;

	if (q != log->q || ctx != bufq_context(q, buf))
		log->wrong_args = true;
	if (!in_serving_softirq())
		log->not_softirq = true;
	/* Taking the locks here also shows that none is held. */
	if (i == 0)
		bufq_get_stats(q, &log->st);
	if (i < BUFQ_TEST_MAX_FIRES) {
		log->bufs[i] = buf;
		log->when[i] = jiffies;
	}
	if (i + 1 == log->expect)
		complete(&log->done);
}

static struct bufq_test_timer_log *
bufq_test_timer_log_alloc(struct kunit *test, struct bufq *q, int expect)
{
	struct bufq_test_timer_log *log;

	log = kunit_kzalloc(test, sizeof(*log), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, log);
	log->q = q;
	log->expect = expect;
	init_completion(&log->done);
	return log;
}

/* Enqueues @buf with a timer whose callback records into @log. */
static int bufq_test_arm(struct bufq *q, void *buf, unsigned int msecs,
			 struct bufq_test_timer_log *log)
{
	return bufq_enqueue_with_timer(q, buf, msecs, bufq_test_timer_fn, log);
}

/* Waits, within reason, for something that must happen. */
static bool bufq_test_wait(struct completion *done)
{
	return wait_for_completion_timeout(done,
					   msecs_to_jiffies(BUFQ_TEST_WAIT_MS));
}

/* True if @when is at least @msecs after @start. */
static bool bufq_test_after(unsigned long when, unsigned long start,
			    unsigned int msecs)
{
	return time_after_eq(when, start + msecs_to_jiffies(msecs));
}

/* Reuses the buffers that timer callbacks were handed. */
static void bufq_test_timer_log_reuse(struct kunit *test, struct bufq *q,
				      struct bufq_test_timer_log *log)
{
	int i, n = min(atomic_read(&log->fired), BUFQ_TEST_MAX_FIRES);

	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, log->bufs[i]), 0);
}

/*
 * True when a timer armed at @t0 for BUFQ_TEST_PENDING_MS may have expired
 * before the test acted on it.
 */
static bool bufq_test_too_late(unsigned long t0)
{
	return bufq_test_after(jiffies, t0, BUFQ_TEST_PENDING_MS);
}

/*
 * The host was too slow for a timer case to mean anything: stop the timers
 * (unless @q is already destroyed), give back what they handed out, skip.
 */
static void bufq_test_give_up(struct kunit *test, struct bufq *q,
			      struct bufq_test_timer_log *log)
{
	if (q)
		bufq_flush(q);
	msleep(BUFQ_TEST_PENDING_MS);
	bufq_test_timer_log_reuse(test, log->q, log);
	kunit_skip(test, "host too slow: a timer expired before the test acted");
}

/*
 * A helper thread that acts on a queue after a short sleep, to wake up (or
 * be woken by) the test thread.
 */
enum bufq_test_help {
	BUFQ_TEST_HELP_REUSE,
	BUFQ_TEST_HELP_ENQUEUE,
	BUFQ_TEST_HELP_SIGNAL,
	BUFQ_TEST_HELP_DEQUEUE_WAIT,
	BUFQ_TEST_HELP_FETCH_WAIT,
};

struct bufq_test_helper {
	struct bufq *q;
	void *buf;
	struct task_struct *target;
	enum bufq_test_help help;
	bool started;
	int ret;
	struct completion done;
};

static int bufq_test_helper_fn(void *data)
{
	struct bufq_test_helper *h = data;

	msleep(BUFQ_TEST_HELPER_MS);
	WRITE_ONCE(h->started, true);
	switch (h->help) {
	case BUFQ_TEST_HELP_REUSE:
		h->ret = bufq_reuse(h->q, h->buf);
		break;
	case BUFQ_TEST_HELP_ENQUEUE:
		h->ret = bufq_enqueue(h->q, h->buf);
		break;
	case BUFQ_TEST_HELP_SIGNAL:
		h->ret = send_sig(SIGUSR1, h->target, 1);
		break;
	case BUFQ_TEST_HELP_DEQUEUE_WAIT:
		h->ret = bufq_dequeue_wait(h->q, &h->buf, NULL);
		break;
	case BUFQ_TEST_HELP_FETCH_WAIT:
		h->ret = bufq_fetch_wait(h->q, &h->buf, NULL);
		break;
	}
	kthread_complete_and_exit(&h->done, 0);
}

static struct bufq_test_helper *bufq_test_helper_start(struct kunit *test,
						       struct bufq *q,
						       void *buf,
						       enum bufq_test_help help)
{
	struct task_struct *task;
	struct bufq_test_helper *h;

	/* Not kunit memory: a helper that never finishes must not lose it. */
	h = kzalloc(sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, h);
	h->q = q;
	h->buf = buf;
	h->target = current;
	h->help = help;
	init_completion(&h->done);
	task = kthread_run(bufq_test_helper_fn, h, "bufq_test_helper");
	if (IS_ERR(task))
		kfree(h);
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	return h;
}

/*
 * Waits for the helper, frees it and returns what its bufq call returned;
 * *@buf, if given, gets the buffer it fetched or dequeued.
 */
static int bufq_test_helper_result(struct kunit *test,
				   struct bufq_test_helper *h, void **buf)
{
	int ret;

	if (!bufq_test_wait(&h->done)) {
		/* Leak it: the helper is stuck in bufq and still uses it. */
		KUNIT_FAIL_AND_ABORT(test, "helper thread stuck");
	}
	ret = h->ret;
	if (buf)
		*buf = h->buf;
	kfree(h);
	return ret;
}

static int bufq_test_helper_finish(struct kunit *test,
				   struct bufq_test_helper *h)
{
	return bufq_test_helper_result(test, h, NULL);
}

/* Creation and destruction, the trivial accessors, bufq_destroy(NULL). */
static void bufq_test_create_destroy(struct kunit *test)
{
	struct bufq_config cfg;
	struct bufq_stats st;
	struct bufq *q;
	int cookie;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	cfg.priv = &cookie;
	q = bufq_test_create(test, &cfg);

	KUNIT_EXPECT_PTR_EQ(test, bufq_priv(q), (void *)&cookie);
	KUNIT_EXPECT_EQ(test, bufq_buffer_size(q), BUFQ_TEST_SIZE);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.total, BUFQ_TEST_COUNT);
	KUNIT_EXPECT_EQ(test, st.free, BUFQ_TEST_COUNT);
	KUNIT_EXPECT_EQ(test, st.queued, 0);
	KUNIT_EXPECT_EQ(test, st.held, 0);
	KUNIT_EXPECT_EQ(test, st.high_water, 0);
	KUNIT_EXPECT_EQ(test, st.grown, 0);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 0);

	bufq_destroy(NULL);
	bufq_test_destroy(test, q);
}

/* Builds a queue with bufq_create() or, given @embedded, bufq_init(). */
static int bufq_test_build(const struct bufq_config *cfg,
			   struct bufq *embedded, struct bufq **q)
{
	if (embedded) {
		memset(embedded, 0, sizeof(*embedded));
		*q = embedded;
		return bufq_init(embedded, cfg);
	}
	*q = bufq_create(cfg);
	return PTR_ERR_OR_ZERO(*q);
}

static void bufq_test_unbuild(struct bufq *q, struct bufq *embedded)
{
	if (embedded)
		bufq_exit(q);
	else
		bufq_destroy(q);
}

struct bufq_test_config_case {
	const char *name;
	bool no_config;
	unsigned int count;
	unsigned int size;
	unsigned int ctx_size;
	unsigned int max;
	bool lookaside;
	int err;
};

static const struct bufq_test_config_case bufq_test_config_cases[] = {
	{ "no-config", .no_config = true, .err = -EINVAL },
	{ "no-buffers-without-lookaside", .size = 64, .err = -EINVAL },
	{ "max-below-count", .count = 4, .size = 64, .max = 3,
	  .lookaside = true, .err = -EINVAL },
	{ "max-below-count-without-lookaside", .count = 4, .size = 64,
	  .max = 3, .err = -EINVAL },
	{ "sizes-overflow", .count = 1, .size = UINT_MAX, .ctx_size = UINT_MAX,
	  .err = -E2BIG },
	{ "size-uint-max", .count = 1, .size = UINT_MAX, .err = -E2BIG },
	{ "size-kmalloc-max", .count = 1, .size = KMALLOC_MAX_SIZE,
	  .err = -E2BIG },
	{ "context-kmalloc-max", .count = 1, .ctx_size = KMALLOC_MAX_SIZE,
	  .err = -E2BIG },
	{ "overhead-above-kmalloc-max", .count = 1,
	  .size = KMALLOC_MAX_SIZE - 8, .err = -E2BIG },
	{ "zero-size", .count = 1, .ctx_size = 8 },
	{ "zero-context", .count = 1, .size = 64 },
	{ "zero-count-with-lookaside", .size = 64, .lookaside = true },
	{ "max-equals-count", .count = 4, .size = 64, .max = 4,
	  .lookaside = true },
};

KUNIT_ARRAY_PARAM_DESC(bufq_test_config, bufq_test_config_cases, name);

/*
 * bufq_create() and bufq_init() refuse a bad configuration with the right
 * error, and a queue built from an unusual but valid one works.
 */
static void bufq_test_config_check(struct kunit *test)
{
	const struct bufq_test_config_case *c = test->param_value;
	struct bufq_config cfg = {
		.name = "bufq_test_config",
		.buffer_count = c->count,
		.buffer_size = c->size,
		.context_size = c->ctx_size,
		.max_buffers = c->max,
		.lookaside = c->lookaside,
	};
	struct bufq *embedded, *q;
	void *buf, *out;
	int i, ret;

	embedded = kunit_kzalloc(test, sizeof(*embedded), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, embedded);

	for (i = 0; i < 2; i++) {
		struct bufq *e = i ? embedded : NULL;

		ret = bufq_test_build(c->no_config ? NULL : &cfg, e, &q);
		KUNIT_EXPECT_EQ_MSG(test, ret, c->err, "%s",
				    e ? "bufq_init" : "bufq_create");
		if (ret)
			continue;
		KUNIT_ASSERT_NOT_NULL(test, q);
		KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), 0);
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), 0);
		KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &out, NULL), 0);
		KUNIT_EXPECT_PTR_EQ(test, out, buf);
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
		bufq_test_unbuild(q, e);
	}
}

/* Enqueued buffers are dequeued in the order they were enqueued. */
static void bufq_test_fifo(struct kunit *test)
{
	void *bufs[BUFQ_TEST_COUNT], *buf, *ctx;
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < BUFQ_TEST_COUNT; i++) {
		bufs[i] = bufq_test_fetch(test, q);
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
		KUNIT_EXPECT_EQ(test, bufq_count(q), i + 1);
	}
	for (i = 0; i < BUFQ_TEST_COUNT; i++) {
		/* The context pointer is optional. */
		KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, i ? &ctx : NULL), 0);
		KUNIT_EXPECT_PTR_EQ(test, buf, bufs[i]);
		if (i)
			KUNIT_EXPECT_PTR_EQ(test, ctx, bufq_context(q, buf));
	}
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, &ctx), -ENODATA);
	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT, 0, 0);
}

/*
 * bufq_enqueue_at_head() puts a buffer in front of all others: alone it
 * makes a LIFO, mixed with bufq_enqueue() it jumps the line.
 */
static void bufq_test_at_head(struct kunit *test)
{
	void *bufs[BUFQ_TEST_COUNT], *buf;
	static const int mixed[] = { 3, 1, 0, 2 };
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	q = bufq_test_create(test, &cfg);
	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		bufs[i] = bufq_test_fetch(test, q);

	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[i]), 0);
	for (i = BUFQ_TEST_COUNT - 1; i >= 0; i--) {
		KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
		KUNIT_EXPECT_PTR_EQ(test, buf, bufs[i]);
	}

	/* Tail, head, tail, head: 3 1 0 2. */
	for (i = 0; i < BUFQ_TEST_COUNT; i++) {
		if (i % 2)
			KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[i]), 0);
		else
			KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	}
	for (i = 0; i < ARRAY_SIZE(mixed); i++) {
		KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
		KUNIT_EXPECT_PTR_EQ(test, buf, bufs[mixed[i]]);
	}
	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
}

/* Without lookaside, fetch fails with -ENOBUFS once all buffers are out. */
static void bufq_test_no_lookaside_exhaustion(struct kunit *test)
{
	void *bufs[BUFQ_TEST_COUNT], *buf;
	struct bufq_config cfg;
	struct bufq_stats st;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	q = bufq_test_create(test, &cfg);
	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		bufs[i] = bufq_test_fetch(test, q);

	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), -ENOBUFS);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 2);
	KUNIT_EXPECT_EQ(test, st.grown, 0);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, 0, 0, BUFQ_TEST_COUNT);

	/* One back, one out again: the very same buffer. */
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, bufs[0]);
	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT, 0, 0);
}

/*
 * With lookaside and no cap, fetch allocates when the producer list is
 * empty, and reuse frees buffers until the queue is back to buffer_count.
 */
static void bufq_test_lookaside_grow_shrink(struct kunit *test)
{
	const unsigned int count = 2, n = 6;
	struct bufq_config cfg;
	struct bufq_stats st;
	void *bufs[6], *ctx;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, count);
	cfg.lookaside = true;
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < n; i++) {
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &bufs[i], &ctx), 0);
		KUNIT_EXPECT_NULL(test, memchr_inv(ctx, 0, BUFQ_TEST_CTX_SIZE));
	}
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.grown, n - count);
	bufq_test_expect_counts(test, q, n, 0, 0, n);

	for (i = 0; i < n; i++) {
		unsigned int back = i + 1;
		unsigned int total = max(n - back, count);

		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
		bufq_test_expect_counts(test, q, total, total - (n - back), 0,
					n - back);
	}
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.grown, n - count);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 0);
}

/* With lookaside, growth stops at max_buffers: then fetch is -ENOBUFS. */
static void bufq_test_lookaside_cap(struct kunit *test)
{
	struct bufq_config cfg;
	struct bufq_stats st;
	void *bufs[3], *buf;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, 1);
	cfg.lookaside = true;
	cfg.max_buffers = 3;
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < 3; i++)
		bufs[i] = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), -ENOBUFS);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.grown, 2);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 1);
	bufq_test_expect_counts(test, q, 3, 0, 0, 3);

	/* Below the cap again, the queue grows again. */
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[0]), 0);
	bufq_test_expect_counts(test, q, 2, 0, 0, 2);
	bufs[0] = bufq_test_fetch(test, q);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.grown, 3);

	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, 1, 1, 0, 0);
}

/* A lookaside queue may start empty, and goes back to empty. */
static void bufq_test_lookaside_zero_count(struct kunit *test)
{
	struct bufq_config cfg;
	void *bufs[3];
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, 0);
	cfg.lookaside = true;
	q = bufq_test_create(test, &cfg);
	bufq_test_expect_counts(test, q, 0, 0, 0, 0);

	for (i = 0; i < 3; i++)
		bufs[i] = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	bufq_test_expect_counts(test, q, 3, 0, 1, 2);
	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 1);
	for (i = 1; i < 3; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, 0, 0, 0, 0);
}

/*
 * Every buffer has its own 8-byte aligned context area, zeroed when the
 * buffer is allocated (growth included) and kept as is across reuse;
 * bufq_context() finds it whatever the buffer's state.
 */
static void bufq_test_context(struct kunit *test)
{
	const unsigned int size = 48, ctx_size = 20, count = 4;
	void *bufs[4], *ctxs[4], *buf, *ctx;
	struct bufq_config cfg;
	struct bufq *q;
	int i, j;

	bufq_test_config(&cfg, count);
	cfg.buffer_size = size;
	cfg.context_size = ctx_size;
	cfg.lookaside = true;
	cfg.max_buffers = count + 1;
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < count; i++) {
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &bufs[i], &ctxs[i]), 0);
		KUNIT_EXPECT_TRUE(test, IS_ALIGNED((unsigned long)ctxs[i], 8));
		KUNIT_EXPECT_NULL(test, memchr_inv(ctxs[i], 0, ctx_size));
		KUNIT_EXPECT_PTR_EQ(test, bufq_context(q, bufs[i]), ctxs[i]);
		for (j = 0; j < i; j++) {
			KUNIT_EXPECT_PTR_NE(test, bufs[i], bufs[j]);
			KUNIT_EXPECT_PTR_NE(test, ctxs[i], ctxs[j]);
		}
	}
	/* Fill every area completely: no other buffer may notice. */
	for (i = 0; i < count; i++) {
		memset(bufs[i], 0x80 + i, size);
		memset(ctxs[i], 1 + i, ctx_size);
	}
	for (i = 0; i < count; i++) {
		KUNIT_EXPECT_NULL(test, memchr_inv(bufs[i], 0x80 + i, size));
		KUNIT_EXPECT_NULL(test, memchr_inv(ctxs[i], 1 + i, ctx_size));
	}

	/* Queued, then free: the same context. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	KUNIT_EXPECT_PTR_EQ(test, bufq_context(q, bufs[0]), ctxs[0]);
	for (i = 1; i < count; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 1);
	KUNIT_EXPECT_PTR_EQ(test, bufq_context(q, bufs[0]), ctxs[0]);

	/* Fetched again: contexts were not cleared by reuse. */
	for (i = 0; i < count; i++) {
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, &ctx), 0);
		for (j = 0; j < count && bufs[j] != buf; j++)
			;
		KUNIT_ASSERT_LT(test, j, count);
		KUNIT_EXPECT_PTR_EQ(test, ctx, ctxs[j]);
		KUNIT_EXPECT_NULL(test, memchr_inv(ctx, 1 + j, ctx_size));
	}
	/* A grown buffer's context is zeroed. */
	KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, &ctx), 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(ctx, 0, ctx_size));
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	for (i = 0; i < count; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, count, count, 0, 0);
}

/* bufq_reuse() calls reuse_cleanup once, with the buffer and its context. */
static void bufq_test_reuse_cleanup(struct kunit *test)
{
	struct bufq_test_cleanup_log *log;
	struct bufq_config cfg;
	struct bufq *q;
	void *buf, *ctx;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	log = bufq_test_cleanup_config(test, &cfg);
	q = bufq_test_create(test, &cfg);

	KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, &ctx), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 1);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[0], buf);
	KUNIT_EXPECT_PTR_EQ(test, log->ctxs[0], ctx);
	KUNIT_EXPECT_FALSE(test, log->wrong_ctx);
}

/*
 * bufq_flush() reuses every queued buffer, calling reuse_cleanup for each,
 * and leaves held buffers alone.
 */
static void bufq_test_flush(struct kunit *test)
{
	struct bufq_test_cleanup_log *log;
	void *bufs[BUFQ_TEST_COUNT];
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	log = bufq_test_cleanup_config(test, &cfg);
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		bufs[i] = bufq_test_fetch(test, q);
	for (i = 1; i < BUFQ_TEST_COUNT; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);

	bufq_flush(q);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), BUFQ_TEST_COUNT - 1);
	for (i = 1; i < BUFQ_TEST_COUNT; i++)
		KUNIT_EXPECT_TRUE(test, bufq_test_cleaned(log, bufs[i]));
	KUNIT_EXPECT_FALSE(test, bufq_test_cleaned(log, bufs[0]));
	KUNIT_EXPECT_FALSE(test, log->wrong_ctx);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT - 1,
				0, 1);

	/* Flushing an empty queue does nothing. */
	bufq_flush(q);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), BUFQ_TEST_COUNT - 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), BUFQ_TEST_COUNT);
}

/*
 * bufq_destroy() calls reuse_cleanup for the queued buffers only, not for
 * the free ones.
 */
static void bufq_test_destroy_cleanup(struct kunit *test)
{
	struct bufq_test_cleanup_log *log;
	void *bufs[BUFQ_TEST_COUNT];
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	log = bufq_test_cleanup_config(test, &cfg);
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		bufs[i] = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[1]), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[2]), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[3]), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 2);

	bufq_test_destroy(test, q);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 4);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[2], bufs[0]);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[3], bufs[1]);
	KUNIT_EXPECT_FALSE(test, log->wrong_ctx);
}

/*
 * Buffers still held at bufq_destroy() keep the queue alive: fetch and
 * dequeue fail with -ESHUTDOWN, enqueue fails with -ESHUTDOWN and leaves
 * the buffer with the caller, reuse succeeds; the last one frees the queue.
 */
static void bufq_test_destroy_outstanding(struct kunit *test)
{
	struct bufq_test_cleanup_log *log;
	void *bufs[BUFQ_TEST_COUNT], *buf;
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	log = bufq_test_cleanup_config(test, &cfg);
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		bufs[i] = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[1]), 0);

	bufq_test_destroy(test, q);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 2);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[1], bufs[0]);

	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), -ESHUTDOWN);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), -ESHUTDOWN);
	KUNIT_EXPECT_EQ(test, bufq_fetch_wait(q, &buf, NULL), -ESHUTDOWN);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_wait(q, &buf, NULL), -ESHUTDOWN);

	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[2]), -ESHUTDOWN);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[2]), -ESHUTDOWN);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_bulk(q, &bufs[2], 1), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 2);
	/* Still the caller's: the one error rule for every hand-in. */
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[2]), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 3);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[2], bufs[2]);

	/* The last buffer frees the queue: q is gone after this. */
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[3]), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 4);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[3], bufs[3]);
	KUNIT_EXPECT_FALSE(test, log->wrong_ctx);
}

/* bufq_destroy() wakes a sleeping bufq_dequeue_wait() with -ESHUTDOWN. */
static void bufq_test_destroy_wakes_waiter(struct kunit *test)
{
	struct bufq_test_helper *h;
	struct bufq_config cfg;
	struct bufq *q;
	void *buf;

	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	/* Held across bufq_destroy(), it keeps the queue alive. */
	buf = bufq_test_fetch(test, q);

	h = bufq_test_helper_start(test, q, NULL, BUFQ_TEST_HELP_DEQUEUE_WAIT);
	msleep(2 * BUFQ_TEST_HELPER_MS);
	bufq_test_destroy(test, q);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_finish(test, h), -ESHUTDOWN);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
}

/*
 * With nothing held, bufq_destroy() frees the queue at once: it must first
 * wait for the woken waiter to leave bufq_dequeue_wait() (KASAN would
 * report the waiter touching the freed queue).
 */
static void bufq_test_destroy_idle_waiter(struct kunit *test)
{
	struct bufq_test_helper *h;
	struct bufq_config cfg;
	struct bufq *q;

	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	h = bufq_test_helper_start(test, q, NULL, BUFQ_TEST_HELP_DEQUEUE_WAIT);
	msleep(2 * BUFQ_TEST_HELPER_MS);
	bufq_test_destroy(test, q);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_finish(test, h), -ESHUTDOWN);
}

/*
 * A queue embedded in a caller's structure: bufq_init(), use, and
 * bufq_exit(), which flushes and then sleeps until the held buffers are
 * back; the structure may be freed as soon as bufq_exit() returns.
 */
static void bufq_test_init_exit(struct kunit *test)
{
	struct bufq_test_cleanup_log *log;
	struct bufq_test_helper *h;
	struct bufq_config cfg;
	void *a, *b, *buf;
	struct bufq *q;
	bool started;
	int ret;

	bufq_test_config(&cfg, 2);
	log = bufq_test_cleanup_config(test, &cfg);
	q = kzalloc(sizeof(*q), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, q);
	ret = bufq_init(q, &cfg);
	if (ret)
		kfree(q);
	KUNIT_ASSERT_EQ(test, ret, 0);

	a = bufq_test_fetch(test, q);
	b = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, a), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, b), 0);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, a);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, b);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, a), 0);
	bufq_test_expect_counts(test, q, 2, 0, 1, 1);

	h = bufq_test_helper_start(test, q, b, BUFQ_TEST_HELP_REUSE);
	bufq_exit(q);
	started = READ_ONCE(h->started);
	KUNIT_EXPECT_TRUE_MSG(test, started, "bufq_exit() did not wait");
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), 2);
	if (started)
		kfree(q);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_finish(test, h), 0);
	if (!started)
		kfree(q);
}

/*
 * A buffer whose timer expires leaves the consumer list and is handed, now
 * held, to the callback, in softirq context with no bufq lock held.
 */
static void bufq_test_timer_expiry(struct kunit *test)
{
	struct bufq_test_timer_log *log;
	struct bufq_config cfg;
	unsigned long t0;
	struct bufq *q;
	void *buf;

	bufq_test_config(&cfg, 2);
	cfg.with_timer = true;
	q = bufq_test_create(test, &cfg);
	log = bufq_test_timer_log_alloc(test, q, 1);
	buf = bufq_test_fetch(test, q);

	t0 = jiffies;
	KUNIT_ASSERT_EQ(test, bufq_test_arm(q, buf, BUFQ_TEST_EXPIRE_MS, log), 0);
	KUNIT_ASSERT_TRUE(test, bufq_test_wait(&log->done));
	/* Once only. */
	msleep(4 * BUFQ_TEST_EXPIRE_MS);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->fired), 1);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[0], buf);
	KUNIT_EXPECT_FALSE(test, log->wrong_args);
	KUNIT_EXPECT_FALSE(test, log->not_softirq);
	KUNIT_EXPECT_TRUE(test, bufq_test_after(log->when[0], t0,
						BUFQ_TEST_EXPIRE_MS));
	/* The callback already saw the buffer as held, not queued. */
	KUNIT_EXPECT_EQ(test, log->st.queued, 0);
	KUNIT_EXPECT_EQ(test, log->st.held, 1);
	bufq_test_expect_counts(test, q, 2, 1, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);

	/* The argument is passed through. */
	log = bufq_test_timer_log_alloc(test, q, 1);
	buf = bufq_test_fetch(test, q);
	KUNIT_ASSERT_EQ(test, bufq_test_arm(q, buf, BUFQ_TEST_EXPIRE_MS, log), 0);
	KUNIT_ASSERT_TRUE(test, bufq_test_wait(&log->done));
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[0], buf);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
}

/*
 * bufq_enqueue_with_timer() needs a queue made with_timer and a callback;
 * otherwise it fails with -EINVAL, without a WARN, and the client keeps the
 * buffer.
 */
static void bufq_test_timer_refused(struct kunit *test)
{
	struct bufq_test_timer_log *log;
	struct bufq_test_warn *w;
	struct bufq_config cfg;
	struct bufq *q, *qt;
	void *buf;
	int ret;

	w = bufq_test_warn_alloc(test);
	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	cfg.with_timer = true;
	qt = bufq_test_create(test, &cfg);
	log = bufq_test_timer_log_alloc(test, q, 1);

	buf = bufq_test_fetch(test, q);
	bufq_test_warn_begin(w, false);
	ret = bufq_test_arm(q, buf, BUFQ_TEST_EXPIRE_MS, log);
	KUNIT_EXPECT_EQ(test, ret, -EINVAL);
	KUNIT_EXPECT_EQ(test, bufq_test_warn_end(w), 0);
	bufq_test_expect_counts(test, q, 1, 0, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), 0);
	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 1);

	buf = bufq_test_fetch(test, qt);
	ret = bufq_enqueue_with_timer(qt, buf, BUFQ_TEST_EXPIRE_MS, NULL, log);
	KUNIT_EXPECT_EQ(test, ret, -EINVAL);
	bufq_test_expect_counts(test, qt, 1, 0, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(qt, buf), 0);
	msleep(4 * BUFQ_TEST_EXPIRE_MS);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->fired), 0);
}

/*
 * A timed buffer sits in the consumer list like any other; dequeuing it
 * stops its timer: the callback never runs.
 */
static void bufq_test_timer_dequeue_cancels(struct kunit *test)
{
	struct bufq_test_timer_log *log;
	struct bufq_config cfg;
	unsigned long t0;
	void *a, *b, *buf;
	struct bufq *q;
	int ret;

	bufq_test_config(&cfg, 2);
	cfg.with_timer = true;
	q = bufq_test_create(test, &cfg);
	log = bufq_test_timer_log_alloc(test, q, 1);
	a = bufq_test_fetch(test, q);
	b = bufq_test_fetch(test, q);

	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, a), 0);
	t0 = jiffies;
	KUNIT_ASSERT_EQ(test, bufq_test_arm(q, b, BUFQ_TEST_PENDING_MS, log), 0);
	KUNIT_EXPECT_EQ(test, bufq_count(q), 2);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, a);
	ret = bufq_dequeue(q, &buf, NULL);
	if (bufq_test_too_late(t0)) {
		if (!ret)
			KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, a), 0);
		bufq_test_give_up(test, q, log);
	}
	KUNIT_ASSERT_EQ(test, ret, 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, b);

	msleep(2 * BUFQ_TEST_PENDING_MS);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->fired), 0);
	bufq_test_expect_counts(test, q, 2, 0, 0, 2);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, a), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, b), 0);
}

/* bufq_flush() stops the timers of the buffers it takes. */
static void bufq_test_timer_flush_cancels(struct kunit *test)
{
	struct bufq_test_cleanup_log *clog;
	struct bufq_test_timer_log *log;
	struct bufq_config cfg;
	unsigned long t0;
	struct bufq *q;
	int i, ret;
	void *buf;

	bufq_test_config(&cfg, 2);
	cfg.with_timer = true;
	clog = bufq_test_cleanup_config(test, &cfg);
	q = bufq_test_create(test, &cfg);
	log = bufq_test_timer_log_alloc(test, q, 1);

	t0 = jiffies;
	for (i = 0; i < 2; i++) {
		buf = bufq_test_fetch(test, q);
		ret = bufq_test_arm(q, buf, BUFQ_TEST_PENDING_MS, log);
		KUNIT_ASSERT_EQ(test, ret, 0);
	}
	bufq_flush(q);
	if (bufq_test_too_late(t0))
		bufq_test_give_up(test, q, log);

	KUNIT_EXPECT_EQ(test, atomic_read(&clog->calls), 2);
	msleep(2 * BUFQ_TEST_PENDING_MS);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->fired), 0);
	bufq_test_expect_counts(test, q, 2, 2, 0, 0);
}

/* bufq_destroy() stops the timers: no callback after the queue is gone. */
static void bufq_test_timer_destroy_cancels(struct kunit *test)
{
	struct bufq_test_cleanup_log *clog;
	struct bufq_test_timer_log *log;
	struct bufq_config cfg;
	unsigned long t0;
	struct bufq *q;
	int i, ret;
	void *buf;

	bufq_test_config(&cfg, 2);
	cfg.with_timer = true;
	clog = bufq_test_cleanup_config(test, &cfg);
	q = bufq_test_create(test, &cfg);
	log = bufq_test_timer_log_alloc(test, q, 1);

	t0 = jiffies;
	for (i = 0; i < 2; i++) {
		buf = bufq_test_fetch(test, q);
		ret = bufq_test_arm(q, buf, BUFQ_TEST_PENDING_MS, log);
		KUNIT_ASSERT_EQ(test, ret, 0);
	}
	bufq_test_destroy(test, q);
	if (bufq_test_too_late(t0))
		bufq_test_give_up(test, NULL, log);

	KUNIT_EXPECT_EQ(test, atomic_read(&clog->calls), 2);
	msleep(2 * BUFQ_TEST_PENDING_MS);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->fired), 0);
}

struct bufq_test_enum_case {
	const char *name;
	enum bufq_enum_action action;
	unsigned int visits;	/* buffers the callback is called for */
	bool removes;		/* the first one is handed to the caller */
	bool stops;		/* the visited buffers' timers stop */
	bool resets;		/* the visited buffers' timers restart */
};

static const struct bufq_test_enum_case bufq_test_enum_cases[] = {
	{ "continue", BUFQ_ENUM_CONTINUE, 3 },
	{ "stop", BUFQ_ENUM_STOP, 1 },
	{ "remove-and-stop", BUFQ_ENUM_REMOVE_AND_STOP, 1, .removes = true },
	{ "stop-timer-and-stop", BUFQ_ENUM_STOP_TIMER_AND_STOP, 1,
	  .stops = true },
	{ "stop-timer-and-continue", BUFQ_ENUM_STOP_TIMER_AND_CONTINUE, 3,
	  .stops = true },
	{ "reset-timer-and-stop", BUFQ_ENUM_RESET_TIMER_AND_STOP, 1,
	  .resets = true },
	{ "reset-timer-and-continue", BUFQ_ENUM_RESET_TIMER_AND_CONTINUE, 3,
	  .resets = true },
};

KUNIT_ARRAY_PARAM_DESC(bufq_test_enum, bufq_test_enum_cases, name);

struct bufq_test_enum_log {
	enum bufq_enum_action action;
	bool wrong_ctx;
	unsigned int visits;
	void *seen[4];
};

static enum bufq_enum_action bufq_test_enum_fn(struct bufq *q, void *buf,
					       void *ctx, void *arg)
{
	struct bufq_test_enum_log *log = arg;

	if (ctx != bufq_context(q, buf))
		log->wrong_ctx = true;
	if (log->visits < ARRAY_SIZE(log->seen))
		log->seen[log->visits] = buf;
	log->visits++;
	return log->action;
}

/* Index of @buf in @bufs[@n], or @n. */
static int bufq_test_index(void * const *bufs, int n, const void *buf)
{
	int i;

	for (i = 0; i < n && bufs[i] != buf; i++)
		;
	return i;
}

/*
 * Each enumerate disposition, on three buffers with pending timers: which
 * buffers the callback sees, which one comes out, which timers are stopped
 * (they never fire), which are restarted (they fire a full timeout after
 * the restart).
 */
static void bufq_test_enumerate(struct kunit *test)
{
	const struct bufq_test_enum_case *c = test->param_value;
	unsigned long t0, t_enum, start;
	struct bufq_test_timer_log *log;
	struct bufq_test_enum_log elog;
	void *bufs[3], *out, *ctx;
	int i, fires, idx, ret;
	struct bufq_config cfg;
	struct bufq *q;

	bufq_test_config(&cfg, 3);
	cfg.with_timer = true;
	q = bufq_test_create(test, &cfg);
	fires = 3 - c->removes - (c->stops ? c->visits : 0);
	log = bufq_test_timer_log_alloc(test, q, fires);

	t0 = jiffies;
	for (i = 0; i < 3; i++) {
		bufs[i] = bufq_test_fetch(test, q);
		ret = bufq_test_arm(q, bufs[i], BUFQ_TEST_PENDING_MS, log);
		KUNIT_ASSERT_EQ(test, ret, 0);
	}
	/* Let some time pass, so that a restarted timer fires later. */
	msleep(BUFQ_TEST_PENDING_MS / 5);

	memset(&elog, 0, sizeof(elog));
	elog.action = c->action;
	out = bufs[0];
	ctx = bufs[0];
	t_enum = jiffies;
	bufq_enumerate(q, bufq_test_enum_fn, &elog, &out, &ctx);
	if (bufq_test_too_late(t0)) {
		if (out)
			KUNIT_EXPECT_EQ(test, bufq_reuse(q, out), 0);
		bufq_test_give_up(test, q, log);
	}

	KUNIT_EXPECT_EQ(test, elog.visits, c->visits);
	for (i = 0; i < min(elog.visits, c->visits); i++)
		KUNIT_EXPECT_PTR_EQ(test, elog.seen[i], bufs[i]);
	KUNIT_EXPECT_FALSE(test, elog.wrong_ctx);
	if (c->removes) {
		KUNIT_EXPECT_PTR_EQ(test, out, bufs[0]);
		KUNIT_EXPECT_PTR_EQ(test, ctx, bufq_context(q, bufs[0]));
		bufq_test_expect_counts(test, q, 3, 0, 2, 1);
	} else {
		KUNIT_EXPECT_NULL(test, out);
		KUNIT_EXPECT_NULL(test, ctx);
		bufq_test_expect_counts(test, q, 3, 0, 3, 0);
	}

	if (fires)
		KUNIT_EXPECT_TRUE(test, bufq_test_wait(&log->done));
	/* Then the stopped timers had all the time they needed to fire. */
	msleep(2 * BUFQ_TEST_PENDING_MS);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->fired), fires);
	KUNIT_EXPECT_FALSE(test, log->wrong_args);
	for (i = 0; i < min(atomic_read(&log->fired), BUFQ_TEST_MAX_FIRES); i++) {
		idx = bufq_test_index(bufs, 3, log->bufs[i]);
		KUNIT_ASSERT_LT(test, idx, 3);
		if (c->removes || c->stops)
			KUNIT_EXPECT_GE(test, idx, c->visits);
		start = c->resets && idx < c->visits ? t_enum : t0;
		KUNIT_EXPECT_TRUE(test, bufq_test_after(log->when[i], start,
							BUFQ_TEST_PENDING_MS));
	}
	bufq_test_expect_counts(test, q, 3, 0, 3 - c->removes - fires,
				c->removes + fires);

	bufq_test_timer_log_reuse(test, q, log);
	if (out)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, out), 0);
	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 3 - c->removes - fires);
	bufq_test_expect_counts(test, q, 3, 3, 0, 0);
}

static enum bufq_enum_action bufq_test_enum_remove_fn(struct bufq *q,
						      void *buf, void *ctx,
						      void *arg)
{
	return BUFQ_ENUM_REMOVE_AND_STOP;
}

/*
 * Enumerating an empty queue calls nothing and returns no buffer; a
 * callback that never removes may be given no buffer and context pointers.
 */
static void bufq_test_enumerate_edges(struct kunit *test)
{
	struct bufq_test_enum_log elog = { .action = BUFQ_ENUM_CONTINUE };
	struct bufq_config cfg;
	void *buf, *out, *ctx;
	struct bufq *q;

	bufq_test_config(&cfg, 2);
	q = bufq_test_create(test, &cfg);

	out = q;
	ctx = q;
	bufq_enumerate(q, bufq_test_enum_remove_fn, NULL, &out, &ctx);
	KUNIT_EXPECT_NULL(test, out);
	KUNIT_EXPECT_NULL(test, ctx);

	buf = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), 0);
	bufq_enumerate(q, bufq_test_enum_fn, &elog, NULL, NULL);
	KUNIT_EXPECT_EQ(test, elog.visits, 1);
	KUNIT_EXPECT_PTR_EQ(test, elog.seen[0], buf);

	/* The context pointer alone may be left out. */
	bufq_enumerate(q, bufq_test_enum_remove_fn, NULL, &out, NULL);
	KUNIT_EXPECT_PTR_EQ(test, out, buf);
	bufq_test_expect_counts(test, q, 2, 1, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
}

/* The high-water mark is the most buffers ever out at once; it never drops. */
static void bufq_test_high_water(struct kunit *test)
{
	struct bufq_config cfg;
	struct bufq_stats st;
	void *bufs[6];
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, 4);
	cfg.lookaside = true;
	cfg.max_buffers = 6;
	q = bufq_test_create(test, &cfg);

	for (i = 0; i < 3; i++)
		bufs[i] = bufq_test_fetch(test, q);
	/* Queued buffers are in use too. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[2]), 0);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.high_water, 3);

	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[1]), 0);
	bufs[0] = bufq_test_fetch(test, q);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.high_water, 3);

	for (i = 1; i < 6; i++)
		if (i != 2)
			bufs[i] = bufq_test_fetch(test, q);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.high_water, 6);

	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 1);
	for (i = 0; i < 6; i++)
		if (i != 2)
			KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.high_water, 6);
	bufq_test_expect_counts(test, q, 4, 4, 0, 0);
}

/* Every counter of bufq_get_stats(), through a life cycle. */
static void bufq_test_stats(struct kunit *test)
{
	struct bufq_config cfg;
	void *a, *b, *c, *buf;
	struct bufq_stats st;
	struct bufq *q;

	bufq_test_config(&cfg, 2);
	cfg.lookaside = true;
	cfg.max_buffers = 3;
	q = bufq_test_create(test, &cfg);

	bufq_test_expect_counts(test, q, 2, 2, 0, 0);
	a = bufq_test_fetch(test, q);
	bufq_test_expect_counts(test, q, 2, 1, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, a), 0);
	bufq_test_expect_counts(test, q, 2, 1, 1, 0);
	b = bufq_test_fetch(test, q);
	c = bufq_test_fetch(test, q);
	bufq_test_expect_counts(test, q, 3, 0, 1, 2);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	bufq_test_expect_counts(test, q, 3, 0, 0, 3);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, a), 0);
	bufq_test_expect_counts(test, q, 2, 0, 0, 2);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, b), 0);
	bufq_test_expect_counts(test, q, 2, 0, 1, 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, c), 0);
	bufq_flush(q);
	bufq_test_expect_counts(test, q, 2, 2, 0, 0);

	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.high_water, 3);
	KUNIT_EXPECT_EQ(test, st.grown, 1);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 1);
}

/* Memory descriptors: for any buffer, from a dequeue, and as scatterlist. */
static void bufq_test_desc(struct kunit *test)
{
	const unsigned int size = 100;
	struct bufq_config cfg;
	struct bufq_desc desc;
	struct scatterlist sg;
	void *buf, *out, *ctx;
	struct bufq *q;

	bufq_test_config(&cfg, 2);
	cfg.buffer_size = size;
	q = bufq_test_create(test, &cfg);
	buf = bufq_test_fetch(test, q);

	bufq_desc(q, buf, &desc);
	KUNIT_EXPECT_PTR_EQ(test, desc.addr, buf);
	KUNIT_EXPECT_EQ(test, desc.len, size);
	KUNIT_EXPECT_PTR_EQ(test, desc.page, virt_to_page(buf));
	KUNIT_EXPECT_EQ(test, desc.offset, offset_in_page(buf));

	sg_init_table(&sg, 1);
	bufq_desc_to_sg(&desc, &sg);
	KUNIT_EXPECT_PTR_EQ(test, sg_page(&sg), desc.page);
	KUNIT_EXPECT_EQ(test, sg.offset, desc.offset);
	KUNIT_EXPECT_EQ(test, sg.length, size);
	KUNIT_EXPECT_PTR_EQ(test, sg_virt(&sg), buf);
	KUNIT_EXPECT_TRUE(test, sg_is_last(&sg));

	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), 0);
	memset(&desc, 0, sizeof(desc));
	KUNIT_ASSERT_EQ(test, bufq_dequeue_desc(q, &out, &desc, &ctx), 0);
	KUNIT_EXPECT_PTR_EQ(test, out, buf);
	KUNIT_EXPECT_PTR_EQ(test, ctx, bufq_context(q, buf));
	KUNIT_EXPECT_PTR_EQ(test, desc.addr, buf);
	KUNIT_EXPECT_EQ(test, desc.len, size);
	KUNIT_EXPECT_PTR_EQ(test, desc.page, virt_to_page(buf));
	KUNIT_EXPECT_EQ(test, desc.offset, offset_in_page(buf));
	KUNIT_EXPECT_EQ(test, bufq_dequeue_desc(q, &out, &desc, NULL), -ENODATA);

	/* A free buffer too. */
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	memset(&desc, 0, sizeof(desc));
	bufq_desc(q, buf, &desc);
	KUNIT_EXPECT_PTR_EQ(test, desc.addr, buf);
	KUNIT_EXPECT_EQ(test, desc.len, size);
}

/* Bulk operations move buffers in order, FIFO, as the single ones do. */
static void bufq_test_bulk(struct kunit *test)
{
	void *bufs[BUFQ_TEST_COUNT + 2], *out[BUFQ_TEST_COUNT + 2];
	const unsigned int n = BUFQ_TEST_COUNT;
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, n);
	q = bufq_test_create(test, &cfg);

	KUNIT_ASSERT_EQ(test, bufq_fetch_bulk(q, bufs, n + 2), n);
	for (i = 1; i < n; i++)
		KUNIT_EXPECT_EQ(test, bufq_test_index(bufs, i, bufs[i]), i);
	bufq_test_expect_counts(test, q, n, 0, 0, n);

	KUNIT_EXPECT_EQ(test, bufq_enqueue_bulk(q, bufs, n), n);
	bufq_test_expect_counts(test, q, n, 0, n, 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue_bulk(q, out, n + 2), n);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[i]);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_bulk(q, out, n), 0);

	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, out, n), n);
	bufq_test_expect_counts(test, q, n, n, 0, 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch_bulk(q, bufs, 0), 0);
}

/*
 * Bulk enqueue and reuse stop at the first buffer they must refuse (one
 * WARN): the ones before it are done, the ones after stay with the client.
 */
static void bufq_test_bulk_stops_at_invalid(struct kunit *test)
{
	struct bufq_test_warn *w;
	struct bufq_config cfg;
	void *bufs[4], *out[4];
	struct bufq *q;
	unsigned int n;

	w = bufq_test_warn_alloc(test);
	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	q = bufq_test_create(test, &cfg);
	KUNIT_ASSERT_EQ(test, bufq_fetch_bulk(q, bufs, 3), 3);

	/* a b a c: the second a is already queued. */
	bufs[3] = bufs[2];
	bufs[2] = bufs[0];
	bufq_test_warn_begin(w, true);
	n = bufq_enqueue_bulk(q, bufs, 4);
	KUNIT_EXPECT_EQ(test, bufq_test_warn_end(w), 1);
	KUNIT_EXPECT_EQ(test, n, 2);
	bufq_test_expect_counts(test, q, 4, 1, 2, 1);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[3]), 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue_bulk(q, out, 4), 3);
	KUNIT_EXPECT_PTR_EQ(test, out[2], bufs[3]);

	/* a b b c: the second b is already free. */
	out[3] = out[2];
	out[2] = out[1];
	bufq_test_warn_begin(w, true);
	n = bufq_reuse_bulk(q, out, 4);
	KUNIT_EXPECT_EQ(test, bufq_test_warn_end(w), 1);
	KUNIT_EXPECT_EQ(test, n, 2);
	bufq_test_expect_counts(test, q, 4, 3, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, out[3]), 0);
	bufq_test_expect_counts(test, q, 4, 4, 0, 0);
}

/* Bulk hand-ins go in batches of 32: a refusal in the second one stops there. */
static void bufq_test_bulk_refuse_late(struct kunit *test)
{
	const unsigned int n = 40, bad = 35;
	struct bufq_test_warn *w;
	struct bufq_config cfg;
	void **bufs, **out;
	struct bufq *q;
	unsigned int i;

	bufs = kunit_kcalloc(test, n, sizeof(*bufs), GFP_KERNEL);
	out = kunit_kcalloc(test, n, sizeof(*out), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, bufs && out);
	w = bufq_test_warn_alloc(test);
	bufq_test_config(&cfg, n);
	q = bufq_test_create(test, &cfg);
	KUNIT_ASSERT_EQ(test, bufq_fetch_bulk(q, bufs, n - 1), n - 1);
	bufs[n - 1] = bufs[bad];
	bufs[bad] = bufs[3];	/* queued by then */

	bufq_test_warn_begin(w, true);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_bulk(q, bufs, n), bad);
	KUNIT_EXPECT_EQ(test, bufq_test_warn_end(w), 1);
	bufq_test_expect_counts(test, q, n, 1, bad, n - 1 - bad);
	KUNIT_ASSERT_EQ(test, bufq_dequeue_bulk(q, out, n), bad);
	for (i = 0; i < bad; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[i]);

	/* The same in reuse: out[bad] is free by then. */
	out[bad] = out[3];
	bufq_test_warn_begin(w, true);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, out, bad + 1), bad);
	KUNIT_EXPECT_EQ(test, bufq_test_warn_end(w), 1);
	bufq_test_expect_counts(test, q, n, bad + 1, 0, n - 1 - bad);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, bufs + bad + 1,
					      n - 1 - bad - 1), n - 2 - bad);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[n - 1]), 0);
	bufq_test_expect_counts(test, q, n, n, 0, 0);
}

/* Bulk fetch grows a lookaside queue up to its cap. */
static void bufq_test_bulk_fetch_grows(struct kunit *test)
{
	struct bufq_config cfg;
	struct bufq_stats st;
	void *bufs[8];
	struct bufq *q;

	bufq_test_config(&cfg, 2);
	cfg.lookaside = true;
	cfg.max_buffers = 5;
	q = bufq_test_create(test, &cfg);

	KUNIT_ASSERT_EQ(test, bufq_fetch_bulk(q, bufs, 8), 5);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.grown, 3);
	bufq_test_expect_counts(test, q, 5, 0, 0, 5);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, bufs, 5), 5);
	bufq_test_expect_counts(test, q, 2, 2, 0, 0);
}

/* bufq_poll() reports work to dequeue and room to fetch. */
static void bufq_test_poll(struct kunit *test)
{
	struct bufq_config cfg;
	void *a, *b;
	struct bufq *q;

	bufq_test_config(&cfg, 1);
	cfg.lookaside = true;
	cfg.max_buffers = 2;
	q = bufq_test_create(test, &cfg);

	KUNIT_EXPECT_TRUE(test, bufq_poll(q, NULL, NULL) ==
			  (EPOLLOUT | EPOLLWRNORM));
	a = bufq_test_fetch(test, q);
	/* No free buffer, but room to grow. */
	KUNIT_EXPECT_TRUE(test, bufq_poll(q, NULL, NULL) ==
			  (EPOLLOUT | EPOLLWRNORM));
	b = bufq_test_fetch(test, q);
	KUNIT_EXPECT_TRUE(test, !bufq_poll(q, NULL, NULL));
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, a), 0);
	KUNIT_EXPECT_TRUE(test, bufq_poll(q, NULL, NULL) ==
			  (EPOLLIN | EPOLLRDNORM));
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, b), 0);
	KUNIT_EXPECT_TRUE(test, bufq_poll(q, NULL, NULL) ==
			  (EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM));
	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 1);
}

enum bufq_test_misuse {
	BUFQ_TEST_MISUSE_QUEUED,
	BUFQ_TEST_MISUSE_FREE,
	BUFQ_TEST_MISUSE_FOREIGN,
	BUFQ_TEST_MISUSE_FOREIGN_PAGE,
	BUFQ_TEST_MISUSE_VMALLOC,
	BUFQ_TEST_MISUSE_INTERIOR,
	BUFQ_TEST_MISUSE_CONTEXT,
	BUFQ_TEST_MISUSE_OTHER_QUEUE,
	BUFQ_TEST_MISUSE_DATA_SENTINEL,
	BUFQ_TEST_MISUSE_CTX_SENTINEL,
};

enum bufq_test_op {
	BUFQ_TEST_OP_ENQUEUE,
	BUFQ_TEST_OP_ENQUEUE_AT_HEAD,
	BUFQ_TEST_OP_REUSE,
	BUFQ_TEST_OP_FETCH,		/* takes: bufq_test_op_one() */
	BUFQ_TEST_OP_DEQUEUE,
};

struct bufq_test_misuse_case {
	const char *name;
	enum bufq_test_misuse misuse;
	enum bufq_test_op op;
	unsigned int size;	/* 0: 32 bytes, packed with the header */
};

#define BUFQ_TEST_PAGED		PAGE_SIZE

static const struct bufq_test_misuse_case bufq_test_misuse_cases[] = {
	{ "double-enqueue", BUFQ_TEST_MISUSE_QUEUED, BUFQ_TEST_OP_ENQUEUE },
	{ "double-enqueue-at-head", BUFQ_TEST_MISUSE_QUEUED,
	  BUFQ_TEST_OP_ENQUEUE_AT_HEAD },
	{ "enqueue-free-buffer", BUFQ_TEST_MISUSE_FREE, BUFQ_TEST_OP_ENQUEUE },
	{ "double-reuse", BUFQ_TEST_MISUSE_FREE, BUFQ_TEST_OP_REUSE },
	{ "reuse-queued-buffer", BUFQ_TEST_MISUSE_QUEUED, BUFQ_TEST_OP_REUSE },
	{ "enqueue-foreign-pointer", BUFQ_TEST_MISUSE_FOREIGN,
	  BUFQ_TEST_OP_ENQUEUE },
	{ "reuse-foreign-pointer", BUFQ_TEST_MISUSE_FOREIGN,
	  BUFQ_TEST_OP_REUSE },
	{ "reuse-foreign-page", BUFQ_TEST_MISUSE_FOREIGN_PAGE,
	  BUFQ_TEST_OP_REUSE },
	{ "reuse-vmalloc-pointer", BUFQ_TEST_MISUSE_VMALLOC,
	  BUFQ_TEST_OP_REUSE },
	{ "reuse-interior-pointer", BUFQ_TEST_MISUSE_INTERIOR,
	  BUFQ_TEST_OP_REUSE },
	{ "reuse-context-pointer", BUFQ_TEST_MISUSE_CONTEXT,
	  BUFQ_TEST_OP_REUSE },
	{ "enqueue-other-queue-buffer", BUFQ_TEST_MISUSE_OTHER_QUEUE,
	  BUFQ_TEST_OP_ENQUEUE },
	{ "reuse-other-queue-buffer", BUFQ_TEST_MISUSE_OTHER_QUEUE,
	  BUFQ_TEST_OP_REUSE },
	{ "enqueue-data-sentinel-overwritten", BUFQ_TEST_MISUSE_DATA_SENTINEL,
	  BUFQ_TEST_OP_ENQUEUE },
	{ "reuse-data-sentinel-overwritten", BUFQ_TEST_MISUSE_DATA_SENTINEL,
	  BUFQ_TEST_OP_REUSE },
	{ "enqueue-context-sentinel-overwritten", BUFQ_TEST_MISUSE_CTX_SENTINEL,
	  BUFQ_TEST_OP_ENQUEUE },
	{ "reuse-context-sentinel-overwritten", BUFQ_TEST_MISUSE_CTX_SENTINEL,
	  BUFQ_TEST_OP_REUSE },
	/* Data areas of pages of their own: the header is found by page. */
	{ "paged-double-reuse", BUFQ_TEST_MISUSE_FREE, BUFQ_TEST_OP_REUSE,
	  BUFQ_TEST_PAGED },
	{ "paged-double-enqueue", BUFQ_TEST_MISUSE_QUEUED,
	  BUFQ_TEST_OP_ENQUEUE, BUFQ_TEST_PAGED },
	{ "paged-reuse-foreign-pointer", BUFQ_TEST_MISUSE_FOREIGN,
	  BUFQ_TEST_OP_REUSE, BUFQ_TEST_PAGED },
	{ "paged-reuse-foreign-page", BUFQ_TEST_MISUSE_FOREIGN_PAGE,
	  BUFQ_TEST_OP_REUSE, BUFQ_TEST_PAGED },
	{ "paged-reuse-vmalloc-pointer", BUFQ_TEST_MISUSE_VMALLOC,
	  BUFQ_TEST_OP_REUSE, BUFQ_TEST_PAGED },
	{ "paged-reuse-interior-pointer", BUFQ_TEST_MISUSE_INTERIOR,
	  BUFQ_TEST_OP_REUSE, BUFQ_TEST_PAGED },
	{ "paged-reuse-context-pointer", BUFQ_TEST_MISUSE_CONTEXT,
	  BUFQ_TEST_OP_REUSE, BUFQ_TEST_PAGED },
	{ "paged-reuse-other-queue-buffer", BUFQ_TEST_MISUSE_OTHER_QUEUE,
	  BUFQ_TEST_OP_REUSE, BUFQ_TEST_PAGED },
	{ "paged-enqueue-context-sentinel-overwritten",
	  BUFQ_TEST_MISUSE_CTX_SENTINEL, BUFQ_TEST_OP_ENQUEUE,
	  BUFQ_TEST_PAGED },
};

KUNIT_ARRAY_PARAM_DESC(bufq_test_misuse, bufq_test_misuse_cases, name);

static int bufq_test_do_op(struct bufq *q, void *buf, enum bufq_test_op op)
{
	switch (op) {
	case BUFQ_TEST_OP_ENQUEUE:
		return bufq_enqueue(q, buf);
	case BUFQ_TEST_OP_ENQUEUE_AT_HEAD:
		return bufq_enqueue_at_head(q, buf);
	case BUFQ_TEST_OP_REUSE:
		return bufq_reuse(q, buf);
	case BUFQ_TEST_OP_FETCH:
	case BUFQ_TEST_OP_DEQUEUE:
		break;		/* not hand-ins */
	}
	return -EINVAL;
}

KUNIT_DEFINE_ACTION_WRAPPER(bufq_test_vfree_action, vfree, const void *);

/*
 * Memory that is not a buffer of the queue. Nothing in front of it may be
 * read: the kmalloc() object has KASAN redzones there, the page-aligned
 * one a neighbour, the vmalloc() one a guard page.
 */
static void *bufq_test_foreign(struct kunit *test, enum bufq_test_misuse m)
{
	void *p;

	switch (m) {
	case BUFQ_TEST_MISUSE_FOREIGN:
		p = kunit_kzalloc(test, 64, GFP_KERNEL);
		break;
	case BUFQ_TEST_MISUSE_FOREIGN_PAGE:
		/* Power-of-two kmalloc() sizes are naturally aligned. */
		p = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
		break;
	default:
		p = vzalloc(64);
		if (p && kunit_add_action_or_reset(test, bufq_test_vfree_action,
						   p))
			p = NULL;
		break;
	}
	KUNIT_ASSERT_NOT_NULL(test, p);
	return p;
}

/*
 * The lists of a queue are intact: everything can be taken out, every
 * buffer is there exactly once, and goes back.
 */
static void bufq_test_expect_intact(struct kunit *test, struct bufq *q,
				    unsigned int queued)
{
	void *bufs[BUFQ_TEST_COUNT], *buf;
	int i;

	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), queued);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT, 0, 0);
	for (i = 0; i < BUFQ_TEST_COUNT; i++) {
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &bufs[i], NULL), 0);
		KUNIT_EXPECT_EQ(test, bufq_test_index(bufs, i, bufs[i]), i);
	}
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), -ENOBUFS);
	for (i = 0; i < BUFQ_TEST_COUNT; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
}

/*
 * Each misuse is refused with -EINVAL and exactly one WARN; the queue's
 * counters and lists are untouched, reuse_cleanup is not called, and the
 * client still owns the refused buffer and can hand it back once fixed.
 */
static void bufq_test_misuse(struct kunit *test)
{
	const struct bufq_test_misuse_case *c = test->param_value;
	const unsigned int size = c->size ?: 32, ctx_size = 16;
	struct bufq_stats before, after, other_before, other_after;
	void *held, *queued, *freed, *other = NULL, *target = NULL;
	struct bufq_test_cleanup_log *log;
	struct bufq_test_warn *w;
	struct bufq_config cfg;
	struct bufq *q, *q2;
	u8 *sentinel = NULL;
	unsigned int calls;
	int ret;

	w = bufq_test_warn_alloc(test);
	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	cfg.buffer_size = size;
	cfg.context_size = ctx_size;
	cfg.name = "bufq_test_other";
	q2 = bufq_test_create(test, &cfg);
	cfg.name = "bufq_test_misuse";
	log = bufq_test_cleanup_config(test, &cfg);
	q = bufq_test_create(test, &cfg);

	held = bufq_test_fetch(test, q);
	queued = bufq_test_fetch(test, q);
	KUNIT_ASSERT_EQ(test, bufq_enqueue(q, queued), 0);
	freed = bufq_test_fetch(test, q);
	KUNIT_ASSERT_EQ(test, bufq_reuse(q, freed), 0);

	switch (c->misuse) {
	case BUFQ_TEST_MISUSE_QUEUED:
		target = queued;
		break;
	case BUFQ_TEST_MISUSE_FREE:
		target = freed;
		break;
	case BUFQ_TEST_MISUSE_FOREIGN:
	case BUFQ_TEST_MISUSE_FOREIGN_PAGE:
	case BUFQ_TEST_MISUSE_VMALLOC:
		target = bufq_test_foreign(test, c->misuse);
		break;
	case BUFQ_TEST_MISUSE_INTERIOR:
		target = held + 8;
		break;
	case BUFQ_TEST_MISUSE_CONTEXT:
		target = bufq_context(q, held);
		break;
	case BUFQ_TEST_MISUSE_OTHER_QUEUE:
		other = bufq_test_fetch(test, q2);
		target = other;
		break;
	case BUFQ_TEST_MISUSE_DATA_SENTINEL:
		target = held;
		sentinel = (u8 *)held + size;
		break;
	case BUFQ_TEST_MISUSE_CTX_SENTINEL:
		target = held;
		sentinel = (u8 *)bufq_context(q, held) + ctx_size;
		break;
	}
	if (sentinel)
		*sentinel ^= 0xff;

	bufq_get_stats(q, &before);
	bufq_get_stats(q2, &other_before);
	calls = atomic_read(&log->calls);
	bufq_test_warn_begin(w, true);
	ret = bufq_test_do_op(q, target, c->op);
	KUNIT_EXPECT_EQ(test, bufq_test_warn_end(w), 1);
	KUNIT_EXPECT_EQ(test, ret, -EINVAL);
	bufq_get_stats(q, &after);
	bufq_get_stats(q2, &other_after);
	bufq_test_expect_same_stats(test, &before, &after);
	bufq_test_expect_same_stats(test, &other_before, &other_after);
	KUNIT_EXPECT_EQ(test, atomic_read(&log->calls), calls);

	/* Fixed, the refused buffer is accepted. */
	if (sentinel) {
		*sentinel ^= 0xff;
		KUNIT_EXPECT_EQ(test, bufq_test_do_op(q, held, c->op), 0);
	} else {
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, held), 0);
	}
	if (other)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q2, other), 0);

	bufq_test_expect_intact(test, q, sentinel && c->op != BUFQ_TEST_OP_REUSE ?
				2 : 1);
}

/* Where bufq_test_atomic_ops() runs. */
enum bufq_test_where {
	BUFQ_TEST_HARDIRQ,
	/* Hard IRQ on PREEMPT_RT too (IRQ_WORK_HARD_IRQ): no growth there. */
	BUFQ_TEST_HARDIRQ_STRICT,
	BUFQ_TEST_SOFTIRQ,
	BUFQ_TEST_PROCESS,
};

struct bufq_test_where_case {
	const char *name;
	enum bufq_test_where where;
};

static const struct bufq_test_where_case bufq_test_where_cases[] = {
	{ "hardirq", BUFQ_TEST_HARDIRQ },
	{ "hardirq-strict", BUFQ_TEST_HARDIRQ_STRICT },
	{ "softirq", BUFQ_TEST_SOFTIRQ },
	{ "process", BUFQ_TEST_PROCESS },
};

KUNIT_ARRAY_PARAM_DESC(bufq_test_where, bufq_test_where_cases, name);

struct bufq_test_remote {
	struct bufq *q;
	struct bufq_test_timer_log *log;
	enum bufq_test_where where;
	bool right_context;
	int failed_step;
	struct irq_work work;
	struct timer_list timer;
	struct completion done;
};

/*
 * The operations allowed in any context, growth included. Returns 0, or
 * the number of the first step that went wrong.
 */
static int bufq_test_atomic_ops(struct bufq_test_remote *r)
{
	void *a, *b, *buf, *ctx, *bufs[2];
	struct bufq *q = r->q;
	struct bufq_desc desc;
	struct bufq_stats st;
	unsigned int n;

	if (bufq_fetch(q, &a, NULL))
		return 1;
	/* Grows with GFP_ATOMIC, unless strict: then the second is free. */
	if (bufq_fetch(q, &b, &ctx) || memchr_inv(ctx, 0, BUFQ_TEST_CTX_SIZE))
		return 2;
	if (bufq_enqueue(q, a) || bufq_enqueue_at_head(q, b))
		return 3;
	if (bufq_count(q) != 2)
		return 4;
	bufq_enumerate(q, bufq_test_enum_remove_fn, NULL, &buf, &ctx);
	if (buf != b || ctx != bufq_context(q, b))
		return 5;
	if (bufq_enqueue_with_timer(q, b, BUFQ_TEST_WAIT_MS, bufq_test_timer_fn,
				    r->log))
		return 6;
	if (bufq_dequeue(q, &buf, &ctx) || buf != a)
		return 7;
	/* Stops the timer. */
	if (bufq_dequeue_desc(q, &buf, &desc, NULL) || buf != b ||
	    desc.addr != b)
		return 8;
	bufq_desc(q, a, &desc);
	if (desc.addr != a || bufq_reuse(q, a))
		return 9;
	if (bufq_enqueue(q, b))
		return 10;
	bufq_flush(q);
	/*
	 * In hard IRQ context the buffer the shrink dropped is freed by an
	 * irq_work after we return, and counts against max_buffers until
	 * then: the bulk fetch may find one buffer only.
	 */
	n = bufq_fetch_bulk(q, bufs, 2);
	if (!n || bufq_enqueue_bulk(q, bufs, n) != n ||
	    bufq_dequeue_bulk(q, bufs, n) != n ||
	    bufq_reuse_bulk(q, bufs, n) != n)
		return 11;
	bufq_poll(q, NULL, NULL);
	/* Buffers dropped by the shrink are freed later, by an irq_work. */
	bufq_get_stats(q, &st);
	if (r->where == BUFQ_TEST_HARDIRQ_STRICT ? st.grown : !st.grown)
		return 12;
	return 0;
}

static void bufq_test_remote_run(struct bufq_test_remote *r)
{
	switch (r->where) {
	case BUFQ_TEST_HARDIRQ:
	case BUFQ_TEST_HARDIRQ_STRICT:
		r->right_context = in_hardirq();
		break;
	case BUFQ_TEST_SOFTIRQ:
		r->right_context = in_serving_softirq() && !in_hardirq();
		break;
	case BUFQ_TEST_PROCESS:
		r->right_context = in_task();
		break;
	}
	r->failed_step = bufq_test_atomic_ops(r);
	complete(&r->done);
}

static void bufq_test_irq_work_fn(struct irq_work *work)
{
	bufq_test_remote_run(container_of(work, struct bufq_test_remote, work));
}

static void bufq_test_remote_timer_fn(struct timer_list *t)
{
	struct bufq_test_remote *r = timer_container_of(r, t, timer);

	bufq_test_remote_run(r);
}

/*
 * Fetch (growing with GFP_ATOMIC), enqueue, enumerate, timers, dequeue,
 * flush, bulk, reuse, stats work from hard IRQ (irq_work), softirq (timer)
 * and process context; and all but growth from an IRQ_WORK_HARD_IRQ, hard
 * IRQ on PREEMPT_RT too. DEBUG_ATOMIC_SLEEP and lockdep, with the RT
 * wait-type rules (PROVE_RAW_LOCK_NESTING), watch.
 */
static void bufq_test_contexts(struct kunit *test)
{
	const struct bufq_test_where_case *c = test->param_value;
	struct bufq_test_remote *r;
	struct bufq_config cfg;
	unsigned int count;

	r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, r);
	count = c->where == BUFQ_TEST_HARDIRQ_STRICT ? 2 : 1;
	bufq_test_config(&cfg, count);
	cfg.lookaside = true;
	cfg.max_buffers = 2;
	cfg.with_timer = true;
	r->q = bufq_test_create(test, &cfg);
	r->log = bufq_test_timer_log_alloc(test, r->q, 1);
	r->where = c->where;
	init_completion(&r->done);

	switch (c->where) {
	case BUFQ_TEST_HARDIRQ:
		r->work = IRQ_WORK_INIT(bufq_test_irq_work_fn);
		irq_work_queue(&r->work);
		break;
	case BUFQ_TEST_HARDIRQ_STRICT:
		r->work = IRQ_WORK_INIT_HARD(bufq_test_irq_work_fn);
		irq_work_queue(&r->work);
		break;
	case BUFQ_TEST_SOFTIRQ:
		timer_setup(&r->timer, bufq_test_remote_timer_fn, 0);
		mod_timer(&r->timer, jiffies + 1);
		break;
	case BUFQ_TEST_PROCESS:
		bufq_test_remote_run(r);
		break;
	}
	KUNIT_ASSERT_TRUE(test, bufq_test_wait(&r->done));
	if (c->where == BUFQ_TEST_HARDIRQ ||
	    c->where == BUFQ_TEST_HARDIRQ_STRICT)
		irq_work_sync(&r->work);
	irq_work_sync(&r->q->defer_work);
	if (c->where == BUFQ_TEST_SOFTIRQ)
		timer_shutdown_sync(&r->timer);

	KUNIT_EXPECT_TRUE(test, r->right_context);
	KUNIT_EXPECT_EQ(test, r->failed_step, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&r->log->fired), 0);
	bufq_test_expect_counts(test, r->q, count, count, 0, 0);
}

/* bufq_fetch_wait() sleeps until another thread reuses a buffer. */
static void bufq_test_fetch_wait(struct kunit *test)
{
	struct bufq_test_helper *h;
	struct bufq_config cfg;
	void *buf, *out, *ctx;
	struct bufq *q;

	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	buf = bufq_test_fetch(test, q);

	h = bufq_test_helper_start(test, q, buf, BUFQ_TEST_HELP_REUSE);
	KUNIT_EXPECT_EQ(test, bufq_fetch_wait(q, &out, &ctx), 0);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_finish(test, h), 0);
	KUNIT_EXPECT_PTR_EQ(test, out, buf);
	KUNIT_EXPECT_PTR_EQ(test, ctx, bufq_context(q, buf));
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, out), 0);

	/* With a buffer free it does not sleep. */
	KUNIT_EXPECT_EQ(test, bufq_fetch_wait(q, &out, NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, out), 0);
}

/* bufq_dequeue_wait() sleeps until another thread enqueues a buffer. */
static void bufq_test_dequeue_wait(struct kunit *test)
{
	struct bufq_test_helper *h;
	struct bufq_config cfg;
	void *buf, *out, *ctx;
	struct bufq *q;

	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	buf = bufq_test_fetch(test, q);

	h = bufq_test_helper_start(test, q, buf, BUFQ_TEST_HELP_ENQUEUE);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_wait(q, &out, &ctx), 0);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_finish(test, h), 0);
	KUNIT_EXPECT_PTR_EQ(test, out, buf);
	KUNIT_EXPECT_PTR_EQ(test, ctx, bufq_context(q, buf));

	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, out), 0);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_wait(q, &out, NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, out), 0);
}

/* A signal interrupts bufq_fetch_wait() and bufq_dequeue_wait(). */
static void bufq_test_wait_signal(struct kunit *test)
{
	struct bufq_test_helper *h;
	struct bufq_config cfg;
	struct bufq *q;
	void *buf, *out;

	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	buf = bufq_test_fetch(test, q);
	allow_signal(SIGUSR1);

	h = bufq_test_helper_start(test, q, NULL, BUFQ_TEST_HELP_SIGNAL);
	KUNIT_EXPECT_EQ(test, bufq_fetch_wait(q, &out, NULL), -ERESTARTSYS);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_finish(test, h), 0);
	flush_signals(current);

	h = bufq_test_helper_start(test, q, NULL, BUFQ_TEST_HELP_SIGNAL);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_wait(q, &out, NULL), -ERESTARTSYS);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_finish(test, h), 0);
	flush_signals(current);

	disallow_signal(SIGUSR1);
	bufq_test_expect_counts(test, q, 1, 0, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
}

struct bufq_test_build_case {
	const char *name;
	bool embedded;
};

static const struct bufq_test_build_case bufq_test_build_cases[] = {
	{ "bufq_create", false },
	{ "bufq_init", true },
};

KUNIT_ARRAY_PARAM_DESC(bufq_test_build, bufq_test_build_cases, name);

/*
 * Building a queue of 8 buffers with its n-th allocation failing, for n = 1,
 * 2, ... until no allocation is left to fail: every attempt that fails
 * returns -ENOMEM and leaks nothing (kmemleak checks after the suite).
 */
static void bufq_test_build_fault(struct kunit *test)
{
	const struct bufq_test_build_case *c = test->param_value;
	unsigned int n, left, failed = 0;
	struct bufq *embedded = NULL, *q;
	struct bufq_config cfg;
	int ret;

	if (c->embedded) {
		embedded = kunit_kzalloc(test, sizeof(*embedded), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, embedded);
	}
	bufq_test_config(&cfg, 8);

	for (n = 1; n <= BUFQ_TEST_FAULT_MAX; n++) {
		current->fail_nth = n;
		ret = bufq_test_build(&cfg, embedded, &q);
		left = current->fail_nth;
		current->fail_nth = 0;
		if (!ret) {
			bufq_test_unbuild(q, embedded);
			/* No n-th allocation: all of them were tried. */
			if (left)
				break;
			/* A failure bufq did without (or did not see). */
			continue;
		}
		KUNIT_EXPECT_EQ_MSG(test, ret, -ENOMEM, "allocation %u", n);
		failed++;
	}
	KUNIT_EXPECT_LE(test, n, BUFQ_TEST_FAULT_MAX);
	if (!failed)
		kunit_skip(test, "no allocation failed: failslab ignore-gfp-wait?");
	kunit_info(test, "%u allocations failed in turn\n", failed);
}

/*
 * A lookaside growth whose allocation fails: fetch returns -ENOMEM, counts
 * it in fetch_failed, and the queue goes on working. The buffers are
 * paged, so that growth allocates (a header may find a free slot in a
 * chunk the queue already has).
 */
static void bufq_test_fetch_fault(struct kunit *test)
{
	struct bufq_config cfg;
	struct bufq_stats st;
	unsigned int left;
	void *a, *b, *buf;
	struct bufq *q;
	int ret;

	bufq_test_config(&cfg, 1);
	cfg.buffer_size = PAGE_SIZE;
	cfg.lookaside = true;
	q = bufq_test_create(test, &cfg);
	a = bufq_test_fetch(test, q);

	current->fail_nth = 1;
	ret = bufq_fetch(q, &buf, NULL);
	left = current->fail_nth;
	current->fail_nth = 0;
	KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
	KUNIT_EXPECT_EQ(test, left, 0);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 1);
	KUNIT_EXPECT_EQ(test, st.grown, 0);
	bufq_test_expect_counts(test, q, 1, 0, 0, 1);

	b = bufq_test_fetch(test, q);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.grown, 1);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, b), 0);
	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, a), 0);
	bufq_test_expect_counts(test, q, 1, 1, 0, 0);
}

/*
 * The stress test: every buffer carries a signature in its context (and a
 * pattern in its data) while it is queued, checked whenever it comes off
 * the consumer list, however that happens.
 */
#define BUFQ_TEST_STRESS_COUNT	16
#define BUFQ_TEST_STRESS_MAX	64
#define BUFQ_TEST_STRESS_HELD	8
#define BUFQ_TEST_STRESS_MAGIC	0x6275667174657374UL

enum bufq_test_state {
	BUFQ_TEST_FREE,		/* zero: how a new buffer's context starts */
	BUFQ_TEST_HELD,
	BUFQ_TEST_QUEUED,
};

struct bufq_test_sig {
	unsigned long state;
	unsigned long seq;
	unsigned long check;
};

struct bufq_test_stress {
	struct bufq *q;
	unsigned long deadline;
	atomic_long_t seq;
	atomic_t bad;
};

struct bufq_test_stress_thread {
	struct bufq_test_stress *s;
	struct completion done;
	void *held[BUFQ_TEST_STRESS_HELD];
	unsigned int nr_held;
	unsigned long ops;
	struct rnd_state rnd;
};

enum bufq_test_action {
	BUFQ_TEST_FETCH,
	BUFQ_TEST_ENQUEUE,
	BUFQ_TEST_ENQUEUE_AT_HEAD,
	BUFQ_TEST_ENQUEUE_WITH_TIMER,
	BUFQ_TEST_DEQUEUE,
	BUFQ_TEST_ENUMERATE,
	BUFQ_TEST_COUNT_OP,
	BUFQ_TEST_FLUSH,
	BUFQ_TEST_REUSE,
	BUFQ_TEST_NR_ACTIONS,
};

static bool bufq_test_sig_ok(void *buf, const struct bufq_test_sig *sig)
{
	return sig->state == BUFQ_TEST_QUEUED &&
	       sig->check == (sig->seq ^ (unsigned long)buf ^
			      BUFQ_TEST_STRESS_MAGIC) &&
	       !memchr_inv(buf, (u8)sig->seq, BUFQ_TEST_SIZE);
}

/* Marks a held buffer as queued, just before it is enqueued. */
static void bufq_test_sign(struct bufq_test_stress *s, void *buf)
{
	struct bufq_test_sig *sig = bufq_context(s->q, buf);
	unsigned long seq = atomic_long_inc_return(&s->seq);

	if (sig->state != BUFQ_TEST_HELD)
		atomic_inc(&s->bad);
	memset(buf, (u8)seq, BUFQ_TEST_SIZE);
	sig->seq = seq;
	sig->check = seq ^ (unsigned long)buf ^ BUFQ_TEST_STRESS_MAGIC;
	sig->state = BUFQ_TEST_QUEUED;
}

/* Checks a buffer that came off the consumer list, and marks it held. */
static void bufq_test_claim(struct bufq_test_stress *s, void *buf)
{
	struct bufq_test_sig *sig = bufq_context(s->q, buf);

	if (!bufq_test_sig_ok(buf, sig))
		atomic_inc(&s->bad);
	sig->state = BUFQ_TEST_HELD;
}

/* Reused (held) or flushed (queued): either way it becomes free. */
static void bufq_test_stress_cleanup(struct bufq *q, void *buf, void *ctx)
{
	struct bufq_test_stress *s = bufq_priv(q);
	struct bufq_test_sig *sig = ctx;

	if (sig->state == BUFQ_TEST_QUEUED ? !bufq_test_sig_ok(buf, sig) :
	    sig->state != BUFQ_TEST_HELD)
		atomic_inc(&s->bad);
	sig->state = BUFQ_TEST_FREE;
}

static void bufq_test_stress_timer_fn(struct bufq *q, void *buf, void *ctx,
				      void *arg)
{
	struct bufq_test_stress *s = arg;

	bufq_test_claim(s, buf);
	if (bufq_reuse(q, buf))
		atomic_inc(&s->bad);
}

/*
 * Under the raw consumer lock: no get_random_*() (its lock is a
 * spinlock_t), the thread's own generator instead.
 */
static enum bufq_enum_action bufq_test_stress_enum_fn(struct bufq *q,
						      void *buf, void *ctx,
						      void *arg)
{
	struct bufq_test_stress_thread *t = arg;

	if (!bufq_test_sig_ok(buf, ctx))
		atomic_inc(&t->s->bad);
	return prandom_u32_state(&t->rnd) %
	       (BUFQ_ENUM_RESET_TIMER_AND_CONTINUE + 1);
}

static void bufq_test_stress_keep(struct bufq_test_stress_thread *t,
				  void *buf)
{
	if (t->nr_held < BUFQ_TEST_STRESS_HELD)
		t->held[t->nr_held++] = buf;
	else if (bufq_reuse(t->s->q, buf))
		atomic_inc(&t->s->bad);
}

static void bufq_test_stress_fetch(struct bufq_test_stress_thread *t)
{
	struct bufq_test_sig *sig;
	void *buf;

	if (bufq_fetch(t->s->q, &buf, (void **)&sig))
		return;
	if (sig->state != BUFQ_TEST_FREE)
		atomic_inc(&t->s->bad);
	sig->state = BUFQ_TEST_HELD;
	bufq_test_stress_keep(t, buf);
}

static void bufq_test_stress_put(struct bufq_test_stress_thread *t,
				 enum bufq_test_action action)
{
	unsigned int msecs = 1 + get_random_u32_below(20);
	struct bufq_test_stress *s = t->s;
	void *buf = t->held[--t->nr_held];
	int ret;

	if (action == BUFQ_TEST_REUSE) {
		ret = bufq_reuse(s->q, buf);
	} else {
		bufq_test_sign(s, buf);
		if (action == BUFQ_TEST_ENQUEUE)
			ret = bufq_enqueue(s->q, buf);
		else if (action == BUFQ_TEST_ENQUEUE_AT_HEAD)
			ret = bufq_enqueue_at_head(s->q, buf);
		else
			ret = bufq_enqueue_with_timer(s->q, buf, msecs,
						      bufq_test_stress_timer_fn,
						      s);
	}
	if (ret)
		atomic_inc(&s->bad);
}

static void bufq_test_stress_step(struct bufq_test_stress_thread *t)
{
	enum bufq_test_action action;
	struct bufq_test_stress *s = t->s;
	void *buf;

	action = get_random_u32_below(BUFQ_TEST_NR_ACTIONS);
	switch (action) {
	case BUFQ_TEST_FETCH:
		bufq_test_stress_fetch(t);
		break;
	case BUFQ_TEST_ENQUEUE:
	case BUFQ_TEST_ENQUEUE_AT_HEAD:
	case BUFQ_TEST_ENQUEUE_WITH_TIMER:
	case BUFQ_TEST_REUSE:
		if (t->nr_held)
			bufq_test_stress_put(t, action);
		else
			bufq_test_stress_fetch(t);
		break;
	case BUFQ_TEST_DEQUEUE:
		if (!bufq_dequeue(s->q, &buf, NULL)) {
			bufq_test_claim(s, buf);
			bufq_test_stress_keep(t, buf);
		}
		break;
	case BUFQ_TEST_ENUMERATE:
		bufq_enumerate(s->q, bufq_test_stress_enum_fn, t, &buf, NULL);
		if (buf) {
			bufq_test_claim(s, buf);
			bufq_test_stress_keep(t, buf);
		}
		break;
	case BUFQ_TEST_COUNT_OP:
		bufq_count(s->q);
		break;
	case BUFQ_TEST_FLUSH:
		/* Rarely, or the queue would hardly ever fill. */
		if (!get_random_u32_below(16))
			bufq_flush(s->q);
		break;
	case BUFQ_TEST_NR_ACTIONS:
		break;
	}
}

static int bufq_test_stress_fn(void *data)
{
	struct bufq_test_stress_thread *t = data;

	while (time_before(jiffies, t->s->deadline)) {
		bufq_test_stress_step(t);
		t->ops++;
		cond_resched();
	}
	while (t->nr_held)
		bufq_test_stress_put(t, BUFQ_TEST_REUSE);
	kthread_complete_and_exit(&t->done, 0);
}

/*
 * One thread per online CPU (two at least) does random operations for a few
 * seconds, as DMF's own test does. Then: no signature was ever wrong, and once the
 * queue is flushed and the last timer callback is done, every buffer is
 * free and the queue is back to buffer_count.
 */
static void bufq_test_stress(struct kunit *test)
{
	unsigned long wait = msecs_to_jiffies(BUFQ_TEST_STRESS_MS +
					      BUFQ_TEST_WAIT_MS);
	struct bufq_test_stress_thread *threads;
	struct bufq_test_stress *s;
	unsigned int nr_threads = max(num_online_cpus(), 2U);
	unsigned int cpu, i, nr;
	struct task_struct *task;
	unsigned long ops = 0;
	struct bufq_config cfg;
	struct bufq_stats st;
	bool stuck = false;

	/* Not kunit memory: a stuck thread must not lose it. */
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	threads = kcalloc(nr_threads, sizeof(*threads), GFP_KERNEL);
	if (!s || !threads) {
		kfree(s);
		kfree(threads);
	}
	KUNIT_ASSERT_TRUE(test, s && threads);
	bufq_test_config(&cfg, BUFQ_TEST_STRESS_COUNT);
	cfg.context_size = sizeof(struct bufq_test_sig);
	cfg.lookaside = true;
	cfg.max_buffers = BUFQ_TEST_STRESS_MAX;
	cfg.with_timer = true;
	cfg.reuse_cleanup = bufq_test_stress_cleanup;
	cfg.priv = s;
	s->q = bufq_create(&cfg);
	if (IS_ERR(s->q)) {
		kfree(s);
		kfree(threads);
	}
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, s->q);
	s->deadline = jiffies + msecs_to_jiffies(BUFQ_TEST_STRESS_MS);

	/* One thread on each CPU, the others where the scheduler likes. */
	cpu = cpumask_first(cpu_online_mask);
	for (nr = 0; nr < nr_threads; nr++) {
		struct bufq_test_stress_thread *t = &threads[nr];

		t->s = s;
		prandom_seed_state(&t->rnd, get_random_u64());
		init_completion(&t->done);
		task = kthread_create(bufq_test_stress_fn, t, "bufq_stress/%u",
				      nr);
		if (IS_ERR(task))
			break;
		if (cpu < nr_cpu_ids) {
			kthread_bind(task, cpu);
			cpu = cpumask_next(cpu, cpu_online_mask);
		}
		wake_up_process(task);
	}
	KUNIT_EXPECT_EQ(test, nr, nr_threads);
	for (i = 0; i < nr; i++) {
		/* They stop on their own, after BUFQ_TEST_STRESS_MS. */
		if (!wait_for_completion_timeout(&threads[i].done, wait)) {
			stuck = true;
			continue;
		}
		KUNIT_EXPECT_GT(test, threads[i].ops, 0);
		ops += threads[i].ops;
	}
	/* Leak the queue and the threads' memory rather than pull them away. */
	KUNIT_ASSERT_FALSE_MSG(test, stuck, "stress thread stuck");
	kfree(threads);

	bufq_flush(s->q);
	/* Timer callbacks still running reuse their buffers shortly. */
	for (i = 0; i < BUFQ_TEST_WAIT_MS / 20; i++) {
		bufq_get_stats(s->q, &st);
		if (!st.held && !st.queued)
			break;
		msleep(20);
	}
	bufq_test_expect_counts(test, s->q, BUFQ_TEST_STRESS_COUNT,
				BUFQ_TEST_STRESS_COUNT, 0, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&s->bad), 0);
	kunit_info(test, "%u threads, %lu operations\n", nr, ops);
	bufq_destroy(s->q);
	kfree(s);
}

struct bufq_test_footprint_case {
	const char *name;
	unsigned int size;
	unsigned int count;
};

static const struct bufq_test_footprint_case bufq_test_footprint_cases[] = {
	{ "64B", 64, 256 },
	{ "512B", 512, 128 },
	{ "4KiB", SZ_4K, 64 },
	{ "64KiB", SZ_64K, 16 },
};

KUNIT_ARRAY_PARAM_DESC(bufq_test_footprint, bufq_test_footprint_cases, name);

static int bufq_test_cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* Adds the page frames [@p, @p + @len) spans to @pfns; returns how many. */
static unsigned int bufq_test_span(unsigned long *pfns, const void *p,
				   size_t len)
{
	unsigned long first = PFN_DOWN(__pa(p)), last = PFN_DOWN(__pa(p + len - 1));
	unsigned int n = 0;

	for (; first <= last; first++)
		pfns[n++] = first;
	return n;
}

/*
 * A buffer costs what it holds. The pages the queue's buffers really span
 * (headers, context and data, found from the addresses the queue hands
 * out) match what bufq_get_stats() reports; a data area of a multiple of
 * PAGE_SIZE is page-aligned, in pages of its own allocated at exactly that
 * size, and costs at most 5% more than its data and context; a small
 * buffer costs at most 64 bytes beyond them (plus, per queue, the unused
 * end of its last chunk).
 */
static void bufq_test_footprint(struct kunit *test)
{
	const struct bufq_test_footprint_case *c = test->param_value;
	const unsigned int ctx_size = BUFQ_TEST_CTX_SIZE;
	unsigned long *pfns, per;
	unsigned int i, j, n = 0;
	struct bufq_config cfg;
	struct bufq_stats st;
	struct bufq *q;
	void **bufs;

	bufq_test_config(&cfg, c->count);
	cfg.buffer_size = c->size;
	q = bufq_test_create(test, &cfg);
	bufs = kunit_kcalloc(test, c->count, sizeof(*bufs), GFP_KERNEL);
	pfns = kunit_kcalloc(test, c->count * (c->size / PAGE_SIZE + 4),
			     sizeof(*pfns), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, bufs && pfns);

	for (i = 0; i < c->count; i++) {
		void *ctx;

		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &bufs[i], &ctx), 0);
		n += bufq_test_span(pfns + n, ctx - q->ctx_off, q->obj_size);
		if (!PAGE_ALIGNED(c->size))
			continue;
		KUNIT_EXPECT_TRUE(test, PAGE_ALIGNED(bufs[i]));
		KUNIT_EXPECT_FALSE(test, PageCompound(virt_to_page(bufs[i])));
		n += bufq_test_span(pfns + n, bufs[i], c->size);
	}
	sort(pfns, n, sizeof(*pfns), bufq_test_cmp_ulong, NULL);
	for (i = 0, j = 0; i < n; i++)
		if (!i || pfns[i] != pfns[i - 1])
			j++;

	bufq_get_stats(q, &st);
	per = st.mem_bytes / st.total;
	kunit_info(test, "%u x %u B: %lu B per buffer, overhead %u B, %u pages spanned, %lu bytes\n",
		   c->count, c->size, per, st.overhead, j, st.mem_bytes);
	/* Only the untouched tail of the last chunk is not spanned. */
	KUNIT_EXPECT_LE(test, (unsigned long)j * PAGE_SIZE, st.mem_bytes);
	KUNIT_EXPECT_LT(test, st.mem_bytes - (unsigned long)j * PAGE_SIZE,
			PAGE_SIZE << q->chunk_order);
	if (PAGE_ALIGNED(c->size)) {
		KUNIT_EXPECT_LE(test, per * 100, 105UL * (c->size + ctx_size));
		/* A header needs an order-0 page at most: data sets the order. */
		KUNIT_EXPECT_EQ(test, q->chunk_order, 0);
	} else {
		/* 64 B a buffer, and the unused end of a partly filled chunk. */
		KUNIT_EXPECT_LE(test, st.overhead, 64);
		KUNIT_EXPECT_LE(test, st.mem_bytes,
				st.total * (c->size + ctx_size + 64UL) +
				(PAGE_SIZE << q->chunk_order));
	}
	for (i = 0; i < c->count; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
}

static const struct bufq_test_footprint_case bufq_test_layout_cases[] = {
	{ "packed", 64, 2 },
	{ "paged", SZ_4K, 2 },
};

KUNIT_ARRAY_PARAM_DESC(bufq_test_layout, bufq_test_layout_cases, name);

/*
 * A buffer freed by the lookaside shrink, handed in again, is refused with
 * -EINVAL and one WARN: its memory was checked before it was read (KASAN
 * would see a read of freed memory).
 */
static void bufq_test_stale_shrunk(struct kunit *test)
{
	const struct bufq_test_footprint_case *c = test->param_value;
	struct bufq_stats before, after;
	struct bufq_test_warn *w;
	struct bufq_config cfg;
	void *a, *b, *buf;
	struct bufq *q;

	w = bufq_test_warn_alloc(test);
	bufq_test_config(&cfg, 1);
	cfg.buffer_size = c->size;
	cfg.lookaside = true;
	q = bufq_test_create(test, &cfg);
	a = bufq_test_fetch(test, q);
	b = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, b), 0);	/* freed: shrink */
	bufq_test_expect_counts(test, q, 1, 0, 0, 1);

	bufq_get_stats(q, &before);
	bufq_test_warn_begin(w, true);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, b), -EINVAL);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, b), -EINVAL);
	KUNIT_EXPECT_EQ(test, bufq_test_warn_end(w), 2);
	bufq_get_stats(q, &after);
	bufq_test_expect_same_stats(test, &before, &after);

	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, a), 0);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, a);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, a), 0);
	bufq_test_expect_counts(test, q, 1, 1, 0, 0);
}

#define BUFQ_TEST_LIFE_ROUNDS	100

struct bufq_test_life {
	struct bufq *q;
	unsigned long items;
	int ret;
	struct completion done;
};

/* The consumer loop a driver writes; it holds a reference. */
static int bufq_test_life_fn(void *data)
{
	struct bufq_test_life *l = data;
	void *buf;
	int ret;

	while (!(ret = bufq_dequeue_wait(l->q, &buf, NULL))) {
		l->items++;
		udelay(get_random_u32_below(30));	/* the work */
		if (bufq_reuse(l->q, buf))
			break;
		udelay(get_random_u32_below(10));	/* between calls */
	}
	l->ret = ret;
	bufq_put(l->q);
	kthread_complete_and_exit(&l->done, 0);
}

/*
 * A consumer thread running "while (!bufq_dequeue_wait()) { work;
 * bufq_reuse(); }" with a reference, against bufq_destroy() at random
 * points of its loop: it always ends with -ESHUTDOWN, and the queue is
 * freed once it lets go (KASAN watches every access).
 */
static void bufq_test_lifetime(struct kunit *test)
{
	unsigned int round, i, n, ended = 0;
	struct bufq_test_life *l;
	struct task_struct *task;
	struct bufq_config cfg;
	unsigned long items = 0;
	void *buf;

	bufq_test_config(&cfg, 4);
	for (round = 0; round < BUFQ_TEST_LIFE_ROUNDS; round++) {
		/* Not kunit memory: a stuck thread must not lose it. */
		l = kzalloc(sizeof(*l), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, l);
		init_completion(&l->done);
		l->q = bufq_create(&cfg);
		if (IS_ERR(l->q))
			kfree(l);
		KUNIT_ASSERT_FALSE(test, IS_ERR(l->q));
		bufq_get(l->q);		/* the thread's */
		task = kthread_run(bufq_test_life_fn, l, "bufq_test_life");
		if (IS_ERR(task)) {
			bufq_put(l->q);
			bufq_destroy(l->q);
			kfree(l);
		}
		KUNIT_ASSERT_FALSE(test, IS_ERR(task));

		n = get_random_u32_below(5);
		for (i = 0; i < n && !bufq_fetch(l->q, &buf, NULL); i++) {
			KUNIT_EXPECT_EQ(test, bufq_enqueue(l->q, buf), 0);
			udelay(get_random_u32_below(20));
		}
		/* Often let it get going: asleep, working, between calls. */
		for (i = 0; i < 1000 && READ_ONCE(l->items) < n / 2; i++)
			usleep_range(20, 40);
		udelay(get_random_u32_below(50));
		bufq_destroy(l->q);
		if (!bufq_test_wait(&l->done))
			KUNIT_FAIL_AND_ABORT(test, "consumer thread stuck");
		KUNIT_EXPECT_EQ(test, l->ret, -ESHUTDOWN);
		items += l->items;
		ended++;
		kfree(l);
	}
	kunit_info(test, "%u rounds, %lu buffers consumed\n", ended, items);
}

/*
 * *_wait() sleepers are woken exclusively: one buffer made free wakes one
 * of three sleeping fetchers, in the order they went to sleep.
 */
static void bufq_test_wake_one(struct kunit *test)
{
	struct bufq_test_helper *h[3];
	struct bufq_stats st;
	struct bufq_config cfg;
	unsigned long woken;
	unsigned int i, j, done;
	struct bufq *q;
	void *buf;

	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	buf = bufq_test_fetch(test, q);
	for (i = 0; i < ARRAY_SIZE(h); i++) {
		h[i] = bufq_test_helper_start(test, q, NULL,
					      BUFQ_TEST_HELP_FETCH_WAIT);
		msleep(2 * BUFQ_TEST_HELPER_MS);
	}
	bufq_get_stats(q, &st);
	woken = st.wakeups;

	for (i = 0; i < ARRAY_SIZE(h); i++) {
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
		/* The first to sleep gets it, and no one else wakes. */
		KUNIT_EXPECT_EQ(test, bufq_test_helper_result(test, h[i], &buf),
				0);
		KUNIT_ASSERT_NOT_NULL(test, buf);
		msleep(2 * BUFQ_TEST_HELPER_MS);	/* room for a stray wake */
		for (j = i + 1, done = 0; j < ARRAY_SIZE(h); j++)
			done += completion_done(&h[j]->done);
		KUNIT_EXPECT_EQ(test, done, 0);
		bufq_get_stats(q, &st);
		KUNIT_EXPECT_EQ(test, st.wakeups - woken, i + 1);
	}
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.fetch_failed, 0);
}

/*
 * Buffers expire in deadline order, not in the order they were queued,
 * and each expiry only visits what expired (the others stay queued).
 */
static void bufq_test_timer_order(struct kunit *test)
{
	static const unsigned int ms[] = { 15, 5, 10 };
	struct bufq_test_timer_log *log;
	void *bufs[ARRAY_SIZE(ms)], *buf;
	struct bufq_config cfg;
	struct bufq_stats st;
	struct bufq *q;
	unsigned int i;

	bufq_test_config(&cfg, ARRAY_SIZE(ms) + 1);
	cfg.with_timer = true;
	q = bufq_test_create(test, &cfg);
	log = bufq_test_timer_log_alloc(test, q, ARRAY_SIZE(ms));
	buf = bufq_test_fetch(test, q);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), 0);	/* never expires */
	for (i = 0; i < ARRAY_SIZE(ms); i++) {
		bufs[i] = bufq_test_fetch(test, q);
		KUNIT_ASSERT_EQ(test, bufq_test_arm(q, bufs[i],
						    ms[i] * BUFQ_TEST_EXPIRE_MS,
						    log), 0);
	}
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.timed, ARRAY_SIZE(ms));
	KUNIT_ASSERT_TRUE(test, bufq_test_wait(&log->done));
	KUNIT_EXPECT_EQ(test, atomic_read(&log->fired), ARRAY_SIZE(ms));
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[0], bufs[1]);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[1], bufs[2]);
	KUNIT_EXPECT_PTR_EQ(test, log->bufs[2], bufs[0]);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.timed, 0);
	KUNIT_EXPECT_GT(test, st.expiry_max_ns, 0);
	bufq_test_expect_counts(test, q, ARRAY_SIZE(ms) + 1, 0, 1,
				ARRAY_SIZE(ms));
	bufq_test_timer_log_reuse(test, q, log);
	KUNIT_EXPECT_EQ(test, bufq_test_drain(test, q), 1);
}

/*
 * Per-CPU caches: a reuse puts the buffer in its CPU's cache. These run the
 * calls on chosen CPUs (work_on_cpu()), to leave buffers in a cache other
 * than the fetcher's.
 */
struct bufq_test_on_cpu {
	struct bufq *q;
	void **bufs;
	unsigned int n;
	enum bufq_test_op op;
	int err;		/* of the call that stopped it, or 0 */
};

/* Any @op: a take sets *@buf, a hand-in gives it (bufq_test_do_op()). */
static int bufq_test_op_one(struct bufq *q, enum bufq_test_op op, void **buf)
{
	if (op == BUFQ_TEST_OP_FETCH)
		return bufq_fetch(q, buf, NULL);
	if (op == BUFQ_TEST_OP_DEQUEUE)
		return bufq_dequeue(q, buf, NULL);
	return bufq_test_do_op(q, *buf, op);
}

static long bufq_test_on_cpu_fn(void *arg)
{
	struct bufq_test_on_cpu *w = arg;
	unsigned int i;

	for (i = 0; i < w->n; i++) {
		w->err = bufq_test_op_one(w->q, w->op, &w->bufs[i]);
		if (w->err)
			break;
	}
	return i;
}

/* @op on each of @n buffers on @cpu; returns how many it did. */
static long __bufq_test_on_cpu(struct bufq *q, int cpu, void **bufs,
			       unsigned int n, enum bufq_test_op op, int *err)
{
	struct bufq_test_on_cpu w = { q, bufs, n, op, 0 };
	long done = work_on_cpu(cpu, bufq_test_on_cpu_fn, &w);

	if (err)
		*err = w.err;
	return done;
}

/* Fetch (or reuse) @n buffers on @cpu; returns how many it did. */
static long bufq_test_on_cpu(struct bufq *q, int cpu, void **bufs,
			     unsigned int n, bool fetch)
{
	return __bufq_test_on_cpu(q, cpu, bufs, n, fetch ? BUFQ_TEST_OP_FETCH :
				  BUFQ_TEST_OP_REUSE, NULL);
}

/* Two online CPUs, or skip. */
static void bufq_test_two_cpus(struct kunit *test, int *a, int *b)
{
	*a = cpumask_first(cpu_online_mask);
	*b = cpumask_next(*a, cpu_online_mask);
	if (*b >= nr_cpu_ids)
		kunit_skip(test, "needs two online CPUs");
}

/*
 * Buffers reused on one CPU sit in its cache: the counters still add up,
 * and a fetch on another CPU finds every one of them before it fails.
 */
static void bufq_test_cache_cross_cpu(struct kunit *test)
{
	void *bufs[BUFQ_TEST_COUNT], *buf;
	struct bufq_config cfg;
	struct bufq *q;
	int a, b;

	bufq_test_two_cpus(test, &a, &b);
	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	q = bufq_test_create(test, &cfg);

	KUNIT_ASSERT_EQ(test, bufq_test_on_cpu(q, a, bufs, BUFQ_TEST_COUNT,
					       true), BUFQ_TEST_COUNT);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, 0, 0, BUFQ_TEST_COUNT);
	KUNIT_ASSERT_EQ(test, bufq_test_on_cpu(q, b, bufs, BUFQ_TEST_COUNT,
					       false), BUFQ_TEST_COUNT);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT, 0, 0);

	/* All of b's cache, fetched on a; then nothing is left. */
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, a, bufs, BUFQ_TEST_COUNT,
					       true), BUFQ_TEST_COUNT);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, 0, 0, BUFQ_TEST_COUNT);
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &buf, NULL), -ENOBUFS);

	/* Half on each CPU's cache: a bulk fetch takes them all. */
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, a, bufs, 2, false), 2);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, b, bufs + 2,
					       BUFQ_TEST_COUNT - 2, false),
			BUFQ_TEST_COUNT - 2);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT, 0, 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch_bulk(q, bufs, BUFQ_TEST_COUNT),
			BUFQ_TEST_COUNT);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, bufs, BUFQ_TEST_COUNT),
			BUFQ_TEST_COUNT);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT, 0, 0);
}

/* A reuse into another CPU's cache wakes a sleeper in bufq_fetch_wait(). */
static void bufq_test_cache_wakes_waiter(struct kunit *test)
{
	struct bufq_test_helper *h;
	struct bufq_config cfg;
	void *buf, *out;
	struct bufq *q;
	int a, b;

	bufq_test_two_cpus(test, &a, &b);
	bufq_test_config(&cfg, 1);
	q = bufq_test_create(test, &cfg);
	buf = bufq_test_fetch(test, q);

	h = bufq_test_helper_start(test, q, NULL, BUFQ_TEST_HELP_FETCH_WAIT);
	msleep(2 * BUFQ_TEST_HELPER_MS);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, b, &buf, 1, false), 1);
	KUNIT_EXPECT_EQ(test, bufq_test_helper_result(test, h, &out), 0);
	KUNIT_EXPECT_PTR_EQ(test, out, buf);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, out), 0);
}

/*
 * Lookaside growth with buffers in caches: a fetch takes what another
 * CPU's cache holds before it grows, and the queue shrinks back to
 * buffer_count however the buffers come back.
 */
static void bufq_test_cache_shrink(struct kunit *test)
{
	void *bufs[2 * BUFQ_TEST_COUNT];
	struct bufq_config cfg;
	struct bufq_stats st;
	struct bufq *q;
	int a, b;

	bufq_test_two_cpus(test, &a, &b);
	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	cfg.lookaside = true;
	q = bufq_test_create(test, &cfg);

	KUNIT_ASSERT_EQ(test, bufq_test_on_cpu(q, a, bufs, BUFQ_TEST_COUNT,
					       true), BUFQ_TEST_COUNT);
	KUNIT_ASSERT_EQ(test, bufq_test_on_cpu(q, b, bufs, 2, false), 2);
	/* Two from b's cache, then two grown: bufs[2..8) are held. */
	KUNIT_ASSERT_EQ(test, bufq_test_on_cpu(q, a, bufs + 4, 4, true), 4);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.grown, 2);
	KUNIT_EXPECT_EQ(test, st.high_water, BUFQ_TEST_COUNT + 2);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT + 2, 0, 0,
				BUFQ_TEST_COUNT + 2);

	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, b, bufs + 2, 3, false), 3);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, a, bufs + 5, 3, false), 3);
	bufq_test_expect_counts(test, q, BUFQ_TEST_COUNT, BUFQ_TEST_COUNT, 0, 0);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.high_water, BUFQ_TEST_COUNT + 2);
}

/*
 * Destroy and exit with free buffers in several CPUs' caches: they are
 * freed (kmemleak and bufq_exit()'s wait would tell otherwise), and a
 * buffer still held comes back after.
 */
static void bufq_test_cache_destroy(struct kunit *test)
{
	void *bufs[BUFQ_TEST_COUNT], *buf;
	struct bufq_config cfg;
	struct bufq *q;
	int a, b;

	bufq_test_two_cpus(test, &a, &b);
	bufq_test_config(&cfg, BUFQ_TEST_COUNT);
	q = bufq_create(&cfg);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, q);
	KUNIT_ASSERT_EQ(test, bufq_test_on_cpu(q, a, bufs, BUFQ_TEST_COUNT,
					       true), BUFQ_TEST_COUNT);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, a, bufs, 1, false), 1);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, b, bufs + 1, 2, false), 2);
	buf = bufs[3];
	bufq_destroy(q);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), -ESHUTDOWN);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, b, &buf, 1, false), 1);

	q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, q);
	KUNIT_ASSERT_EQ(test, bufq_init(q, &cfg), 0);
	KUNIT_ASSERT_EQ(test, bufq_test_on_cpu(q, a, bufs, BUFQ_TEST_COUNT,
					       true), BUFQ_TEST_COUNT);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, a, bufs, 2, false), 2);
	KUNIT_EXPECT_EQ(test, bufq_test_on_cpu(q, b, bufs + 2, 2, false), 2);
	bufq_exit(q);
}

/* Bulk calls of more than a cache or a pend batch keep FIFO order. */
static void bufq_test_bulk_large(struct kunit *test)
{
	const unsigned int n = 100;
	struct bufq_config cfg;
	void **bufs, **out;
	struct bufq *q;
	unsigned int i;

	bufs = kunit_kcalloc(test, n, sizeof(*bufs), GFP_KERNEL);
	out = kunit_kcalloc(test, n, sizeof(*out), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, bufs && out);
	bufq_test_config(&cfg, n);
	q = bufq_test_create(test, &cfg);

	KUNIT_ASSERT_EQ(test, bufq_fetch_bulk(q, bufs, n), n);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_bulk(q, bufs, n / 2), n / 2);
	for (i = n / 2; i < n; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, n, 0, n, 0);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_bulk(q, out, n), n);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[i]);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, out, n), n);
	bufq_test_expect_counts(test, q, n, n, 0, 0);
	KUNIT_EXPECT_EQ(test, bufq_fetch_bulk(q, bufs, n), n);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, bufs, n), n);
	bufq_test_expect_counts(test, q, n, n, 0, 0);
}

static void bufq_test_reuse_fn(struct bufq *q, void *buf, void *ctx, void *arg)
{
	bufq_reuse(q, buf);
}

/*
 * Tail enqueues go on a lock-free stack that consumers take in order;
 * at-head and timed enqueues, enumerate and dequeue see one FIFO.
 */
static void bufq_test_mixed_order(struct kunit *test)
{
	void *bufs[5], *out[5], *buf;
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, 5);
	cfg.with_timer = true;
	q = bufq_test_create(test, &cfg);
	for (i = 0; i < 5; i++)
		bufs[i] = bufq_test_fetch(test, q);

	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[1]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_bulk(q, &bufs[2], 1), 1);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_with_timer(q, bufs[3], 60000,
						      bufq_test_reuse_fn, NULL),
			0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[4]), 0);
	bufq_test_expect_counts(test, q, 5, 0, 5, 0);

	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, bufs[0]);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_bulk(q, out, 5), 4);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[i + 1]);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, out, 4), 4);
	bufq_test_expect_counts(test, q, 5, 5, 0, 0);
}

struct bufq_test_seen {
	void *bufs[8];
	unsigned int n;
};

static enum bufq_enum_action bufq_test_seen_fn(struct bufq *q, void *buf,
					       void *ctx, void *arg)
{
	struct bufq_test_seen *seen = arg;

	if (seen->n < ARRAY_SIZE(seen->bufs))
		seen->bufs[seen->n++] = buf;
	return BUFQ_ENUM_CONTINUE;
}

/*
 * A dequeue that takes the lock-free tail keeps the rest as a private
 * FIFO (taken): what comes after it, on the tail, at the head, through
 * enumerate and flush, sees one consumer list in order, and the counts
 * stay exact.
 */
static void bufq_test_taken_order(struct kunit *test)
{
	static const int order[] = { 4, 1, 2, 3 }, listed[] = { 1, 2, 3, 5 };
	struct bufq_test_seen seen = {};
	void *bufs[6], *buf;
	struct bufq_config cfg;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, 6);
	q = bufq_test_create(test, &cfg);
	for (i = 0; i < 6; i++)
		bufs[i] = bufq_test_fetch(test, q);

	/* Take the tail (0 1 2), keep 1 2; 3 on the tail; 4 at the head. */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, bufs[0]);
	bufq_test_expect_counts(test, q, 6, 0, 2, 4);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[3]), 0);
	bufq_test_expect_counts(test, q, 6, 0, 3, 3);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[4]), 0);
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
		KUNIT_EXPECT_PTR_EQ(test, buf, bufs[order[i]]);
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), 0);
	}

	/* Now 4 1 2 3 on the tail: take it, keep 1 2 3; 5 on the tail. */
	KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, bufs[4]);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[5]), 0);
	bufq_test_expect_counts(test, q, 6, 0, 4, 2);
	bufq_enumerate(q, bufq_test_seen_fn, &seen, NULL, NULL);
	KUNIT_ASSERT_EQ(test, seen.n, 4);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_PTR_EQ(test, seen.bufs[i], bufs[listed[i]]);

	/* The bulk dequeue of 2 leaves 3 5; flush takes them. */
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_bulk(q, seen.bufs, 2), 2);
	KUNIT_EXPECT_PTR_EQ(test, seen.bufs[0], bufs[1]);
	KUNIT_EXPECT_PTR_EQ(test, seen.bufs[1], bufs[2]);
	KUNIT_EXPECT_EQ(test, bufq_reuse_bulk(q, seen.bufs, 2), 2);
	bufq_test_expect_counts(test, q, 6, 3, 2, 1);
	bufq_flush(q);
	bufq_test_expect_counts(test, q, 6, 5, 0, 1);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[0]), 0);
	bufq_test_expect_counts(test, q, 6, 6, 0, 0);
}

static void bufq_test_taken_expect(struct kunit *test, struct bufq *q,
				   void **bufs, const int *want, int n)
{
	void *out[6];
	int i;

	KUNIT_ASSERT_EQ(test, bufq_dequeue_bulk(q, out, n), n);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[want[i]]);
}

/*
 * A bulk dequeue crosses work_list into pend and taken into pend; a
 * timed enqueue while taken holds buffers goes after them.
 */
static void bufq_test_taken_bulk(struct kunit *test)
{
	static const int one[] = { 0, 1, 2 }, two[] = { 4, 5, 0, 1 },
			 three[] = { 3, 4, 5 };
	struct bufq_config cfg;
	void *bufs[6], *buf;
	struct bufq *q;
	int i;

	bufq_test_config(&cfg, 6);
	cfg.with_timer = true;
	q = bufq_test_create(test, &cfg);
	for (i = 0; i < 6; i++)
		bufs[i] = bufq_test_fetch(test, q);

	/* work_list 0, pend 1 2. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[1]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[2]), 0);
	bufq_test_taken_expect(test, q, bufs, one, ARRAY_SIZE(one));

	/* taken 4 5, pend 0 1. */
	for (i = 3; i < 6; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, bufs[3]);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[1]), 0);
	bufq_test_expect_counts(test, q, 6, 0, 4, 2);
	bufq_test_taken_expect(test, q, bufs, two, ARRAY_SIZE(two));

	/* taken 3, then 4 timed, then 5 on the tail. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[2]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[3]), 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf, bufs[2]);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_with_timer(q, bufs[4], 60000,
						      bufq_test_reuse_fn, NULL),
			0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[5]), 0);
	bufq_test_expect_counts(test, q, 6, 0, 3, 3);
	bufq_test_taken_expect(test, q, bufs, three, ARRAY_SIZE(three));
	for (i = 0; i < 6; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, 6, 6, 0, 0);
}

/* Dequeue buffers @from..@to of @bufs, one at a time, in that order. */
static void bufq_test_head_expect(struct kunit *test, struct bufq *q,
				  void **bufs, int from, int to)
{
	void *buf;
	int i;

	for (i = from; i <= to; i++) {
		KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &buf, NULL), 0);
		KUNIT_EXPECT_PTR_EQ(test, buf, bufs[i]);
	}
}

/*
 * A queue deeper than the head (BUFQ_HEAD_MAX buffers a dequeue pops
 * without the lock): the head, the rest of taken and pend make one FIFO
 * through single and bulk dequeues, at-head enqueue, enumerate and flush,
 * and the counts stay exact while the head holds buffers.
 */
static void bufq_test_head(struct kunit *test)
{
	const int n = 2 * BUFQ_HEAD_MAX + 16, h = BUFQ_HEAD_MAX;
	struct bufq_test_seen seen = {};
	struct bufq_config cfg;
	void **bufs, *out[BUFQ_HEAD_MAX + 16], *buf;
	struct bufq *q;
	int i;

	bufs = kunit_kcalloc(test, n, sizeof(*bufs), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, bufs);
	bufq_test_config(&cfg, n);
	q = bufq_test_create(test, &cfg);
	for (i = 0; i < n; i++) {
		bufs[i] = bufq_test_fetch(test, q);
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	}

	/* 0 out; the head 1..h, taken after it. */
	bufq_test_head_expect(test, q, bufs, 0, 0);
	bufq_test_expect_counts(test, q, n, 0, n - 1, 1);
	KUNIT_EXPECT_EQ(test, bufq_count(q), n - 1);
	KUNIT_EXPECT_TRUE(test, bufq_poll(q, NULL, NULL) & EPOLLIN);
	KUNIT_ASSERT_EQ(test, bufq_dequeue_bulk(q, out, 10), 10);
	for (i = 0; i < 10; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[1 + i]);
	bufq_test_expect_counts(test, q, n, 0, n - 11, 11);

	/* At the head, before what the head still holds (11..h). */
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[0]), 0);
	bufq_test_expect_counts(test, q, n, 0, n - 10, 10);
	bufq_enumerate(q, bufq_test_seen_fn, &seen, NULL, NULL);
	KUNIT_ASSERT_EQ(test, seen.n, ARRAY_SIZE(seen.bufs));
	KUNIT_EXPECT_PTR_EQ(test, seen.bufs[0], bufs[0]);
	for (i = 1; i < ARRAY_SIZE(seen.bufs); i++)
		KUNIT_EXPECT_PTR_EQ(test, seen.bufs[i], bufs[10 + i]);
	bufq_test_head_expect(test, q, bufs, 0, 0);
	bufq_test_head_expect(test, q, bufs, 11, h + 4);

	/* Back on the tail, after the rest: h+5..n-1, then 0..h+4. */
	for (i = 0; i <= h + 4; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, n, 0, n, 0);
	bufq_test_head_expect(test, q, bufs, h + 5, n - 1);
	bufq_test_head_expect(test, q, bufs, 0, 0);	/* fills the head */

	/* Head 1..h, taken h+1..h+4, pend h+5..h+8: one bulk dequeue. */
	for (i = h + 5; i <= h + 8; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue_bulk(q, out, ARRAY_SIZE(out)),
			h + 8);
	for (i = 0; i < h + 8; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[1 + i]);
	bufq_test_expect_counts(test, q, n, 0, 0, n);

	/* Flush while the head holds buffers: 0 out, 1..h+8 reused. */
	for (i = 0; i <= h + 8; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	bufq_test_head_expect(test, q, bufs, 0, 0);
	bufq_flush(q);
	bufq_test_expect_counts(test, q, n, h + 8, 0, n - (h + 8));
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), -ENODATA);
	KUNIT_EXPECT_FALSE(test, bufq_poll(q, NULL, NULL) & EPOLLIN);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[0]), 0);
	for (i = h + 9; i < n; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	bufq_test_expect_counts(test, q, n, n, 0, 0);
}

/* Whether the last enqueue put its buffer on the head, or on pend. */
static void __bufq_test_expect_pushed(struct kunit *test, struct bufq *q,
				      bool head, int line)
{
	const void *direct = READ_ONCE(q->head_direct);
	const void *pend = READ_ONCE(q->pend);

	KUNIT_EXPECT_EQ_MSG(test, !!direct, head, "line %d", line);
	KUNIT_EXPECT_EQ_MSG(test, !!pend, !head, "line %d", line);
}

#define bufq_test_expect_pushed(test, q, head) \
	__bufq_test_expect_pushed(test, q, head, __LINE__)

/*
 * An enqueue on an empty consumer list puts its buffer on the head, where
 * a dequeue takes it without work_lock: it stays one FIFO with what comes
 * after it, at the head, in bulk, for enumerate, flush and destroy, and
 * the counts include it.
 */
static void bufq_test_head_push(struct kunit *test)
{
	struct bufq_test_seen seen = {};
	void *bufs[4], *out[4], *buf;
	struct bufq_config cfg;
	int i, cpu = raw_smp_processor_id();
	struct bufq *q;

	/* On one CPU: the consumer's, where an enqueue uses the head. */
	KUNIT_ASSERT_EQ(test, set_cpus_allowed_ptr(current, cpumask_of(cpu)), 0);
	bufq_test_config(&cfg, ARRAY_SIZE(bufs));
	q = bufq_test_create(test, &cfg);
	for (i = 0; i < ARRAY_SIZE(bufs); i++)
		bufs[i] = bufq_test_fetch(test, q);
	/* A dequeue through the lock first: it says where the consumer is. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	bufq_test_head_expect(test, q, bufs, 0, 0);

	/* 0 on the head, 1 pushed behind it; a bulk dequeue of none takes none. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	bufq_test_expect_pushed(test, q, true);
	out[0] = ERR_PTR(-EFAULT);
	KUNIT_EXPECT_EQ(test, bufq_dequeue_bulk(q, out, 0), 0);
	KUNIT_EXPECT_PTR_EQ(test, out[0], ERR_PTR(-EFAULT));
	bufq_test_expect_pushed(test, q, true);
	bufq_test_expect_counts(test, q, 4, 0, 1, 3);
	KUNIT_EXPECT_EQ(test, bufq_count(q), 1);
	KUNIT_EXPECT_TRUE(test, bufq_poll(q, NULL, NULL) & EPOLLIN);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[1]), 0);
	bufq_test_expect_counts(test, q, 4, 0, 2, 2);
	bufq_test_head_expect(test, q, bufs, 0, 0);

	/* The head is empty, pend is not: 2 goes behind 1. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[2]), 0);
	bufq_test_head_expect(test, q, bufs, 1, 2);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), -ENODATA);

	/* At the head goes before the one on the head, the tail after it. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue_at_head(q, bufs[2]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[1]), 0);
	bufq_enumerate(q, bufq_test_seen_fn, &seen, NULL, NULL);
	KUNIT_ASSERT_EQ(test, seen.n, 3);
	KUNIT_EXPECT_PTR_EQ(test, seen.bufs[0], bufs[2]);
	KUNIT_EXPECT_PTR_EQ(test, seen.bufs[1], bufs[0]);
	KUNIT_EXPECT_PTR_EQ(test, seen.bufs[2], bufs[1]);
	bufq_test_head_expect(test, q, bufs, 2, 2);
	bufq_test_head_expect(test, q, bufs, 0, 1);

	/* Emptied again: one bulk dequeue takes the head's, then pend's. */
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[i]), 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue_bulk(q, out, ARRAY_SIZE(out)), 3);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_PTR_EQ(test, out[i], bufs[i]);

	/* Flushed from the head: reused, counted free; the head reopens. */
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[3]), 0);
	bufq_test_expect_pushed(test, q, true);
	bufq_flush(q);
	bufq_test_expect_counts(test, q, 4, 1, 0, 3);
	KUNIT_EXPECT_EQ(test, bufq_dequeue(q, &buf, NULL), -ENODATA);

	/* Destroyed with one on the head: freed with the queue. */
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[1]), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[2]), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, bufs[0]), 0);
	bufq_test_expect_pushed(test, q, true);
	bufq_test_expect_counts(test, q, 4, 3, 1, 0);
	bufq_test_destroy(test, q);
}

/* One enqueue (or dequeue) of *@buf on @cpu: its return value. */
static int bufq_test_head_op(struct bufq *q, int cpu, void **buf,
			     bool enqueue)
{
	int err;

	__bufq_test_on_cpu(q, cpu, buf, 1, enqueue ? BUFQ_TEST_OP_ENQUEUE :
			   BUFQ_TEST_OP_DEQUEUE, &err);
	return err;
}

static int bufq_test_head_cpu_of(struct bufq *q)
{
	return READ_ONCE(q->head_cpu);
}

/*
 * Where an enqueue on an empty queue goes: on the head only if the
 * consumer last took a buffer on the producer's CPU, else on pend. A
 * dequeue that finds nothing does not move the hint.
 */
static void bufq_test_head_cpu(struct kunit *test)
{
	struct bufq_config cfg;
	void *buf, *got;
	struct bufq *q;
	int a, b;

	bufq_test_two_cpus(test, &a, &b);
	bufq_test_config(&cfg, 2);
	q = bufq_test_create(test, &cfg);
	buf = bufq_test_fetch(test, q);

	/* No consumer yet: pend. */
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, a, &got, false), -ENODATA);
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, a, &buf, true), 0);
	bufq_test_expect_pushed(test, q, false);
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, a, &got, false), 0);
	KUNIT_EXPECT_PTR_EQ(test, got, buf);

	/* The consumer took one on a: a's enqueue uses the head. */
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, a, &buf, true), 0);
	bufq_test_expect_pushed(test, q, true);

	/* A consumer on b pops it: a's next enqueue goes on pend. */
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, b, &got, false), 0);
	KUNIT_EXPECT_PTR_EQ(test, got, buf);
	KUNIT_EXPECT_EQ(test, bufq_test_head_cpu_of(q), b);
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, a, &buf, true), 0);
	bufq_test_expect_pushed(test, q, false);
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, b, &got, false), 0);
	KUNIT_EXPECT_PTR_EQ(test, got, buf);

	/* Polls that find nothing, on either CPU, leave it on b. */
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, a, &got, false), -ENODATA);
	KUNIT_EXPECT_EQ(test, bufq_test_head_op(q, b, &got, false), -ENODATA);
	KUNIT_EXPECT_EQ(test, bufq_test_head_cpu_of(q), b);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	bufq_test_expect_counts(test, q, 2, 2, 0, 0);
}

/*
 * FIFO under concurrency: one producer numbers what it enqueues; a
 * consumer on every CPU, and one in hard IRQ context (an hrtimer) that
 * interrupts them, must each see the numbers rise, and what is left when
 * they stop comes after all they took. A FIFO gives both: one consumer's
 * dequeues are ordered, so are the enqueues of what they took.
 */
#define BUFQ_TEST_FIFO_MS	1000
#define BUFQ_TEST_FIFO_IRQ_NS	(50 * NSEC_PER_USEC)

struct bufq_test_fifo {
	struct bufq *q;
	struct hrtimer timer;
	unsigned long deadline;
	unsigned long irq_next, irq_taken;	/* the hrtimer's */
	atomic_long_t taken;
	atomic_t bad;
	bool stop;
};

struct bufq_test_fifo_thread {
	struct bufq_test_fifo *f;
	struct completion done;
	unsigned long next;	/* the least number the next take may have */
	unsigned long n;	/* produced or taken */
};

/* Take one buffer, check its number against *@next, and reuse it. */
static bool bufq_test_fifo_take(struct bufq_test_fifo *f, unsigned long *next)
{
	unsigned long *seq;
	void *buf;

	if (bufq_dequeue(f->q, &buf, (void **)&seq))
		return false;
	if (*seq < *next)
		atomic_inc(&f->bad);
	*next = *seq + 1;
	if (bufq_reuse(f->q, buf))
		atomic_inc(&f->bad);
	atomic_long_inc(&f->taken);
	return true;
}

static enum hrtimer_restart bufq_test_fifo_irq(struct hrtimer *timer)
{
	struct bufq_test_fifo *f = container_of(timer, struct bufq_test_fifo,
						timer);

	if (bufq_test_fifo_take(f, &f->irq_next))
		f->irq_taken++;
	if (READ_ONCE(f->stop))
		return HRTIMER_NORESTART;
	hrtimer_forward_now(timer, ns_to_ktime(BUFQ_TEST_FIFO_IRQ_NS));
	return HRTIMER_RESTART;
}

static int bufq_test_fifo_producer(void *arg)
{
	struct bufq_test_fifo_thread *t = arg;
	struct bufq_test_fifo *f = t->f;
	unsigned long *seq;
	void *buf;

	/* On the producer's CPU: it interrupts the producer and a consumer. */
	hrtimer_start(&f->timer, ns_to_ktime(BUFQ_TEST_FIFO_IRQ_NS),
		      HRTIMER_MODE_REL_PINNED_HARD);
	while (time_before(jiffies, f->deadline)) {
		if (!bufq_fetch(f->q, &buf, (void **)&seq)) {
			*seq = t->n++;
			if (bufq_enqueue(f->q, buf))
				atomic_inc(&f->bad);
		}
		cond_resched();
	}
	kthread_complete_and_exit(&t->done, 0);
}

static int bufq_test_fifo_consumer(void *arg)
{
	struct bufq_test_fifo_thread *t = arg;

	while (!READ_ONCE(t->f->stop)) {
		if (bufq_test_fifo_take(t->f, &t->next))
			t->n++;
		cond_resched();
	}
	kthread_complete_and_exit(&t->done, 0);
}

/* Start @t on @cpu running @fn; false if it could not be made. */
static bool bufq_test_fifo_start(struct bufq_test_fifo_thread *t,
				 struct bufq_test_fifo *f,
				 int (*fn)(void *), unsigned int cpu)
{
	struct task_struct *task;

	t->f = f;
	init_completion(&t->done);
	task = kthread_create(fn, t, "bufq_fifo/%u", cpu);
	if (IS_ERR(task))
		return false;
	kthread_bind(task, cpu);
	wake_up_process(task);
	return true;
}

static void bufq_test_fifo_threads(struct kunit *test)
{
	unsigned long wait = msecs_to_jiffies(BUFQ_TEST_FIFO_MS +
					      BUFQ_TEST_WAIT_MS);
	unsigned int nr = num_online_cpus(), cpu, i, started;
	struct bufq_test_fifo_thread *t;
	unsigned long *seq, next = 0;
	struct bufq_test_fifo *f;
	struct bufq_config cfg;
	bool stuck = false;
	long left = 0;
	void *buf;

	/* Not kunit memory: a stuck thread must not lose it. */
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	t = kcalloc(nr + 1, sizeof(*t), GFP_KERNEL);
	if (!f || !t) {
		kfree(f);
		kfree(t);
	}
	KUNIT_ASSERT_TRUE(test, f && t);
	bufq_test_config(&cfg, 16);
	cfg.context_size = sizeof(*seq);
	f->q = bufq_create(&cfg);
	if (IS_ERR(f->q)) {
		kfree(f);
		kfree(t);
	}
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f->q);
	f->deadline = jiffies + msecs_to_jiffies(BUFQ_TEST_FIFO_MS);
	hrtimer_setup(&f->timer, bufq_test_fifo_irq, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL_PINNED_HARD);

	/* t[0] produces on the first CPU; t[1..nr] consume, one a CPU. */
	started = bufq_test_fifo_start(&t[0], f, bufq_test_fifo_producer,
				       cpumask_first(cpu_online_mask));
	for_each_online_cpu(cpu) {
		if (!started || started > nr ||
		    !bufq_test_fifo_start(&t[started], f,
					  bufq_test_fifo_consumer, cpu))
			break;
		started++;
	}
	if (started && !wait_for_completion_timeout(&t[0].done, wait))
		stuck = true;
	WRITE_ONCE(f->stop, true);
	for (i = 1; i < started; i++)
		if (!wait_for_completion_timeout(&t[i].done, wait))
			stuck = true;
	hrtimer_cancel(&f->timer);
	if (stuck) {
		KUNIT_FAIL(test, "a thread is stuck");
		return;		/* leaves the queue, f and t to it */
	}
	KUNIT_EXPECT_EQ(test, started, nr + 1);

	/* What is left comes after anything taken, in order. */
	for (i = 1; i <= nr; i++)
		next = max(next, t[i].next);
	next = max(next, f->irq_next);
	while (!bufq_dequeue(f->q, &buf, (void **)&seq)) {
		KUNIT_EXPECT_GE(test, *seq, next);
		next = *seq + 1;
		KUNIT_EXPECT_EQ(test, bufq_reuse(f->q, buf), 0);
		left++;
	}
	KUNIT_EXPECT_EQ(test, atomic_read(&f->bad), 0);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&f->taken) + left, t[0].n);
	KUNIT_EXPECT_GT(test, t[0].n, 0UL);
	KUNIT_EXPECT_GT(test, f->irq_taken, 0UL);
	kunit_info(test, "%lu enqueued, %lu taken in hard IRQ, %ld left",
		   t[0].n, f->irq_taken, left);
	bufq_destroy(f->q);
	kfree(t);
	kfree(f);
}

static struct kunit_case bufq_test_cases[] = {
	KUNIT_CASE(bufq_test_create_destroy),
	KUNIT_CASE_PARAM(bufq_test_config_check, bufq_test_config_gen_params),
	KUNIT_CASE(bufq_test_fifo),
	KUNIT_CASE(bufq_test_at_head),
	KUNIT_CASE(bufq_test_taken_order),
	KUNIT_CASE(bufq_test_taken_bulk),
	KUNIT_CASE(bufq_test_head),
	KUNIT_CASE(bufq_test_head_push),
	KUNIT_CASE(bufq_test_head_cpu),
	KUNIT_CASE(bufq_test_fifo_threads),
	KUNIT_CASE(bufq_test_no_lookaside_exhaustion),
	KUNIT_CASE(bufq_test_lookaside_grow_shrink),
	KUNIT_CASE(bufq_test_lookaside_cap),
	KUNIT_CASE(bufq_test_lookaside_zero_count),
	KUNIT_CASE(bufq_test_context),
	KUNIT_CASE(bufq_test_reuse_cleanup),
	KUNIT_CASE(bufq_test_flush),
	KUNIT_CASE(bufq_test_destroy_cleanup),
	KUNIT_CASE(bufq_test_destroy_outstanding),
	KUNIT_CASE(bufq_test_destroy_wakes_waiter),
	KUNIT_CASE(bufq_test_destroy_idle_waiter),
	KUNIT_CASE(bufq_test_init_exit),
	KUNIT_CASE(bufq_test_timer_expiry),
	KUNIT_CASE(bufq_test_timer_refused),
	KUNIT_CASE(bufq_test_timer_dequeue_cancels),
	KUNIT_CASE(bufq_test_timer_flush_cancels),
	KUNIT_CASE(bufq_test_timer_destroy_cancels),
	KUNIT_CASE_PARAM(bufq_test_enumerate, bufq_test_enum_gen_params),
	KUNIT_CASE(bufq_test_enumerate_edges),
	KUNIT_CASE(bufq_test_high_water),
	KUNIT_CASE(bufq_test_stats),
	KUNIT_CASE(bufq_test_desc),
	KUNIT_CASE(bufq_test_bulk),
	KUNIT_CASE(bufq_test_bulk_stops_at_invalid),
	KUNIT_CASE(bufq_test_bulk_refuse_late),
	KUNIT_CASE(bufq_test_bulk_fetch_grows),
	KUNIT_CASE(bufq_test_poll),
	KUNIT_CASE_PARAM(bufq_test_misuse, bufq_test_misuse_gen_params),
	KUNIT_CASE_PARAM(bufq_test_contexts, bufq_test_where_gen_params),
	KUNIT_CASE(bufq_test_fetch_wait),
	KUNIT_CASE(bufq_test_dequeue_wait),
	KUNIT_CASE(bufq_test_wait_signal),
	KUNIT_CASE_PARAM_ATTR(bufq_test_build_fault, bufq_test_build_gen_params,
			      { .speed = KUNIT_SPEED_SLOW }),
	KUNIT_CASE(bufq_test_fetch_fault),
	KUNIT_CASE_SLOW(bufq_test_stress),
	KUNIT_CASE_PARAM(bufq_test_footprint, bufq_test_footprint_gen_params),
	KUNIT_CASE_PARAM(bufq_test_stale_shrunk, bufq_test_layout_gen_params),
	KUNIT_CASE_SLOW(bufq_test_lifetime),
	KUNIT_CASE(bufq_test_wake_one),
	KUNIT_CASE(bufq_test_timer_order),
	KUNIT_CASE(bufq_test_cache_cross_cpu),
	KUNIT_CASE(bufq_test_cache_wakes_waiter),
	KUNIT_CASE(bufq_test_cache_shrink),
	KUNIT_CASE(bufq_test_cache_destroy),
	KUNIT_CASE(bufq_test_mixed_order),
	KUNIT_CASE(bufq_test_bulk_large),
	{}
};

static struct kunit_suite bufq_test_suite = {
	.name = "bufq",
	.test_cases = bufq_test_cases,
};

kunit_test_suite(bufq_test_suite);

MODULE_DESCRIPTION("KUnit tests for bufq");
MODULE_LICENSE("GPL");
