// SPDX-License-Identifier: GPL-2.0
/*
 * bufq - a producer/consumer buffer queue, ported from DMF_BufferQueue
 *
 * Locking: the producer side (free_bufs, nr_free, total, pending, users,
 * dead, high_water, grown) is under free_lock; the consumer side
 * (work_list, taken, nr_queued, filling the head, the timed tree, every
 * struct bufq_timed, arming q->timer) under work_lock. Both are raw,
 * irq-safe spinlocks, so every call but growth works in hard IRQ context
 * on PREEMPT_RT too, and no path holds both. Nested inside them: the swait queue locks (wake-ups of
 * *_wait() sleepers) and the timer base lock. Poll waiters are woken
 * after the lock is dropped, from an irq_work when in hard IRQ context,
 * and memory is never freed in hard IRQ context either: see __bufq_defer().
 *
 * A buffer's magic (bufq_core.h) is its state. It leaves HELD only by the
 * hand of its owner, in bufq_claim(); the other transitions happen under
 * the lock of the list the buffer leaves. The check catches a buffer
 * handed in twice, as DMF does, but not two hand-ins of one buffer racing
 * on two CPUs: that would cost an atomic operation per hand-in.
 *
 * nr_free and nr_queued are also read without their lock, so that a fetch
 * or dequeue that must fail does not take a lock a busy peer needs.
 *
 * The fast paths take neither lock: fetch and reuse use a per-CPU cache
 * of free buffers in front of the producer stack (see struct bufq_pcpu),
 * an enqueue at the tail puts the buffer on an empty consumer list's head
 * or pushes it on q->pend (see bufq_head_push(), bufq_pend_push()), a
 * dequeue pops the consumer list's head (see bufq_head_count()), and
 * hand-ins are validated by the index of data areas (struct bufq_index).
 *
 * The producer list is a stack of pointers, not a list_head: it never
 * holds more than buffer_count buffers (DMF's rule: growth beyond it is
 * freed on reuse), so an array of buffer_count suffices, a fetch or reuse
 * touches no other buffer, and the most recently reused, cache-hot buffer
 * is fetched first.
 *
 * Lifetime: q->total counts buffers (and growth reservations), q->users
 * the creator's reference, bufq_get() references and sleepers in *_wait().
 * A dead queue goes when both are zero; whoever drops the last one
 * releases it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <kunit/visibility.h>
#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/log2.h>
#include <linux/memcontrol.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/sched/clock.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "bufq_compat.h"
#include "bufq_core.h"
#include <trace/events/bufq.h>

static struct workqueue_struct *bufq_wq;
static atomic_t bufq_ids = ATOMIC_INIT(0);

/*
 * Both sentinels, at fixed offsets from the header: an inline data area
 * starts right after it (bufq_mem_alloc()), so neither needs b->data.
 */
static __always_inline bool bufq_sentinels_ok(const struct bufq *q,
					      struct bufq_buf *b)
{
	return get_unaligned((u32 *)((void *)b + q->ctx_off +
				     q->context_size)) == BUFQ_SENTINEL &&
	       (q->paged || get_unaligned((u32 *)((void *)(b + 1) +
						  q->buffer_size)) ==
			    BUFQ_SENTINEL);
}

/*
 * The queue's buffers by data address: whether a pointer handed in is one
 * of this queue's data areas, answered without a call and without reading
 * what it points at (bufq_find()). Open addressing with linear probing,
 * never more than half full; a removal leaves a tombstone, which an
 * insert may reuse. Changed under free_lock; read in a preemption-off
 * section, and replaced by a larger copy when full, the old one freed
 * after an RCU grace period. A buffer leaves it before it is freed.
 */
struct bufq_index {
	unsigned int mask;		/* slots - 1 */
	unsigned int used;		/* buffers and tombstones */
	unsigned int reserved;		/* inserts that growth will make */
	struct rcu_head rcu;
	unsigned long slot[];		/* a data address, free or tombstone */
};

#define BUFQ_INDEX_FREE	0UL
#define BUFQ_INDEX_TOMB	1UL
#define BUFQ_INDEX_MIN	16U

/* A table with room for @n buffers; charged to the queue's memcg. */
static struct bufq_index *bufq_index_alloc(struct bufq *q, unsigned int n,
					   gfp_t gfp)
{
	unsigned int slots = roundup_pow_of_two(max(2 * n, BUFQ_INDEX_MIN));
	struct mem_cgroup *old = set_active_memcg(q->memcg);
	struct bufq_index *ix;

	ix = kzalloc(struct_size(ix, slot, slots), gfp);
	set_active_memcg(old);
	if (ix)
		ix->mask = slots - 1;
	return ix;
}

static __always_inline unsigned int bufq_index_at(const struct bufq_index *ix,
						  unsigned long key)
{
	return hash_long(key, 32) & ix->mask;
}

/* Is @key in @ix? Context: any, preemption off. */
static __always_inline bool bufq_index_has(const struct bufq_index *ix,
					   unsigned long key)
{
	unsigned int i = bufq_index_at(ix, key);
	unsigned long v;

	if (unlikely(key <= BUFQ_INDEX_TOMB))
		return false;
	/* Ends: at most half the slots are used, so one is free. */
	while ((v = READ_ONCE(ix->slot[i])) != key) {
		if (v == BUFQ_INDEX_FREE)
			return false;
		i = (i + 1) & ix->mask;
	}
	return true;
}

/* Caller holds free_lock (or owns the table) and knows there is room. */
static void __bufq_index_put(struct bufq_index *ix, unsigned long key)
{
	unsigned int i = bufq_index_at(ix, key);

	while (ix->slot[i] > BUFQ_INDEX_TOMB)
		i = (i + 1) & ix->mask;
	if (ix->slot[i] == BUFQ_INDEX_FREE)
		ix->used++;
	WRITE_ONCE(ix->slot[i], key);
}

/* Caller holds free_lock. @b is about to be freed. */
static void __bufq_index_del(struct bufq *q, struct bufq_buf *b)
{
	struct bufq_index *ix = rcu_dereference_protected(q->index,
				lockdep_is_held(&q->free_lock));
	unsigned long key = (unsigned long)b->data;
	unsigned int i = bufq_index_at(ix, key);

	while (ix->slot[i] != key) {
		if (WARN_ON_ONCE(ix->slot[i] == BUFQ_INDEX_FREE))
			return;
		i = (i + 1) & ix->mask;
	}
	WRITE_ONCE(ix->slot[i], BUFQ_INDEX_TOMB);
}

/* Room for one more insert, counting those reserved? */
static bool bufq_index_room(const struct bufq_index *ix)
{
	return 2 * (ix->used + ix->reserved + 1) <= ix->mask + 1;
}

/*
 * Caller holds free_lock. Reserve room for the insert of a buffer growth
 * is about to make, in @fresh (from bufq_index_alloc(), with the live
 * buffers copied over) if the table is full and @fresh is large enough.
 * Return: true if reserved; *@fresh is then the table to free (the old
 * one, or @fresh unused), or NULL.
 */
static bool __bufq_index_reserve(struct bufq *q, struct bufq_index **fresh)
{
	struct bufq_index *ix = rcu_dereference_protected(q->index,
				lockdep_is_held(&q->free_lock));
	struct bufq_index *nx = *fresh;
	unsigned int i;

	if (!bufq_index_room(ix)) {
		if (!nx || 2 * (q->total + ix->reserved + 1) > nx->mask + 1)
			return false;
		for (i = 0; i <= ix->mask; i++)
			if (ix->slot[i] > BUFQ_INDEX_TOMB)
				__bufq_index_put(nx, ix->slot[i]);
		nx->reserved = ix->reserved;
		rcu_assign_pointer(q->index, nx);
		*fresh = ix;
		ix = nx;
	}
	ix->reserved++;
	return true;
}

/*
 * Reserve room in the index for a buffer growth will make, growing the
 * index first if it is full. Return: false if out of memory.
 */
static bool bufq_index_reserve(struct bufq *q)
{
	struct bufq_index *fresh = NULL;
	unsigned long flags;
	bool done;

	for (;;) {
		raw_spin_lock_irqsave(&q->free_lock, flags);
		done = __bufq_index_reserve(q, &fresh);
		raw_spin_unlock_irqrestore(&q->free_lock, flags);
		if (fresh)
			kfree_rcu(fresh, rcu);	/* readers may be in it */
		if (done)
			return true;
		fresh = bufq_index_alloc(q, 2 * READ_ONCE(q->total) + 2, q->gfp);
		if (!fresh)
			return false;
	}
}

/* Caller holds free_lock. Fill or drop a reservation of bufq_index_reserve(). */
static void __bufq_index_fill(struct bufq *q, struct bufq_buf *b)
{
	struct bufq_index *ix = rcu_dereference_protected(q->index,
				lockdep_is_held(&q->free_lock));

	ix->reserved--;
	if (b)
		__bufq_index_put(ix, (unsigned long)b->data);
}

/*
 * The header of @buf, if it is a data area of @q; nothing else is read
 * first. Context: any.
 */
static __always_inline struct bufq_buf *bufq_find(struct bufq *q, void *buf)
{
	bool ours;

	rcu_read_lock_sched();
	ours = bufq_index_has(rcu_dereference_sched(q->index),
			      (unsigned long)buf);
	rcu_read_unlock_sched();
	return ours ? bufq_buf_of(q, buf) : NULL;
}

/* bufq_find() in @ix, q->index; the caller is in an RCU-sched section. */
static __always_inline struct bufq_buf *__bufq_find(struct bufq *q,
						    const struct bufq_index *ix,
						    void *buf)
{
	return bufq_index_has(ix, (unsigned long)buf) ? bufq_buf_of(q, buf) :
							NULL;
}

/* Why bufq_claim() refused @buf (@b: its header, if it is ours): a WARN. */
static noinline void bufq_refuse(struct bufq *q, void *buf, struct bufq_buf *b)
{
	const char *why;

	if (!b)
		why = "not a buffer of this queue";
	else if (READ_ONCE(b->magic) == bufq_magic(q, b, BUFQ_STATE_LENT))
		why = "held by user space";
	else if (READ_ONCE(b->magic) != bufq_magic(q, b, BUFQ_STATE_HELD))
		why = "not held by the client";
	else
		why = "overrun (sentinel overwritten)";
	WARN(1, "bufq %s: refused buffer %p: %s\n", q->name, buf, why);
}

/*
 * The hot paths are __always_inline: each call is then one frame, which
 * counts where returns are mitigated (retbleed, SRSO) and calls are not free.
 *
 * Take a client-held buffer from the client, moving it to @to. Refuses,
 * with one WARN and nothing changed, a pointer that is not a data area of
 * this queue, a buffer not held, or one whose sentinels were overwritten.
 * No lock: the caller owns @buf. @b is bufq_find()'s answer for @buf.
 */
static __always_inline struct bufq_buf *bufq_claim_found(struct bufq *q,
							 void *buf,
							 struct bufq_buf *b,
							 enum bufq_state to)
{
	if (likely(b && READ_ONCE(b->magic) == bufq_magic(q, b, BUFQ_STATE_HELD) &&
		   bufq_sentinels_ok(q, b))) {
		WRITE_ONCE(b->magic, bufq_magic(q, b, to));
		return b;
	}
	bufq_refuse(q, buf, b);
	return NULL;
}

static __always_inline struct bufq_buf *bufq_claim(struct bufq *q, void *buf,
						   enum bufq_state to)
{
	return bufq_claim_found(q, buf, bufq_find(q, buf), to);
}

/*
 * bufq_claim() of up to @n (at most BUFQ_PC_MAX: a bounded section) of
 * @bufs into @got, in one read section of the index. Return: how many,
 * from the first; the one after them, if any, was refused.
 */
static __always_inline unsigned int bufq_claim_n(struct bufq *q, void **bufs,
						 struct bufq_buf **got,
						 unsigned int n,
						 enum bufq_state to)
{
	const struct bufq_index *ix;
	struct bufq_buf *b;
	unsigned int i;

	rcu_read_lock_sched();
	ix = rcu_dereference_sched(q->index);
	for (i = 0; i < n; i++) {
		b = __bufq_find(q, ix, bufs[i]);
		got[i] = bufq_claim_found(q, bufs[i], b, to);
		if (!got[i])
			break;
	}
	rcu_read_unlock_sched();
	return i;
}

