// SPDX-License-Identifier: GPL-2.0
/*
 * bufq - a producer/consumer buffer queue, ported from DMF_BufferQueue
 *
 * Locking: the producer side (free_bufs, nr_free, total, pending, dead,
 * high_water, grown) is under free_lock; the consumer side (work_list,
 * nr_queued, every struct bufq_timed, arming q->timer) under work_lock.
 * Both are irq-safe spinlocks and no path holds both, so there is no
 * nesting between them. The timer base lock nests inside work_lock.
 *
 * A buffer's state leaves BUFQ_STATE_HELD only by the hand of its owner,
 * in bufq_claim(); the other transitions happen under the lock of the list
 * the buffer leaves. The check catches a buffer handed in twice, as DMF
 * does, but not two hand-ins of one buffer racing on two CPUs: that would
 * cost an atomic operation per hand-in on the fast path.
 *
 * nr_free and nr_queued are also read without their lock, so that a fetch
 * or dequeue that must fail does not take a lock a busy peer needs.
 *
 * The producer list is a stack of pointers, not a list_head: it never
 * holds more than buffer_count buffers (DMF's rule: growth beyond it is
 * freed on reuse), so an array of buffer_count suffices, a fetch or reuse
 * touches no other buffer, and the most recently reused, cache-hot buffer
 * is fetched first.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/unaligned.h>
#include <linux/wait_bit.h>

#include "bufq_core.h"
#include <trace/events/bufq.h>

static struct workqueue_struct *bufq_wq;
static atomic_t bufq_ids = ATOMIC_INIT(0);

static struct bufq_buf *bufq_buf_of(const void *data)
{
	return container_of((void *)data, struct bufq_buf, data);
}

static void *bufq_ctx_of(const struct bufq *q, struct bufq_buf *b)
{
	return b->data + q->ctx_offset;
}

static struct bufq_timed *bufq_timed_of(const struct bufq *q,
					struct bufq_buf *b)
{
	return (struct bufq_timed *)(b->data + q->timer_offset);
}

static bool bufq_sentinels_ok(const struct bufq *q, struct bufq_buf *b)
{
	return get_unaligned((u32 *)(b->data + q->buffer_size)) ==
		BUFQ_SENTINEL &&
	       get_unaligned((u32 *)(b->data + q->ctx_offset + q->context_size)) ==
		BUFQ_SENTINEL;
}

/*
 * The hot paths are __always_inline: each call is then one frame, which
 * counts where returns are mitigated (retbleed, SRSO) and calls are not free.
 *
 * Take a client-held buffer from the client, moving it to @to. Refuses,
 * with one WARN and nothing changed, a buffer that is not this queue's, not
 * held, or whose sentinels were overwritten. No lock: the caller owns @buf.
 */
static __always_inline struct bufq_buf *bufq_claim(struct bufq *q, void *buf,
						   u32 to)
{
	struct bufq_buf *b = bufq_buf_of(buf);
	const char *why;

	if (b->q != q)
		why = "not from this queue";
	else if (!bufq_sentinels_ok(q, b))
		why = "overrun (sentinel overwritten)";
	else if (READ_ONCE(b->state) != BUFQ_STATE_HELD)
		why = "not held by the client";
	else
		why = NULL;
	if (!why) {
		WRITE_ONCE(b->state, to);
		return b;
	}
	WARN(1, "bufq %s: refused buffer %p: %s\n", q->name, buf, why);
	return NULL;
}

/* The queue is dead and empty: free what bufq_init() made. */
static void bufq_free_cache(struct bufq *q)
{
	const char *name = q->name;

	kmem_cache_destroy(q->cache);
	free_percpu(q->fetch_failed);
	kfree(q->free_bufs);
	kfree(name);
}

static void bufq_release_work(struct work_struct *work)
{
	struct bufq *q = container_of(work, struct bufq, release_work);

	bufq_free_cache(q);
	kfree(q);
}

/*
 * Caller holds free_lock. @n buffers (or reservations) that total counted
 * are gone for good, their memory already freed: total is what keeps a
 * dead queue alive, so it drops only after the last access to a buffer.
 * The last one of a dead queue wakes bufq_exit(), under the lock so that
 * it cannot free @q before the wake-up is done.
 * Return: true if the caller must release a queue from bufq_create(); it
 * must not touch @q after dropping free_lock otherwise.
 */
static bool __bufq_uncount(struct bufq *q, unsigned int n)
{
	q->total -= n;
	q->pending -= n;
	if (!q->dead || q->total)
		return false;
	if (!q->allocated)
		wake_up(&q->free_wait);
	return q->allocated;
}

/* kmem_cache_destroy() sleeps: release from a workqueue. */
static void bufq_release(struct bufq *q)
{
	queue_work(bufq_wq, &q->release_work);
}

static struct bufq_buf *bufq_alloc_buf(struct bufq *q, gfp_t gfp)
{
	struct bufq_buf *b = kmem_cache_zalloc(q->cache, gfp);

	if (!b)
		return NULL;
	b->q = q;
	b->state = BUFQ_STATE_HELD;
	put_unaligned(BUFQ_SENTINEL, (u32 *)(b->data + q->buffer_size));
	put_unaligned(BUFQ_SENTINEL,
		      (u32 *)(b->data + q->ctx_offset + q->context_size));
	return b;
}

/*
 * Caller holds free_lock and made a buffer free, or room to grow. Waking
 * under the lock keeps @q alive for it (see __bufq_uncount()).
 */
static void __bufq_wake_fetchers(struct bufq *q)
{
	/*
	 * No barrier: a waiter queues itself on free_wait before it tests
	 * its condition under free_lock (bufq_fetchable()), and we change
	 * the state under free_lock before testing free_wait.
	 */
	if (waitqueue_active(&q->free_wait))
		wake_up(&q->free_wait);
}

/* Caller holds free_lock. Would freeing a buffer keep buffer_count? */
static bool __bufq_may_shrink(const struct bufq *q)
{
	return q->total - q->pending > q->buffer_count;
}

