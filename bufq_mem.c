// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_mem - where a queue's buffers live
 *
 * A queue owns its memory: no slab cache per queue (no sysfs entry, no
 * slab_mutex, no RCU barrier when it goes) and no object that another
 * user of a shared cache could get back while a stale pointer to it may
 * still be handed to the queue.
 *
 * Buffer headers (and context areas, and data areas that are not a
 * multiple of PAGE_SIZE) are objects carved from chunks: naturally aligned
 * blocks of 2^order pages, each page's private word set to the queue's tag
 * and the chunk's order. A data area whose size is a multiple of PAGE_SIZE
 * gets pages of its own (alloc_pages_exact(): the order the data needs,
 * no more memory than it needs); the private word of its first page points
 * back at its header.
 *
 * A pointer handed in is checked against the core's index of data
 * addresses before anything it points at is read (bufq_core.c). A chunk
 * goes back to the page allocator when its last object is freed.
 *
 * Locking: mem_lock (raw, irq-safe) guards the partial list and each
 * chunk's free list and counts. It nests inside no other bufq lock.
 * Allocation happens outside every lock but mem_lock; nothing here is
 * called from hard IRQ context but allocation (see bufq_fetch()).
 */
#include <linux/kmemleak.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "bufq_compat.h"
#include "bufq_core.h"

/* page_private() of the queue's pages: q->tag | order << 1 | kind. */
#define BUFQ_TAG_DATA		BIT(0)		/* first page of a data area */
#define BUFQ_TAG_ORDER		GENMASK(4, 1)
#define BUFQ_TAG_LOW		GENMASK(5, 0)	/* not part of q->tag */
#define BUFQ_TAG_MAGIC		0x6275667100000000UL

/* Chunks are at most this order unless one object needs more. */
#define BUFQ_CHUNK_ORDER_MAX	3

/**
 * struct bufq_chunk - the head of a block of pages objects are carved from
 * @partial: in q->partial while the chunk has a free slot
 * @free: object slots given back (through their header's node)
 * @inuse: objects in use
 * @carved: objects handed out at least once; the rest are untouched
 * @order: the block is 2^order pages
 */
struct bufq_chunk {
	struct list_head partial;
	struct list_head free;
	unsigned int inuse;
	unsigned int carved;
	unsigned int order;
};

#define BUFQ_CHUNK_HDR	ALIGN(sizeof(struct bufq_chunk), 8)

static unsigned int bufq_chunk_objs(const struct bufq *q, unsigned int order)
{
	return ((PAGE_SIZE << order) - BUFQ_CHUNK_HDR) / q->obj_size;
}

/* Pick the chunk order: the first whose waste is within 1/32 of an object. */
static void bufq_chunk_orders(struct bufq *q)
{
	unsigned int lo = get_order(BUFQ_CHUNK_HDR + q->obj_size), o, n;
	unsigned int hi = max(lo, BUFQ_CHUNK_ORDER_MAX);
	unsigned long waste, best = ULONG_MAX;

	q->min_chunk_order = lo;
	q->chunk_order = lo;
	for (o = lo; o <= hi; o++) {
		n = bufq_chunk_objs(q, o);
		waste = ((PAGE_SIZE << o) - (unsigned long)n * q->obj_size) / n;
		if (waste < best) {
			best = waste;
			q->chunk_order = o;
		}
		if (waste <= q->obj_size / 32)
			break;
	}
}

/**
 * bufq_mem_layout - work out where everything of a buffer lives
 * @q: the queue being made; q->buffer_size etc. are not set yet
 * @cfg: its configuration
 *
 * Return: 0; -E2BIG if a buffer would need more than KMALLOC_MAX_SIZE of
 * contiguous memory.
 */
int bufq_mem_layout(struct bufq *q, const struct bufq_config *cfg)
{
	u64 off = sizeof(struct bufq_buf);

	q->mappable = cfg->mappable;
	q->paged = cfg->mappable ||
		   (cfg->buffer_size && PAGE_ALIGNED(cfg->buffer_size));
	if (!q->paged)
		off = ALIGN(off + cfg->buffer_size + sizeof(u32), 8);
	else if (q->mappable)
		off += sizeof(struct bufq_map);
	q->ctx_off = off;
	off = ALIGN(off + cfg->context_size + sizeof(u32), 8);
	q->timed_off = off;
	if (cfg->with_timer)
		off += sizeof(struct bufq_timed);
	if (BUFQ_CHUNK_HDR + off > KMALLOC_MAX_SIZE ||
	    (q->paged && off + PAGE_ALIGN((u64)cfg->buffer_size) >
			 KMALLOC_MAX_SIZE))
		return -E2BIG;
	q->obj_size = off;
	bufq_chunk_orders(q);
	q->tag = ((unsigned long)q ^ BUFQ_TAG_MAGIC) & ~BUFQ_TAG_LOW;
	return 0;
}