/*
 * Per-CPU caches of free buffers (magazines, as SLUB's and page_pool's), in
 * front of the producer stack: a fetch takes from its CPU's cache and a
 * reuse puts there, each with one cmpxchg on the cache's word, no lock and
 * no interrupt masking; only an empty or full cache takes free_lock.
 *
 * The word is the cache's count, two flags and a generation that every
 * change bumps. A buffer is in a cache when its slot is below the count.
 * Anyone may pop from any cache (bufq_pc_pop()): it reads the word, then
 * the slots, and claims them with a cmpxchg of the word, which fails if
 * anything changed in between. Only the cache's CPU pushes, one context at
 * a time (preemption off, and @busy against an interrupt that would push
 * in the middle of a push): it writes a slot above the count, then
 * publishes it with a cmpxchg of the word. So a fetch on another CPU finds
 * the buffers of this CPU's cache, when the producer stack is empty,
 * before it grows the queue or fails (__bufq_steal()); buffers of a CPU
 * that went offline are found the same way; and destroy takes them all.
 *
 * What the fast paths must not do, free_lock's holders tell them with the
 * flags, set on every cache at once (__bufq_gate()): NOPUSH while a reuse
 * must go through __bufq_keep() (lookaside shrink, a dead queue), NOPOP
 * while a fetch must be counted under the lock: a dead queue, and while
 * the buffers out of the producer stack outnumber the high-water mark, so
 * that a fetch from a cache could raise it (__bufq_note_use()).
 */
struct bufq_pcpu {
	unsigned long word;
	bool busy;			/* this CPU is pushing */
	unsigned long enq;		/* pushed on pend from this CPU, ever */
	struct bufq_buf *slot[];
};

#define BUFQ_PC_COUNT	GENMASK(7, 0)
#define BUFQ_PC_NOPOP	BIT(8)
#define BUFQ_PC_NOPUSH	BIT(9)
#define BUFQ_PC_FLAGS	(BUFQ_PC_NOPOP | BUFQ_PC_NOPUSH)
#define BUFQ_PC_GEN	BIT(10)		/* the generation's unit */
#define BUFQ_PC_MAX	32U		/* fits BUFQ_PC_COUNT */

/*
 * Take up to @n buffers, the top first, from the magazine @word/@slot (a
 * per-CPU cache, or the consumer list's head), unless @word has a flag of
 * @stop. @w is the caller's read of @word, with acquire. Context: any; the
 * first k of @bufs are the caller's if it returns k; a pop that returns 0
 * may still have written them.
 */
static __always_inline unsigned int __bufq_mag_pop(unsigned long *word,
						   struct bufq_buf *const *slot,
						   struct bufq_buf **bufs,
						   unsigned int n,
						   unsigned long stop,
						   unsigned long w)
{
	unsigned long c, k, i;

	for (;;) {
		c = w & BUFQ_PC_COUNT;
		if (!c || (w & stop))
			return 0;
		k = min_t(unsigned long, n, c);
		for (i = 0; i < k; i++)
			bufs[i] = READ_ONCE(slot[c - 1 - i]);
		if (try_cmpxchg(word, &w, w - k + BUFQ_PC_GEN))
			return k;
		/*
		 * Pairs with what published the slots: bufq_pc_push()'s
		 * cmpxchg, or __bufq_head_fill()'s release.
		 */
		w = smp_load_acquire(word);
	}
}

static __always_inline unsigned int bufq_mag_pop(unsigned long *word,
						 struct bufq_buf *const *slot,
						 struct bufq_buf **bufs,
						 unsigned int n,
						 unsigned long stop)
{
	unsigned long w = smp_load_acquire(word);	/* as in __bufq_mag_pop() */

	return __bufq_mag_pop(word, slot, bufs, n, stop, w);
}

/* bufq_mag_pop() of the cache @pc of any CPU: the most recently put first. */
static __always_inline unsigned int bufq_pc_pop(struct bufq_pcpu *pc,
						struct bufq_buf **bufs,
						unsigned int n,
						unsigned long stop)
{
	return bufq_mag_pop(&pc->word, pc->slot, bufs, n, stop);
}

/*
 * Put up to @n buffers in this CPU's cache @pc, unless it refuses pushes.
 * Caller: preemption off, and either @pc->busy set by it or interrupts
 * off. Return: how many it took, from the first.
 */
static __always_inline unsigned int bufq_pc_push(const struct bufq *q,
						 struct bufq_pcpu *pc,
						 struct bufq_buf **bufs,
						 unsigned int n)
{
	unsigned long w, c, k, i;

	for (;;) {
		w = READ_ONCE(pc->word);
		c = w & BUFQ_PC_COUNT;
		if (w & BUFQ_PC_NOPUSH)
			return 0;
		k = min_t(unsigned long, n, q->pcpu_max - c);
		if (!k)
			return 0;
		for (i = 0; i < k; i++)
			WRITE_ONCE(pc->slot[c + i], bufs[i]);
		/* Full barrier: pairs with bufq_pc_pop()'s acquire. */
		if (try_cmpxchg(&pc->word, &w, w + k + BUFQ_PC_GEN))
			return k;
	}
}

/*
 * Put @bufs in this CPU's cache, from any context; if this context
 * interrupted a push on its CPU (@busy), the cache refuses them and the
 * caller takes free_lock. Return: how many of @bufs the cache took.
 */
static __always_inline unsigned int bufq_pc_put(struct bufq *q,
						struct bufq_buf **bufs,
						unsigned int n)
{
	struct bufq_pcpu *pc;
	unsigned int k = 0;

	preempt_disable();
	pc = this_cpu_ptr(q->pcpu);
	if (!READ_ONCE(pc->busy)) {
		WRITE_ONCE(pc->busy, true);
		/* An interrupt sees this CPU's stores in program order. */
		barrier();
		k = bufq_pc_push(q, pc, bufs, n);
		barrier();
		WRITE_ONCE(pc->busy, false);
	}
	preempt_enable();
	return k;
}

/* Free buffers in the caches. Exact when nothing pushes or pops. */
static unsigned int bufq_cached(const struct bufq *q)
{
	unsigned int n = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		n += READ_ONCE(per_cpu_ptr(q->pcpu, cpu)->word) & BUFQ_PC_COUNT;
	return n;
}

/* See bufq_core.h; for trace events and debugfs, no lock taken. */
unsigned int bufq_nr_free(const struct bufq *q)
{
	return READ_ONCE(q->nr_free) + bufq_cached(q);
}
EXPORT_SYMBOL_IF_KUNIT(bufq_nr_free);

static unsigned int bufq_pend_count(const struct bufq *q);
static unsigned int bufq_head_count(const struct bufq *q);

/* See bufq_core.h; for trace events and debugfs, no lock taken. */
unsigned int bufq_nr_queued(const struct bufq *q)
{
	return READ_ONCE(q->nr_queued) + bufq_head_count(q) + bufq_pend_count(q);
}
EXPORT_SYMBOL_IF_KUNIT(bufq_nr_queued);

/*
 * Caller holds free_lock. Give every cache the flags @flags: a fast path
 * that read the old ones fails its cmpxchg, as the generation changes.
 */
static void __bufq_pc_flag(struct bufq *q, unsigned long flags)
{
	struct bufq_pcpu *pc;
	unsigned long w;
	int cpu;

	for_each_possible_cpu(cpu) {
		pc = per_cpu_ptr(q->pcpu, cpu);
		w = READ_ONCE(pc->word);
		while (!try_cmpxchg(&pc->word, &w, ((w & ~BUFQ_PC_FLAGS) | flags) +
				    BUFQ_PC_GEN))
			;
	}
	q->pcpu_flags = flags;
}

/* What bufq_init() made besides the buffers; they are all gone. */
static void bufq_free_fields(struct bufq *q)
{
	bufq_mem_slots_free(q);
	WARN_ON_ONCE(q->mem_bytes || !list_empty(&q->partial));
	mem_cgroup_put(q->memcg);
	kfree(q->free_bufs);
	kfree(q->name);
}

static void bufq_free_all(struct bufq *q);

static void bufq_release_work(struct work_struct *work)
{
	struct bufq *q = container_of(work, struct bufq, release_work);

	irq_work_sync(&q->defer_work);
	bufq_free_all(q);
	kfree(q);
}

/* Caller holds free_lock. May the dead queue go now? */
static bool __bufq_releasable(struct bufq *q)
{
	if (!q->dead || q->total || q->users)
		return false;
	/* bufq_exit() waits on free_wait: wake it under the lock. */
	if (!q->allocated)
		swake_up_one(&q->free_wait);
	return q->allocated;
}

/*
 * Caller holds free_lock. @n buffers (or reservations) that total counted
 * are gone for good, their memory already freed.
 * Return: true if the caller must release a queue from bufq_create(); it
 * must not touch @q after dropping free_lock otherwise.
 */
static bool __bufq_uncount(struct bufq *q, unsigned int n)
{
	q->total -= n;
	q->pending -= n;
	return __bufq_releasable(q);
}

/* Release a dead, drained queue from bufq_create(), from any context. */
static void bufq_release(struct bufq *q)
{
	queue_work(bufq_wq, &q->release_work);
}

/* Caller holds free_lock and made @n buffers free, or room to grow. */
static void __bufq_wake_fetchers(struct bufq *q, unsigned int n)
{
	/*
	 * No barrier: a waiter queues itself on free_wait before it tests
	 * its condition under free_lock (bufq_fetchable()), and we change
	 * the state under free_lock before testing free_wait.
	 */
	while (n-- && swait_active(&q->free_wait))
		swake_up_one(&q->free_wait);
}

/* Caller holds work_lock: as __bufq_wake_fetchers(), for the consumers. */
static void __bufq_wake_consumers(struct bufq *q, unsigned int n)
{
	while (n-- && swait_active(&q->work_wait))
		swake_up_one(&q->work_wait);
}

/*
 * Must this context leave freeing memory and taking a spinlock_t (a wait
 * queue's) to an irq_work? In hard IRQ context, and on PREEMPT_RT also
 * with preemption off (under a raw spinlock, interrupts disabled): the
 * page allocator's and wait queues' locks sleep there.
 */
static bool bufq_ctx_atomic(void)
{
	return in_hardirq() || (IS_ENABLED(CONFIG_PREEMPT_RT) && !preemptible());
}

/*
 * Wake poll waiters, after a change made under a lock the caller dropped
 * on a queue that was not dead then. No barrier: the poller adds itself to
 * poll_wait before it takes that lock to test the state (bufq_poll()), so
 * either its test follows our unlock and sees the change, or our lock
 * followed its unlock and this test sees it queued. The wait queue's lock
 * is a spinlock_t: not in hard IRQ.
 */
static void bufq_wake_poll(struct bufq *q)
{
	/* Ordered by the caller's lock: see above. */
	if (!waitqueue_active(&q->poll_wait))
		return;
	if (!bufq_ctx_atomic()) {
		wake_up(&q->poll_wait);
		return;
	}
	set_bit(0, &q->defer_wake);
	irq_work_queue(&q->defer_work);
}

/* Caller holds free_lock. Would freeing a buffer keep buffer_count? */
static bool __bufq_may_shrink(const struct bufq *q)
{
	return q->total - q->pending > q->buffer_count;
}

/* Caller holds free_lock. Tell the caches what they refuse now. */
static void __bufq_gate(struct bufq *q)
{
	unsigned long flags = 0;

	if (q->dead)
		flags = BUFQ_PC_FLAGS;
	if (__bufq_may_shrink(q))
		flags |= BUFQ_PC_NOPUSH;
	if (q->total - q->nr_free > q->high_water)
		flags |= BUFQ_PC_NOPOP;
	if (flags != q->pcpu_flags)
		__bufq_pc_flag(q, flags);
}

/*
 * Caller holds free_lock and just took a buffer out of the producer stack
 * or a cache: raise the high-water mark. The buffers out of the stack (in
 * use or cached) bound those in use; only when they exceed the mark are
 * the caches counted, fast fetches stopped first, so that while we count
 * them they only grow (reuses) and the count is one the queue had.
 */
static void __bufq_note_use(struct bufq *q)
{
	unsigned int out = q->total - q->nr_free;

	if (out <= q->high_water)
		return;
	if (!(q->pcpu_flags & BUFQ_PC_NOPOP))
		__bufq_pc_flag(q, q->pcpu_flags | BUFQ_PC_NOPOP);
	q->high_water = max(q->high_water, out - bufq_cached(q));
}