/*
 * Caller holds free_lock and owns @b, which is on no list. Put it on the
 * producer list, or, past buffer_count (lookaside shrink) or on a dead
 * queue, count it as pending and return false: the caller frees it.
 */
static bool __bufq_keep(struct bufq *q, struct bufq_buf *b)
{
	if (unlikely(q->dead || __bufq_may_shrink(q))) {
		q->pending++;	/* still counted until freed */
		trace_bufq_reuse(q, b->data, false);
		return false;
	}
	/* Room: nr_free < total - pending <= buffer_count, as b is counted. */
	b->state = BUFQ_STATE_FREE;
	q->free_bufs[q->nr_free++] = b;
	trace_bufq_reuse(q, b->data, true);
	return true;
}

/* Free the @n buffers on @list that __bufq_keep() refused. */
static void bufq_drop(struct bufq *q, struct list_head *list, unsigned int n)
{
	struct bufq_buf *b, *tmp;
	unsigned long flags;
	bool release;

	list_for_each_entry_safe(b, tmp, list, node)
		kmem_cache_free(q->cache, b);
	spin_lock_irqsave(&q->free_lock, flags);
	release = __bufq_uncount(q, n);
	__bufq_wake_fetchers(q);	/* room to grow */
	spin_unlock_irqrestore(&q->free_lock, flags);
	if (release)
		bufq_release(q);
}

/* Return buffers the caller owns, cleanup done, to the producer list. */
static void bufq_put_free_list(struct bufq *q, struct list_head *list)
{
	struct bufq_buf *b, *tmp;
	unsigned int n = 0;
	unsigned long flags;
	LIST_HEAD(drop);

	spin_lock_irqsave(&q->free_lock, flags);
	list_for_each_entry_safe(b, tmp, list, node) {
		list_del(&b->node);
		if (!__bufq_keep(q, b)) {
			list_add(&b->node, &drop);
			n++;
		}
	}
	__bufq_wake_fetchers(q);
	spin_unlock_irqrestore(&q->free_lock, flags);
	if (n)
		bufq_drop(q, &drop, n);
}

static void bufq_cleanup(struct bufq *q, struct bufq_buf *b)
{
	if (q->reuse_cleanup)
		q->reuse_cleanup(q, b->data, bufq_ctx_of(q, b));
}

static __always_inline void bufq_put_free(struct bufq *q, struct bufq_buf *b)
{
	unsigned long flags;
	LIST_HEAD(drop);
	bool kept;

	bufq_cleanup(q, b);
	spin_lock_irqsave(&q->free_lock, flags);
	kept = __bufq_keep(q, b);
	if (kept)
		__bufq_wake_fetchers(q);
	spin_unlock_irqrestore(&q->free_lock, flags);
	if (!kept) {
		list_add(&b->node, &drop);
		bufq_drop(q, &drop, 1);
	}
}

static int bufq_layout(struct bufq *q, const struct bufq_config *cfg,
		       unsigned int *objsize)
{
	u64 ctx, timer, size;

	if (!cfg || (!cfg->buffer_count && !cfg->lookaside) ||
	    (cfg->max_buffers && cfg->max_buffers < cfg->buffer_count))
		return -EINVAL;

	/* data, u32 sentinel, context (8-aligned), u32 sentinel, timer */
	ctx = ALIGN((u64)cfg->buffer_size + sizeof(u32), 8);
	timer = ALIGN(ctx + cfg->context_size + sizeof(u32), 8);
	size = sizeof(struct bufq_buf) + timer;
	if (cfg->with_timer)
		size += sizeof(struct bufq_timed);
	if (size > KMALLOC_MAX_SIZE)
		return -E2BIG;

	q->ctx_offset = ctx;
	q->timer_offset = timer;
	*objsize = size;
	return 0;
}

static void bufq_init_fields(struct bufq *q, const struct bufq_config *cfg)
{
	q->buffer_count = cfg->buffer_count;
	q->buffer_size = cfg->buffer_size;
	q->context_size = cfg->context_size;
	q->max_buffers = cfg->lookaside ? cfg->max_buffers : cfg->buffer_count;
	q->lookaside = cfg->lookaside;
	q->with_timer = cfg->with_timer;
	q->gfp = cfg->gfp ?: GFP_ATOMIC;
	if (cfg->account)
		q->gfp |= __GFP_ACCOUNT;
	q->reuse_cleanup = cfg->reuse_cleanup;
	q->priv = cfg->priv;
	q->allocated = false;
	q->dead = false;
	q->total = 0;
	q->pending = 0;
	atomic_set(&q->waiters, 0);
	q->nr_free = 0;
	q->nr_queued = 0;
	q->high_water = 0;
	q->grown = 0;
	spin_lock_init(&q->free_lock);
	init_waitqueue_head(&q->free_wait);
	spin_lock_init(&q->work_lock);
	INIT_LIST_HEAD(&q->work_list);
	init_waitqueue_head(&q->work_wait);
	INIT_WORK(&q->release_work, bufq_release_work);
}

static void bufq_timer_fire(struct timer_list *t);

/* Put @n new buffers on the empty producer list of a queue being made. */
static int bufq_fill(struct bufq *q, unsigned int n, gfp_t gfp)
{
	struct bufq_buf *b;

	for (; q->total < n; q->total++, q->nr_free++) {
		b = bufq_alloc_buf(q, gfp);
		if (!b)
			goto fail;
		b->state = BUFQ_STATE_FREE;
		q->free_bufs[q->nr_free] = b;
	}
	return 0;

fail:
	while (q->nr_free)
		kmem_cache_free(q->cache, q->free_bufs[--q->nr_free]);
	q->total = 0;
	return -ENOMEM;
}

/**
 * bufq_init - initialize a queue embedded in a caller's structure
 * @q: the queue to initialize
 * @cfg: its configuration; not referenced after return
 *
 * Makes @cfg->buffer_count buffers with GFP_KERNEL and puts them on the
 * producer list. Undo with bufq_exit().
 *
 * Context: process context; may sleep.
 * Return: 0; -EINVAL for a @cfg that cannot work (no buffers and no
 * lookaside, or max_buffers below buffer_count); -E2BIG if a buffer would
 * be larger than the slab allocator allows; -ENOMEM when out of memory.
 */
