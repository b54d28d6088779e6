// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_bench - bufq against the queues a kernel developer would use instead
 *
 * Runs at load and prints one line per measurement:
 *   bufq-bench: <test> <impl> <value> <unit>
 * tools/bench/bench.sh collects them; tools/bench/report.py pairs the n-th
 * line of each implementation of a figure as round n.
 *
 * Every implementation does the same cycle on the same number of buffers:
 * take a free buffer, queue it, take it off the queue, free it. Each figure
 * is measured $runs rounds, every implementation once per round (a
 * one-thread figure: the best of BUFQ_BENCH_REPS, interleaved), so that
 * what the host does to the VM falls on all of them alike.
 */
#define pr_fmt(fmt) "bufq-bench: " fmt

#include <linux/bufq.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/mempool.h>
#include <linux/module.h>
#include <linux/ptr_ring.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <net/page_pool/helpers.h>

static unsigned int bufq_bench_cycles = 200000;
module_param_named(cycles, bufq_bench_cycles, uint, 0444);
MODULE_PARM_DESC(cycles, "cycles per single-thread figure");

static char *bufq_bench_label;
module_param_named(label, bufq_bench_label, charp, 0444);
MODULE_PARM_DESC(label,
		 "only bufq's single-thread figure, printed under this name (tracepoint costs)");

static unsigned int bufq_bench_runs = 1;
module_param_named(runs, bufq_bench_runs, uint, 0444);
MODULE_PARM_DESC(runs, "rounds of every figure, the implementations interleaved");

static bool bufq_bench_icount;
module_param_named(icount, bufq_bench_icount, bool, 0444);
MODULE_PARM_DESC(icount,
		 "only the one-thread figures, for a boot whose clock counts instructions (QEMU -icount)");

static unsigned int bufq_bench_ms = 1000;
module_param_named(ms, bufq_bench_ms, uint, 0444);
MODULE_PARM_DESC(ms, "milliseconds per two-thread figure");

#define BUFQ_BENCH_NBUF		256
#define BUFQ_BENCH_SIZE		256

/* One implementation of the cycle: a pool of free buffers and a FIFO. */
struct bufq_bench_impl {
	const char *name;
	int (*setup)(void);
	void (*teardown)(void);
	void *(*get)(void);		/* a free buffer, or NULL */
	void (*put)(void *buf);		/* back to the free pool */
	/* From another CPU than get()'s, when that differs from put(). */
	void (*put_remote)(void *buf);
	bool (*push)(void *buf);	/* onto the FIFO */
	void *(*pop)(void);		/* off the FIFO, or NULL */
	/* Bulk variants; NULL where the implementation has none. */
	unsigned int (*get_bulk)(void **bufs, unsigned int n);
	void (*put_bulk)(void **bufs, unsigned int n);
	unsigned int (*push_bulk)(void **bufs, unsigned int n);
	unsigned int (*pop_bulk)(void **bufs, unsigned int n);
};

/* bufq */
static struct bufq *bufq_bench_q;

static int bufq_bench_bufq_setup(void)
{
	struct bufq_config cfg = {
		.name = "bench",
		.buffer_count = BUFQ_BENCH_NBUF,
		.buffer_size = BUFQ_BENCH_SIZE,
	};

	bufq_bench_q = bufq_create(&cfg);
	return PTR_ERR_OR_ZERO(bufq_bench_q);
}

static void bufq_bench_bufq_teardown(void)
{
	bufq_destroy(bufq_bench_q);
}

static void *bufq_bench_bufq_get(void)
{
	void *buf;

	return bufq_fetch(bufq_bench_q, &buf, NULL) ? NULL : buf;
}

static void bufq_bench_bufq_put(void *buf)
{
	bufq_reuse(bufq_bench_q, buf);
}

static bool bufq_bench_bufq_push(void *buf)
{
	return !bufq_enqueue(bufq_bench_q, buf);
}

static void *bufq_bench_bufq_pop(void)
{
	void *buf;

	return bufq_dequeue(bufq_bench_q, &buf, NULL) ? NULL : buf;
}

static unsigned int bufq_bench_bufq_get_bulk(void **bufs, unsigned int n)
{
	return bufq_fetch_bulk(bufq_bench_q, bufs, n);
}