/*
 * Caller holds free_lock (interrupts off) and found this CPU's cache and
 * the producer stack empty: take a buffer from another CPU's cache, and
 * the rest of that cache into this CPU's, if it may take them.
 */
static bool __bufq_steal(struct bufq *q, struct bufq_buf **b)
{
	struct bufq_pcpu *own = this_cpu_ptr(q->pcpu), *pc;
	struct bufq_buf *bufs[BUFQ_PC_MAX] __uninitialized;
	unsigned int n, max = 1;
	int cpu;

	if (!READ_ONCE(own->busy) && !(q->pcpu_flags & BUFQ_PC_NOPUSH))
		max = q->pcpu_max;	/* it is empty: the rest fits */
	for_each_possible_cpu(cpu) {
		pc = per_cpu_ptr(q->pcpu, cpu);
		if (pc == own || !(READ_ONCE(pc->word) & BUFQ_PC_COUNT))
			continue;
		n = bufq_pc_pop(pc, bufs, max, 0);
		if (!n)
			continue;
		*b = bufs[0];
		if (n > 1)
			WARN_ON_ONCE(bufq_pc_push(q, own, bufs + 1, n - 1) !=
				     n - 1);
		return true;
	}
	return false;
}

/*
 * Caller holds free_lock and took a buffer from the producer stack: move
 * up to half a cache more into this CPU's, if that leaves the buffers out
 * of the stack within the high-water mark (so fetches stay fast).
 */
static void __bufq_refill(struct bufq *q)
{
	struct bufq_pcpu *own = this_cpu_ptr(q->pcpu);
	unsigned int out = q->total - q->nr_free, n, k;

	if (out >= q->high_water || READ_ONCE(own->busy))
		return;
	n = min3(q->nr_free, q->pcpu_max / 2, q->high_water - out);
	k = bufq_pc_push(q, own, q->free_bufs + q->nr_free - n, n);
	/* The cache took the lower @k of the top @n: close the gap. */
	memmove(q->free_bufs + q->nr_free - n, q->free_bufs + q->nr_free - n + k,
		(n - k) * sizeof(*q->free_bufs));
	q->nr_free -= k;
}

/*
 * Caller holds free_lock; the queue is dead (NOPUSH, NOPOP). Take every
 * cache's buffers, chained on @list. Return: how many.
 */
static unsigned int __bufq_pc_drain(struct bufq *q, struct llist_head *list)
{
	struct bufq_buf *bufs[BUFQ_PC_MAX] __uninitialized;
	unsigned int n, i, total = 0;
	int cpu;

	for_each_possible_cpu(cpu) {
		while ((n = bufq_pc_pop(per_cpu_ptr(q->pcpu, cpu), bufs,
					BUFQ_PC_MAX, 0))) {
			for (i = 0; i < n; i++)
				llist_add(&bufs[i]->lnode, list);
			total += n;
		}
	}
	return total;
}

/*
 * Caller holds free_lock and owns @b, which is on no list. Put it on the
 * producer list, or, past buffer_count (lookaside shrink) or on a dead
 * queue, count it as pending and return false: the caller drops it.
 */
static bool __bufq_keep(struct bufq *q, struct bufq_buf *b)
{
	if (unlikely(q->dead || __bufq_may_shrink(q))) {
		q->pending++;	/* still counted until freed */
		__bufq_index_del(q, b);
		trace_bufq_reuse(q, b->data, false);
		return false;
	}
	/* Room: nr_free < total - pending <= buffer_count, as b is counted. */
	bufq_set_state(q, b, BUFQ_STATE_FREE);
	q->free_bufs[q->nr_free++] = b;
	trace_bufq_reuse(q, b->data, true);
	return true;
}

/* Free buffers, counted as pending, and uncount them: not in hard IRQ. */
static void bufq_free_now(struct bufq *q, struct llist_node *list)
{
	struct bufq_buf *b, *tmp;
	unsigned int n = 0;
	unsigned long flags;
	bool release, dead;

	llist_for_each_entry_safe(b, tmp, list, lnode) {
		bufq_mem_free(q, b);
		n++;
	}
	raw_spin_lock_irqsave(&q->free_lock, flags);
	__bufq_wake_fetchers(q, n);	/* room to grow */
	dead = q->dead;
	release = __bufq_uncount(q, n);
	if (!release)
		__bufq_gate(q);		/* may have shrunk to buffer_count */
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	if (release)
		bufq_release(q);
	/*
	 * Room to grow is EPOLLOUT too. Not hard IRQ: see the callers. The
	 * test is ordered by free_lock, as in bufq_wake_poll().
	 */
	else if (!dead && waitqueue_active(&q->poll_wait))
		wake_up(&q->poll_wait);
}

/*
 * Caller holds free_lock. Buffers [@first..@last] that __bufq_keep()
 * refused: if this context may not free them (bufq_ctx_atomic()), leave
 * them to the irq_work, which runs threaded on PREEMPT_RT. Queued under
 * the lock, so that the irq_work cannot uncount them, and the queue be
 * released, before it is queued (irq_work_sync() then waits for it).
 * Return: true if deferred; else the caller frees them after unlocking.
 */
static bool __bufq_defer(struct bufq *q, struct llist_node *first,
			 struct llist_node *last)
{
	if (!bufq_ctx_atomic()) {
		last->next = NULL;
		return false;
	}
	llist_add_batch(first, last, &q->defer_free);
	irq_work_queue(&q->defer_work);
	return true;
}

static void bufq_defer_fn(struct irq_work *work)
{
	struct bufq *q = container_of(work, struct bufq, defer_work);
	struct llist_node *list;

	if (test_and_clear_bit(0, &q->defer_wake))
		wake_up(&q->poll_wait);
	list = llist_del_all(&q->defer_free);
	if (list)
		bufq_free_now(q, list);
}

static struct llist_node *bufq_lnode(struct bufq_buf *b)
{
	return &b->lnode;
}

static void bufq_cleanup(struct bufq *q, struct bufq_buf *b)
{
	if (q->reuse_cleanup)
		q->reuse_cleanup(q, b->data, bufq_ctx_of(q, b));
}

/* What a return of buffers to the producer list did. */
struct bufq_put {
	unsigned int kept;
	struct llist_node *first, *last;	/* refused by __bufq_keep() */
	bool deferred, dead;
};

/* Caller holds free_lock: __bufq_keep(), chaining what it refuses. */
static void __bufq_keep_or_drop(struct bufq *q, struct bufq_buf *b,
				struct bufq_put *p)
{
	if (__bufq_keep(q, b)) {
		p->kept++;
		return;
	}
	bufq_lnode(b)->next = p->first;
	p->first = bufq_lnode(b);
	p->last = p->last ?: p->first;
}

/* Caller holds free_lock and is done with __bufq_keep_or_drop(). */
static void __bufq_put_done(struct bufq *q, struct bufq_put *p)
{
	__bufq_wake_fetchers(q, p->kept);
	if (p->first)
		p->deferred = __bufq_defer(q, p->first, p->last);
	__bufq_gate(q);
	p->dead = q->dead;
}

/* After __bufq_put_done(), free_lock dropped: wake pollers, free. */
static void bufq_put_finish(struct bufq *q, struct bufq_put *p)
{
	if (p->kept && !p->dead)
		bufq_wake_poll(q);
	if (p->first && !p->deferred)
		bufq_free_now(q, p->first);
}

/* Return buffers the caller owns, cleanup done, to the producer list. */
static void bufq_put_free_list(struct bufq *q, struct list_head *list)
{
	struct bufq_buf *b, *tmp;
	struct bufq_put p = { };
	unsigned long flags;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	list_for_each_entry_safe(b, tmp, list, node)
		__bufq_keep_or_drop(q, b, &p);
	__bufq_put_done(q, &p);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	bufq_put_finish(q, &p);
}

/*
 * Return @n buffers the caller owns, cleanup done, that this CPU's cache
 * refused, to the producer list, with half the cache: it may be full.
 */
static noinline void bufq_put_free_slow(struct bufq *q, struct bufq_buf **bufs,
					unsigned int n)
{
	struct bufq_buf *half[BUFQ_PC_MAX / 2] __uninitialized;
	struct bufq_put p = { };
	unsigned long flags;
	unsigned int k, i;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	/* Under the lock, as __bufq_note_use() counts the caches under it. */
	k = bufq_pc_pop(this_cpu_ptr(q->pcpu), half, q->pcpu_max / 2, 0);
	for (i = 0; i < k; i++)
		__bufq_keep_or_drop(q, half[i], &p);
	for (i = 0; i < n; i++)
		__bufq_keep_or_drop(q, bufs[i], &p);
	__bufq_put_done(q, &p);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	bufq_put_finish(q, &p);
}

/* bufq_wake_cached() when someone waits: out of line, as bufq_wake_pend(). */
static noinline void bufq_wake_cached_slow(struct bufq *q, unsigned int n)
{
	unsigned long flags;
	bool dead;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	__bufq_wake_fetchers(q, n);
	dead = q->dead;
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	if (!dead)
		bufq_wake_poll(q);
}

/*
 * Wake fetchers for @n buffers a reuse put in a cache. Our cmpxchg in
 * bufq_pc_push() is a full barrier before these tests: it pairs with the
 * one a sleeper makes between queueing itself and testing the caches
 * (set_current_state() in bufq_wait_take()), and with bufq_poll()'s.
 */
static __always_inline void bufq_wake_cached(struct bufq *q, unsigned int n)
{
	/* Ordered by bufq_pc_push()'s cmpxchg: see above. */
	if (unlikely(waitqueue_active(&q->poll_wait) ||
		     swait_active(&q->free_wait)))
		bufq_wake_cached_slow(q, n);
}

/* Return buffers the caller owns, cleanup done and FREE, to the queue. */
static __always_inline void bufq_put_free(struct bufq *q, struct bufq_buf **bufs,
					  unsigned int n)
{
	unsigned int k = 0;

	if (!trace_bufq_reuse_enabled()) {
		k = bufq_pc_put(q, bufs, n);
	} else {	/* one at a time: each event sees the count after it */
		while (k < n && bufq_pc_put(q, bufs + k, 1))
			trace_bufq_reuse(q, bufs[k++]->data, true);
	}
	if (k)
		bufq_wake_cached(q, k);
	if (unlikely(k < n))
		bufq_put_free_slow(q, bufs + k, n - k);
}

/*
 * bufq_put_free() of one buffer. @b's address, which the slow path needs,
 * is taken here, so that bufq_reuse() carries no stack canary.
 */
static noinline void bufq_put_one_slow(struct bufq *q, struct bufq_buf *b)
{
	bufq_put_free(q, &b, 1);
}

/* bufq_put_free() of one buffer: the cache, or bufq_put_one_slow(). */
static __always_inline void bufq_put_free_one(struct bufq *q,
					      struct bufq_buf *b)
{
	struct bufq_buf *one[1] = { b };

	if (likely(!trace_bufq_reuse_enabled() && bufq_pc_put(q, one, 1))) {
		bufq_wake_cached(q, 1);
		return;
	}
	bufq_put_one_slow(q, b);
}

static int bufq_check_config(const struct bufq_config *cfg)
{
	if (!cfg || (!cfg->buffer_count && !cfg->lookaside) ||
	    (cfg->max_buffers && cfg->max_buffers < cfg->buffer_count))
		return -EINVAL;
	/* A mapping has a size: indices need a cap, data areas a size. */
	if (cfg->mappable && (!cfg->buffer_size ||
			      (cfg->lookaside && !cfg->max_buffers)))
		return -EINVAL;
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
	/* Buffers live in the direct map, in pages bufq tags one by one. */
	q->gfp = (cfg->gfp ?: GFP_ATOMIC) & ~(__GFP_HIGHMEM | __GFP_COMP);
	if (cfg->account)
		q->gfp |= __GFP_ACCOUNT;
	q->reuse_cleanup = cfg->reuse_cleanup;
	q->priv = cfg->priv;
	q->allocated = false;
	q->memcg = NULL;
	q->free_bufs = NULL;
	q->name = NULL;
	q->slots = NULL;
	q->free_slots = NULL;
	q->nr_slots = 0;
	q->nr_free_slots = 0;
	init_irq_work(&q->defer_work, bufq_defer_fn);
	init_llist_head(&q->defer_free);
	q->defer_wake = 0;
	INIT_WORK(&q->release_work, bufq_release_work);
	init_waitqueue_head(&q->poll_wait);
	raw_spin_lock_init(&q->mem_lock);
	INIT_LIST_HEAD(&q->partial);
	q->mem_bytes = 0;

	raw_spin_lock_init(&q->free_lock);
	q->nr_free = 0;
	q->total = 0;
	q->pending = 0;
	q->users = 1;		/* the creator's, dropped by destroy */
	q->high_water = 0;
	q->dead = false;
	q->grown = 0;
	atomic_long_set(&q->fetch_failed, 0);
	atomic_long_set(&q->wakeups, 0);
	init_swait_queue_head(&q->free_wait);

	raw_spin_lock_init(&q->work_lock);
	INIT_LIST_HEAD(&q->work_list);
	q->nr_queued = 0;
	init_swait_queue_head(&q->work_wait);
	q->timed = RB_ROOT_CACHED;
	q->nr_timed = 0;
	q->expiry_max_ns = 0;
}