int bufq_init(struct bufq *q, const struct bufq_config *cfg)
{
	slab_flags_t sflags = SLAB_HWCACHE_ALIGN;
	gfp_t gfp = GFP_KERNEL;
	unsigned int objsize;
	int ret;

	ret = bufq_layout(q, cfg, &objsize);
	if (ret)
		return ret;
	bufq_init_fields(q, cfg);
	timer_setup(&q->timer, bufq_timer_fire, 0);

	q->name = kasprintf(GFP_KERNEL, "bufq-%s-%d", cfg->name ?: "q",
			    atomic_inc_return(&bufq_ids));
	if (!q->name)
		return -ENOMEM;
	if (cfg->account) {
		sflags |= SLAB_ACCOUNT;
		gfp |= __GFP_ACCOUNT;
	}
	q->free_bufs = kmalloc_array(cfg->buffer_count, sizeof(*q->free_bufs),
				     gfp);
	if (!q->free_bufs && cfg->buffer_count) {
		ret = -ENOMEM;
		goto out_name;
	}
	q->fetch_failed = alloc_percpu_gfp(unsigned long, gfp);
	if (!q->fetch_failed) {
		ret = -ENOMEM;
		goto out_bufs;
	}
	/* Clients copy to and from user space in the data and context areas. */
	q->cache = kmem_cache_create_usercopy(q->name, objsize, 8, sflags,
					      offsetof(struct bufq_buf, data),
					      q->ctx_offset + q->context_size,
					      NULL);
	if (!q->cache) {
		ret = -ENOMEM;
		goto out_percpu;
	}

	ret = bufq_fill(q, cfg->buffer_count, gfp);
	if (ret)
		goto out_cache;
	bufq_debugfs_add(q);
	trace_bufq_create(q);
	return 0;

out_cache:
	kmem_cache_destroy(q->cache);
out_percpu:
	free_percpu(q->fetch_failed);
out_bufs:
	kfree(q->free_bufs);
out_name:
	kfree(q->name);
	return ret;
}
EXPORT_SYMBOL_GPL(bufq_init);

/**
 * bufq_create - allocate and initialize a queue
 * @cfg: its configuration; not referenced after return
 *
 * Context: process context; may sleep.
 * Return: the queue, or an ERR_PTR() with the errors of bufq_init().
 */
struct bufq *bufq_create(const struct bufq_config *cfg)
{
	struct bufq *q;
	int ret;

	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return ERR_PTR(-ENOMEM);
	ret = bufq_init(q, cfg);
	if (ret) {
		kfree(q);
		return ERR_PTR(ret);
	}
	q->allocated = true;
	return q;
}
EXPORT_SYMBOL_GPL(bufq_create);

/*
 * Stop the queue: refuse new work, hand queued buffers to reuse_cleanup,
 * free the free ones, stop the timer and wake every waiter.
 * Return: true if no client holds a buffer, so the queue may go now.
 */
static bool bufq_shutdown(struct bufq *q)
{
	unsigned long flags;
	unsigned int n, i;
	bool idle;

	trace_bufq_destroy(q);
	bufq_debugfs_remove(q);
	/*
	 * Count ourselves as a buffer, so that no hand-in racing with us can
	 * see the queue drained and release it while we still use it.
	 */
	spin_lock_irqsave(&q->free_lock, flags);
	WRITE_ONCE(q->dead, true);
	q->total++;
	n = q->nr_free;		/* free_bufs[0..n) are ours now */
	q->pending += n;
	q->nr_free = 0;
	spin_unlock_irqrestore(&q->free_lock, flags);

	/* Enqueuers test dead under work_lock: nothing is queued after this. */
	bufq_flush(q);
	timer_shutdown_sync(&q->timer);
	for (i = 0; i < n; i++)
		kmem_cache_free(q->cache, q->free_bufs[i]);
	wake_up_all(&q->work_wait);
	wake_up_all(&q->free_wait);
	wait_var_event(&q->waiters, !atomic_read(&q->waiters));

	spin_lock_irqsave(&q->free_lock, flags);
	q->total -= n + 1;
	q->pending -= n;
	idle = !q->total;
	spin_unlock_irqrestore(&q->free_lock, flags);
	/* Unless idle, the last hand-in releases @q: do not touch it. */
	return idle;
}

static bool bufq_drained(struct bufq *q)
{
	unsigned long flags;
	bool drained;

	spin_lock_irqsave(&q->free_lock, flags);
	drained = !q->total;
	spin_unlock_irqrestore(&q->free_lock, flags);
	return drained;
}

/**
 * bufq_exit - tear down a queue made by bufq_init()
 * @q: the queue
 *
 * Queued buffers go through reuse_cleanup and are freed with the free
 * ones. Fetches and dequeues fail with -ESHUTDOWN from now on (a fetch
 * that was already growing the queue may still succeed); tasks asleep in
 * bufq_fetch_wait() or bufq_dequeue_wait() are woken and waited for. Then
 * waits, uninterruptibly and without bound, until the client has handed
 * back every buffer it holds (by bufq_reuse() or bufq_enqueue()).
 *
 * Context: process context; sleeps. No poll table may still reference
 * the queue (call it from the file's release, not before).
 */
void bufq_exit(struct bufq *q)
{
	if (!bufq_shutdown(q))
		wait_event(q->free_wait, bufq_drained(q));
	bufq_free_cache(q);
}
EXPORT_SYMBOL_GPL(bufq_exit);

/**
 * bufq_destroy - tear down a queue made by bufq_create()
 * @q: the queue, or NULL
 *
 * Like bufq_exit(), but does not wait for buffers: those still held by the
 * client keep the queue alive, and the last one handed back frees it.
 * @q must not be used after that except to hand those buffers back.
 *
 * Context: process context; may sleep.
 */
void bufq_destroy(struct bufq *q)
{
	if (!q)
		return;
	if (bufq_shutdown(q)) {
		bufq_free_cache(q);
		kfree(q);
	}
}
EXPORT_SYMBOL_GPL(bufq_destroy);