/* The private word of the page holding @addr, any page's. */
static unsigned long bufq_page_tag(const void *addr)
{
	/* A foreign page's word may change under us: only equality matters. */
	return data_race(page_private(virt_to_page(addr)));
}

static void bufq_tag_pages(void *addr, unsigned int nr, unsigned long tag)
{
	struct page *page = virt_to_page(addr);
	unsigned int i;

	for (i = 0; i < nr; i++)
		set_page_private(page + i, tag);
}

static struct bufq_chunk *bufq_chunk_alloc(struct bufq *q, unsigned int order,
					   gfp_t gfp)
{
	struct bufq_chunk *c;
	struct page *page;

	if (order > q->min_chunk_order)
		gfp |= __GFP_NOWARN | __GFP_NORETRY;
	page = alloc_pages(gfp, order);
	if (!page)
		return NULL;
	c = page_address(page);
	kmemleak_alloc(c, PAGE_SIZE << order, 0, gfp);
	INIT_LIST_HEAD(&c->free);
	c->inuse = 0;
	c->carved = 0;
	c->order = order;
	bufq_tag_pages(c, 1U << order, q->tag | order << 1);
	return c;
}

static void bufq_chunk_free(struct bufq_chunk *c)
{
	unsigned int order = c->order;

	bufq_tag_pages(c, 1U << order, 0);
	kmemleak_free(c);
	__free_pages(virt_to_page(c), order);
}

/* Caller holds mem_lock. Take an object slot of @c, which has one. */
static struct bufq_buf *__bufq_chunk_take(struct bufq *q, struct bufq_chunk *c)
{
	struct bufq_buf *b;

	b = list_first_entry_or_null(&c->free, struct bufq_buf, node);
	if (b)
		list_del(&b->node);
	else
		b = (void *)c + BUFQ_CHUNK_HDR + c->carved++ * q->obj_size;
	c->inuse++;
	if (list_empty(&c->free) && c->carved == bufq_chunk_objs(q, c->order))
		list_del_init(&c->partial);
	return b;
}

static struct bufq_buf *bufq_obj_alloc(struct bufq *q, gfp_t gfp)
{
	struct bufq_chunk *c;
	struct bufq_buf *b = NULL;
	unsigned long flags;

	raw_spin_lock_irqsave(&q->mem_lock, flags);
	c = list_first_entry_or_null(&q->partial, struct bufq_chunk, partial);
	if (c)
		b = __bufq_chunk_take(q, c);
	raw_spin_unlock_irqrestore(&q->mem_lock, flags);
	if (b)
		return b;

	c = bufq_chunk_alloc(q, q->chunk_order, gfp);
	if (!c && q->chunk_order > q->min_chunk_order)
		c = bufq_chunk_alloc(q, q->min_chunk_order, gfp);
	if (!c)
		return NULL;
	raw_spin_lock_irqsave(&q->mem_lock, flags);
	list_add(&c->partial, &q->partial);
	q->mem_bytes += PAGE_SIZE << c->order;
	b = __bufq_chunk_take(q, c);
	raw_spin_unlock_irqrestore(&q->mem_lock, flags);
	return b;
}

static struct bufq_chunk *bufq_chunk_of(const struct bufq_buf *b)
{
	unsigned int order = (bufq_page_tag(b) & BUFQ_TAG_ORDER) >> 1;

	return (void *)((unsigned long)b & ~((PAGE_SIZE << order) - 1));
}

static void bufq_obj_free(struct bufq *q, struct bufq_buf *b)
{
	struct bufq_chunk *c = bufq_chunk_of(b);
	unsigned long flags;
	bool empty;

	raw_spin_lock_irqsave(&q->mem_lock, flags);
	if (list_empty(&c->partial))
		list_add(&c->partial, &q->partial);
	list_add(&b->node, &c->free);
	empty = !--c->inuse;
	if (empty) {
		list_del(&c->partial);
		q->mem_bytes -= PAGE_SIZE << c->order;
	}
	raw_spin_unlock_irqrestore(&q->mem_lock, flags);
	if (empty)
		bufq_chunk_free(c);
}

/* Make the header @b a fresh buffer, held by the caller. */
static void bufq_obj_init(struct bufq *q, struct bufq_buf *b, void *data)
{
	void *ctx = bufq_ctx_of(q, b);

	b->data = data;
	if (!q->paged) {
		memset(data, 0, q->buffer_size);
		put_unaligned(BUFQ_SENTINEL, (u32 *)(data + q->buffer_size));
	}
	memset(ctx, 0, q->context_size);
	put_unaligned(BUFQ_SENTINEL, (u32 *)(ctx + q->context_size));
	if (q->with_timer)
		memset(bufq_timed_of(q, b), 0, sizeof(struct bufq_timed));
	WRITE_ONCE(b->magic, bufq_magic(q, b, BUFQ_STATE_HELD));
}