static void bufq_timer_fire(struct timer_list *t);

/* Put buffer_count new buffers on the empty producer list. */
static int bufq_fill(struct bufq *q, gfp_t gfp)
{
	struct bufq_buf *b;

	for (; q->total < q->buffer_count; q->total++) {
		b = bufq_mem_alloc(q, gfp);
		if (!b)
			goto fail;
		/* Not shared yet: no lock. */
		__bufq_index_put(rcu_dereference_protected(q->index, true),
				 (unsigned long)b->data);
		bufq_set_state(q, b, BUFQ_STATE_FREE);
		q->free_bufs[q->nr_free++] = b;
	}
	return 0;

fail:
	while (q->nr_free)
		bufq_mem_free(q, q->free_bufs[--q->nr_free]);
	q->total = 0;
	return -ENOMEM;
}

/* Allocate what the queue needs besides itself; charged to q->memcg. */
/* What bufq_alloc_fields() makes that bufq_free_fields() leaves. */
static void bufq_free_own(struct bufq *q)
{
	free_percpu(q->pcpu);
	/* No reader is left: the queue is unused or gone. */
	kfree(rcu_dereference_protected(q->index, true));
}

static int bufq_alloc_fields(struct bufq *q, const struct bufq_config *cfg,
			     gfp_t gfp)
{
	int ret;

	q->name = kasprintf(gfp, "%s-%d", cfg->name ?: "bufq",
			    atomic_inc_return(&bufq_ids));
	q->free_bufs = kmalloc_array(cfg->buffer_count, sizeof(*q->free_bufs),
				     gfp);
	if (!q->name || (!q->free_bufs && cfg->buffer_count) ||
	    bufq_mem_slots_init(q, gfp))
		return -ENOMEM;
	q->pcpu_max = min(cfg->buffer_count, BUFQ_PC_MAX);
	q->pcpu_flags = 0;
	q->pend = NULL;
	q->pend_taken = 0;
	q->taken = NULL;
	q->head_word = 0;
	q->head_direct = NULL;
	q->head_cpu = -1;	/* no dequeue yet */
	q->pcpu = __alloc_percpu_gfp(sizeof(struct bufq_pcpu) +
				     q->pcpu_max * sizeof(struct bufq_buf *),
				     __alignof__(struct bufq_pcpu), gfp);
	RCU_INIT_POINTER(q->index, bufq_index_alloc(q, cfg->buffer_count, gfp));
	ret = q->pcpu && rcu_access_pointer(q->index) ? bufq_fill(q, gfp) :
							-ENOMEM;
	if (ret)
		bufq_free_own(q);	/* bufq_free_fields() leaves them */
	return ret;
}

/* All bufq_init() made but the buffers, which are all gone. */
static void bufq_free_all(struct bufq *q)
{
	bufq_free_own(q);
	bufq_free_fields(q);
}

/**
 * bufq_init - initialize a queue embedded in a caller's structure
 * @q: the queue to initialize
 * @cfg: its configuration; not referenced after return
 *
 * Makes @cfg->buffer_count buffers with GFP_KERNEL and puts them on the
 * producer list. Undo with bufq_exit(). With @cfg->account, everything the
 * queue allocates, now and later, is charged to the calling task's memory
 * cgroup.
 *
 * Context: process context; may sleep.
 * Return: 0; -EINVAL for a @cfg that cannot work (no buffers and no
 * lookaside, or max_buffers below buffer_count); -E2BIG if a buffer would
 * need more than KMALLOC_MAX_SIZE of contiguous memory; -ENOMEM when out
 * of memory.
 */
int bufq_init(struct bufq *q, const struct bufq_config *cfg)
{
	struct mem_cgroup *old;
	gfp_t gfp = GFP_KERNEL;
	int ret;

	ret = bufq_check_config(cfg);
	if (!ret)
		ret = bufq_mem_layout(q, cfg);
	if (ret)
		return ret;
	bufq_init_fields(q, cfg);
	timer_setup(&q->timer, bufq_timer_fire, 0);
	if (cfg->account) {
		gfp |= __GFP_ACCOUNT;
		q->memcg = get_mem_cgroup_from_mm(current->mm);
	}

	old = set_active_memcg(q->memcg);
	ret = bufq_alloc_fields(q, cfg, gfp);
	set_active_memcg(old);
	if (ret) {
		bufq_free_fields(q);
		return ret;
	}
	bufq_debugfs_add(q);
	trace_bufq_create(q);
	return 0;
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

	q = kzalloc(sizeof(*q), GFP_KERNEL |
		    (cfg && cfg->account ? __GFP_ACCOUNT : 0));
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

/**
 * bufq_get - take a reference on a queue
 * @q: the queue; the caller already holds a reference or is the creator
 *	and has not destroyed it yet
 *
 * A reference keeps @q valid across bufq_destroy(): calls made with it
 * during or after destruction fail with -ESHUTDOWN (or, for reuse and
 * flush, do their work) instead of touching freed memory. Drop it with
 * bufq_put().
 *
 * Context: any.
 */
void bufq_get(struct bufq *q)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	q->users++;
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
}
EXPORT_SYMBOL_GPL(bufq_get);

/**
 * bufq_put - drop a reference taken by bufq_get()
 * @q: the queue
 *
 * The last reference of a destroyed queue with no buffer held releases
 * it (from a workqueue); @q must not be used after this call.
 *
 * Context: any.
 */
void bufq_put(struct bufq *q)
{
	unsigned long flags;
	bool release;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	q->users--;
	release = __bufq_releasable(q);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	if (release)
		bufq_release(q);
}
EXPORT_SYMBOL_GPL(bufq_put);

/*
 * Stop the queue: refuse new work, hand queued buffers to reuse_cleanup,
 * free the free ones, stop the timer and wake every waiter. The caller
 * still holds the creator's reference.
 */
static void bufq_shutdown(struct bufq *q)
{
	struct bufq_buf **bufs = q->free_bufs, *b, *tmp;
	struct llist_head cached;
	unsigned int n, nf, i;
	unsigned long flags;

	trace_bufq_destroy(q);
	bufq_debugfs_remove(q);
	init_llist_head(&cached);
	raw_spin_lock_irqsave(&q->free_lock, flags);
	WRITE_ONCE(q->dead, true);
	__bufq_gate(q);		/* the caches refuse pushes and pops now */
	nf = q->nr_free;	/* free_bufs[0..nf) are ours now */
	WRITE_ONCE(q->nr_free, 0);
	n = nf + __bufq_pc_drain(q, &cached);
	q->pending += n;
	for (i = 0; i < nf; i++)
		__bufq_index_del(q, bufs[i]);
	llist_for_each_entry(b, cached.first, lnode)
		__bufq_index_del(q, b);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);

	/*
	 * Its flush leaves pend dead, and the locked enqueues test dead:
	 * nothing is queued after this.
	 */
	bufq_flush(q);
	timer_shutdown_sync(&q->timer);
	for (i = 0; i < nf; i++)
		bufq_mem_free(q, bufs[i]);
	llist_for_each_entry_safe(b, tmp, cached.first, lnode)
		bufq_mem_free(q, b);

	raw_spin_lock_irqsave(&q->free_lock, flags);
	q->total -= n;
	q->pending -= n;
	raw_spin_unlock_irqrestore(&q->free_lock, flags);

	swake_up_all(&q->free_wait);
	swake_up_all(&q->work_wait);
	wake_up_all(&q->poll_wait);
	irq_work_sync(&q->defer_work);
}

/* Drop the creator's reference. Return: true if the queue may go now. */
static bool bufq_put_creator(struct bufq *q)
{
	unsigned long flags;
	bool idle;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	q->users--;
	idle = !q->total && !q->users;
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	return idle;
}

static bool bufq_drained(struct bufq *q)
{
	unsigned long flags;
	bool drained;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	drained = !q->total && !q->users;
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	return drained;
}

/**
 * bufq_exit - tear down a queue made by bufq_init()
 * @q: the queue
 *
 * Queued buffers go through reuse_cleanup and are freed with the free
 * ones. Fetches and dequeues fail with -ESHUTDOWN from now on (a fetch
 * that was already growing the queue may still succeed); tasks asleep in
 * bufq_fetch_wait() or bufq_dequeue_wait() are woken. Then waits,
 * uninterruptibly and without bound, until every buffer the client holds
 * is handed back (by bufq_reuse(), or bufq_enqueue() failing and then
 * bufq_reuse()) and every reference from bufq_get() is dropped.
 *
 * Context: process context; sleeps. No poll table may still reference
 * the queue (call it from the file's release, not before).
 */
void bufq_exit(struct bufq *q)
{
	bufq_shutdown(q);
	if (!bufq_put_creator(q))
		swait_event_idle_exclusive(q->free_wait, bufq_drained(q));
	/* The last hand-in may have been the irq_work's: let it finish. */
	irq_work_sync(&q->defer_work);
	bufq_free_all(q);
}
EXPORT_SYMBOL_GPL(bufq_exit);

/**
 * bufq_destroy - tear down a queue made by bufq_create()
 * @q: the queue, or NULL
 *
 * Like bufq_exit(), but does not wait: buffers still held by the client
 * and references from bufq_get() keep the queue alive, and the last one
 * handed back or dropped frees it. Without a reference, @q must not be
 * used after this call but to hand those buffers back, and no call on @q
 * may run concurrently with it.
 *
 * Context: process context; may sleep.
 */
void bufq_destroy(struct bufq *q)
{
	if (!q)
		return;
	bufq_shutdown(q);
	if (bufq_put_creator(q)) {
		/* The last hand-in may have been the irq_work's. */
		irq_work_sync(&q->defer_work);
		bufq_free_all(q);
		kfree(q);
	}
}
EXPORT_SYMBOL_GPL(bufq_destroy);

/*
 * Caller holds free_lock. May a fetch make a new buffer? @atomic: the
 * caller's bufq_ctx_atomic(), taken before the lock; on PREEMPT_RT the
 * page allocator's locks sleep in such a context.
 */
static bool __bufq_may_grow(const struct bufq *q, bool atomic)
{
	if (!q->lookaside || (q->max_buffers && q->total >= q->max_buffers))
		return false;
	return !(IS_ENABLED(CONFIG_PREEMPT_RT) && atomic);
}

/*
 * Caller holds free_lock. Take a free buffer: from this CPU's cache, the
 * producer stack or another CPU's cache; or reserve room for a new one
 * (*b stays NULL, total already counts it). The caller calls __bufq_gate()
 * before it drops the lock.
 */
static int __bufq_take_free(struct bufq *q, struct bufq_buf **b, bool atomic)
{
	if (unlikely(q->dead))
		return -ESHUTDOWN;
	*b = NULL;
	if (bufq_pc_pop(this_cpu_ptr(q->pcpu), b, 1, 0)) {
		/* a cache's: NOPOP sent it here to be counted */
	} else if (q->nr_free) {
		*b = q->free_bufs[--q->nr_free];
		__bufq_refill(q);
	} else if (__bufq_steal(q, b)) {
		/* from another CPU's cache */
	} else if (__bufq_may_grow(q, atomic)) {
		q->total++;	/* reserved: see bufq_grow() */
		q->pending++;
	} else {
		return -ENOBUFS;
	}
	if (*b)
		trace_bufq_fetch(q, (*b)->data, 0, false);
	__bufq_note_use(q);
	return 0;
}