static bool __bufq_may_grow(const struct bufq *q)
{
	return q->lookaside && (!q->max_buffers || q->total < q->max_buffers);
}

/*
 * Caller holds free_lock. Take a free buffer, or reserve room for a new
 * one (*b stays NULL, total already counts it).
 */
static int __bufq_take_free(struct bufq *q, struct bufq_buf **b)
{
	if (unlikely(q->dead))
		return -ESHUTDOWN;
	*b = NULL;
	if (q->nr_free) {
		*b = q->free_bufs[--q->nr_free];
		trace_bufq_fetch(q, (*b)->data, 0, false);
	} else if (__bufq_may_grow(q)) {
		q->total++;	/* reserved: see bufq_grow() */
		q->pending++;
	} else {
		this_cpu_inc(*q->fetch_failed);
		trace_bufq_fetch(q, NULL, -ENOBUFS, false);
		return -ENOBUFS;
	}
	q->high_water = max(q->high_water, q->total - q->nr_free);
	return 0;
}

/* Fill a reservation made by __bufq_take_free(). */
static struct bufq_buf *bufq_grow(struct bufq *q)
{
	struct bufq_buf *b = bufq_alloc_buf(q, q->gfp);
	unsigned long flags;
	bool release = false;

	spin_lock_irqsave(&q->free_lock, flags);
	if (b) {
		q->pending--;
		q->grown++;
		trace_bufq_fetch(q, b->data, 0, true);
	} else {
		this_cpu_inc(*q->fetch_failed);
		trace_bufq_fetch(q, NULL, -ENOMEM, true);
		release = __bufq_uncount(q, 1);
		__bufq_wake_fetchers(q);	/* the reservation is free again */
	}
	spin_unlock_irqrestore(&q->free_lock, flags);
	if (release)
		bufq_release(q);
	return b;
}

static int bufq_get(struct bufq *q, struct bufq_buf **bp)
{
	struct bufq_buf *b = NULL;
	unsigned long flags;
	int ret;

	/* Fail without the lock when nothing is free and nothing may grow. */
	if (!READ_ONCE(q->nr_free) &&
	    (!q->lookaside ||
	     (q->max_buffers && READ_ONCE(q->total) >= q->max_buffers))) {
		if (READ_ONCE(q->dead))
			return -ESHUTDOWN;
		this_cpu_inc(*q->fetch_failed);
		trace_bufq_fetch(q, NULL, -ENOBUFS, false);
		return -ENOBUFS;
	}
	spin_lock_irqsave(&q->free_lock, flags);
	ret = __bufq_take_free(q, &b);
	spin_unlock_irqrestore(&q->free_lock, flags);
	if (ret)
		return ret;
	if (!b) {
		b = bufq_grow(q);
		if (!b)
			return -ENOMEM;
	}
	b->state = BUFQ_STATE_HELD;
	*bp = b;
	return 0;
}

/**
 * bufq_fetch - take a free buffer
 * @q: the queue
 * @buf: set to the buffer's data area
 * @ctx: set to the buffer's context area; may be NULL
 *
 * Takes the head of the producer list. If it is empty and the queue has
 * lookaside, allocates a new buffer with the configured gfp mask, unless
 * the queue already has max_buffers.
 *
 * Context: any, if the configured gfp mask does not sleep.
 * Return: 0; -ENOBUFS if no buffer is free and none may be made;
 * -ENOMEM if making one failed; -ESHUTDOWN once the queue is being
 * destroyed.
 */
int bufq_fetch(struct bufq *q, void **buf, void **ctx)
{
	struct bufq_buf *b;
	int ret;

	ret = bufq_get(q, &b);
	if (ret)
		return ret;
	*buf = b->data;
	if (ctx)
		*ctx = bufq_ctx_of(q, b);
	return 0;
}
EXPORT_SYMBOL_GPL(bufq_fetch);

/*
 * Sleepers in the *_wait() calls are counted, so that teardown can wake
 * them and wait until they are gone before freeing the queue.
 */
static void bufq_wait_begin(struct bufq *q)
{
	atomic_inc(&q->waiters);
}

static void bufq_wait_end(struct bufq *q)
{
	/* The last access to @q: wake_up_var() only hashes the address. */
	if (atomic_dec_and_test(&q->waiters))
		wake_up_var(&q->waiters);
}

/* Would a fetch find or make a buffer, or fail for good? */
static bool bufq_fetchable(struct bufq *q)
{
	unsigned long flags;
	bool ret;

	spin_lock_irqsave(&q->free_lock, flags);
	ret = q->dead || q->nr_free || __bufq_may_grow(q);
	spin_unlock_irqrestore(&q->free_lock, flags);
	return ret;
}

/* Caller holds work_lock. */
static void __bufq_arm(struct bufq *q, struct bufq_timed *t)
{
	t->deadline = jiffies + msecs_to_jiffies(t->msecs);
	t->armed = true;
	/* Starts the timer, or brings it forward; never delays it. */
	timer_reduce(&q->timer, t->deadline);
}

/* Caller holds work_lock. @b is HELD by the caller and becomes QUEUED. */
static int __bufq_queue(struct bufq *q, struct bufq_buf *b, bool at_head,
			struct bufq_timed *t)
{
	if (unlikely(READ_ONCE(q->dead)))
		return -ESHUTDOWN;
	if (at_head)
		list_add(&b->node, &q->work_list);
	else
		list_add_tail(&b->node, &q->work_list);
	WRITE_ONCE(q->nr_queued, q->nr_queued + 1);
	if (t)
		__bufq_arm(q, t);
	trace_bufq_enqueue(q, b->data, at_head, t, t ? t->msecs : 0);
	return 0;
}

/* Caller holds work_lock. @b is QUEUED and becomes HELD. */
static void __bufq_unqueue(struct bufq *q, struct bufq_buf *b)
{
	list_del(&b->node);
	WRITE_ONCE(q->nr_queued, q->nr_queued - 1);
	b->state = BUFQ_STATE_HELD;
	if (q->with_timer)
		bufq_timed_of(q, b)->armed = false;	/* the timer will skip it */
}