static void bufq_mem_count(struct bufq *q, long bytes)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&q->mem_lock, flags);
	q->mem_bytes += bytes;
	raw_spin_unlock_irqrestore(&q->mem_lock, flags);
}

/*
 * The data area of index @i, made now if it does not exist yet, zeroed
 * and charged to the queue's memcg. Bind (of a new header) and a fault on
 * the mapping may race for one index: one allocation wins, the other is
 * freed. Return: the data area, or NULL when out of memory.
 */
static void *bufq_slot_data(struct bufq *q, u32 i, gfp_t gfp)
{
	struct bufq_slot *s = &q->slots[i];
	struct mem_cgroup *old;
	void *data, *cur;

	/* Pairs with the try_cmpxchg() below: the zeroing is seen first. */
	data = smp_load_acquire(&s->data);
	if (data)
		return data;
	old = set_active_memcg(q->memcg);
	/* Sizes may come from user space: fail quietly. */
	data = alloc_pages_exact(bufq_data_size(q),
				 gfp | __GFP_ZERO | __GFP_NOWARN);
	set_active_memcg(old);
	if (!data)
		return NULL;
	cur = NULL;
	/* Full barrier: pairs with smp_load_acquire() above and in readers. */
	if (!try_cmpxchg(&s->data, &cur, data)) {
		free_pages_exact(data, bufq_data_size(q));
		/* A failed cmpxchg orders nothing: pairs with the winner's. */
		return smp_load_acquire(&s->data);
	}
	bufq_mem_count(q, bufq_data_size(q));
	return data;
}

/* Unbind index @i and make it free again; its data area stays. */
static void bufq_slot_put(struct bufq *q, u32 i)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&q->mem_lock, flags);
	q->slots[i].buf = NULL;
	q->free_slots[q->nr_free_slots++] = i;
	raw_spin_unlock_irqrestore(&q->mem_lock, flags);
}

/*
 * Bind a free index of a mappable queue to the new header @b, making the
 * index's data area on its first use. Return: the data area, or NULL when
 * out of memory (no index free cannot happen: indices are as many as the
 * cap).
 */
static void *bufq_slot_bind(struct bufq *q, struct bufq_buf *b, gfp_t gfp)
{
	struct bufq_slot *s = NULL;
	unsigned long flags;
	void *data;
	u32 i;

	raw_spin_lock_irqsave(&q->mem_lock, flags);
	if (!WARN_ON_ONCE(!q->nr_free_slots)) {
		i = q->free_slots[--q->nr_free_slots];
		s = &q->slots[i];
		s->buf = b;
		WARN_ON_ONCE(READ_ONCE(s->owner));
		bufq_map_of(b)->index = i;
		bufq_map_of(b)->len = 0;
	}
	raw_spin_unlock_irqrestore(&q->mem_lock, flags);
	if (!s)
		return NULL;
	data = bufq_slot_data(q, i, gfp);
	if (!data) {
		bufq_slot_put(q, i);
		return NULL;
	}
	bufq_tag_pages(data, 1, (unsigned long)b | BUFQ_TAG_DATA);
	return data;
}

static void bufq_slot_unbind(struct bufq *q, struct bufq_buf *b)
{
	bufq_tag_pages(b->data, 1, 0);
	bufq_slot_put(q, bufq_map_of(b)->index);
}

/**
 * bufq_mem_slots_init - set up a mappable queue's indices
 * @q: the queue, laid out, with no buffer yet
 * @gfp: allocation mask
 *
 * If growth may sleep (q->gfp), data areas are made on first use of their
 * index (bufq_slot_data()): the buffers of creation make theirs now,
 * growth and faults on a mapping the others. Otherwise all are made now,
 * so that growth in atomic context allocates no more than a header. Either
 * way they live as long as the queue.
 *
 * Return: 0 or -ENOMEM; bufq_mem_slots_free() undoes either.
 */
int bufq_mem_slots_init(struct bufq *q, gfp_t gfp)
{
	u32 i;

	if (!q->mappable)
		return 0;
	q->nr_slots = q->max_buffers;
	q->slots = kvcalloc(q->nr_slots, sizeof(*q->slots), gfp);
	q->free_slots = kvmalloc_array(q->nr_slots, sizeof(*q->free_slots),
				       gfp);
	if (!q->slots || !q->free_slots)
		return -ENOMEM;
	for (i = 0; i < q->nr_slots; i++) {
		if (!gfpflags_allow_blocking(q->gfp) &&
		    !bufq_slot_data(q, i, gfp))
			return -ENOMEM;
		/* Lowest index first: a queue's first buffers are 0, 1, ... */
		q->free_slots[q->nr_slots - 1 - i] = i;
	}
	q->nr_free_slots = q->nr_slots;
	return 0;
}