static void bufq_bench_bufq_put_bulk(void **bufs, unsigned int n)
{
	bufq_reuse_bulk(bufq_bench_q, bufs, n);
}

static unsigned int bufq_bench_bufq_push_bulk(void **bufs, unsigned int n)
{
	return bufq_enqueue_bulk(bufq_bench_q, bufs, n);
}

static unsigned int bufq_bench_bufq_pop_bulk(void **bufs, unsigned int n)
{
	return bufq_dequeue_bulk(bufq_bench_q, bufs, n);
}

/* A FIFO of list_head under a spinlock, shared by the allocator variants. */
struct bufq_bench_node {
	struct list_head node;
	u8 data[BUFQ_BENCH_SIZE];
};

static DEFINE_SPINLOCK(bufq_bench_lock);
static LIST_HEAD(bufq_bench_fifo);

static bool bufq_bench_list_push(void *buf)
{
	struct bufq_bench_node *n = buf;
	unsigned long flags;

	spin_lock_irqsave(&bufq_bench_lock, flags);
	list_add_tail(&n->node, &bufq_bench_fifo);
	spin_unlock_irqrestore(&bufq_bench_lock, flags);
	return true;
}

static void *bufq_bench_list_pop(void)
{
	struct bufq_bench_node *n;
	unsigned long flags;

	spin_lock_irqsave(&bufq_bench_lock, flags);
	n = list_first_entry_or_null(&bufq_bench_fifo, struct bufq_bench_node,
				     node);
	if (n)
		list_del(&n->node);
	spin_unlock_irqrestore(&bufq_bench_lock, flags);
	return n;
}

/* kmalloc/kfree + list_head + spinlock */
static int bufq_bench_nop_setup(void)
{
	return 0;
}

static void bufq_bench_nop_teardown(void)
{
}

static void *bufq_bench_kmalloc_get(void)
{
	return kmalloc(sizeof(struct bufq_bench_node), GFP_ATOMIC);
}

static void bufq_bench_kmalloc_put(void *buf)
{
	kfree(buf);
}

/* mempool_t + list */
static mempool_t *bufq_bench_pool;

static int bufq_bench_mempool_setup(void)
{
	bufq_bench_pool =
		mempool_create_kmalloc_pool(BUFQ_BENCH_NBUF,
					    sizeof(struct bufq_bench_node));
	return bufq_bench_pool ? 0 : -ENOMEM;
}

static void bufq_bench_mempool_teardown(void)
{
	mempool_destroy(bufq_bench_pool);
}

static void *bufq_bench_mempool_get(void)
{
	return mempool_alloc(bufq_bench_pool, GFP_ATOMIC);
}

static void bufq_bench_mempool_put(void *buf)
{
	mempool_free(buf, bufq_bench_pool);
}

/* kmem_cache + llist (lock-free FIFO is not possible with llist: LIFO) */
static struct kmem_cache *bufq_bench_cache;
static LLIST_HEAD(bufq_bench_llist);

struct bufq_bench_lnode {
	struct llist_node node;
	u8 data[BUFQ_BENCH_SIZE];
};

static int bufq_bench_llist_setup(void)
{
	bufq_bench_cache = KMEM_CACHE(bufq_bench_lnode, 0);
	return bufq_bench_cache ? 0 : -ENOMEM;
}

static void bufq_bench_llist_teardown(void)
{
	kmem_cache_destroy(bufq_bench_cache);
}

static void *bufq_bench_llist_get(void)
{
	return kmem_cache_alloc(bufq_bench_cache, GFP_ATOMIC);
}

static void bufq_bench_llist_put(void *buf)
{
	kmem_cache_free(bufq_bench_cache, buf);
}

static bool bufq_bench_llist_push(void *buf)
{
	struct bufq_bench_lnode *n = buf;

	llist_add(&n->node, &bufq_bench_llist);
	return true;
}

static void *bufq_bench_llist_pop(void)
{
	struct llist_node *n;
	unsigned long flags;

	/* llist_del_first() needs its callers serialized. */
	spin_lock_irqsave(&bufq_bench_lock, flags);
	n = llist_del_first(&bufq_bench_llist);
	spin_unlock_irqrestore(&bufq_bench_lock, flags);
	return n ? container_of(n, struct bufq_bench_lnode, node) : NULL;
}