/* Caller holds work_lock: as __bufq_wake_fetchers(), for the consumers. */
static void __bufq_wake_consumers(struct bufq *q)
{
	/* No barrier: the waiter tests under work_lock (bufq_dequeueable()). */
	if (waitqueue_active(&q->work_wait))
		wake_up(&q->work_wait);
}

static __always_inline int bufq_insert(struct bufq *q, void *buf, bool at_head,
				       const struct bufq_timed *timed)
{
	struct bufq_buf *b = bufq_claim(q, buf, BUFQ_STATE_QUEUED);
	struct bufq_timed *t = NULL;
	unsigned long flags;
	int ret;

	if (!b)
		return -EINVAL;
	if (timed) {
		t = bufq_timed_of(q, b);
		*t = *timed;
	}
	spin_lock_irqsave(&q->work_lock, flags);
	ret = __bufq_queue(q, b, at_head, t);
	if (!ret)
		__bufq_wake_consumers(q);
	spin_unlock_irqrestore(&q->work_lock, flags);
	if (ret)
		bufq_put_free(q, b);	/* dead: recycle it */
	return ret;
}

/**
 * bufq_enqueue - add a buffer at the tail of the consumer list
 * @q: the queue
 * @buf: a buffer the caller holds, from bufq_fetch() or bufq_dequeue()
 *
 * Context: any.
 * Return: 0; -EINVAL, with a warning and nothing changed, if @buf is not a
 * buffer of @q that the caller holds or its sentinels were overwritten;
 * -ESHUTDOWN once the queue is being destroyed, and @buf was recycled as
 * by bufq_reuse().
 */
int bufq_enqueue(struct bufq *q, void *buf)
{
	return bufq_insert(q, buf, false, NULL);
}
EXPORT_SYMBOL_GPL(bufq_enqueue);

/**
 * bufq_enqueue_at_head - add a buffer at the head of the consumer list
 * @q: the queue
 * @buf: a buffer the caller holds
 *
 * The next dequeue returns @buf: buffers added this way come out LIFO.
 *
 * Context: any.
 * Return: as bufq_enqueue().
 */
int bufq_enqueue_at_head(struct bufq *q, void *buf)
{
	return bufq_insert(q, buf, true, NULL);
}
EXPORT_SYMBOL_GPL(bufq_enqueue_at_head);

/**
 * bufq_enqueue_with_timer - add a buffer that expires if not dequeued
 * @q: the queue, created with with_timer
 * @buf: a buffer the caller holds
 * @msecs: how long it may wait on the consumer list
 * @fn: called with the buffer if it is still queued after @msecs
 * @arg: passed to @fn
 *
 * If @buf is still on the consumer list @msecs from now, it is taken off,
 * the client owns it again, and @fn runs. Dequeue, flush and enumerate
 * removal cancel the timer; @fn then never runs.
 *
 * Context: any.
 * Return: 0; -EINVAL (without a warning) if @q has no timers or @fn is
 * NULL, the buffer stays with the caller; otherwise as bufq_enqueue().
 */
int bufq_enqueue_with_timer(struct bufq *q, void *buf, unsigned int msecs,
			    bufq_timer_fn fn, void *arg)
{
	struct bufq_timed t = { .fn = fn, .arg = arg, .msecs = msecs };

	if (!q->with_timer || !fn)
		return -EINVAL;
	return bufq_insert(q, buf, false, &t);
}
EXPORT_SYMBOL_GPL(bufq_enqueue_with_timer);

/**
 * bufq_dequeue - take the buffer at the head of the consumer list
 * @q: the queue
 * @buf: set to the buffer's data area
 * @ctx: set to the buffer's context area; may be NULL
 *
 * The caller owns the buffer until it hands it back with bufq_reuse() or
 * bufq_enqueue(). A pending timer on it is cancelled.
 *
 * Context: any.
 * Return: 0; -ENODATA if the consumer list is empty; -ESHUTDOWN once the
 * queue is being destroyed.
 */
int bufq_dequeue(struct bufq *q, void **buf, void **ctx)
{
	struct bufq_buf *b = NULL;
	unsigned long flags;

	if (READ_ONCE(q->nr_queued)) {
		spin_lock_irqsave(&q->work_lock, flags);
		b = list_first_entry_or_null(&q->work_list, struct bufq_buf,
					     node);
		if (b)
			__bufq_unqueue(q, b);
		spin_unlock_irqrestore(&q->work_lock, flags);
	}
	if (!b)
		return READ_ONCE(q->dead) ? -ESHUTDOWN : -ENODATA;
	trace_bufq_dequeue(q, b->data);
	*buf = b->data;
	if (ctx)
		*ctx = bufq_ctx_of(q, b);
	return 0;
}
EXPORT_SYMBOL_GPL(bufq_dequeue);

/* Would a dequeue find a buffer, or fail for good? */
static bool bufq_dequeueable(struct bufq *q)
{
	unsigned long flags;
	bool ret;

	spin_lock_irqsave(&q->work_lock, flags);
	ret = q->nr_queued || READ_ONCE(q->dead);
	spin_unlock_irqrestore(&q->work_lock, flags);
	return ret;
}

/* One side of the queue, as the *_wait() calls see it. */
struct bufq_side {
	int (*take)(struct bufq *q, void **buf, void **ctx);
	bool (*ready)(struct bufq *q);	/* take() would not return @empty */
	int empty;			/* take()'s error for "nothing now" */
};

static const struct bufq_side bufq_free_side = {
	.take = bufq_fetch, .ready = bufq_fetchable, .empty = -ENOBUFS,
};

static const struct bufq_side bufq_work_side = {
	.take = bufq_dequeue, .ready = bufq_dequeueable, .empty = -ENODATA,
};

static int bufq_wait_take(struct bufq *q, wait_queue_head_t *wq,
			  const struct bufq_side *side, void **buf, void **ctx)
{
	int ret;

	might_sleep();
	bufq_wait_begin(q);
	for (;;) {
		/* Outside the wait: growth may allocate with a sleeping mask. */
		ret = side->take(q, buf, ctx);
		if (ret != side->empty)
			break;
		/*
		 * ready() takes the side's lock after we are on its wait
		 * queue, which pairs with __bufq_wake_fetchers() and
		 * __bufq_wake_consumers() testing it under that lock.
		 */
		if (wait_event_interruptible(*wq, side->ready(q))) {
			ret = -ERESTARTSYS;
			break;
		}
	}
	bufq_wait_end(q);
	return ret;
}