/**
 * bufq_mem_slots_free - free a mappable queue's data areas
 * @q: the queue; no buffer is bound to an index any more
 */
void bufq_mem_slots_free(struct bufq *q)
{
	u32 i;

	for (i = 0; q->slots && i < q->nr_slots; i++) {
		if (!q->slots[i].data)
			continue;
		free_pages_exact(q->slots[i].data, bufq_data_size(q));
		bufq_mem_count(q, -(long)bufq_data_size(q));
	}
	kvfree(q->slots);
	kvfree(q->free_slots);
	q->slots = NULL;
	q->free_slots = NULL;
}

/**
 * bufq_mem_page - the page behind an offset of a mappable queue's mapping
 * @q: the queue
 * @pgoff: page offset into the mapping: index * pages of a data area
 *	plus the page within it; below nr_slots times that
 *
 * Makes the index's data area if no buffer has used it yet, zeroed.
 *
 * Context: process; may sleep.
 * Return: the page, which lives as long as the queue; NULL when out of
 * memory (or over the memcg's limit): the fault is then a SIGBUS.
 */
struct page *bufq_mem_page(struct bufq *q, pgoff_t pgoff)
{
	unsigned long pages = bufq_data_size(q) >> PAGE_SHIFT;
	u32 i = array_index_nospec(pgoff / pages, q->nr_slots);
	void *data = bufq_slot_data(q, i, GFP_KERNEL | __GFP_RETRY_MAYFAIL |
				    (q->gfp & __GFP_ACCOUNT));

	return data ? virt_to_page(data + (pgoff % pages) * PAGE_SIZE) : NULL;
}

static void *bufq_data_alloc(struct bufq *q, struct bufq_buf *b, gfp_t gfp)
{
	void *data = alloc_pages_exact(q->buffer_size, gfp | __GFP_ZERO);

	if (!data)
		return NULL;
	bufq_tag_pages(data, 1, (unsigned long)b | BUFQ_TAG_DATA);
	bufq_mem_count(q, q->buffer_size);
	return data;
}

/**
 * bufq_mem_alloc - make a new buffer
 * @q: the queue
 * @gfp: allocation mask
 *
 * Charged to the queue's memory cgroup, if it has one, whatever the
 * calling context.
 *
 * Return: the buffer, held by the caller, data and context zeroed; NULL
 * when out of memory.
 */
struct bufq_buf *bufq_mem_alloc(struct bufq *q, gfp_t gfp)
{
	struct mem_cgroup *old = set_active_memcg(q->memcg);
	struct bufq_buf *b = bufq_obj_alloc(q, gfp);
	void *data = b + 1;

	if (b && q->paged) {
		data = q->mappable ? bufq_slot_bind(q, b, gfp) :
				     bufq_data_alloc(q, b, gfp);
		if (!data) {
			bufq_obj_free(q, b);
			b = NULL;
		}
	}
	set_active_memcg(old);
	if (b)
		bufq_obj_init(q, b, data);
	return b;
}

/**
 * bufq_mem_free - free a buffer
 * @q: the queue
 * @b: a buffer nobody holds any more
 *
 * Context: not hard IRQ (the page allocator's locks sleep on PREEMPT_RT).
 */
void bufq_mem_free(struct bufq *q, struct bufq_buf *b)
{
	WRITE_ONCE(b->magic, bufq_magic(q, b, BUFQ_STATE_UNUSED));
	if (q->mappable) {
		bufq_slot_unbind(q, b);
	} else if (q->paged) {
		bufq_tag_pages(b->data, 1, 0);
		free_pages_exact(b->data, q->buffer_size);
		bufq_mem_count(q, -(long)q->buffer_size);
	}
	bufq_obj_free(q, b);
}

/**
 * bufq_mem_overhead - bytes a buffer costs beyond its data and context
 * @q: the queue
 *
 * Return: the header, sentinels, alignment, timer state and share of the
 * chunk of one buffer, in a full chunk.
 */
unsigned int bufq_mem_overhead(const struct bufq *q)
{
	unsigned long chunk = PAGE_SIZE << q->chunk_order;
	unsigned int n = bufq_chunk_objs(q, q->chunk_order);
	unsigned long per = DIV_ROUND_UP(chunk, n);

	if (q->paged)
		per += bufq_data_size(q);
	return per - q->buffer_size - q->context_size;
}