static unsigned int bufq_bench_llist_get_bulk(void **bufs, unsigned int n)
{
	return kmem_cache_alloc_bulk(bufq_bench_cache, GFP_ATOMIC, n, bufs);
}

static void bufq_bench_llist_put_bulk(void **bufs, unsigned int n)
{
	kmem_cache_free_bulk(bufq_bench_cache, n, bufs);
}

/* A pair of ptr_rings: free buffers and work. */
static struct ptr_ring bufq_bench_free_ring, bufq_bench_work_ring;
static void *bufq_bench_ring_mem[BUFQ_BENCH_NBUF];

static int bufq_bench_ring_setup(void)
{
	int i, ret;

	/*
	 * Twice the buffers: the consumer frees slots in batches, so a full
	 * ring of exactly NBUF refuses some produces until it catches up.
	 */
	ret = ptr_ring_init(&bufq_bench_free_ring, 2 * BUFQ_BENCH_NBUF,
			    GFP_KERNEL);
	if (ret)
		return ret;
	ret = ptr_ring_init(&bufq_bench_work_ring, 2 * BUFQ_BENCH_NBUF,
			    GFP_KERNEL);
	if (ret)
		goto out_free_ring;
	for (i = 0; i < BUFQ_BENCH_NBUF; i++) {
		bufq_bench_ring_mem[i] = kmalloc(BUFQ_BENCH_SIZE, GFP_KERNEL);
		if (!bufq_bench_ring_mem[i] ||
		    ptr_ring_produce(&bufq_bench_free_ring,
				     bufq_bench_ring_mem[i])) {
			ret = -ENOMEM;
			goto out_bufs;
		}
	}
	return 0;

out_bufs:
	while (i >= 0)
		kfree(bufq_bench_ring_mem[i--]);
	ptr_ring_cleanup(&bufq_bench_work_ring, NULL);
out_free_ring:
	ptr_ring_cleanup(&bufq_bench_free_ring, NULL);
	return ret;
}

static void bufq_bench_ring_teardown(void)
{
	int i;

	ptr_ring_cleanup(&bufq_bench_work_ring, NULL);
	ptr_ring_cleanup(&bufq_bench_free_ring, NULL);
	for (i = 0; i < BUFQ_BENCH_NBUF; i++)
		kfree(bufq_bench_ring_mem[i]);
}

static void *bufq_bench_ring_get(void)
{
	return ptr_ring_consume_any(&bufq_bench_free_ring);
}

static void bufq_bench_ring_put(void *buf)
{
	ptr_ring_produce_any(&bufq_bench_free_ring, buf);
}

static bool bufq_bench_ring_push(void *buf)
{
	return !ptr_ring_produce_any(&bufq_bench_work_ring, buf);
}

static void *bufq_bench_ring_pop(void)
{
	return ptr_ring_consume_any(&bufq_bench_work_ring);
}

static unsigned int bufq_bench_ring_get_bulk(void **bufs, unsigned int n)
{
	return ptr_ring_consume_batched_any(&bufq_bench_free_ring, bufs, n);
}

static void bufq_bench_ring_put_bulk(void **bufs, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		ptr_ring_produce_any(&bufq_bench_free_ring, bufs[i]);
}

static unsigned int bufq_bench_ring_push_bulk(void **bufs, unsigned int n)
{
	unsigned int i;
	unsigned long flags;

	/* ptr_ring has no batched produce: one lock hold, as a user would. */
	spin_lock_irqsave(&bufq_bench_work_ring.producer_lock, flags);
	for (i = 0; i < n; i++)
		if (__ptr_ring_produce(&bufq_bench_work_ring, bufs[i]))
			break;
	spin_unlock_irqrestore(&bufq_bench_work_ring.producer_lock, flags);
	return i;
}

static unsigned int bufq_bench_ring_pop_bulk(void **bufs, unsigned int n)
{
	return ptr_ring_consume_batched_any(&bufq_bench_work_ring, bufs, n);
}

/*
 * page_pool, the network stack's recycler, as the free pool, with the
 * ptr_ring pair's work ring as the FIFO: only the free side differs.
 *
 * Its buffers are pages. get() takes from the pool's lockless cache (refilled
 * from its ptr_ring), which its contract leaves to one context at a time
 * (a NAPI instance); only one thread allocates here. put() is the recycle of
 * that context: allow_direct, back into the cache. put_remote() is a put
 * from another CPU, not in softirq: allow_direct false, through its
 * ptr_ring under the producer lock with bottom halves off.
 */