/**
 * bufq_fetch_wait - take a free buffer, waiting for one
 * @q: the queue
 * @buf: set to the buffer's data area
 * @ctx: set to the buffer's context area; may be NULL
 *
 * Like bufq_fetch(), but sleeps while no buffer is free and none may be
 * made, until one is reused or a signal arrives.
 *
 * Context: process context; sleeps.
 * Return: 0; -ERESTARTSYS if a signal arrived; -ENOMEM, -ESHUTDOWN as for
 * bufq_fetch().
 */
int bufq_fetch_wait(struct bufq *q, void **buf, void **ctx)
{
	return bufq_wait_take(q, &q->free_wait, &bufq_free_side, buf, ctx);
}
EXPORT_SYMBOL_GPL(bufq_fetch_wait);

/**
 * bufq_dequeue_wait - take the head of the consumer list, waiting for one
 * @q: the queue
 * @buf: set to the buffer's data area
 * @ctx: set to the buffer's context area; may be NULL
 *
 * Context: process context; sleeps.
 * Return: 0; -ERESTARTSYS if a signal arrived; -ESHUTDOWN once the queue
 * is being destroyed.
 */
int bufq_dequeue_wait(struct bufq *q, void **buf, void **ctx)
{
	return bufq_wait_take(q, &q->work_wait, &bufq_work_side, buf, ctx);
}
EXPORT_SYMBOL_GPL(bufq_dequeue_wait);

/**
 * bufq_desc - describe a buffer's data area for I/O
 * @q: the queue
 * @buf: one of its buffers, in any state
 * @desc: filled in
 *
 * Context: any.
 */
void bufq_desc(struct bufq *q, void *buf, struct bufq_desc *desc)
{
	desc->addr = buf;
	desc->len = q->buffer_size;
	desc->page = virt_to_page(buf);
	desc->offset = offset_in_page(buf);
}
EXPORT_SYMBOL_GPL(bufq_desc);

/**
 * bufq_desc_to_sg - point a scatterlist entry at a buffer
 * @desc: from bufq_desc() or bufq_dequeue_desc()
 * @sg: an initialized entry (sg_init_table()), set to the data area
 *
 * Context: any.
 */
void bufq_desc_to_sg(const struct bufq_desc *desc, struct scatterlist *sg)
{
	sg_set_page(sg, desc->page, desc->len, desc->offset);
}
EXPORT_SYMBOL_GPL(bufq_desc_to_sg);

/**
 * bufq_dequeue_desc - bufq_dequeue(), also describing the buffer for I/O
 * @q: the queue
 * @buf: set to the buffer's data area
 * @desc: filled in as by bufq_desc()
 * @ctx: set to the buffer's context area; may be NULL
 *
 * Context: any.
 * Return: as bufq_dequeue().
 */
int bufq_dequeue_desc(struct bufq *q, void **buf, struct bufq_desc *desc,
		      void **ctx)
{
	int ret = bufq_dequeue(q, buf, ctx);

	if (!ret)
		bufq_desc(q, *buf, desc);
	return ret;
}
EXPORT_SYMBOL_GPL(bufq_dequeue_desc);

/**
 * bufq_reuse - hand a buffer back to the producer list
 * @q: the queue
 * @buf: a buffer the caller holds
 *
 * Calls reuse_cleanup, then puts @buf on the producer list; if lookaside
 * grew the queue past buffer_count, or it is being destroyed, @buf is
 * freed instead.
 *
 * Context: any.
 * Return: 0; -EINVAL, with a warning, reuse_cleanup not called and nothing
 * changed, if @buf is not a buffer of @q that the caller holds or its
 * sentinels were overwritten.
 */
int bufq_reuse(struct bufq *q, void *buf)
{
	struct bufq_buf *b = bufq_claim(q, buf, BUFQ_STATE_FREE);

	if (!b)
		return -EINVAL;
	bufq_put_free(q, b);
	return 0;
}
EXPORT_SYMBOL_GPL(bufq_reuse);

/**
 * bufq_flush - reuse every buffer on the consumer list
 * @q: the queue
 *
 * For when the queued work need not or cannot be done: each buffer goes
 * through reuse_cleanup and back to the producer list; timers on them are
 * cancelled.
 *
 * Context: any.
 */
void bufq_flush(struct bufq *q)
{
	struct bufq_buf *b, *tmp;
	unsigned long flags;
	LIST_HEAD(flushed);

	spin_lock_irqsave(&q->work_lock, flags);
	trace_bufq_flush(q);
	list_for_each_entry_safe(b, tmp, &q->work_list, node) {
		__bufq_unqueue(q, b);
		b->state = BUFQ_STATE_FREE;	/* nobody's: refuse hand-ins */
		list_add_tail(&b->node, &flushed);
	}
	spin_unlock_irqrestore(&q->work_lock, flags);

	list_for_each_entry(b, &flushed, node)
		bufq_cleanup(q, b);
	bufq_put_free_list(q, &flushed);
}
EXPORT_SYMBOL_GPL(bufq_flush);

/**
 * bufq_count - number of buffers on the consumer list
 * @q: the queue
 *
 * Other CPUs may change it at any time.
 *
 * Context: any.
 * Return: the number of queued buffers.
 */
unsigned int bufq_count(struct bufq *q)
{
	return READ_ONCE(q->nr_queued);
}
EXPORT_SYMBOL_GPL(bufq_count);

/**
 * bufq_context - a buffer's context area
 * @q: the queue
 * @buf: one of its buffers, in any state
 *
 * Context: any.
 * Return: the context area, context_size bytes, 8-byte aligned.
 */
void *bufq_context(struct bufq *q, void *buf)
{
	return bufq_ctx_of(q, bufq_buf_of(buf));
}
EXPORT_SYMBOL_GPL(bufq_context);