/* Fill a reservation made by __bufq_take_free(). */
static struct bufq_buf *bufq_grow(struct bufq *q)
{
	bool release = false, dead = false, indexed = bufq_index_reserve(q);
	struct bufq_buf *b = indexed ? bufq_mem_alloc(q, q->gfp) : NULL;
	unsigned long flags;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	if (indexed)
		__bufq_index_fill(q, b);
	if (b) {
		q->pending--;
		q->grown++;
		trace_bufq_fetch(q, b->data, 0, true);
	} else {
		release = __bufq_uncount(q, 1);
		__bufq_wake_fetchers(q, 1);	/* the reservation is free again */
		dead = q->dead;
	}
	if (!release)
		__bufq_gate(q);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	if (release)
		bufq_release(q);
	else if (!b && !dead)
		bufq_wake_poll(q);
	return b;
}

/* A fetch failed with @err: no buffer, and none could be made. */
static void bufq_count_failure(struct bufq *q, int err)
{
	atomic_long_inc(&q->fetch_failed);
	trace_bufq_fetch(q, NULL, err, err == -ENOMEM);
}

/* bufq_take_free_buf() when this CPU's cache has nothing for it. */
static noinline struct bufq_buf *bufq_take_slow(struct bufq *q)
{
	bool atomic = bufq_ctx_atomic();
	struct bufq_buf *b = NULL;
	unsigned long flags;
	int ret;

	/*
	 * Fail without the lock when nothing is free, in the producer stack
	 * or any cache, and nothing may grow.
	 */
	if (!READ_ONCE(q->nr_free) && !bufq_cached(q) &&
	    (!q->lookaside ||
	     (q->max_buffers && READ_ONCE(q->total) >= q->max_buffers)))
		return ERR_PTR(READ_ONCE(q->dead) ? -ESHUTDOWN : -ENOBUFS);
	raw_spin_lock_irqsave(&q->free_lock, flags);
	ret = __bufq_take_free(q, &b, atomic);
	__bufq_gate(q);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	if (ret)
		return ERR_PTR(ret);
	if (!b) {
		b = bufq_grow(q);
		if (!b)
			return ERR_PTR(-ENOMEM);
	}
	bufq_set_state(q, b, BUFQ_STATE_HELD);
	return b;
}

/* A buffer the caller holds now: its areas to the caller. */
static __always_inline void bufq_hand_out(struct bufq *q, struct bufq_buf *b,
					  void **buf, void **ctx)
{
	*buf = b->data;
	if (ctx)
		*ctx = bufq_ctx_of(q, b);
}

/*
 * bufq_take_free_buf() when its events are traced or this CPU's cache has
 * nothing for it: out of line, so that the fast path saves no registers.
 * @count: count a failure (bufq_fetch(); a fetch that waits does not).
 */
static noinline int bufq_take_free_slow(struct bufq *q, void **buf,
					void **ctx, bool count)
{
	struct bufq_buf *b;
	int ret;

	if (bufq_pc_pop(raw_cpu_ptr(q->pcpu), &b, 1, BUFQ_PC_NOPOP)) {
		trace_bufq_fetch(q, b->data, 0, false);
		bufq_set_state(q, b, BUFQ_STATE_HELD);
	} else {
		b = bufq_take_slow(q);
		if (IS_ERR(b)) {
			ret = PTR_ERR(b);
			if (count && ret != -ESHUTDOWN)
				bufq_count_failure(q, ret);
			return ret;
		}
	}
	bufq_hand_out(q, b, buf, ctx);
	return 0;
}

/* Take a free buffer, held by the caller now; @count: as above. */
static __always_inline int __bufq_take_free_buf(struct bufq *q, void **buf,
						void **ctx, bool count)
{
	struct bufq_buf *b;

	/* Any CPU's cache would do: raw_cpu_ptr() needs no preemption off. */
	if (unlikely(trace_bufq_fetch_enabled()) ||
	    unlikely(!bufq_pc_pop(raw_cpu_ptr(q->pcpu), &b, 1, BUFQ_PC_NOPOP)))
		return bufq_take_free_slow(q, buf, ctx, count);
	bufq_set_state(q, b, BUFQ_STATE_HELD);
	bufq_hand_out(q, b, buf, ctx);
	return 0;
}

/* The fetch side's take for bufq_wait_take(): counts no failure. */
static int bufq_take_free_buf(struct bufq *q, void **buf, void **ctx)
{
	return __bufq_take_free_buf(q, buf, ctx, false);
}

/**
 * bufq_fetch - take a free buffer
 * @q: the queue
 * @buf: set to the buffer's data area
 * @ctx: set to the buffer's context area; may be NULL
 *
 * Takes the head of the producer list. If it is empty and the queue has
 * lookaside, allocates a new buffer with the configured gfp mask, unless
 * the queue already has max_buffers (or, on PREEMPT_RT, the caller is in
 * hard IRQ context).
 *
 * Context: any, if the configured gfp mask does not sleep.
 * Return: 0; -ENOBUFS if no buffer is free and none may be made;
 * -ENOMEM if making one failed; -ESHUTDOWN once the queue is being
 * destroyed.
 */
int bufq_fetch(struct bufq *q, void **buf, void **ctx)
{
	return __bufq_take_free_buf(q, buf, ctx, true);
}
EXPORT_SYMBOL_GPL(bufq_fetch);

/* Would a fetch find or make a buffer, or fail for good? */
static bool bufq_fetchable(struct bufq *q)
{
	unsigned long flags;
	bool ret;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	ret = q->dead || q->nr_free || bufq_cached(q) ||
	      __bufq_may_grow(q, false);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);
	return ret;
}

/* Caller holds work_lock. */
static void __bufq_arm(struct bufq *q, struct bufq_timed *t);

/* Caller holds work_lock. @t is armed: take it out of the tree. */
static void __bufq_disarm(struct bufq *q, struct bufq_timed *t)
{
	rb_erase_cached(&t->node, &q->timed);
	t->armed = false;
	q->nr_timed--;
}

/* Caller holds work_lock. @b is HELD by the caller and becomes QUEUED. */
static void __bufq_queue(struct bufq *q, struct bufq_buf *b, bool at_head,
			 struct bufq_timed *t)
{
	if (at_head)
		list_add(&b->node, &q->work_list);
	else
		list_add_tail(&b->node, &q->work_list);
	WRITE_ONCE(q->nr_queued, q->nr_queued + 1);
	if (t)
		__bufq_arm(q, t);
	trace_bufq_enqueue(q, b->data, at_head, t, t ? t->msecs : 0);
}

/* Caller holds work_lock. @b is QUEUED and becomes HELD. */
static void __bufq_unqueue(struct bufq *q, struct bufq_buf *b)
{
	struct bufq_timed *t;

	list_del(&b->node);
	WRITE_ONCE(q->nr_queued, q->nr_queued - 1);
	bufq_set_state(q, b, BUFQ_STATE_HELD);
	if (q->with_timer) {
		t = bufq_timed_of(q, b);
		if (t->armed)
			__bufq_disarm(q, t);
	}
}

/*
 * The consumer list's tail, without a lock: an enqueue at the tail pushes
 * the buffer on q->pend (a stack, newest first) with one cmpxchg; a
 * consumer, under work_lock, takes the whole stack with one xchg when
 * work_list and taken are empty, reverses it and keeps it, oldest first,
 * as q->taken, a chain of buffers on no list_head (__bufq_take_next()):
 * the consumer list is work_list, then taken, then pend, and a dequeue of
 * what the producer pushed costs no list operation. An operation that
 * needs work_list in order (at-head and timed enqueue, flush, enumerate)
 * lists taken and pend first (__bufq_settle()). The queue's destroy leaves
 * BUFQ_PEND_DEAD there, after which an enqueue fails: so nothing is
 * queued after its flush. The number queued is nr_queued plus the pushes
 * (counted per CPU) less what consumers took (pend_taken).
 */
#define BUFQ_PEND_DEAD	((struct llist_node *)1UL)

/*
 * Push the chain @first..@last of @n buffers, newest first, on pend.
 * Context: any. Return: false, and nothing pushed, if the queue is dead.
 */
static __always_inline bool bufq_pend_push(struct bufq *q,
					   struct llist_node *first,
					   struct llist_node *last,
					   unsigned int n)
{
	struct llist_node *head = READ_ONCE(q->pend);

	do {
		if (unlikely(head == BUFQ_PEND_DEAD)) {
			last->next = NULL;	/* the chain is the caller's */
			return false;
		}
		last->next = head;
		/* Full barrier: pairs with the xchg in __bufq_grab_pend(). */
	} while (!try_cmpxchg(&q->pend, &head, first));
	this_cpu_add(q->pcpu->enq, n);
	return true;
}

/* Has pend buffers for a consumer? Context: any, no lock. */
static bool bufq_pend_ready(const struct bufq *q)
{
	struct llist_node *head = READ_ONCE(q->pend);

	return head && head != BUFQ_PEND_DEAD;
}

/* Buffers on pend, exact when nothing enqueues or dequeues. */
static unsigned int bufq_pend_count(const struct bufq *q)
{
	unsigned long n = 0;
	long d;
	int cpu;

	for_each_possible_cpu(cpu)
		n += READ_ONCE(per_cpu_ptr(q->pcpu, cpu)->enq);
	d = n - READ_ONCE(q->pend_taken);
	return d > 0 ? d : 0;	/* a push counted after its take */
}

/*
 * Caller holds work_lock. Take pend whole, oldest first, as a chain in
 * @chain; on a dead queue, leave BUFQ_PEND_DEAD. Return: how many, for
 * the caller to add to nr_queued.
 */
static __always_inline unsigned int __bufq_grab_pend(struct bufq *q,
						     struct llist_node **chain)
{
	struct llist_node *leave = READ_ONCE(q->dead) ? BUFQ_PEND_DEAD : NULL;
	struct llist_node *n, *next, *old = NULL;
	unsigned int k = 0;

	*chain = NULL;
	if (READ_ONCE(q->pend) == leave)
		return 0;
	/* Full barrier: pairs with the cmpxchg in bufq_pend_push(). */
	n = xchg(&q->pend, leave);
	if (n == BUFQ_PEND_DEAD)
		return 0;
	for (; n; n = next, k++) {	/* reverse: oldest first */
		next = n->next;
		n->next = old;
		old = n;
	}
	*chain = old;
	WRITE_ONCE(q->pend_taken, q->pend_taken + k);
	return k;
}

/*
 * The consumer list's head (q->head_word, q->head_slot): up to
 * BUFQ_HEAD_MAX of the oldest taken buffers, which a dequeue pops with one
 * cmpxchg and no lock (bufq_head_pop_n(): the generation in the word makes
 * a pop that raced a refill fail). Only a holder of work_lock fills it from
 * taken, and only while work_list and the head are empty; whatever puts
 * buffers on work_list lists the head first (__bufq_settle()). So the
 * consumer list is work_list, the head, taken, then pend, and while the
 * head holds buffers, work_list is empty: a pop from it takes the oldest
 * queued.
 *
 * An enqueue at the tail that finds the whole consumer list empty puts
 * its buffer on the head itself (bufq_head_push()), so that the next
 * dequeue takes it without work_lock: DIRECT in the word says the head's
 * one buffer is in q->head_direct, which a producer claims with a cmpxchg
 * before it publishes it (so two producers never write one slot) and its
 * popper clears after it took it. A work_lock holder CLOSEs the head
 * before it takes pend or puts buffers on work_list or taken, and opens it
 * only when they are empty again (__bufq_head_open()): an open head means
 * that nothing queued is older than what a push puts on it, but pend.
 * A producer pushes on the head only if the consumer last ran on its CPU
 * (q->head_cpu): a consumer on another CPU is better served by pend,
 * which it takes in batches, than by a head that would move one buffer at
 * a time between the CPUs (measured: docs/benchmarks.md). The hint is
 * written only by a dequeue that takes a buffer under work_lock or pops
 * a pushed one, and only when it changes; never by one that finds
 * nothing, nor by flush or enumerate: consumers polling an empty queue
 * on several CPUs do not dirty its line.
 *
 * The word's flags share bits 8 and 9 with a per-CPU cache's NOPOP and
 * NOPUSH: the head has neither, a cache neither of these. On 32-bit, the
 * generation has 22 bits: a push or pop preempted between its read of
 * the word and its cmpxchg for 4M changes of it could succeed on a stale
 * read, as a per-CPU cache's pop could; 64-bit leaves 54.
 */