static struct page_pool *bufq_bench_pp;

static void *bufq_bench_pp_get(void)
{
	return page_pool_dev_alloc_pages(bufq_bench_pp);
}

static void bufq_bench_pp_put(void *buf)
{
	page_pool_put_full_page(bufq_bench_pp, buf, true);
}

static void bufq_bench_pp_put_remote(void *buf)
{
	page_pool_put_full_page(bufq_bench_pp, buf, false);
}

static int bufq_bench_pp_setup(void)
{
	struct page_pool_params pp = {
		.order = 0,
		.pool_size = 2 * BUFQ_BENCH_NBUF,
		.nid = NUMA_NO_NODE,
	};
	static struct page *pages[BUFQ_BENCH_NBUF];	/* one bench at a time */
	int i, ret;

	ret = ptr_ring_init(&bufq_bench_work_ring, 2 * BUFQ_BENCH_NBUF,
			    GFP_KERNEL);
	if (ret)
		return ret;
	bufq_bench_pp = page_pool_create(&pp);
	if (IS_ERR(bufq_bench_pp)) {
		ptr_ring_cleanup(&bufq_bench_work_ring, NULL);
		return PTR_ERR(bufq_bench_pp);
	}
	/* Start, like the others, with the buffers already in the pool. */
	for (i = 0; i < BUFQ_BENCH_NBUF; i++) {
		pages[i] = bufq_bench_pp_get();
		if (!pages[i])
			break;
	}
	while (i--)
		bufq_bench_pp_put(pages[i]);
	return 0;
}

static void bufq_bench_pp_teardown(void)
{
	struct page *page;

	while ((page = ptr_ring_consume(&bufq_bench_work_ring)))
		bufq_bench_pp_put(page);
	ptr_ring_cleanup(&bufq_bench_work_ring, NULL);
	page_pool_destroy(bufq_bench_pp);
}

static const struct bufq_bench_impl bufq_bench_impls[] = {
	{
		.name = "bufq",
		.setup = bufq_bench_bufq_setup,
		.teardown = bufq_bench_bufq_teardown,
		.get = bufq_bench_bufq_get, .put = bufq_bench_bufq_put,
		.push = bufq_bench_bufq_push, .pop = bufq_bench_bufq_pop,
		.get_bulk = bufq_bench_bufq_get_bulk,
		.put_bulk = bufq_bench_bufq_put_bulk,
		.push_bulk = bufq_bench_bufq_push_bulk,
		.pop_bulk = bufq_bench_bufq_pop_bulk,
	}, {
		.name = "kmalloc+list",
		.setup = bufq_bench_nop_setup,
		.teardown = bufq_bench_nop_teardown,
		.get = bufq_bench_kmalloc_get, .put = bufq_bench_kmalloc_put,
		.push = bufq_bench_list_push, .pop = bufq_bench_list_pop,
	}, {
		.name = "mempool+list",
		.setup = bufq_bench_mempool_setup,
		.teardown = bufq_bench_mempool_teardown,
		.get = bufq_bench_mempool_get, .put = bufq_bench_mempool_put,
		.push = bufq_bench_list_push, .pop = bufq_bench_list_pop,
	}, {
		.name = "ptr_ring-pair",
		.setup = bufq_bench_ring_setup,
		.teardown = bufq_bench_ring_teardown,
		.get = bufq_bench_ring_get, .put = bufq_bench_ring_put,
		.push = bufq_bench_ring_push, .pop = bufq_bench_ring_pop,
		.get_bulk = bufq_bench_ring_get_bulk,
		.put_bulk = bufq_bench_ring_put_bulk,
		.push_bulk = bufq_bench_ring_push_bulk,
		.pop_bulk = bufq_bench_ring_pop_bulk,
	}, {
		.name = "kmem_cache+llist",
		.setup = bufq_bench_llist_setup,
		.teardown = bufq_bench_llist_teardown,
		.get = bufq_bench_llist_get, .put = bufq_bench_llist_put,
		.push = bufq_bench_llist_push, .pop = bufq_bench_llist_pop,
		.get_bulk = bufq_bench_llist_get_bulk,
		.put_bulk = bufq_bench_llist_put_bulk,
	}, {
		.name = "page_pool",
		.setup = bufq_bench_pp_setup,
		.teardown = bufq_bench_pp_teardown,
		.get = bufq_bench_pp_get, .put = bufq_bench_pp_put,
		.put_remote = bufq_bench_pp_put_remote,
		.push = bufq_bench_ring_push, .pop = bufq_bench_ring_pop,
		.push_bulk = bufq_bench_ring_push_bulk,
		.pop_bulk = bufq_bench_ring_pop_bulk,
	},
};

