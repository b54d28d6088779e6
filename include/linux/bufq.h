/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufq - a producer/consumer buffer queue
 *
 * A bufq owns a set of equally sized buffers. Free buffers sit on the
 * producer list; a client fetches one, fills it, and enqueues it on the
 * consumer list. Later the same or another client dequeues it, does the
 * work it describes, and reuses it (hands it back to the producer list).
 * The consumer list is FIFO; bufq_enqueue_at_head() jumps the line.
 *
 * Every buffer carries a client context area of its own. With lookaside
 * enabled the queue grows when the producer list runs dry, up to
 * max_buffers, and shrinks back to buffer_count as buffers are reused.
 *
 * Contexts. Creation, destruction, bufq_poll() and the *_wait() calls need
 * process context. Every other call may be made from any context, hard IRQ
 * included, on every kernel flavour, with one exception: a fetch that must
 * grow a lookaside queue allocates memory with the configured gfp mask, so
 * on PREEMPT_RT it must not run in a context that stays hard IRQ there
 * (hrtimer HRTIMER_MODE_*_HARD, IRQ_WORK_HARD_IRQ, under a raw spinlock);
 * on other kernels GFP_ATOMIC growth is fine in any interrupt. The queue's
 * locks are raw spinlocks; frees and poll wake-ups that a context may not
 * do (hard IRQ; on PREEMPT_RT also preemption off) go to an irq_work.
 *
 * Lifetime. bufq_destroy() may run while clients still hold buffers: they
 * hand them back after it returns (reuse, or enqueue, which then fails
 * with -ESHUTDOWN and leaves the buffer with them). Any call that may run
 * during bufq_destroy(), and any other call after it, must come from a
 * holder of a reference (bufq_get()/bufq_put()); a driver that stops its
 * producers and consumers first (free_irq(), kthread_stop(),
 * cancel_work_sync()) needs none.
 *
 * This is a port of Microsoft DMF's DMF_BufferQueue; the README maps the
 * names and lists where bufq behaves differently.
 */
#ifndef _LINUX_BUFQ_H
#define _LINUX_BUFQ_H

#include <linux/cache.h>
#include <linux/gfp.h>
#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/swait.h>
#include <linux/timer.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/bufq.h>

struct bufq;
struct bufq_buf;
struct bufq_index;
struct bufq_pcpu;
struct bufq_slot;
struct file;
struct mem_cgroup;
struct module;
struct page;
struct scatterlist;

/**
 * typedef bufq_cleanup_fn - called before a buffer is reused or freed
 * @q: the queue
 * @buf: the buffer's data area
 * @ctx: the buffer's context area
 *
 * Runs for every buffer handed to bufq_reuse(), and for every buffer that
 * bufq_flush() or bufq_destroy() takes off the consumer list. It always
 * runs before the buffer can be fetched again or is freed. No bufq lock
 * is held.
 * Context: that of the caller of the operation.
 */
typedef void (*bufq_cleanup_fn)(struct bufq *q, void *buf, void *ctx);

/**
 * typedef bufq_timer_fn - called when a buffer's timer expires
 * @q: the queue
 * @buf: the buffer, now taken off the consumer list and owned by the callee
 * @ctx: the buffer's context area
 * @arg: the argument given to bufq_enqueue_with_timer()
 *
 * Callbacks of buffers that expire together run in deadline order. No bufq
 * lock is held. Context: softirq (timer).
 */
typedef void (*bufq_timer_fn)(struct bufq *q, void *buf, void *ctx, void *arg);

/**
 * enum bufq_enum_action - what bufq_enumerate() does after each callback
 * @BUFQ_ENUM_CONTINUE: go on to the next buffer
 * @BUFQ_ENUM_STOP: stop enumerating
 * @BUFQ_ENUM_REMOVE_AND_STOP: take this buffer off the consumer list, hand it
 *	to the caller of bufq_enumerate() and stop
 * @BUFQ_ENUM_STOP_TIMER_AND_STOP: cancel this buffer's timer and stop
 * @BUFQ_ENUM_STOP_TIMER_AND_CONTINUE: cancel this buffer's timer, go on
 * @BUFQ_ENUM_RESET_TIMER_AND_STOP: restart this buffer's timer with its
 *	original timeout and stop
 * @BUFQ_ENUM_RESET_TIMER_AND_CONTINUE: restart this buffer's timer, go on
 */
enum bufq_enum_action {
	BUFQ_ENUM_CONTINUE,
	BUFQ_ENUM_STOP,
	BUFQ_ENUM_REMOVE_AND_STOP,
	BUFQ_ENUM_STOP_TIMER_AND_STOP,
	BUFQ_ENUM_STOP_TIMER_AND_CONTINUE,
	BUFQ_ENUM_RESET_TIMER_AND_STOP,
	BUFQ_ENUM_RESET_TIMER_AND_CONTINUE,
};