#define BUFQ_HEAD_DIRECT	BIT(8)	/* its one buffer is in head_direct */
#define BUFQ_HEAD_CLOSED	BIT(9)	/* no push: work_lock's holder's */
static_assert(BUFQ_HEAD_MAX <= BUFQ_PC_COUNT);
static_assert(BUFQ_HEAD_CLOSED < BUFQ_PC_GEN);
static_assert(!((BUFQ_HEAD_DIRECT | BUFQ_HEAD_CLOSED) & BUFQ_PC_COUNT));

static unsigned int bufq_head_count(const struct bufq *q)
{
	return READ_ONCE(q->head_word) & BUFQ_PC_COUNT;
}

/*
 * Put @b, QUEUED, on the head if the consumer list is empty: nothing on
 * work_list, taken, the head or pend, and no work_lock holder between
 * taking pend and listing what it took (it closed the head). Context:
 * any. Return: false, and nothing changed, if the caller must push on
 * pend instead.
 */
static __always_inline bool bufq_head_push(struct bufq *q, struct bufq_buf *b)
{
	struct bufq_buf *none = NULL;
	unsigned long w;

	/* Neither this nor pend is on the line of the head's word. */
	if (READ_ONCE(q->head_cpu) != raw_smp_processor_id())
		return false;	/* a consumer elsewhere: pend batches */
	/*
	 * Order is not needed here: a holder closes the head (a cmpxchg
	 * that bumps the generation) before it takes pend, so whatever
	 * this read sees, the cmpxchg of the word below fails if a holder
	 * took pend, or put buffers on work_list or taken, since @w.
	 */
	if (READ_ONCE(q->pend))
		return false;	/* older buffers queued, or a dead queue */
	w = READ_ONCE(q->head_word);
	if (w & (BUFQ_PC_COUNT | BUFQ_HEAD_CLOSED))
		return false;
	/* Another producer's, or its popper has not let it go yet. */
	if (!try_cmpxchg(&q->head_direct, &none, b))
		return false;
	/* Full barrier: pairs with the acquire in bufq_head_pop_n(). */
	if (likely(try_cmpxchg(&q->head_word, &w,
			       w + 1 + BUFQ_HEAD_DIRECT + BUFQ_PC_GEN)))
		return true;
	WRITE_ONCE(q->head_direct, NULL);	/* never published: ours */
	return false;
}

/* The consumer runs on this CPU: where bufq_head_push() pushes. A hint. */
static __always_inline void bufq_head_note_cpu(struct bufq *q)
{
	int cpu = raw_smp_processor_id();

	if (READ_ONCE(q->head_cpu) != cpu)
		WRITE_ONCE(q->head_cpu, cpu);
}

/*
 * Pop up to @n of the head, the oldest first, into @bufs; for a dequeue
 * (@take), a pushed buffer notes the consumer's CPU. One read of the word
 * tells a pushed buffer from a filled head. A pop of a filled head whose
 * cmpxchg fails and that then finds a pushed buffer returns 0: a dequeue
 * then sees it queued (bufq_queued_any()) and takes work_lock. With the
 * head closed no push succeeds, so a work_lock holder's pop takes all the
 * head holds, up to @n. Context: any. Return: how many; a pop that returns
 * 0 may still have written @bufs.
 */
static __always_inline unsigned int bufq_head_pop_n(struct bufq *q,
						    struct bufq_buf **bufs,
						    unsigned int n, bool take)
{
	unsigned long w;

	if (unlikely(!n))
		return 0;	/* the pushed one is not for a pop of none */
	/*
	 * Pairs with the cmpxchg of bufq_head_push() (the slot, then the
	 * word) and with the release of __bufq_head_fill() (slots, count).
	 */
	w = smp_load_acquire(&q->head_word);
	for (;;) {
		if (!(w & BUFQ_HEAD_DIRECT))
			return __bufq_mag_pop(&q->head_word, q->head_slot,
					      bufs, n, BUFQ_HEAD_DIRECT, w);
		bufs[0] = READ_ONCE(q->head_direct);
		if (try_cmpxchg(&q->head_word, &w,
				w - 1 - BUFQ_HEAD_DIRECT + BUFQ_PC_GEN))
			break;
		w = smp_load_acquire(&q->head_word);	/* as above */
	}
	/*
	 * Ours now: the next producer may claim the slot. Release: our read
	 * of it comes first; pairs with the claim's cmpxchg in
	 * bufq_head_push().
	 */
	smp_store_release(&q->head_direct, NULL);
	if (take)	/* a consumer elsewhere stops the pushes */
		bufq_head_note_cpu(q);
	return 1;
}

/* Caller holds work_lock: no push on the head until __bufq_head_open(). */
static void __bufq_head_close(struct bufq *q)
{
	unsigned long w = READ_ONCE(q->head_word);

	/* Fails bufq_head_push()'s cmpxchg of the word it read before. */
	while (!(w & BUFQ_HEAD_CLOSED) &&
	       !try_cmpxchg(&q->head_word, &w,
			    (w | BUFQ_HEAD_CLOSED) + BUFQ_PC_GEN))
		;
}

/*
 * Caller holds work_lock, as it drops it: reopen the head for pushes if
 * work_list and taken are empty (the head itself may still hold some).
 */
static void __bufq_head_open(struct bufq *q)
{
	unsigned long w = READ_ONCE(q->head_word);

	if (!list_empty(&q->work_list) || q->taken || READ_ONCE(q->dead))
		return;
	while ((w & BUFQ_HEAD_CLOSED) &&
	       !try_cmpxchg(&q->head_word, &w,
			    (w & ~BUFQ_HEAD_CLOSED) + BUFQ_PC_GEN))
		;
}

/*
 * Buffers on work_list, taken or the head? Context: any, no lock. A
 * buffer moving from taken to the head is seen in one of them: see
 * __bufq_head_fill().
 */
static bool bufq_queued_taken(const struct bufq *q)
{
	if (READ_ONCE(q->nr_queued))
		return true;
	smp_rmb();	/* pairs with the smp_wmb() in __bufq_head_fill() */
	return bufq_head_count(q);
}

/* Anything for a dequeue? Context: any, no lock. */
static bool bufq_queued_any(const struct bufq *q)
{
	return bufq_queued_taken(q) || bufq_pend_ready(q);
}

/* Pop the head's top, HELD by the caller now. Context: any, no lock. */
static __always_inline struct bufq_buf *bufq_head_pop(struct bufq *q)
{
	struct bufq_buf *b;

	/* A failed pop may have written @b: it is ours only on success. */
	if (!bufq_head_pop_n(q, &b, 1, true))
		return NULL;
	bufq_set_state(q, b, BUFQ_STATE_HELD);
	trace_bufq_dequeue(q, b->data);
	return b;
}

/*
 * Caller holds work_lock and closed the head; work_list is empty. If the
 * head is empty too, move the first BUFQ_HEAD_MAX of taken to it, the
 * oldest on top.
 */
static __always_inline void __bufq_head_fill(struct bufq *q)
{
	struct llist_node *n = q->taken, *p;
	unsigned int m = 0, i;
	unsigned long w;

	/* Closed, only pops change a head: an empty one stays so. */
	if (!n || bufq_head_count(q))
		return;
	for (p = n; p && m < BUFQ_HEAD_MAX; p = p->next)
		m++;
	for (i = m; i--; n = n->next)
		WRITE_ONCE(q->head_slot[i], llist_entry(n, struct bufq_buf, lnode));
	q->taken = n;
	w = READ_ONCE(q->head_word);	/* empty: no pop changes it */
	/* Slots, then count: pairs with the acquires of bufq_head_pop_n(). */
	smp_store_release(&q->head_word, w + m + BUFQ_PC_GEN);
	/* Counted in the head before no longer in nr_queued. */
	smp_wmb();	/* pairs with the smp_rmb() in bufq_queued_taken() */
	WRITE_ONCE(q->nr_queued, q->nr_queued - m);
}

/*
 * Pop up to @n buffers off the head, oldest first, HELD by the caller now,
 * their data areas in @bufs. Context: any, no lock. Return: how many.
 */
static __always_inline unsigned int bufq_head_take(struct bufq *q,
						   void **bufs, unsigned int n)
{
	/* Not zeroed on every call (INIT_STACK_ALL_ZERO): written first. */
	struct bufq_buf *got[BUFQ_HEAD_MAX] __uninitialized;
	unsigned int k, i;

	k = bufq_head_pop_n(q, got, min_t(unsigned int, n, BUFQ_HEAD_MAX),
			    true);
	for (i = 0; i < k; i++) {
		bufq_set_state(q, got[i], BUFQ_STATE_HELD);
		trace_bufq_dequeue(q, got[i]->data);
		bufs[i] = got[i]->data;
	}
	return k;
}

/*
 * Caller holds work_lock and closed the head. Put the head, in order, at
 * the tail of work_list.
 */
static void __bufq_head_list(struct bufq *q)
{
	struct bufq_buf *got[BUFQ_HEAD_MAX] __uninitialized;
	unsigned int k, i;

	k = bufq_head_pop_n(q, got, BUFQ_HEAD_MAX, false);
	for (i = 0; i < k; i++)
		list_add_tail(&got[i]->node, &q->work_list);
	WRITE_ONCE(q->nr_queued, q->nr_queued + k);
}

/* Caller holds work_lock. Put the chain @n at the tail of work_list. */
static void __bufq_list_chain(struct bufq *q, struct llist_node *n)
{
	struct llist_node *next;

	for (; n; n = next) {
		next = n->next;		/* lnode shares node's first word */
		list_add_tail(&llist_entry(n, struct bufq_buf, lnode)->node,
			      &q->work_list);
	}
}

/*
 * Caller holds work_lock. Put all that is queued on work_list, in order,
 * for an operation that needs the whole list: the head, taken, then pend.
 */
static void __bufq_settle(struct bufq *q)
{
	struct llist_node *chain;
	unsigned int k;

	__bufq_head_close(q);	/* until work_list and taken are empty again */
	__bufq_head_list(q);
	__bufq_list_chain(q, q->taken);
	q->taken = NULL;
	k = __bufq_grab_pend(q, &chain);
	WRITE_ONCE(q->nr_queued, q->nr_queued + k);
	__bufq_list_chain(q, chain);
}

/*
 * Caller holds work_lock and found work_list empty. Take the oldest
 * queued buffer, HELD by the caller now: with @head, the head's top (a
 * racing dequeue may have filled it, an enqueue pushed on it); else the
 * head of taken, or of pend, whose rest becomes taken, and with @head, the
 * head gets the first of that. Without @head, the caller closed the head
 * and found it empty, so it stays empty. Return: the buffer, or NULL.
 */
static __always_inline struct bufq_buf *__bufq_take_next(struct bufq *q,
							 bool head)
{
	struct llist_node *n;
	unsigned int k = 0;
	struct bufq_buf *b;

	if (head) {
		__bufq_head_close(q);	/* before we take pend */
		b = bufq_head_pop(q);
		if (unlikely(b))
			return b;
	}
	n = q->taken;
	if (!n) {
		k = __bufq_grab_pend(q, &n);
		if (!k)
			return NULL;
	}
	q->taken = n->next;
	WRITE_ONCE(q->nr_queued, q->nr_queued + k - 1);
	b = llist_entry(n, struct bufq_buf, lnode);
	if (head)
		__bufq_head_fill(q);
	bufq_set_state(q, b, BUFQ_STATE_HELD);
	trace_bufq_dequeue(q, b->data);
	return b;
}

/* bufq_wake_pend() when a consumer sleeps in bufq_wait_take(). */
static noinline void bufq_wake_pend_slow(struct bufq *q, unsigned int n)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&q->work_lock, flags);
	__bufq_wake_consumers(q, n);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);
}

/*
 * Wake consumers for @n buffers pushed on pend or the head. The push's
 * cmpxchg (of pend, or of the head's word) is a full barrier before the
 * tests: it pairs with the one a sleeper makes between queueing itself
 * and testing pend and the head (set_current_state() in bufq_wait_take()),
 * and with bufq_poll()'s. The tests are inline, the wake-ups out of line:
 * an enqueue that wakes no one saves no registers for them.
 */
static __always_inline void bufq_wake_pend(struct bufq *q, unsigned int n)
{
	if (unlikely(swait_active(&q->work_wait)))
		bufq_wake_pend_slow(q, n);
	/* Ordered by the push's cmpxchg, as above. */
	if (unlikely(waitqueue_active(&q->poll_wait)))
		bufq_wake_poll(q);
}