/* One thread: @n full cycles. */
static int bufq_bench_cycle(const struct bufq_bench_impl *impl, unsigned int n)
{
	unsigned int i;
	void *buf;

	for (i = 0; i < n; i++) {
		buf = impl->get();
		if (!buf || !impl->push(buf))
			return -EIO;
		buf = impl->pop();
		if (!buf)
			return -EIO;
		impl->put(buf);
		if (!(i & 1023))
			cond_resched();
	}
	return 0;
}

/* One thread: ps per full cycle, after a warm-up of a tenth as many. */
static int bufq_bench_single_ps(const struct bufq_bench_impl *impl, u64 *ps)
{
	u64 t0, ns;
	int ret;

	ret = bufq_bench_cycle(impl, bufq_bench_cycles / 10);
	if (ret)
		return ret;
	t0 = ktime_get_ns();
	ret = bufq_bench_cycle(impl, bufq_bench_cycles);
	ns = ktime_get_ns() - t0;
	*ps = div_u64(ns * 1000, bufq_bench_cycles);
	return ret;
}

/* Print the best of @reps measurements: the least disturbed by the host. */
static int bufq_bench_single(const struct bufq_bench_impl *impl,
			     const char *name, unsigned int reps)
{
	u64 ps, best = U64_MAX;
	int ret = 0;

	while (!ret && reps--) {
		ret = bufq_bench_single_ps(impl, &ps);
		best = min(best, ps);
	}
	if (!ret)
		pr_info("single %s %llu ps/cycle\n", name, best);
	return ret;
}

/* @rounds batches of @n; impls without a bulk call loop on the single one. */
static int bufq_bench_bulk_rounds(const struct bufq_bench_impl *impl,
				  unsigned int n, unsigned int rounds)
{
	static void *bufs[256];	/* one bench at a time */
	unsigned int i, got;

	for (i = 0; i < rounds; i++) {
		if (impl->get_bulk) {
			got = impl->get_bulk(bufs, n);
		} else {
			for (got = 0; got < n; got++) {
				bufs[got] = impl->get();
				if (!bufs[got])
					break;
			}
		}
		if (got != n)
			return -EIO;
		if (impl->push_bulk) {
			got = impl->push_bulk(bufs, n);
		} else {
			for (got = 0; got < n && impl->push(bufs[got]); got++)
				;
		}
		if (got != n)
			return -EIO;
		if (impl->pop_bulk) {
			got = impl->pop_bulk(bufs, n);
		} else {
			for (got = 0; got < n; got++) {
				bufs[got] = impl->pop();
				if (!bufs[got])
					break;
			}
		}
		if (got != n)
			return -EIO;
		if (impl->put_bulk) {
			impl->put_bulk(bufs, n);
		} else {
			for (got = 0; got < n; got++)
				impl->put(bufs[got]);
		}
		cond_resched();
	}
	return 0;
}

/* Batches of @n: ps per buffer, after a warm-up of a tenth as many. */
static int bufq_bench_bulk(const struct bufq_bench_impl *impl, unsigned int n,
			   u64 *ps)
{
	unsigned int rounds = bufq_bench_cycles / n;
	u64 t0, ns;
	int ret;

	ret = bufq_bench_bulk_rounds(impl, n, rounds / 10 + 1);
	if (ret)
		return ret;
	t0 = ktime_get_ns();
	ret = bufq_bench_bulk_rounds(impl, n, rounds);
	ns = ktime_get_ns() - t0;
	*ps = div_u64(ns * 1000, (u64)rounds * n);
	return ret;
}

/*
 * Two threads on two CPUs: a producer on CPU 0 fetches and enqueues, a
 * consumer on CPU 1 dequeues and reuses: every buffer is reused on the
 * other CPU than the one that fetched it (put_remote() where the
 * implementation tells the two apart).
 */