/*
 * Caller holds work_lock. Apply one enumerate disposition to @b.
 * Return: true to stop enumerating.
 */
static bool __bufq_enum_apply(struct bufq *q, struct bufq_buf *b,
			      enum bufq_enum_action action, bool may_remove)
{
	struct bufq_timed *t = q->with_timer ? bufq_timed_of(q, b) : NULL;

	switch (action) {
	case BUFQ_ENUM_CONTINUE:
		return false;
	case BUFQ_ENUM_REMOVE_AND_STOP:
		if (may_remove)
			__bufq_unqueue(q, b);
		return true;
	case BUFQ_ENUM_STOP_TIMER_AND_STOP:
	case BUFQ_ENUM_STOP_TIMER_AND_CONTINUE:
		if (t)
			t->armed = false;
		return action == BUFQ_ENUM_STOP_TIMER_AND_STOP;
	case BUFQ_ENUM_RESET_TIMER_AND_STOP:
	case BUFQ_ENUM_RESET_TIMER_AND_CONTINUE:
		if (t && t->armed)
			__bufq_arm(q, t);
		return action == BUFQ_ENUM_RESET_TIMER_AND_STOP;
	default:
		return true;
	}
}

/**
 * bufq_enumerate - call a function for each buffer on the consumer list
 * @q: the queue
 * @fn: called for each buffer, head first, with the consumer lock held
 * @arg: passed to @fn
 * @buf: if @fn returns %BUFQ_ENUM_REMOVE_AND_STOP, set to the buffer it
 *	removed, which the caller now holds; otherwise NULL. May be NULL,
 *	and then nothing is removed.
 * @ctx: set to that buffer's context area, or NULL; may be NULL
 *
 * See &enum bufq_enum_action for what @fn may ask; a value outside it
 * stops the walk. RESET_TIMER restarts only a timer still pending.
 *
 * Context: any. @fn runs with interrupts off.
 */
void bufq_enumerate(struct bufq *q, bufq_enum_fn fn, void *arg,
		    void **buf, void **ctx)
{
	struct bufq_buf *b, *tmp, *taken = NULL;
	enum bufq_enum_action action;
	unsigned long flags;

	spin_lock_irqsave(&q->work_lock, flags);
	list_for_each_entry_safe(b, tmp, &q->work_list, node) {
		action = fn(q, b->data, bufq_ctx_of(q, b), arg);
		trace_bufq_enumerate(q, b->data, action);
		if (!__bufq_enum_apply(q, b, action, !!buf))
			continue;
		if (action == BUFQ_ENUM_REMOVE_AND_STOP && buf)
			taken = b;
		break;
	}
	spin_unlock_irqrestore(&q->work_lock, flags);

	if (buf)
		*buf = taken ? taken->data : NULL;
	if (ctx)
		*ctx = taken ? bufq_ctx_of(q, taken) : NULL;
}
EXPORT_SYMBOL_GPL(bufq_enumerate);

/*
 * The queue's timer: take every buffer whose deadline passed off the
 * consumer list, re-arm for the earliest one left, then call the clients
 * without the lock.
 */
static void bufq_timer_fire(struct timer_list *timer)
{
	struct bufq *q = from_timer(q, timer, timer);
	unsigned long now = jiffies, next = 0, flags;
	struct bufq_buf *b, *tmp;
	struct bufq_timed *t;
	bool rearm = false;
	LIST_HEAD(expired);

	spin_lock_irqsave(&q->work_lock, flags);
	list_for_each_entry_safe(b, tmp, &q->work_list, node) {
		t = bufq_timed_of(q, b);
		if (!t->armed)
			continue;
		if (time_after_eq(now, t->deadline)) {
			__bufq_unqueue(q, b);
			trace_bufq_timer_expire(q, b->data);
			list_add_tail(&b->node, &expired);
		} else if (!rearm || time_before(t->deadline, next)) {
			next = t->deadline;
			rearm = true;
		}
	}
	if (rearm)
		mod_timer(&q->timer, next);
	spin_unlock_irqrestore(&q->work_lock, flags);

	list_for_each_entry_safe(b, tmp, &expired, node) {
		list_del(&b->node);
		t = bufq_timed_of(q, b);
		t->fn(q, b->data, bufq_ctx_of(q, b), t->arg);
	}
}

/**
 * bufq_fetch_bulk - take up to @n free buffers
 * @q: the queue
 * @bufs: filled with the buffers' data areas
 * @n: how many are wanted
 *
 * As @n calls of bufq_fetch(), taking the producer lock once.
 *
 * Context: any, if the configured gfp mask does not sleep.
 * Return: how many buffers were taken, from 0 to @n.
 */
unsigned int bufq_fetch_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	unsigned int i, grow = 0;
	struct bufq_buf *b;
	unsigned long flags;

	spin_lock_irqsave(&q->free_lock, flags);
	for (i = 0; i < n; i++) {
		b = NULL;
		if (__bufq_take_free(q, &b))
			break;
		if (!b) {
			grow++;		/* reserved; allocated below */
			continue;
		}
		b->state = BUFQ_STATE_HELD;
		bufs[i - grow] = b->data;
	}
	spin_unlock_irqrestore(&q->free_lock, flags);

	n = i - grow;
	while (grow--) {
		b = bufq_grow(q);
		if (b) {
			b->state = BUFQ_STATE_HELD;
			bufs[n++] = b->data;
		}
	}
	return n;
}
EXPORT_SYMBOL_GPL(bufq_fetch_bulk);

/**
 * bufq_enqueue_bulk - add buffers at the tail of the consumer list
 * @q: the queue
 * @bufs: buffers the caller holds, in order
 * @n: how many
 *
 * As @n calls of bufq_enqueue(), taking the consumer lock once. Stops at
 * the first buffer bufq_enqueue() would refuse (with its warning). Once
 * the queue is being destroyed the buffers are recycled instead.
 *
 * Context: any.
 * Return: how many buffers the caller handed over, from 0 to @n.
 */