/* An enqueue at the tail without a timer: @b is QUEUED already. */
static __always_inline int bufq_insert_tail(struct bufq *q, struct bufq_buf *b)
{
	if (!bufq_head_push(q, b) &&
	    unlikely(!bufq_pend_push(q, &b->lnode, &b->lnode, 1))) {
		bufq_set_state(q, b, BUFQ_STATE_HELD);	/* still the caller's */
		return -ESHUTDOWN;
	}
	trace_bufq_enqueue(q, b->data, false, false, 0);
	bufq_wake_pend(q, 1);
	return 0;
}

static __always_inline int bufq_insert(struct bufq *q, void *buf, bool at_head,
				       const struct bufq_timed *timed)
{
	struct bufq_buf *b = bufq_claim(q, buf, BUFQ_STATE_QUEUED);
	struct bufq_timed *t = NULL;
	unsigned long flags;

	if (!b)
		return -EINVAL;
	if (likely(!at_head && !timed))
		return bufq_insert_tail(q, b);
	if (timed) {
		t = bufq_timed_of(q, b);
		t->fn = timed->fn;
		t->arg = timed->arg;
		t->msecs = timed->msecs;
	}
	raw_spin_lock_irqsave(&q->work_lock, flags);
	if (unlikely(READ_ONCE(q->dead))) {
		raw_spin_unlock_irqrestore(&q->work_lock, flags);
		bufq_set_state(q, b, BUFQ_STATE_HELD);	/* still the caller's */
		return -ESHUTDOWN;
	}
	__bufq_settle(q);	/* a tail insert goes after them */
	__bufq_queue(q, b, at_head, t);
	__bufq_wake_consumers(q, 1);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);
	bufq_wake_poll(q);
	return 0;
}

/**
 * bufq_enqueue - add a buffer at the tail of the consumer list
 * @q: the queue
 * @buf: a buffer the caller holds, from bufq_fetch() or bufq_dequeue()
 *
 * On success the caller no longer holds @buf; on any error it still does.
 *
 * Context: any.
 * Return: 0; -EINVAL, with a warning and nothing changed, if @buf is not a
 * buffer of @q that the caller holds or its sentinels were overwritten;
 * -ESHUTDOWN once the queue is being destroyed (hand @buf back with
 * bufq_reuse()).
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
 * @msecs: how long it may wait on the consumer list (rounded up to jiffies)
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

/*
 * Take the head of the consumer list under work_lock, when the head had
 * nothing for a dequeue and something is queued; held by the caller now.
 */
static struct bufq_buf *bufq_take_queued_locked(struct bufq *q)
{
	struct bufq_buf *b;
	unsigned long flags;

	raw_spin_lock_irqsave(&q->work_lock, flags);
	b = list_first_entry_or_null(&q->work_list, struct bufq_buf, node);
	if (b) {
		__bufq_unqueue(q, b);
		trace_bufq_dequeue(q, b->data);
	} else {
		b = __bufq_take_next(q, true);
	}
	if (b)
		bufq_head_note_cpu(q);
	__bufq_head_open(q);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);
	return b;
}

/* What a dequeue that found nothing returns. */
static int bufq_dequeue_none(const struct bufq *q)
{
	return READ_ONCE(q->dead) ? -ESHUTDOWN : -ENODATA;
}

/*
 * bufq_dequeue() when its events are traced or the head had nothing for
 * it: out of line, so that the fast path saves no registers.
 */
static noinline int bufq_dequeue_slow(struct bufq *q, void **buf, void **ctx)
{
	struct bufq_buf *b = bufq_head_pop(q);

	if (!b && bufq_queued_any(q))
		b = bufq_take_queued_locked(q);
	if (!b)
		return bufq_dequeue_none(q);
	bufq_hand_out(q, b, buf, ctx);
	return 0;
}

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
	struct bufq_buf *b;

	if (unlikely(trace_bufq_dequeue_enabled()))
		return bufq_dequeue_slow(q, buf, ctx);
	/* A failed pop may have written @b: it is ours only on success. */
	if (likely(bufq_head_pop_n(q, &b, 1, true))) {
		bufq_set_state(q, b, BUFQ_STATE_HELD);
		bufq_hand_out(q, b, buf, ctx);
		return 0;
	}
	if (!bufq_queued_any(q))
		return bufq_dequeue_none(q);
	return bufq_dequeue_slow(q, buf, ctx);
}
EXPORT_SYMBOL_GPL(bufq_dequeue);

/* Would a dequeue find a buffer, or fail for good? */
static bool bufq_dequeueable(struct bufq *q)
{
	unsigned long flags;
	bool ret;

	raw_spin_lock_irqsave(&q->work_lock, flags);
	ret = bufq_queued_any(q) || READ_ONCE(q->dead);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);
	return ret;
}

/* One side of the queue, as the *_wait() calls see it. */
struct bufq_side {
	int (*take)(struct bufq *q, void **buf, void **ctx);
	bool (*ready)(struct bufq *q);	/* take() would not return @empty */
	int empty;			/* take()'s error for "nothing now" */
};

static const struct bufq_side bufq_free_side = {
	.take = bufq_take_free_buf, .ready = bufq_fetchable, .empty = -ENOBUFS,
};

static const struct bufq_side bufq_work_side = {
	.take = bufq_dequeue, .ready = bufq_dequeueable, .empty = -ENODATA,
};

/*
 * Sleepers hold a reference, so that teardown can wake them and go on
 * while they leave. They wait exclusively: one buffer wakes one of them.
 */
static int bufq_wait_take(struct bufq *q, struct swait_queue_head *wq,
			  const struct bufq_side *side, void **buf, void **ctx)
{
	int ret;

	might_sleep();
	/* Outside the wait: growth may allocate with a sleeping mask. */
	ret = side->take(q, buf, ctx);
	if (ret != side->empty)
		return ret;
	bufq_get(q);
	for (;;) {
		/*
		 * ready() takes the side's lock after we are on its wait
		 * queue, which pairs with __bufq_wake_fetchers() and
		 * __bufq_wake_consumers() testing it under that lock.
		 */
		if (swait_event_interruptible_exclusive(*wq, side->ready(q))) {
			ret = -ERESTARTSYS;
			break;
		}
		atomic_long_inc(&q->wakeups);
		ret = side->take(q, buf, ctx);
		if (ret != side->empty)
			break;
	}
	/* A wake-up we may have taken from another sleeper: pass it on. */
	if (ret && side->ready(q))
		swake_up_one(wq);
	bufq_put(q);
	return ret;
}

/**
 * bufq_fetch_wait - take a free buffer, waiting for one
 * @q: the queue
 * @buf: set to the buffer's data area
 * @ctx: set to the buffer's context area; may be NULL
 *
 * Like bufq_fetch(), but sleeps while no buffer is free and none may be
 * made, until one is reused or a signal arrives. Sleepers are woken one
 * per buffer made free, in the order they went to sleep.
 *
 * Context: process context; sleeps.
 * Return: 0; -ERESTARTSYS if a signal arrived; -ENOMEM, -ESHUTDOWN as for
 * bufq_fetch().
 */
int bufq_fetch_wait(struct bufq *q, void **buf, void **ctx)
{
	int ret = bufq_wait_take(q, &q->free_wait, &bufq_free_side, buf, ctx);

	if (ret == -ENOMEM)
		bufq_count_failure(q, ret);
	return ret;
}
EXPORT_SYMBOL_GPL(bufq_fetch_wait);

/**
 * bufq_dequeue_wait - take the head of the consumer list, waiting for one
 * @q: the queue
 * @buf: set to the buffer's data area
 * @ctx: set to the buffer's context area; may be NULL
 *
 * Sleepers are woken one per buffer queued, in the order they went to
 * sleep.
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

/*
 * bufq_reuse() with a reuse_cleanup callback: out of line, so that the
 * fast path saves no registers for the call.
 */
static noinline int bufq_reuse_slow(struct bufq *q, void *buf)
{
	struct bufq_buf *b = bufq_claim(q, buf, BUFQ_STATE_FREE);

	if (!b)
		return -EINVAL;
	bufq_cleanup(q, b);
	bufq_put_free_one(q, b);
	return 0;
}

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
	struct bufq_buf *b;

	if (unlikely(q->reuse_cleanup))
		return bufq_reuse_slow(q, buf);
	b = bufq_claim(q, buf, BUFQ_STATE_FREE);
	if (!b)
		return -EINVAL;
	bufq_put_free_one(q, b);
	return 0;
}
EXPORT_SYMBOL_GPL(bufq_reuse);

/**
 * bufq_flush - reuse every buffer on the consumer list
 * @q: the queue
 *
 * For when the queued work need not or cannot be done: each buffer on the
 * consumer list when the call takes it goes through reuse_cleanup and back
 * to the producer list; timers on them are cancelled.
 *
 * Context: any.
 */
void bufq_flush(struct bufq *q)
{
	struct bufq_buf *b, *tmp;
	unsigned long flags;
	LIST_HEAD(flushed);

	raw_spin_lock_irqsave(&q->work_lock, flags);
	__bufq_settle(q);
	trace_bufq_flush(q);
	list_for_each_entry_safe(b, tmp, &q->work_list, node) {
		__bufq_unqueue(q, b);
		bufq_set_state(q, b, BUFQ_STATE_FREE);	/* refuse hand-ins */
		list_add_tail(&b->node, &flushed);
	}
	__bufq_head_open(q);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);

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
	return bufq_nr_queued(q);
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
	return bufq_ctx_of(q, bufq_buf_of(q, buf));
}
EXPORT_SYMBOL_GPL(bufq_context);

/**
 * bufq_set_payload - say how many bytes of a buffer are data
 * @q: a mappable queue
 * @buf: a buffer the caller holds
 * @len: bytes of data, from the start of the data area
 *
 * For a kernel producer whose consumer is in user space: DEQUEUE and
 * read() report @len. A buffer user space enqueues has the length it gave
 * (bufq_payload()). A new buffer's payload is 0; reuse keeps it.
 *
 * Context: any.
 * Return: 0; -EINVAL if @q is not mappable or @len exceeds buffer_size.
 */
int bufq_set_payload(struct bufq *q, void *buf, unsigned int len)
{
	if (!q->mappable || len > q->buffer_size)
		return -EINVAL;
	bufq_map_set_len(q, buf, len);
	return 0;
}
EXPORT_SYMBOL_GPL(bufq_set_payload);

/**
 * bufq_payload - how many bytes of a buffer are data
 * @q: a mappable queue
 * @buf: a buffer the caller holds
 *
 * Context: any.
 * Return: what bufq_set_payload() or user space's ENQUEUE (its len) last
 * set; 0 if @q is not mappable.
 */
unsigned int bufq_payload(struct bufq *q, void *buf)
{
	if (!q->mappable)
		return 0;
	return bufq_map_len(q, buf);
}
EXPORT_SYMBOL_GPL(bufq_payload);

static bool bufq_deadline_less(struct rb_node *a, const struct rb_node *b)
{
	return rb_entry(a, struct bufq_timed, node)->deadline <
	       rb_entry(b, struct bufq_timed, node)->deadline;
}

/* Caller holds work_lock. (Re)start @t's timeout from now. */
static void __bufq_arm(struct bufq *q, struct bufq_timed *t)
{
	if (t->armed)
		__bufq_disarm(q, t);
	t->deadline = get_jiffies_64() + msecs_to_jiffies(t->msecs);
	/* Equal deadlines go right: they expire in the order armed. */
	rb_add_cached(&t->node, &q->timed, bufq_deadline_less);
	t->armed = true;
	q->nr_timed++;
	/* Starts the timer, or brings it forward; never delays it. */
	timer_reduce(&q->timer, (unsigned long)t->deadline);
}

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
		if (t && t->armed)
			__bufq_disarm(q, t);
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
 * stops the walk. RESET_TIMER restarts only a timer still pending. A
 * buffer whose deadline passed but whose timer has not run yet is still
 * on the list and is shown.
 *
 * Context: any. @fn runs with interrupts off (see &bufq_enum_fn).
 */