struct bufq_bench_pc {
	const struct bufq_bench_impl *impl;
	struct completion done[2];
	unsigned long deadline;
	u64 count;
	u64 *stamps;		/* the consumer's clock every WINDOW buffers */
	unsigned int nr_stamps;
	bool stop;
	int err;
};

/*
 * The rate while both threads run: the 90th percentile of the rates of
 * windows of this many buffers (about 0.1 ms each here, far shorter than
 * a host's time slice), so that the windows in which the host had
 * descheduled a vCPU, slow for every implementation, fall below it.
 */
#define BUFQ_BENCH_WINDOW	256
#define BUFQ_BENCH_STAMPS	65536

static int bufq_bench_producer(void *arg)
{
	struct bufq_bench_pc *pc = arg;
	void *buf;

	while (!READ_ONCE(pc->stop)) {
		buf = pc->impl->get();
		if (!buf) {
			cond_resched();
			continue;
		}
		if (!pc->impl->push(buf))
			pc->impl->put(buf);
		if (time_after(jiffies, pc->deadline)) {
			/* After the push: the consumer's last pop finds it. */
			smp_store_release(&pc->stop, true);
		}
		cond_resched();
	}
	complete(&pc->done[0]);
	return 0;
}

static int bufq_bench_consumer(void *arg)
{
	struct bufq_bench_pc *pc = arg;
	void (*put)(void *buf) = pc->impl->put_remote ?: pc->impl->put;
	bool stop;
	void *buf;

	for (;;) {
		/* Before the pop, so that the last one finds all pushed. */
		stop = smp_load_acquire(&pc->stop);
		buf = pc->impl->pop();
		if (buf) {
			put(buf);
			if (!(++pc->count % BUFQ_BENCH_WINDOW) &&
			    pc->nr_stamps < BUFQ_BENCH_STAMPS)
				pc->stamps[pc->nr_stamps++] = ktime_get_ns();
		} else if (stop) {
			break;
		}
		cond_resched();
	}
	complete(&pc->done[1]);
	return 0;
}

static int bufq_bench_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Turn the stamps into window rates, in place, and print their p90. */
static void bufq_bench_two_p90(const char *name, struct bufq_bench_pc *pc)
{
	unsigned int i, n = pc->nr_stamps ? pc->nr_stamps - 1 : 0;
	u64 *rate = pc->stamps;

	if (n < 10)
		return;
	for (i = 0; i < n; i++)
		rate[i] = div64_u64(BUFQ_BENCH_WINDOW * NSEC_PER_SEC,
				    max(pc->stamps[i + 1] - pc->stamps[i], 1ULL));
	sort(rate, n, sizeof(*rate), bufq_bench_cmp_u64, NULL);
	pr_info("twothread-p90 %s %llu buffers/s\n", name, rate[n * 9 / 10]);
}

static int bufq_bench_two(const struct bufq_bench_impl *impl)
{
	struct bufq_bench_pc pc = { .impl = impl };
	struct task_struct *t[2];
	u64 t0, ns;
	int i;

	if (num_online_cpus() < 2)
		return 0;
	pc.stamps = kvmalloc_array(BUFQ_BENCH_STAMPS, sizeof(*pc.stamps),
				   GFP_KERNEL);
	if (!pc.stamps)
		return -ENOMEM;
	init_completion(&pc.done[0]);
	init_completion(&pc.done[1]);
	t[0] = kthread_create(bufq_bench_producer, &pc, "bufq-bench-p");
	t[1] = kthread_create(bufq_bench_consumer, &pc, "bufq-bench-c");
	for (i = 0; i < 2; i++) {
		if (IS_ERR(t[i]))
			return PTR_ERR(t[i]);	/* leaves the other; bench only */
		kthread_bind(t[i], i);
	}
	t0 = ktime_get_ns();
	pc.deadline = jiffies + msecs_to_jiffies(bufq_bench_ms);
	wake_up_process(t[0]);
	wake_up_process(t[1]);
	wait_for_completion(&pc.done[0]);
	wait_for_completion(&pc.done[1]);
	ns = ktime_get_ns() - t0;
	pr_info("twothread %s %llu buffers/s\n", impl->name,
		div64_u64(pc.count * NSEC_PER_SEC, ns));
	bufq_bench_two_p90(impl->name, &pc);
	kvfree(pc.stamps);
	return 0;
}

