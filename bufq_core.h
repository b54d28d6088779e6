/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufq internals: shared by the core (bufq_core.c), its memory
 * (bufq_mem.c) and its user-space face (bufq_file.c: the LENT state).
 */
#ifndef _BUFQ_CORE_H
#define _BUFQ_CORE_H

#include <linux/bufq.h>
#include <linux/llist.h>
#include <linux/mm.h>
#include <linux/rbtree.h>
#include <linux/sched.h>

#include "bufq_compat.h"

/*
 * A buffer's header. Objects are carved from page chunks that the queue
 * owns: the header, then (unless the queue is paged) the data area and
 * its sentinel, the context area and its sentinel, and with timers a
 * struct bufq_timed. A paged queue's data areas are pages of their own.
 *
 * @magic comes first and is the buffer's state, bound to its address and
 * its queue: bufq_magic(). One compare tells that a pointer is a buffer of
 * this queue, at an object boundary, in the expected state.
 */
struct bufq_buf {
	unsigned long magic;
	union {
		struct list_head node;	/* consumer list, chunk free list */
		struct llist_node lnode;	/* waiting to be freed */
	};
	void *data;
};

/* The states a buffer's magic encodes. */
enum bufq_state {
	BUFQ_STATE_FREE = 1,		/* on the producer list */
	BUFQ_STATE_QUEUED = 2,		/* on the consumer list */
	BUFQ_STATE_HELD = 3,		/* owned by a client */
	BUFQ_STATE_UNUSED = 4,		/* a free object slot: no buffer */
	BUFQ_STATE_LENT = 5,		/* held by user space: bufq_file.c */
};

/* A state fits below a header's alignment: bufq_magic() XORs it in. */
static_assert(sizeof(long) > BUFQ_STATE_LENT);

static inline unsigned long bufq_magic(const struct bufq *q,
				       const struct bufq_buf *b,
				       enum bufq_state state)
{
	return (unsigned long)b ^ q->tag ^ state;
}

/* Written just past an inline data area and just past the context area. */
#define BUFQ_SENTINEL	0x5e5e7a11U

/* Per-buffer timer state; the queue has one timer for all of them. */
struct bufq_timed {
	struct rb_node node;		/* in q->timed, while armed */
	u64 deadline;			/* jiffies64 */
	bufq_timer_fn fn;
	void *arg;
	unsigned int msecs;
	bool armed;
};

/*
 * A mappable queue's index of each buffer: struct bufq_map sits right
 * after the header, and q->slots[] maps an index to its data area and the
 * buffer bound to it. @owner is the user-space holder (bufq_file.c) of a
 * LENT buffer, 0 otherwise; the cmpxchg() that takes it decides which of
 * several racing hand-ins owns the buffer.
 */
struct bufq_map {
	u32 index;
	u32 len;			/* payload: bufq_set_payload() */
};

struct bufq_slot {
	void *data;			/* PAGE_ALIGN(buffer_size) bytes */
	struct bufq_buf *buf;		/* bound to the index, or NULL */
	unsigned long owner;
};

static inline struct bufq_map *bufq_map_of(struct bufq_buf *b)
{
	return (void *)(b + 1);
}

/* Bytes of pages behind each data area of a paged queue. */
static inline size_t bufq_data_size(const struct bufq *q)
{
	return PAGE_ALIGN(q->buffer_size);
}

static inline void *bufq_ctx_of(const struct bufq *q, struct bufq_buf *b)
{
	return (void *)b + q->ctx_off;
}

static inline struct bufq_timed *bufq_timed_of(const struct bufq *q,
					       struct bufq_buf *b)
{
	return (void *)b + q->timed_off;
}

/* bufq_mem.c */
int bufq_mem_layout(struct bufq *q, const struct bufq_config *cfg);
struct bufq_buf *bufq_mem_alloc(struct bufq *q, gfp_t gfp);
void bufq_mem_free(struct bufq *q, struct bufq_buf *b);
unsigned int bufq_mem_overhead(const struct bufq *q);
int bufq_mem_slots_init(struct bufq *q, gfp_t gfp);
void bufq_mem_slots_free(struct bufq *q);
struct page *bufq_mem_page(struct bufq *q, pgoff_t pgoff);