void bufq_enumerate(struct bufq *q, bufq_enum_fn fn, void *arg,
		    void **buf, void **ctx)
{
	struct bufq_buf *b, *tmp, *taken = NULL;
	enum bufq_enum_action action;
	unsigned long flags;

	raw_spin_lock_irqsave(&q->work_lock, flags);
	__bufq_settle(q);
	list_for_each_entry_safe(b, tmp, &q->work_list, node) {
		action = fn(q, b->data, bufq_ctx_of(q, b), arg);
		trace_bufq_enumerate(q, b->data, action);
		if (!__bufq_enum_apply(q, b, action, !!buf))
			continue;
		if (action == BUFQ_ENUM_REMOVE_AND_STOP && buf)
			taken = b;
		break;
	}
	__bufq_head_open(q);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);

	if (buf)
		*buf = taken ? taken->data : NULL;
	if (ctx)
		*ctx = taken ? bufq_ctx_of(q, taken) : NULL;
}
EXPORT_SYMBOL_GPL(bufq_enumerate);

/*
 * Caller holds work_lock. Move every buffer whose deadline passed, earliest
 * first, to @expired, and re-arm for the earliest one left: the work is
 * proportional to the buffers that expired.
 */
static void __bufq_expire(struct bufq *q, struct list_head *expired)
{
	u64 now = get_jiffies_64();
	struct bufq_timed *t;
	struct rb_node *rb;
	struct bufq_buf *b;

	while ((rb = rb_first_cached(&q->timed))) {
		t = rb_entry(rb, struct bufq_timed, node);
		if (time_after64(t->deadline, now)) {
			mod_timer(&q->timer, (unsigned long)t->deadline);
			break;
		}
		b = (void *)t - q->timed_off;
		__bufq_unqueue(q, b);
		trace_bufq_timer_expire(q, b->data);
		list_add_tail(&b->node, expired);
	}
}

/* The queue's timer: expire, then call the clients without the lock. */
static void bufq_timer_fire(struct timer_list *timer)
{
	struct bufq *q = timer_container_of(q, timer, timer);
	struct bufq_buf *b, *tmp;
	struct bufq_timed *t;
	unsigned long flags;
	LIST_HEAD(expired);
	u64 t0, dt;

	raw_spin_lock_irqsave(&q->work_lock, flags);
	t0 = local_clock();
	__bufq_expire(q, &expired);
	dt = local_clock() - t0;
	if (dt > q->expiry_max_ns)
		q->expiry_max_ns = dt;
	__bufq_head_open(q);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);

	list_for_each_entry_safe(b, tmp, &expired, node) {
		list_del(&b->node);
		t = bufq_timed_of(q, b);
		t->fn(q, b->data, bufq_ctx_of(q, b), t->arg);
	}
}

/* bufq_fetch_bulk() for what this CPU's cache did not have. */
static noinline unsigned int bufq_fetch_bulk_slow(struct bufq *q, void **bufs,
						  unsigned int n)
{
	bool atomic = bufq_ctx_atomic();
	unsigned int i, got, grow = 0;
	struct bufq_buf *b;
	unsigned long flags;
	int ret = 0;

	raw_spin_lock_irqsave(&q->free_lock, flags);
	for (i = 0; i < n; i++) {
		ret = __bufq_take_free(q, &b, atomic);
		if (ret)
			break;
		if (!b) {
			grow++;		/* reserved; allocated below */
			continue;
		}
		bufq_set_state(q, b, BUFQ_STATE_HELD);
		bufs[i - grow] = b->data;
	}
	__bufq_gate(q);
	raw_spin_unlock_irqrestore(&q->free_lock, flags);

	got = i - grow;
	while (grow--) {
		b = bufq_grow(q);
		if (!b) {
			ret = -ENOMEM;
			continue;
		}
		bufq_set_state(q, b, BUFQ_STATE_HELD);
		bufs[got++] = b->data;
	}
	if (ret && ret != -ESHUTDOWN)
		bufq_count_failure(q, ret);
	return got;
}

/**
 * bufq_fetch_bulk - take up to @n free buffers
 * @q: the queue
 * @bufs: filled with the buffers' data areas
 * @n: how many are wanted
 *
 * As @n calls of bufq_fetch(): one cmpxchg for what this CPU's cache
 * has, then the producer lock once for the rest; a shortfall counts as
 * one failed fetch.
 *
 * Context: any, if the configured gfp mask does not sleep.
 * Return: how many buffers were taken, from 0 to @n.
 */
unsigned int bufq_fetch_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	struct bufq_buf *got[BUFQ_PC_MAX] __uninitialized;
	unsigned int i, k, done = 0;

	/*
	 * What this CPU's cache has: one cmpxchg for up to BUFQ_PC_MAX (one
	 * each when traced, so that each event sees the count after it).
	 */
	while (done < n) {
		k = trace_bufq_fetch_enabled() ? 1 : min(n - done, BUFQ_PC_MAX);
		k = bufq_pc_pop(raw_cpu_ptr(q->pcpu), got, k, BUFQ_PC_NOPOP);
		if (!k)
			break;
		for (i = 0; i < k; i++) {
			trace_bufq_fetch(q, got[i]->data, 0, false);
			bufq_set_state(q, got[i], BUFQ_STATE_HELD);
			bufs[done++] = got[i]->data;
		}
	}
	if (done < n)
		done += bufq_fetch_bulk_slow(q, bufs + done, n - done);
	return done;
}
EXPORT_SYMBOL_GPL(bufq_fetch_bulk);

/**
 * bufq_enqueue_bulk - add buffers at the tail of the consumer list
 * @q: the queue
 * @bufs: buffers the caller holds, in order
 * @n: how many
 *
 * As @n calls of bufq_enqueue(), with one cmpxchg. Stops at
 * the first buffer bufq_enqueue() would refuse (with its warning). Once
 * the queue is being destroyed, enqueues nothing.
 *
 * Context: any.
 * Return: how many buffers the caller handed over, from 0 to @n; it still
 * holds the others.
 */
unsigned int bufq_enqueue_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	struct bufq_buf *got[BUFQ_PC_MAX] __uninitialized;
	struct llist_node *first = NULL, *last = NULL;
	unsigned int i = 0, k, j, want;

	while (i < n) {			/* chained newest first */
		want = min(n - i, BUFQ_PC_MAX);
		k = bufq_claim_n(q, bufs + i, got, want, BUFQ_STATE_QUEUED);
		for (j = 0; j < k; j++) {
			got[j]->lnode.next = first;
			first = &got[j]->lnode;
			last = last ?: first;
		}
		i += k;
		if (k < want)
			break;		/* refused */
	}
	n = i;
	if (!n)
		return 0;
	if (likely(bufq_pend_push(q, first, last, n))) {
		if (trace_bufq_enqueue_enabled())
			for (i = 0; i < n; i++)
				trace_bufq_enqueue(q, bufs[i], false, false, 0);
		bufq_wake_pend(q, n);
		return n;
	}
	/* Dead: they stay the caller's, as bufq_enqueue() leaves them. */
	for (; first; first = first->next)
		bufq_set_state(q, llist_entry(first, struct bufq_buf, lnode),
			       BUFQ_STATE_HELD);
	return 0;
}
EXPORT_SYMBOL_GPL(bufq_enqueue_bulk);

/**
 * bufq_dequeue_bulk - take up to @n buffers from the consumer list
 * @q: the queue
 * @bufs: filled with the buffers' data areas, in FIFO order
 * @n: how many are wanted
 *
 * As @n calls of bufq_dequeue(): what the head holds with one cmpxchg, the
 * consumer lock at most once for the rest.
 *
 * Context: any.
 * Return: how many buffers were taken, from 0 to @n.
 */
unsigned int bufq_dequeue_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	unsigned int i;
	unsigned long flags;
	struct bufq_buf *b;

	i = bufq_head_take(q, bufs, n);
	if (i == n || !bufq_queued_any(q))
		return i;
	raw_spin_lock_irqsave(&q->work_lock, flags);
	__bufq_head_close(q);	/* before we take pend */
	for (; i < n; i++) {
		b = list_first_entry_or_null(&q->work_list, struct bufq_buf,
					     node);
		if (!b)
			break;
		__bufq_unqueue(q, b);
		trace_bufq_dequeue(q, b->data);
		bufs[i] = b->data;
	}
	/*
	 * work_list is empty, and stays so under the lock: the head (which
	 * a racing dequeue may have filled, or an enqueue pushed one buffer
	 * on before we closed it, and which is empty after this take unless
	 * it gave all we wanted), taken, pend; the head gets what is left of
	 * taken at the end.
	 */
	i += bufq_head_take(q, bufs + i, n - i);
	for (; i < n; i++) {
		b = __bufq_take_next(q, false);
		if (!b)
			break;
		bufs[i] = b->data;
	}
	if (i == n)
		__bufq_head_fill(q);
	if (i)
		bufq_head_note_cpu(q);
	__bufq_head_open(q);
	raw_spin_unlock_irqrestore(&q->work_lock, flags);
	return i;
}
EXPORT_SYMBOL_GPL(bufq_dequeue_bulk);

/**
 * bufq_reuse_bulk - hand buffers back to the producer list
 * @q: the queue
 * @bufs: buffers the caller holds
 * @n: how many
 *
 * As @n calls of bufq_reuse(): one cmpxchg for what this CPU's cache has
 * room for, the producer lock once for the rest (up to 32 at a time).
 * Stops at the first buffer bufq_reuse() would refuse (with its warning).
 * reuse_cleanup runs on each buffer after up to 32 of them, it among
 * them, were taken from the caller.
 *
 * Context: any.
 * Return: how many buffers were handed back, from 0 to @n.
 */
unsigned int bufq_reuse_bulk(struct bufq *q, void **bufs, unsigned int n)
{
	struct bufq_buf *batch[BUFQ_PC_MAX] __uninitialized;
	unsigned int i = 0, k, j, want;
	bool refused = false;

	while (i < n && !refused) {
		want = min_t(unsigned int, n - i, ARRAY_SIZE(batch));
		k = bufq_claim_n(q, bufs + i, batch, want, BUFQ_STATE_FREE);
		refused = k < want;
		for (j = 0; j < k; j++)
			bufq_cleanup(q, batch[j]);
		if (k)
			bufq_put_free(q, batch, k);
		i += k;
	}
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

	raw_spin_lock_irqsave(&q->free_lock, flags);
	st->total = q->total;
	st->free = q->nr_free + bufq_cached(q);
	st->high_water = q->high_water;
	st->grown = q->grown;
	raw_spin_unlock_irqrestore(&q->free_lock, flags);

	st->fetch_failed = atomic_long_read(&q->fetch_failed);

	raw_spin_lock_irqsave(&q->work_lock, flags);
	st->queued = bufq_nr_queued(q);
	st->timed = q->nr_timed;
	st->expiry_max_ns = q->expiry_max_ns;
	raw_spin_unlock_irqrestore(&q->work_lock, flags);

	raw_spin_lock_irqsave(&q->mem_lock, flags);
	st->mem_bytes = q->mem_bytes;
	raw_spin_unlock_irqrestore(&q->mem_lock, flags);

	used = st->total - st->free;
	st->held = used > st->queued ? used - st->queued : 0;
	st->overhead = bufq_mem_overhead(q);
	st->wakeups = atomic_long_read(&q->wakeups);
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

	poll_wait(file, &q->poll_wait, pt);
	/*
	 * Queued before the caches are tested: pairs with the cmpxchg before
	 * bufq_wake_cached()'s test. The rest is tested under the locks: see
	 * bufq_wake_poll().
	 */
	smp_mb();

	raw_spin_lock_irqsave(&q->free_lock, flags);
	if (q->dead)
		mask |= EPOLLHUP;
	else if (q->nr_free || bufq_cached(q) || __bufq_may_grow(q, false))
		mask |= EPOLLOUT | EPOLLWRNORM;
	raw_spin_unlock_irqrestore(&q->free_lock, flags);

	raw_spin_lock_irqsave(&q->work_lock, flags);
	if (bufq_queued_any(q))
		mask |= EPOLLIN | EPOLLRDNORM;
	raw_spin_unlock_irqrestore(&q->work_lock, flags);
	return mask;
}
EXPORT_SYMBOL_GPL(bufq_poll);

/**
 * bufq_core_init - set up what every queue shares
 *
 * Context: module init.
 * Return: 0 or -ENOMEM.
 */
int bufq_core_init(void)
{
	bufq_wq = alloc_workqueue("bufq", 0, 0);
	return bufq_wq ? 0 : -ENOMEM;
}

/**
 * bufq_core_exit - undo bufq_core_init(), after every queue has gone
 *
 * Context: module exit.
 */
void bufq_core_exit(void)
{
	destroy_workqueue(bufq_wq);	/* runs pending releases */
}