enum bufq_bench_fig {
	BUFQ_BENCH_SINGLE,
	BUFQ_BENCH_BULK8,
	BUFQ_BENCH_BULK32,
	BUFQ_BENCH_BULK256,
	BUFQ_BENCH_TWO,
	BUFQ_BENCH_NFIG
};

/* The one-thread figures' names: "<name> <impl> <ps> ps/cycle". */
static const char *const bufq_bench_fig_names[BUFQ_BENCH_TWO] = {
	[BUFQ_BENCH_SINGLE] = "single",
	[BUFQ_BENCH_BULK8] = "bulk8",
	[BUFQ_BENCH_BULK32] = "bulk32",
	[BUFQ_BENCH_BULK256] = "bulk256",
};

/*
 * A round of a one-thread figure is the best of this many measurements,
 * the implementations interleaved between them: a figure that runs for
 * a tenth of a second, on a host that slows a vCPU for as long now and
 * then, otherwise measures the host as much as the code (see
 * docs/benchmarks.md).
 */
#define BUFQ_BENCH_REPS		3

/*
 * One measurement of one figure, on a fresh setup of @impl: a one-thread
 * figure in @ps; the two-thread figures print themselves.
 */
static int bufq_bench_one(const struct bufq_bench_impl *impl,
			  enum bufq_bench_fig fig, u64 *ps)
{
	void *buf;
	int ret;

	ret = impl->setup();
	if (ret)
		return ret;
	switch (fig) {
	case BUFQ_BENCH_SINGLE:
		ret = bufq_bench_single_ps(impl, ps);
		break;
	case BUFQ_BENCH_BULK8:
		ret = bufq_bench_bulk(impl, 8, ps);
		break;
	case BUFQ_BENCH_BULK32:
		ret = bufq_bench_bulk(impl, 32, ps);
		break;
	case BUFQ_BENCH_BULK256:
		ret = bufq_bench_bulk(impl, 256, ps);
		break;
	default:
		ret = bufq_bench_two(impl);
		break;
	}
	/* Nothing left on the FIFO for the next setup to find. */
	while ((buf = impl->pop()))
		impl->put(buf);
	impl->teardown();
	return ret;
}

/*
 * Round @r of @fig: every implementation, starting at the r-th, so none
 * always runs first or after the same one. A one-thread figure is
 * measured BUFQ_BENCH_REPS times so (once under -icount, where the clock
 * counts instructions and the host changes nothing), and its best printed.
 */
static int bufq_bench_round(enum bufq_bench_fig fig, unsigned int r)
{
	const unsigned int n = ARRAY_SIZE(bufq_bench_impls);
	unsigned int reps = BUFQ_BENCH_REPS, i, k;
	u64 best[ARRAY_SIZE(bufq_bench_impls)];
	u64 ps = 0;
	int ret;

	if (fig == BUFQ_BENCH_TWO || bufq_bench_icount)
		reps = 1;
	for (k = 0; k < n; k++)
		best[k] = U64_MAX;
	while (reps--) {
		for (k = 0; k < n; k++) {
			i = (r + k) % n;
			ret = bufq_bench_one(&bufq_bench_impls[i], fig, &ps);
			if (ret) {
				pr_err("%s failed: %d\n",
				       bufq_bench_impls[i].name, ret);
				return ret;
			}
			best[i] = min(best[i], ps);
		}
	}
	if (fig == BUFQ_BENCH_TWO)
		return 0;
	for (k = 0; k < n; k++) {
		i = (r + k) % n;
		pr_info("%s %s %llu ps/cycle\n", bufq_bench_fig_names[fig],
			bufq_bench_impls[i].name, best[i]);
	}
	return 0;
}