unsigned int bufq_enqueue_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	struct bufq_buf *b;
	unsigned long flags;
	unsigned int i;
	LIST_HEAD(batch);

	for (i = 0; i < n; i++) {
		b = bufq_claim(q, bufs[i], BUFQ_STATE_QUEUED);
		if (!b)
			break;
		list_add_tail(&b->node, &batch);
	}
	n = i;
	if (!n)
		return 0;

	spin_lock_irqsave(&q->work_lock, flags);
	if (likely(!q->dead)) {
		list_splice_tail_init(&batch, &q->work_list);
		WRITE_ONCE(q->nr_queued, q->nr_queued + n);
		if (trace_bufq_enqueue_enabled())
			bufq_trace_enqueue_bulk(q, n);
		__bufq_wake_consumers(q);
	}
	spin_unlock_irqrestore(&q->work_lock, flags);

	if (list_empty(&batch))
		return n;
	/* Dead: recycle them, as bufq_enqueue() does. */
	list_for_each_entry(b, &batch, node)
		bufq_cleanup(q, b);
	bufq_put_free_list(q, &batch);
	return n;
}
EXPORT_SYMBOL_GPL(bufq_enqueue_bulk);

/**
 * bufq_dequeue_bulk - take up to @n buffers from the consumer list
 * @q: the queue
 * @bufs: filled with the buffers' data areas, in FIFO order
 * @n: how many are wanted
 *
 * As @n calls of bufq_dequeue(), taking the consumer lock once.
 *
 * Context: any.
 * Return: how many buffers were taken, from 0 to @n.
 */
unsigned int bufq_dequeue_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	struct bufq_buf *b;
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&q->work_lock, flags);
	for (i = 0; i < n; i++) {
		b = list_first_entry_or_null(&q->work_list, struct bufq_buf,
					     node);
		if (!b)
			break;
		__bufq_unqueue(q, b);
		trace_bufq_dequeue(q, b->data);
		bufs[i] = b->data;
	}
	spin_unlock_irqrestore(&q->work_lock, flags);
	return i;
}
EXPORT_SYMBOL_GPL(bufq_dequeue_bulk);

/**
 * bufq_reuse_bulk - hand buffers back to the producer list
 * @q: the queue
 * @bufs: buffers the caller holds
 * @n: how many
 *
 * As @n calls of bufq_reuse(), taking the producer lock once. Stops at the
 * first buffer bufq_reuse() would refuse (with its warning).
 *
 * Context: any.
 * Return: how many buffers were handed back, from 0 to @n.
 */
unsigned int bufq_reuse_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	struct bufq_buf *b;
	unsigned int i;
	LIST_HEAD(batch);

	for (i = 0; i < n; i++) {
		b = bufq_claim(q, bufs[i], BUFQ_STATE_FREE);
		if (!b)
			break;
		bufq_cleanup(q, b);
		list_add_tail(&b->node, &batch);
	}
	if (i)
		bufq_put_free_list(q, &batch);
	return i;
}
EXPORT_SYMBOL_GPL(bufq_reuse_bulk);

/**
 * bufq_get_stats - read a queue's counters
 * @q: the queue
 * @st: filled in
 *
 * Context: any.
 */
void bufq_get_stats(struct bufq *q, struct bufq_stats *st)
{
	unsigned long flags;
	unsigned int used;
	int cpu;

	spin_lock_irqsave(&q->free_lock, flags);
	st->total = q->total;
	st->free = q->nr_free;
	st->high_water = q->high_water;
	st->grown = q->grown;
	spin_unlock_irqrestore(&q->free_lock, flags);

	st->fetch_failed = 0;
	for_each_possible_cpu(cpu)
		st->fetch_failed += *per_cpu_ptr(q->fetch_failed, cpu);

	st->queued = READ_ONCE(q->nr_queued);
	used = st->total - st->free;
	st->held = used > st->queued ? used - st->queued : 0;
	st->overhead = kmem_cache_size(q->cache) - q->buffer_size -
		       q->context_size;
}
EXPORT_SYMBOL_GPL(bufq_get_stats);

/**
 * bufq_poll - poll support for a file that fronts a queue
 * @q: the queue
 * @file: the file being polled
 * @pt: the poll table
 *
 * Context: process context.
 * Return: EPOLLIN | EPOLLRDNORM if a buffer is queued, EPOLLOUT |
 * EPOLLWRNORM if a fetch would find or make a buffer, EPOLLHUP once the
 * queue is being destroyed.
 */
__poll_t bufq_poll(struct bufq *q, struct file *file, poll_table *pt)
{
	unsigned long flags;
	__poll_t mask = 0;

	poll_wait(file, &q->free_wait, pt);
	poll_wait(file, &q->work_wait, pt);

	/* Tested under the locks: pairs with bufq_wake_*(), as for waiters. */
	spin_lock_irqsave(&q->free_lock, flags);
	if (q->dead)
		mask |= EPOLLHUP;
	else if (q->nr_free || __bufq_may_grow(q))
		mask |= EPOLLOUT | EPOLLWRNORM;
	spin_unlock_irqrestore(&q->free_lock, flags);

	spin_lock_irqsave(&q->work_lock, flags);
	if (q->nr_queued)
		mask |= EPOLLIN | EPOLLRDNORM;
	spin_unlock_irqrestore(&q->work_lock, flags);
	return mask;
}
EXPORT_SYMBOL_GPL(bufq_poll);

static int __init bufq_module_init(void)
{
	int ret;

	bufq_wq = alloc_workqueue("bufq", 0, 0);
	if (!bufq_wq)
		return -ENOMEM;
	bufq_debugfs_init();
	ret = bufq_chardev_init();
	if (ret) {
		bufq_debugfs_exit();
		destroy_workqueue(bufq_wq);
	}
	return ret;
}

static void __exit bufq_module_exit(void)
{
	bufq_chardev_exit();
	destroy_workqueue(bufq_wq);	/* runs pending releases */
	bufq_debugfs_exit();
}

module_init(bufq_module_init);
module_exit(bufq_module_exit);

MODULE_DESCRIPTION("bufq: producer/consumer buffer queue");
MODULE_LICENSE("GPL");