static inline unsigned long bufq_slot_owner(const struct bufq *q, u32 index)
{
	return READ_ONCE(q->slots[index].owner);
}

static inline struct bufq_buf *bufq_buf_of(const struct bufq *q, void *buf)
{
	if (q->paged)	/* the header, with bit 0 set: see bufq_mem.c */
		return (void *)(page_private(virt_to_page(buf)) & ~1UL);
	return buf - sizeof(struct bufq_buf);
}

static inline void bufq_set_state(struct bufq *q, struct bufq_buf *b,
				  enum bufq_state state)
{
	WRITE_ONCE(b->magic, bufq_magic(q, b, state));
}

/*
 * The payload of @buf, a buffer of a mappable queue, unchecked: the caller
 * knows @q is mappable and, to set it, that @len <= q->buffer_size
 * (bufq_payload(), bufq_set_payload(), BATCH's bufq_batch_check()).
 */
static inline unsigned int bufq_map_len(const struct bufq *q, void *buf)
{
	return READ_ONCE(bufq_map_of(bufq_buf_of(q, buf))->len);
}

static inline void bufq_map_set_len(const struct bufq *q, void *buf,
				    unsigned int len)
{
	WRITE_ONCE(bufq_map_of(bufq_buf_of(q, buf))->len, len);
}

/**
 * bufq_lend - lend a buffer the caller holds to a user-space holder
 * @q: a mappable queue
 * @buf: a buffer the caller just took (fetch or dequeue)
 * @owner: the holder, non-zero
 *
 * For bufq_file.c, inline with bufq_unlend() because BATCH calls them
 * for every record. From now on kernel hand-ins refuse @buf (LENT); only
 * bufq_unlend() with @owner gives it back. Once this returns, @buf may
 * be back with its owner's other threads: the caller must not touch it.
 *
 * Context: any.
 * Return: the buffer's index.
 */
static inline u32 bufq_lend(struct bufq *q, void *buf, unsigned long owner)
{
	struct bufq_buf *b = bufq_buf_of(q, buf);
	u32 index = bufq_map_of(b)->index;

	bufq_set_state(q, b, BUFQ_STATE_LENT);
	/* Pairs with the cmpxchg() in bufq_unlend(): LENT before owned. */
	smp_store_release(&q->slots[index].owner, owner);
	return index;
}

/**
 * bufq_unlend - take a buffer back from its user-space holder
 * @q: a mappable queue
 * @index: the buffer's index, below q->nr_slots
 * @owner: the holder that must hold it
 *
 * Of several racing calls for one buffer, one gets it.
 *
 * Context: any.
 * Return: the buffer, held by the caller now; NULL if @owner does not
 * hold buffer @index.
 */
static inline void *bufq_unlend(struct bufq *q, u32 index,
				unsigned long owner)
{
	struct bufq_slot *s = &q->slots[index];
	struct bufq_buf *b;

	/* Full barrier: pairs with smp_store_release() in bufq_lend(). */
	if (!owner || !try_cmpxchg(&s->owner, &owner, 0))
		return NULL;
	b = s->buf;
	bufq_set_state(q, b, BUFQ_STATE_HELD);
	return b->data;
}

/* bufq_core.c: module init and exit, called by bufq_main.c. */
int bufq_core_init(void);
void bufq_core_exit(void);

/*
 * Observability (bufq_trace.c, bufq_debugfs.c). What the trace events and
 * debugfs read from a queue goes through these helpers, so that a new
 * queue layout changes them and nothing else.
 */

/* "<cfg.name>-<id>": the queue's name. */
static inline const char *bufq_label(const struct bufq *q)
{
	return q->name;
}

/* Free buffers: on the producer stack and in the per-CPU caches. */
unsigned int bufq_nr_free(const struct bufq *q);
/* Queued buffers: on the consumer list and pushed on its tail. */
unsigned int bufq_nr_queued(const struct bufq *q);

static inline unsigned int bufq_trace_free(const struct bufq *q)
{
	return bufq_nr_free(q);
}

static inline unsigned int bufq_trace_queued(const struct bufq *q)
{
	return bufq_nr_queued(q);
}

static inline unsigned int bufq_trace_total(const struct bufq *q)
{
	return READ_ONCE(q->total);
}

void bufq_trace_init(void);
u64 bufq_trace_id(const void *buf);

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