/**
 * typedef bufq_enum_fn - bufq_enumerate() callback
 * @q: the queue
 * @buf: a buffer on the consumer list
 * @ctx: its context area
 * @arg: the argument given to bufq_enumerate()
 *
 * Called with the consumer lock (a raw spinlock) held and interrupts off:
 * it must not sleep, must not take a spinlock_t on PREEMPT_RT, and must not
 * call any bufq function (on @q or on another queue: all queues' locks are
 * of one lockdep class) other than bufq_context() and bufq_priv().
 *
 * Return: what to do next, see &enum bufq_enum_action.
 */
typedef enum bufq_enum_action (*bufq_enum_fn)(struct bufq *q, void *buf,
					      void *ctx, void *arg);

/**
 * struct bufq_config - how to build a queue
 * @name: name for messages and debugging; may be NULL
 * @buffer_count: buffers made at creation, and the size the producer list
 *	shrinks back to; 0 only with @lookaside
 * @buffer_size: bytes in each buffer's data area. A multiple of PAGE_SIZE
 *	gives page-aligned data areas of their own pages (see &struct
 *	bufq_desc); other sizes are packed with their headers.
 * @context_size: bytes in each buffer's context area (zeroed at allocation)
 * @max_buffers: with @lookaside, the cap on the total number of buffers;
 *	0 means no cap. Must be 0 or at least @buffer_count.
 * @lookaside: fetch allocates a new buffer when the producer list is empty
 * @with_timer: buffers may be enqueued with a timer
 * @account: charge all the queue's memory, growth included and whatever
 *	context it happens in, to the memory cgroup of the task that creates
 *	the queue
 * @mappable: data areas user space can map, for bufq_file_attach(). Every
 *	buffer gets an index below the cap (@buffer_count, or @max_buffers
 *	with @lookaside, which must then not be 0) and a data area of whole
 *	pages of its own, PAGE_ALIGN(@buffer_size) bytes, bound to that
 *	index. If @gfp may sleep, an index's data area is made, zeroed, on
 *	its first use: by a buffer (those of creation at creation, the
 *	others when lookaside growth first binds the index) or by a fault on
 *	a mapping of it; otherwise the data areas of all indices are made at
 *	creation, so that growth in atomic context allocates only a header.
 *	Either way they live as long as the queue: lookaside shrink frees
 *	headers only, so a mapping never loses its memory. A buffer's
 *	content survives reuse.
 * @gfp: mask for allocations after creation (lookaside growth); 0 means
 *	GFP_ATOMIC. Use a sleeping mask only if every fetch may sleep.
 * @reuse_cleanup: optional, see &bufq_cleanup_fn
 * @priv: free for the client; see bufq_priv()
 */
struct bufq_config {
	const char *name;
	unsigned int buffer_count;
	unsigned int buffer_size;
	unsigned int context_size;
	unsigned int max_buffers;
	bool lookaside;
	bool with_timer;
	bool account;
	bool mappable;
	gfp_t gfp;
	bufq_cleanup_fn reuse_cleanup;
	void *priv;
};

/**
 * struct bufq_desc - where a buffer lives, for handing it to I/O
 * @addr: kernel virtual address of the data area
 * @len: length of the data area (the configured buffer_size)
 * @page: the page holding the first byte of the data area
 * @offset: offset of the data area within @page
 *
 * The data area is physically contiguous and in the kernel's direct map:
 * it may be mapped with dma_map_single(@addr, @len) or dma_map_page(@page,
 * @offset, @len), or described by bufq_desc_to_sg(). When buffer_size is a
 * multiple of PAGE_SIZE the data area is whole pages of its own (@offset
 * is 0), safe for DMA in every direction on any architecture. Otherwise it
 * shares cache lines with bufq's headers and other buffers' context areas:
 * on architectures whose DMA is not cache-coherent only DMA_TO_DEVICE is
 * then safe without a bounce buffer.
 */
struct bufq_desc {
	void *addr;
	size_t len;
	struct page *page;
	unsigned int offset;
};