/* Every figure, $runs rounds of every implementation. */
static int bufq_bench_figures(void)
{
	unsigned int fig, r;
	int ret;

	for (fig = 0; fig < BUFQ_BENCH_NFIG; fig++) {
		/* One vCPU at a time runs under -icount: no two-thread figure. */
		if (bufq_bench_icount && fig == BUFQ_BENCH_TWO)
			continue;
		for (r = 0; r < bufq_bench_runs; r++) {
			ret = bufq_bench_round(fig, r);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int bufq_bench_metadata(void)
{
	struct bufq_stats st;
	int ret;

	ret = bufq_bench_bufq_setup();
	if (ret)
		return ret;
	bufq_get_stats(bufq_bench_q, &st);
	pr_info("metadata bufq %u bytes/buffer\n", st.overhead);
	bufq_bench_bufq_teardown();
	return 0;
}

/* What a buffer really costs: all the queue's memory over its buffers. */
static int bufq_bench_footprint(unsigned int size)
{
	struct bufq_config cfg = {
		.name = "bench-footprint",
		.buffer_count = BUFQ_BENCH_NBUF,
		.buffer_size = size,
	};
	struct bufq_stats st;
	struct bufq *q;

	q = bufq_create(&cfg);
	if (IS_ERR(q))
		return PTR_ERR(q);
	bufq_get_stats(q, &st);
	pr_info("footprint%u bufq %lu B/buffer\n", size,
		st.mem_bytes / st.total);
	bufq_destroy(q);
	return 0;
}

static void bufq_bench_expired(struct bufq *q, void *buf, void *ctx,
			       void *arg)
{
	bufq_reuse(q, buf);
}

/*
 * The longest interrupts-off section of one timer expiry, with @n buffers
 * queued, every other one timed. Deadlines are 0.5 ms apart whatever @n,
 * so each expiry has about as many buffers to expire in both runs: what
 * differs is only how many sit on the queue.
 */
static int bufq_bench_expiry(unsigned int n)
{
	struct bufq_config cfg = {
		.name = "bench-expiry",
		.buffer_count = n,
		.buffer_size = 64,
		.with_timer = true,
	};
	struct bufq_stats st;
	unsigned int i;
	struct bufq *q;
	void *buf;
	int ret = 0;

	q = bufq_create(&cfg);
	if (IS_ERR(q))
		return PTR_ERR(q);
	for (i = 0; i < n && !ret; i++) {
		ret = bufq_fetch(q, &buf, NULL);
		if (ret)
			break;
		if (i & 1)
			ret = bufq_enqueue(q, buf);
		else
			ret = bufq_enqueue_with_timer(q, buf, 20 + i / 4,
						      bufq_bench_expired, NULL);
	}
	do {
		msleep(20);
		bufq_get_stats(q, &st);
	} while (!ret && st.timed);
	pr_info("expiry%u bufq %llu ns\n", n, st.expiry_max_ns);
	bufq_flush(q);
	bufq_destroy(q);
	return ret;
}

static int bufq_bench_memory(void)
{
	static const unsigned int sizes[] = { 64, 4096, 65536 };
	int i, ret = 0;

	for (i = 0; !ret && i < ARRAY_SIZE(sizes); i++)
		ret = bufq_bench_footprint(sizes[i]);
	if (!ret)
		ret = bufq_bench_expiry(100);
	if (!ret)
		ret = bufq_bench_expiry(10000);
	return ret;
}

/*
 * bufq's single-thread cycle alone, as bench-init measures its trace
 * events: the best of five, as the differences sought are small.
 */
static int bufq_bench_labelled(void)
{
	const struct bufq_bench_impl *impl = &bufq_bench_impls[0];
	int ret = impl->setup();

	if (ret)
		return ret;
	ret = bufq_bench_single(impl, bufq_bench_label, 5);
	impl->teardown();
	return ret;
}

static int __init bufq_bench_init(void)
{
	unsigned int r;
	int ret;

	if (bufq_bench_label) {
		ret = bufq_bench_labelled();
		if (ret)
			pr_err("%s failed: %d\n", bufq_bench_label, ret);
		return ret;
	}

	/* Memory and timers are not cycle figures: not counted. */
	if (!bufq_bench_icount) {
		ret = bufq_bench_metadata();
		for (r = 0; !ret && r < bufq_bench_runs; r++)
			ret = bufq_bench_memory();
		if (ret) {
			pr_err("memory and timers failed: %d\n", ret);
			return ret;
		}
	}

	ret = bufq_bench_figures();
	if (ret)
		return ret;
	pr_info("done\n");
	return 0;
}

static void __exit bufq_bench_exit(void)
{
}

module_init(bufq_bench_init);
module_exit(bufq_bench_exit);

MODULE_DESCRIPTION("bufq benchmarks against kernel alternatives");
MODULE_LICENSE("GPL");