/**
 * struct bufq_stats - a snapshot of a queue's counters
 * @total: buffers that exist (free + queued + held)
 * @free: buffers on the producer list
 * @queued: buffers on the consumer list
 * @held: buffers owned by clients
 * @high_water: highest number of buffers in use (queued + held) seen; a
 *	buffer the shrink dropped in hard IRQ context counts until the
 *	irq_work frees it, against max_buffers too
 * @grown: buffers allocated by lookaside since creation
 * @fetch_failed: fetch calls that found no buffer and could not make one
 *	(-ENOBUFS or -ENOMEM); a sleeping fetch counts only if it fails so
 * @overhead: bytes each buffer takes beyond its data and context areas:
 *	header, sentinels, alignment and its share of the memory it is
 *	carved from, in a queue whose memory is fully used
 * @mem_bytes: bytes of memory the queue's buffers occupy now (whole pages
 *	as allocated, partly used ones included)
 * @timed: buffers on the consumer list with a pending timer
 * @expiry_max_ns: longest time one timer expiry held the consumer lock
 *	(interrupts off), in nanoseconds
 * @wakeups: times a *_wait() call that found nothing went on waiting and
 *	then found its condition (woken, or already true on entering)
 *
 * Counters are read without stopping the queue: on a busy queue they may
 * not add up. At quiescence free + queued + held == total.
 */
struct bufq_stats {
	unsigned int total;
	unsigned int free;
	unsigned int queued;
	unsigned int held;
	unsigned int high_water;
	unsigned long grown;
	unsigned long fetch_failed;
	unsigned int overhead;
	unsigned long mem_bytes;
	unsigned int timed;
	u64 expiry_max_ns;
	unsigned long wakeups;
};

/* Buffers a dequeue may take without work_lock: see struct bufq. */
#define BUFQ_HEAD_MAX	32

/*
 * The queue. Its fields are private to bufq; it is public only so that a
 * driver can embed one (bufq_init()/bufq_exit()).
 *
 * Producer and consumer sides live on separate cache lines and take
 * separate locks; no path holds both. In front of the producer side, each
 * CPU has a cache of free buffers that fetch and reuse use without a lock;
 * at the consumer side's head, up to BUFQ_HEAD_MAX of the oldest queued
 * buffers (or the one an enqueue put on an empty queue) wait for dequeues
 * that take no lock.
 */
struct bufq {
	/* Read-mostly after init. */
	const char *name;
	unsigned int buffer_count;
	unsigned int buffer_size;
	unsigned int context_size;
	unsigned int max_buffers;
	unsigned int obj_size;		/* header object, inline data included */
	unsigned int ctx_off;		/* context area, from the object */
	unsigned int timed_off;		/* timer state, from the object */
	unsigned int chunk_order;	/* pages objects are carved from */
	unsigned int min_chunk_order;	/* fallback when that order fails */
	unsigned long tag;		/* page_private() of the queue's pages */
	gfp_t gfp;
	bool lookaside;
	bool with_timer;
	bool paged;			/* data areas are pages of their own */
	bool mappable;			/* paged, data bound to an index */
	bool allocated;			/* by bufq_create(): freed by bufq */
	bufq_cleanup_fn reuse_cleanup;
	void *priv;
	struct mem_cgroup *memcg;	/* charged, with cfg->account */
	struct irq_work defer_work;	/* frees and wake-ups from hard IRQ */
	struct llist_head defer_free;
	unsigned long defer_wake;	/* bit 0: wake poll waiters */
	struct work_struct release_work;
	wait_queue_head_t poll_wait;
	struct bufq_pcpu __percpu *pcpu;	/* per-CPU caches of free buffers */
	struct bufq_index __rcu *index;	/* the buffers, by data address */
	unsigned int pcpu_max;		/* buffers each of them holds at most */
	int head_cpu;			/* the consumer's, a hint: bufq_head_push() */

	/* Memory: chunks that have free object slots. */
	raw_spinlock_t mem_lock;
	struct list_head partial;
	unsigned long mem_bytes;
	/* Mappable queues: the data area and buffer of each index. */
	struct bufq_slot *slots;
	unsigned int nr_slots;
	unsigned int *free_slots;	/* unbound indices, under mem_lock */
	unsigned int nr_free_slots;

	/* Producer side: free buffers, a stack of buffer_count slots. */
	raw_spinlock_t free_lock ____cacheline_aligned_in_smp;
	struct bufq_buf **free_bufs;
	unsigned int nr_free;
	unsigned int total;		/* all buffers, under free_lock */
	unsigned int pending;		/* of total: being allocated or freed */
	unsigned int users;		/* references: creator, bufq_get(), waits */
	unsigned int high_water;
	unsigned long pcpu_flags;	/* what the caches refuse now */
	bool dead;			/* destroy has begun */
	unsigned long grown;
	atomic_long_t fetch_failed;
	atomic_long_t wakeups;		/* of *_wait() sleepers */

	/* Consumer side: filled buffers. */
	raw_spinlock_t work_lock ____cacheline_aligned_in_smp;
	struct list_head work_list;
	unsigned int nr_queued;		/* on work_list and taken */
	unsigned long pend_taken;	/* moved from pend, ever */
	struct llist_node *taken;	/* taken from pend, oldest first */
	struct rb_root_cached timed;	/* timed buffers, by deadline */
	unsigned int nr_timed;
	struct timer_list timer;	/* earliest deadline */
	u64 expiry_max_ns;

	/*
	 * Sleepers in *_wait(). The other side's fast path tests them on
	 * every hand-in (swait_active()): a line of their own, written only
	 * when a sleeper comes or goes, not one of the sides' lock lines.
	 */
	struct swait_queue_head free_wait ____cacheline_aligned_in_smp;
	struct swait_queue_head work_wait;

	/* Enqueued without a lock, newest first, for a consumer to take. */
	struct llist_node *pend ____cacheline_aligned_in_smp;

	/*
	 * The oldest of taken, for dequeues without work_lock: a magazine
	 * as a per-CPU cache's (count and generation in @head_word), its
	 * top the oldest; or, on an empty consumer list, the one buffer an
	 * enqueue put there, in @head_direct.
	 */
	unsigned long head_word ____cacheline_aligned_in_smp;
	struct bufq_buf *head_direct;
	struct bufq_buf *head_slot[BUFQ_HEAD_MAX];
};

int bufq_init(struct bufq *q, const struct bufq_config *cfg);
void bufq_exit(struct bufq *q);
struct bufq *bufq_create(const struct bufq_config *cfg);
void bufq_destroy(struct bufq *q);
void bufq_get(struct bufq *q);
void bufq_put(struct bufq *q);

int bufq_fetch(struct bufq *q, void **buf, void **ctx);
int bufq_fetch_wait(struct bufq *q, void **buf, void **ctx);
int bufq_enqueue(struct bufq *q, void *buf);
int bufq_enqueue_at_head(struct bufq *q, void *buf);
int bufq_enqueue_with_timer(struct bufq *q, void *buf, unsigned int msecs,
			    bufq_timer_fn fn, void *arg);
int bufq_dequeue(struct bufq *q, void **buf, void **ctx);
int bufq_dequeue_wait(struct bufq *q, void **buf, void **ctx);
int bufq_dequeue_desc(struct bufq *q, void **buf, struct bufq_desc *desc,
		      void **ctx);
int bufq_reuse(struct bufq *q, void *buf);
void bufq_flush(struct bufq *q);

unsigned int bufq_fetch_bulk(struct bufq *q, void **bufs, unsigned int n);
unsigned int bufq_enqueue_bulk(struct bufq *q, void **bufs, unsigned int n);
unsigned int bufq_dequeue_bulk(struct bufq *q, void **bufs, unsigned int n);
unsigned int bufq_reuse_bulk(struct bufq *q, void **bufs, unsigned int n);

int bufq_set_payload(struct bufq *q, void *buf, unsigned int len);
unsigned int bufq_payload(struct bufq *q, void *buf);

unsigned int bufq_count(struct bufq *q);
void *bufq_context(struct bufq *q, void *buf);
void bufq_desc(struct bufq *q, void *buf, struct bufq_desc *desc);
void bufq_desc_to_sg(const struct bufq_desc *desc, struct scatterlist *sg);
void bufq_enumerate(struct bufq *q, bufq_enum_fn fn, void *arg,
		    void **buf, void **ctx);
void bufq_get_stats(struct bufq *q, struct bufq_stats *st);
__poll_t bufq_poll(struct bufq *q, struct file *file, poll_table *pt);

/**
 * struct bufq_file_config - what user space may do with a driver's queue
 * @ops: the operations the file allows, a mask of &enum bufq_ops from
 *	<uapi/linux/bufq.h>; the others fail with EPERM. Capture (the
 *	driver produces): BUFQ_OPS_DEQUEUE | BUFQ_OPS_REUSE. Playback (the
 *	driver consumes): BUFQ_OPS_FETCH | BUFQ_OPS_ENQUEUE | BUFQ_OPS_REUSE.
 * @owner: the module the queue belongs to (THIS_MODULE), held while a
 *	file is open so that the driver's callbacks and its queue outlive
 *	every file and mapping; NULL means the module of the opened file's
 *	file_operations, which is the same for a driver's own device node
 */
struct bufq_file_config {
	unsigned int ops;
	struct module *owner;
};

int bufq_file_attach(struct file *file, struct bufq *q,
		     const struct bufq_file_config *cfg);

/**
 * bufq_priv - the client's pointer from the configuration
 * @q: the queue
 *
 * Context: any.
 * Return: &bufq_config.priv as given at creation.
 */
static inline void *bufq_priv(const struct bufq *q)
{
	return q->priv;
}

/**
 * bufq_buffer_size - the size of every buffer's data area
 * @q: the queue
 *
 * Context: any.
 * Return: &bufq_config.buffer_size as given at creation.
 */
static inline unsigned int bufq_buffer_size(const struct bufq *q)
{
	return q->buffer_size;
}

#endif /* _LINUX_BUFQ_H */
