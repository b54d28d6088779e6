// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_chardev - /dev/bufq, the user-space face of bufq
 *
 * Each open file is one queue. The core queue holds no data (buffer_size 0):
 * its buffers only carry a &struct bufq_slot_ref naming a slot of the file's
 * slot memory, which user space maps. The core does all the queue work
 * (lists, growth, cap, waiting, poll, counters); this file translates between
 * slot indices and core buffers and checks everything user space hands in
 * before the core sees it, so that no user input reaches a core warning.
 *
 * Slot states. A slot is "used" while a core buffer carries it: from the
 * fetch that took it to the reuse_cleanup that gives it back, which the core
 * runs before the buffer can be fetched again. Without lookaside the buffers
 * live as long as the queue and there is no reuse_cleanup: a buffer keeps
 * the slot its first fetch gave it. Hence slots in use never
 * exceed core buffers in use, which never exceed the cap: a fetched buffer
 * always finds a slot. A used slot is "held" while user space owns it
 * (between FETCH or DEQUEUE and ENQUEUE or REUSE); an atomic xchg() on its
 * held word decides which of several racing ENQUEUE/REUSE calls gets to
 * hand it to the core. A word per slot, not a bit: setting it needs no
 * atomic operation.
 *
 * The slot memory is allocated at CONFIGURE, charged to the caller's memory
 * cgroup, and freed only at release of the file. Each slot is pages of its
 * own, in the direct map (vmalloc() only when that fails): no vmap area to
 * set up and tear down per queue. A mapping holds the file,
 * and the file holds the module (fops owner), so neither can go while user
 * space can still reach the memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/bufq.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <uapi/linux/bufq.h>

#include "bufq_chardev.h"
#include "bufq_compat.h"
#include "bufq_core.h"

/* ref->slot of a core buffer that carries no slot. */
#define BUFQ_NO_SLOT	U32_MAX

static unsigned int bufq_max_buffer_size = SZ_1M;
static unsigned int bufq_max_buffers = 1024;
static unsigned int bufq_max_queue_bytes = SZ_64M;

static int bufq_param_set_limit(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, UINT_MAX);
}

static const struct kernel_param_ops bufq_limit_ops = {
	.set = bufq_param_set_limit,
	.get = param_get_uint,
};

module_param_cb(max_buffer_size, &bufq_limit_ops, &bufq_max_buffer_size, 0644);
MODULE_PARM_DESC(max_buffer_size, "Largest buffer_size of a /dev/bufq queue");
module_param_cb(max_buffers, &bufq_limit_ops, &bufq_max_buffers, 0644);
MODULE_PARM_DESC(max_buffers,
		 "Most buffers in a /dev/bufq queue; cap of lookaside queues configured without one");
module_param_cb(max_queue_bytes, &bufq_limit_ops, &bufq_max_queue_bytes, 0644);
MODULE_PARM_DESC(max_queue_bytes, "Most bytes of buffer memory per /dev/bufq queue");

/**
 * struct bufq_slot_ref - context area of a core buffer
 * @slot: the slot it carries, or BUFQ_NO_SLOT
 * @len: bytes of data in the slot, set by enqueue
 */
struct bufq_slot_ref {
	u32 slot;
	u32 len;
};

/**
 * struct bufq_file - one open /dev/bufq
 * @lock: serializes configuration
 * @q: the core queue; NULL until configured, then fixed; see bufq_file_q()
 * @flags: &enum bufq_configure_flags as configured
 * @buffer_count: as configured
 * @buffer_size: as configured
 * @context_size: as configured
 * @nr_slots: number of slots: the most core buffers the queue may have
 * @stride: bytes from one slot to the next, page aligned
 * @ctx_offset: offset of the user's context area in a slot
 * @mem_size: bytes of the mapping, @nr_slots * @stride
 * @mem: each slot's memory, @stride bytes
 * @bufs: the core buffer that carries each used slot
 * @used: slots carried by a core buffer
 * @held: per slot, non-zero while user space holds it
 *
 * Every field but @lock and @q is written before @q is published and read
 * only after it has been seen non-NULL.
 */
struct bufq_file {
	struct mutex lock;	/* serializes CONFIGURE */
	struct bufq *q;
	u32 flags;
	u32 buffer_count;
	u32 buffer_size;
	u32 context_size;
	u32 nr_slots;
	u32 stride;
	u32 ctx_offset;
	size_t mem_size;
	void **mem;
	void **bufs;
	unsigned long *used;
	u32 *held;
};

/* The queue, or NULL if not yet configured. */
static struct bufq *bufq_file_q(struct bufq_file *bf)
{
	/* Pairs with smp_store_release() in bufq_file_setup(). */
	return smp_load_acquire(&bf->q);
}

/*
 * The slot ref of a core buffer: bufq_context() without the checks, which
 * the batch path would make per record. The queue holds no data, so it is
 * not paged; this file is part of bufq.
 */
static struct bufq_slot_ref *bufq_ref(struct bufq *q, void *buf)
{
	return bufq_ctx_fast(q, buf);
}

static void *bufq_slot_data(struct bufq_file *bf, u32 slot)
{
	return bf->mem[slot];
}

/* Core reuse_cleanup: the buffer gives its slot back. */
static void bufq_slot_cleanup(struct bufq *q, void *buf, void *ctx)
{
	struct bufq_file *bf = bufq_priv(q);
	struct bufq_slot_ref *ref = ctx;

	if (ref->slot < bf->nr_slots)
		clear_bit_unlock(ref->slot, bf->used);
	ref->slot = BUFQ_NO_SLOT;
}

/* Give a core buffer the caller holds its slot; 0 or -errno. */
static int bufq_slot_attach(struct bufq_file *bf, void *buf,
			    struct bufq_slot_ref *ref)
{
	u32 slot = ref->slot;

	/*
	 * Without lookaside the buffers live as long as the queue: each keeps
	 * the slot it got first (a new buffer's zeroed ref names slot 0,
	 * which bufs[] tells apart).
	 */
	ref->len = 0;
	if (!(bf->flags & BUFQ_CONFIGURE_LOOKASIDE) && slot < bf->nr_slots &&
	    READ_ONCE(bf->bufs[slot]) == buf)
		return 0;
	do {
		/*
		 * A plain scan racing with the atomic bitops of other fetches
		 * and cleanups: a stale word only sends us to a taken slot,
		 * which test_and_set_bit_lock() refuses, or past a freed one.
		 */
		slot = data_race(find_first_zero_bit(bf->used, bf->nr_slots));
		/* Cannot happen: see the comment at the top of this file. */
		if (WARN_ON_ONCE(slot >= bf->nr_slots)) {
			ref->slot = BUFQ_NO_SLOT;
			return -ENOSPC;
		}
	} while (test_and_set_bit_lock(slot, bf->used));
	WRITE_ONCE(bf->bufs[slot], buf);
	ref->slot = slot;
	return 0;
}

/* Take a free buffer for the kernel: it is not held by user space. */
static int bufq_take_free(struct bufq_file *bf, struct bufq *q, bool nonblock,
			  void **buf, struct bufq_slot_ref **ref)
{
	int ret;

	if (nonblock)
		ret = bufq_fetch(q, buf, (void **)ref);
	else
		ret = bufq_fetch_wait(q, buf, (void **)ref);
	if (ret)
		return ret == -ENOBUFS ? -EAGAIN : ret;
	ret = bufq_slot_attach(bf, *buf, *ref);
	if (ret)
		bufq_reuse(q, *buf);
	return ret;
}

/* Take the head of the queue for the kernel. */
static int bufq_take_queued(struct bufq *q, bool nonblock, void **buf,
			    struct bufq_slot_ref **ref)
{
	int ret;

	if (nonblock)
		ret = bufq_dequeue(q, buf, (void **)ref);
	else
		ret = bufq_dequeue_wait(q, buf, (void **)ref);
	return ret == -ENODATA ? -EAGAIN : ret;
}

/* Put a buffer the kernel holds back at the head of the queue. */
static void bufq_put_back(struct bufq *q, void *buf)
{
	if (bufq_enqueue_at_head(q, buf))
		bufq_reuse(q, buf);
}

/*
 * Hand a kernel-held buffer to user space. Once the word is set, another
 * thread may take it back (REUSE with a guessed index): @ref is not ours.
 */
static u32 bufq_slot_hold(struct bufq_file *bf, struct bufq_slot_ref *ref)
{
	u32 slot = ref->slot;

	/*
	 * bufs[] was written and @ref read before: order them before the
	 * word. A racing xchg() finds it 0 (EBADSLT) or 1 (then it is theirs).
	 */
	smp_store_release(&bf->held[slot], 1);
	return slot;
}

/*
 * Take a slot back from user space. Return: its core buffer, or an
 * ERR_PTR(): -EINVAL for an index out of range, -EBADSLT if user space
 * does not hold it.
 */
static void *bufq_slot_unhold(struct bufq_file *bf, u32 index)
{
	if (index >= bf->nr_slots)
		return ERR_PTR(-EINVAL);
	index = array_index_nospec(index, bf->nr_slots);
	if (!xchg(&bf->held[index], 0))
		return ERR_PTR(-EBADSLT);
	return bf->bufs[index];
}

static int bufq_do_fetch(struct bufq_file *bf, struct bufq *q, bool nonblock,
			 u32 *index)
{
	struct bufq_slot_ref *ref;
	void *buf;
	int ret;

	ret = bufq_take_free(bf, q, nonblock, &buf, &ref);
	if (ret)
		return ret;
	*index = bufq_slot_hold(bf, ref);
	return 0;
}

static int bufq_do_dequeue(struct bufq_file *bf, struct bufq *q,
			   bool nonblock, u32 *index, u32 *len)
{
	struct bufq_slot_ref *ref;
	void *buf;
	int ret;

	ret = bufq_take_queued(q, nonblock, &buf, &ref);
	if (ret)
		return ret;
	*len = ref->len;
	*index = bufq_slot_hold(bf, ref);
	return 0;
}

static int bufq_do_enqueue(struct bufq_file *bf, struct bufq *q, u32 index,
			   u32 len, u32 flags)
{
	struct bufq_slot_ref *ref;
	void *buf;
	int ret;

	if (flags & ~BUFQ_ENQUEUE_FLAGS_VALID)
		return -EOPNOTSUPP;
	if (len > bf->buffer_size)
		return -EINVAL;
	buf = bufq_slot_unhold(bf, index);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	ref = bufq_ref(q, buf);
	ref->len = len;
	if (flags & BUFQ_ENQUEUE_AT_HEAD)
		ret = bufq_enqueue_at_head(q, buf);
	else
		ret = bufq_enqueue(q, buf);
	if (ret)	/* still ours (-ESHUTDOWN cannot happen while open) */
		bufq_slot_hold(bf, ref);
	return ret;
}

static int bufq_do_reuse(struct bufq_file *bf, struct bufq *q, u32 index)
{
	void *buf = bufq_slot_unhold(bf, index);
	int ret;

	if (IS_ERR(buf))
		return PTR_ERR(buf);
	ret = bufq_reuse(q, buf);
	if (ret)	/* refused, nothing changed: still held */
		bufq_slot_hold(bf, bufq_ref(q, buf));
	return ret;
}

/* Undo a FETCH or DEQUEUE whose result could not reach user space. */
static void bufq_undo_take(struct bufq_file *bf, struct bufq *q, u32 index,
			   bool dequeued)
{
	void *buf = bufq_slot_unhold(bf, index);

	if (IS_ERR(buf))
		return;		/* another thread guessed the index */
	if (dequeued)
		bufq_put_back(q, buf);
	else
		bufq_reuse(q, buf);
}

/* ---- ioctl dispatch ---------------------------------------------------- */

/**
 * struct bufq_ucmd - one ioctl call
 * @bf: the file's state
 * @q: its queue, NULL before configuration
 * @file: the file
 * @ubuffer: the user's struct
 * @user_size: its size as user space gave it
 * @cmd: the kernel copy, zero extended to the kernel's struct size
 */
struct bufq_ucmd {
	struct bufq_file *bf;
	struct bufq *q;
	struct file *file;
	void __user *ubuffer;
	u32 user_size;
	void *cmd;
};

static bool bufq_ucmd_nonblock(const struct bufq_ucmd *ucmd)
{
	return ucmd->file->f_flags & O_NONBLOCK;
}

/* Copy the command struct back, as far as user space knows it. */
static int bufq_ucmd_respond(struct bufq_ucmd *ucmd, size_t len)
{
	if (copy_to_user(ucmd->ubuffer, ucmd->cmd,
			 min_t(size_t, ucmd->user_size, len)))
		return -EFAULT;
	return 0;
}

/* Check a configuration and work out its layout. */
static int bufq_configure_check(const struct bufq_configure *cmd, u32 *nr,
				u32 *stride)
{
	u32 max_bufs = READ_ONCE(bufq_max_buffers);
	bool lookaside = cmd->flags & BUFQ_CONFIGURE_LOOKASIDE;
	u64 bytes;

	if (cmd->flags & ~BUFQ_CONFIGURE_FLAGS_VALID)
		return -EOPNOTSUPP;
	if (!cmd->buffer_size || (!lookaside && !cmd->buffer_count) ||
	    (!lookaside && cmd->max_buffers) ||
	    (cmd->max_buffers && cmd->max_buffers < cmd->buffer_count))
		return -EINVAL;

	bytes = ALIGN((u64)cmd->buffer_size, 8) + cmd->context_size;
	bytes = PAGE_ALIGN(bytes);
	if (bytes > U32_MAX)
		return -EOVERFLOW;
	*stride = bytes;

	*nr = lookaside ? (cmd->max_buffers ?: max_bufs) : cmd->buffer_count;
	if (cmd->buffer_size > READ_ONCE(bufq_max_buffer_size) ||
	    cmd->buffer_count > max_bufs || *nr > max_bufs ||
	    (u64)*nr * *stride > READ_ONCE(bufq_max_queue_bytes))
		return -E2BIG;
	return 0;
}

/* Pages of its own for a slot; vmalloc() if none are free that large. */
static void *bufq_slot_mem_alloc(size_t size)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN;

	return alloc_pages_exact(size, gfp | __GFP_NORETRY) ?:
	       __vmalloc(size, gfp);
}

static void bufq_slot_mem_free(void *mem, size_t size)
{
	if (is_vmalloc_addr(mem))
		vfree(mem);
	else if (mem)
		free_pages_exact(mem, size);
}

static struct page *bufq_slot_page(struct bufq_file *bf, pgoff_t pgoff)
{
	u32 pages = bf->stride >> PAGE_SHIFT;
	void *addr = bf->mem[pgoff / pages] + (pgoff % pages) * PAGE_SIZE;

	return is_vmalloc_addr(addr) ? vmalloc_to_page(addr) :
				       virt_to_page(addr);
}

static void bufq_file_free_slots(struct bufq_file *bf)
{
	u32 i;

	kvfree(bf->held);
	bitmap_free(bf->used);
	kvfree(bf->bufs);
	for (i = 0; bf->mem && i < bf->nr_slots; i++)
		bufq_slot_mem_free(bf->mem[i], bf->stride);
	kvfree(bf->mem);
	bf->held = NULL;
	bf->used = NULL;
	bf->bufs = NULL;
	bf->mem = NULL;
}

/* Called with bf->lock held, on a file not yet configured. */
static int bufq_file_setup(struct bufq_file *bf,
			   const struct bufq_configure *cmd, u32 nr, u32 stride)
{
	char name[BUFQ_DEV_NAME_LEN];	/* names the queue after its owner */
	struct bufq_config qc = {
		.name = name,
		.buffer_count = cmd->buffer_count,
		.context_size = sizeof(struct bufq_slot_ref),
		.lookaside = cmd->flags & BUFQ_CONFIGURE_LOOKASIDE,
		.max_buffers = (cmd->flags & BUFQ_CONFIGURE_LOOKASIDE) ? nr : 0,
		.account = true,
		.gfp = GFP_KERNEL_ACCOUNT,
		/* Without lookaside, buffers keep their slots: see attach. */
		.reuse_cleanup = (cmd->flags & BUFQ_CONFIGURE_LOOKASIDE) ?
				 bufq_slot_cleanup : NULL,
		.priv = bf,
	};
	struct bufq *q;
	int ret = -ENOMEM;
	u32 i;

	bf->flags = cmd->flags;
	bf->buffer_count = cmd->buffer_count;
	bf->buffer_size = cmd->buffer_size;
	bf->context_size = cmd->context_size;
	bf->nr_slots = nr;
	bf->stride = stride;
	bf->ctx_offset = ALIGN(cmd->buffer_size, 8);
	bf->mem_size = (size_t)nr * stride;

	/* Sizes come from user space: fail quietly, ENOMEM says enough. */
	bf->mem = kvcalloc(nr, sizeof(*bf->mem),
			   GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	for (i = 0; bf->mem && i < nr; i++) {
		bf->mem[i] = bufq_slot_mem_alloc(stride);
		if (!bf->mem[i])
			goto err_free;
	}
	bf->bufs = kvcalloc(nr, sizeof(*bf->bufs),
			    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	bf->used = bitmap_zalloc(nr, GFP_KERNEL_ACCOUNT);
	bf->held = kvcalloc(nr, sizeof(*bf->held),
			    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!bf->mem || !bf->bufs || !bf->used || !bf->held)
		goto err_free;

	bufq_dev_name(name, sizeof(name));
	q = bufq_create(&qc);
	if (IS_ERR(q)) {
		ret = PTR_ERR(q);
		goto err_free;
	}
	/* Pairs with smp_load_acquire() in bufq_file_q(). */
	smp_store_release(&bf->q, q);
	return 0;

err_free:
	bufq_file_free_slots(bf);
	return ret;
}

static int bufq_cmd_configure(struct bufq_ucmd *ucmd)
{
	struct bufq_configure *cmd = ucmd->cmd;
	struct bufq_file *bf = ucmd->bf;
	u32 nr, stride;
	int ret;

	mutex_lock(&bf->lock);
	if (bf->q) {
		ret = -EBUSY;
		goto out;
	}
	ret = bufq_configure_check(cmd, &nr, &stride);
	if (!ret)
		ret = bufq_file_setup(bf, cmd, nr, stride);
out:
	mutex_unlock(&bf->lock);
	return ret;
}

static int bufq_cmd_info(struct bufq_ucmd *ucmd)
{
	struct bufq_info *cmd = ucmd->cmd;
	struct bufq_file *bf = ucmd->bf;
	struct bufq_stats st;

	if (cmd->flags)
		return -EOPNOTSUPP;
	bufq_get_stats(ucmd->q, &st);
	cmd->out_config_flags = bf->flags;
	cmd->out_buffer_count = bf->buffer_count;
	cmd->out_buffer_size = bf->buffer_size;
	cmd->out_context_size = bf->context_size;
	cmd->out_max_buffers = bf->nr_slots;
	cmd->out_free = st.free;
	cmd->out_queued = st.queued;
	cmd->out_held = st.held;
	cmd->out_total = st.total;
	cmd->out_high_water = st.high_water;
	cmd->out_stride = bf->stride;
	cmd->out_context_offset = bf->ctx_offset;
	cmd->out_mmap_size = bf->mem_size;
	cmd->out_grown = st.grown;
	cmd->out_fetch_failed = st.fetch_failed;
	return bufq_ucmd_respond(ucmd, sizeof(*cmd));
}

static int bufq_cmd_fetch(struct bufq_ucmd *ucmd)
{
	struct bufq_fetch *cmd = ucmd->cmd;
	int ret;

	if (cmd->flags)
		return -EOPNOTSUPP;
	if (cmd->__reserved)
		return -EINVAL;
	ret = bufq_do_fetch(ucmd->bf, ucmd->q, bufq_ucmd_nonblock(ucmd),
			    &cmd->out_index);
	if (ret)
		return ret;
	ret = bufq_ucmd_respond(ucmd, sizeof(*cmd));
	if (ret)
		bufq_undo_take(ucmd->bf, ucmd->q, cmd->out_index, false);
	return ret;
}

static int bufq_cmd_enqueue(struct bufq_ucmd *ucmd)
{
	struct bufq_enqueue *cmd = ucmd->cmd;

	return bufq_do_enqueue(ucmd->bf, ucmd->q, cmd->index, cmd->len,
			       cmd->flags);
}

static int bufq_cmd_dequeue(struct bufq_ucmd *ucmd)
{
	struct bufq_dequeue *cmd = ucmd->cmd;
	int ret;

	if (cmd->flags)
		return -EOPNOTSUPP;
	ret = bufq_do_dequeue(ucmd->bf, ucmd->q, bufq_ucmd_nonblock(ucmd),
			      &cmd->out_index, &cmd->out_len);
	if (ret)
		return ret;
	ret = bufq_ucmd_respond(ucmd, sizeof(*cmd));
	if (ret)
		bufq_undo_take(ucmd->bf, ucmd->q, cmd->out_index, true);
	return ret;
}

static int bufq_cmd_reuse(struct bufq_ucmd *ucmd)
{
	struct bufq_reuse *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EOPNOTSUPP;
	if (cmd->__reserved)
		return -EINVAL;
	return bufq_do_reuse(ucmd->bf, ucmd->q, cmd->index);
}

static int bufq_cmd_flush(struct bufq_ucmd *ucmd)
{
	struct bufq_flush *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EOPNOTSUPP;
	bufq_flush(ucmd->q);
	return 0;
}

/* ---- BATCH ------------------------------------------------------------- */

/* The access mode a command needs: producers write, consumers read. */
static fmode_t bufq_op_fmode(u32 op)
{
	switch (op) {
	case BUFQ_OP_FETCH:
	case BUFQ_OP_ENQUEUE:
		return FMODE_WRITE;
	case BUFQ_OP_DEQUEUE:
		return FMODE_READ;
	default:
		return 0;
	}
}

/*
 * 0 if @op may run, or the errno it fails with whatever the queue holds:
 * the checks bufq_batch_run() makes before it touches the queue, in its
 * order.
 */
static int bufq_batch_check(const struct bufq_file *bf, fmode_t mode,
			    const struct bufq_batch_op *op)
{
	if (op->__reserved)
		return -EINVAL;
	switch (op->op) {
	case BUFQ_OP_FETCH:
	case BUFQ_OP_DEQUEUE:
	case BUFQ_OP_REUSE:
		if (op->flags)
			return -EOPNOTSUPP;
		break;
	case BUFQ_OP_ENQUEUE:
		if (op->flags & ~BUFQ_ENQUEUE_FLAGS_VALID)
			return -EOPNOTSUPP;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if ((mode & bufq_op_fmode(op->op)) != bufq_op_fmode(op->op))
		return -EBADF;
	if (op->op == BUFQ_OP_ENQUEUE && op->len > bf->buffer_size)
		return -EINVAL;
	return 0;
}

/* Run one batch record; return 0, or the op's errno. */
static int bufq_batch_run(struct bufq_ucmd *ucmd, struct bufq_batch_op *op)
{
	struct bufq_file *bf = ucmd->bf;
	int ret = bufq_batch_check(bf, ucmd->file->f_mode, op);

	if (ret)
		return ret;
	switch (op->op) {
	case BUFQ_OP_FETCH:
		return bufq_do_fetch(bf, ucmd->q, true, &op->index);
	case BUFQ_OP_ENQUEUE:
		return bufq_do_enqueue(bf, ucmd->q, op->index, op->len,
				       op->flags);
	case BUFQ_OP_DEQUEUE:
		return bufq_do_dequeue(bf, ucmd->q, true, &op->index, &op->len);
	default:
		return bufq_do_reuse(bf, ucmd->q, op->index);
	}
}

/*
 * Read, run and write back one batch record. Return: 0 if it succeeded, 1 if
 * it failed (its result says why), -EFAULT if it could not be read or its
 * result written.
 */
static int bufq_batch_one(struct bufq_ucmd *ucmd, void __user *uop, u32 len)
{
	u32 __user *uresult = uop + offsetof(struct bufq_batch_op, result);
	struct bufq_batch_op op;
	int ret;

	ret = copy_struct_from_user(&op, sizeof(op), uop, len);
	if (ret == -EFAULT)
		return ret;
	if (ret)	/* @op was not read: report only the result */
		return put_user(-ret, uresult) ? -EFAULT : 1;
	/* Write probe: a record whose result cannot be written never runs. */
	if (copy_to_user(uop, &op, min_t(size_t, len, sizeof(op))))
		return -EFAULT;

	ret = bufq_batch_run(ucmd, &op);
	op.result = -ret;
	if (copy_to_user(uop, &op, min_t(size_t, len, sizeof(op)))) {
		if (!ret && op.op == BUFQ_OP_FETCH)
			bufq_undo_take(ucmd->bf, ucmd->q, op.index, false);
		else if (!ret && op.op == BUFQ_OP_DEQUEUE)
			bufq_undo_take(ucmd->bf, ucmd->q, op.index, true);
		return -EFAULT;
	}
	return ret ? 1 : 0;
}

/*
 * Run @count records of @entry_len bytes one by one; *@done: how many
 * succeeded. Return: as bufq_batch_one(), or -EINTR on a fatal signal.
 */
static int bufq_batch_each(struct bufq_ucmd *ucmd, u64 uops, u32 entry_len,
			   u32 count, u32 *done)
{
	int ret = 0;
	u32 i;

	for (i = 0; i < count; i++) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		ret = bufq_batch_one(ucmd, u64_to_user_ptr(uops +
				     (u64)i * entry_len), entry_len);
		if (ret)
			break;
		cond_resched();
	}
	*done = i;
	return ret;
}

/*
 * The fast path, for records of the kernel's size: BATCH reads a chunk of
 * records at once, runs each run of records with the same op through one
 * bulk call of the core, and writes the results back at once. Its outcome
 * is that of bufq_batch_one() on each record in turn, faults included:
 *
 *  - A chunk that cannot be read whole goes through bufq_batch_one().
 *  - A chunk is written back as read before it runs (bufq_batch_probed()),
 *    as bufq_batch_one() writes back each record: records from the first
 *    one that cannot be written on never run.
 *  - FETCH and DEQUEUE can be undone (bufq_undo_take()), so their results
 *    wait for the next write-back.
 *  - ENQUEUE and REUSE cannot, once the core has the buffer. A run of them
 *    takes its buffers back from user space (the held words, which settles
 *    every result), then writes back all results so far, and only then
 *    hands the buffers to the core.
 *  - If a write-back faults all the same (the mapping changed since the
 *    probe), the first record that cannot be written is found; it ends as
 *    in bufq_batch_one() (a take is undone, a give is done) and the
 *    records after it are undone in reverse order, as if they never ran.
 *    A take undone puts its buffer back where it was.
 *
 * A failing record ends its run and the batch; the records after it are
 * read, never written.
 */
#define BUFQ_BATCH_CHUNK	64	/* records per chunk, kmalloc'ed */
#define BUFQ_BATCH_STACK	8	/* on the stack: small batches, no memory */

struct bufq_batch_chunk {
	struct bufq_batch_op ops[BUFQ_BATCH_CHUNK] __aligned(8);
	void *bufs[BUFQ_BATCH_CHUNK];
};

/**
 * struct bufq_batch_ctx - one BATCH on the fast path
 * @ucmd: the ioctl
 * @uops: the user's copy of the chunk
 * @ops: the kernel's copy of the chunk
 * @bufs: for each record of the chunk that ran, the core buffer it took
 *	(FETCH, DEQUEUE: only for the bulk calls) or took back from user
 *	space (ENQUEUE, REUSE)
 * @cap: records @ops and @bufs hold
 * @written: records [0, @written) of the chunk are written back and done
 */
struct bufq_batch_ctx {
	struct bufq_ucmd *ucmd;
	struct bufq_batch_op __user *uops;
	struct bufq_batch_op *ops;
	void **bufs;
	u32 cap;
	u32 written;
};

/* Give user space back record @r's buffer, taken back for a give. */
static void bufq_batch_rehold(struct bufq_batch_ctx *bc, u32 r)
{
	bufq_slot_hold(bc->ucmd->bf, bufq_ref(bc->ucmd->q, bc->bufs[r]));
}

/*
 * Hand out the buffers of a bulk take, records [@i, @i + @got); @dequeue:
 * they are queued buffers, else free ones of a queue without lookaside.
 * Return: @i + @got, or the record whose buffer could not get a slot (it
 * fails; it and the rest are given back, as by bufq_take_free()).
 */
static u32 bufq_batch_hand_out(struct bufq_batch_ctx *bc, u32 i, u32 got,
			       bool dequeue)
{
	struct bufq_file *bf = bc->ucmd->bf;
	struct bufq *q = bc->ucmd->q;
	struct bufq_batch_op *op;
	struct bufq_slot_ref *ref;
	u32 r;

	for (r = i; r < i + got; r++) {
		op = &bc->ops[r];
		ref = bufq_ref(q, bc->bufs[r]);
		if (dequeue) {
			op->len = ref->len;
		} else if (bufq_slot_attach(bf, bc->bufs[r], ref)) {
			/* Cannot happen: see the comment at the top. */
			bufq_reuse_bulk(q, bc->bufs + r, i + got - r);
			op->result = ENOSPC;
			return r;
		}
		op->index = bufq_slot_hold(bf, ref);
		op->result = 0;
	}
	return r;
}

/*
 * Run records [@i, @end), all FETCH or all DEQUEUE, checked. Return: @end,
 * or the record that failed (its result set).
 */
static u32 bufq_batch_take(struct bufq_batch_ctx *bc, u32 i, u32 end,
			   bool dequeue)
{
	struct bufq_file *bf = bc->ucmd->bf;
	struct bufq *q = bc->ucmd->q;
	u32 r, got;
	int ret;

	if (!dequeue && (bf->flags & BUFQ_CONFIGURE_LOOKASIDE)) {
		/*
		 * Growth may fail in the middle of a bulk fetch, which then
		 * goes on: one by one, the first failure stops the batch.
		 */
		for (r = i; r < end; r++) {
			ret = bufq_do_fetch(bf, q, true, &bc->ops[r].index);
			bc->ops[r].result = -ret;
			if (ret)
				break;
		}
		return r;
	}
	/* Without growth, a bulk take stops only where a single one fails. */
	if (dequeue)
		got = bufq_dequeue_bulk(q, bc->bufs + i, end - i);
	else
		got = bufq_fetch_bulk(q, bc->bufs + i, end - i);
	r = bufq_batch_hand_out(bc, i, got, dequeue);
	if (r == i + got && r < end)
		bc->ops[r].result = EAGAIN;
	return r;
}

/*
 * Records [@i, @end), all ENQUEUE or all REUSE, checked: take their buffers
 * back from user space. Return: @end, or the record that failed.
 */
static u32 bufq_batch_unhold(struct bufq_batch_ctx *bc, u32 i, u32 end)
{
	void *buf;
	u32 r;

	for (r = i; r < end; r++) {
		buf = bufq_slot_unhold(bc->ucmd->bf, bc->ops[r].index);
		if (IS_ERR(buf)) {
			bc->ops[r].result = -PTR_ERR(buf);
			break;
		}
		bc->bufs[r] = buf;
		bc->ops[r].result = 0;
	}
	return r;
}

/*
 * Hand the buffers of records [@i, @end), all ENQUEUE or all REUSE, taken
 * back by bufq_batch_unhold(), to the core. The core refuses none: user
 * space held them.
 */
static void bufq_batch_give(struct bufq_batch_ctx *bc, u32 i, u32 end)
{
	struct bufq *q = bc->ucmd->q;
	struct bufq_slot_ref *ref;
	u32 r, k, n;
	int ret;

	if (i == end)
		return;
	if (bc->ops[i].op == BUFQ_OP_REUSE) {
		n = bufq_reuse_bulk(q, bc->bufs + i, end - i);
		for (r = i + n; r < end; r++)	/* refused: still held */
			bufq_batch_rehold(bc, r);
		return;
	}
	for (r = i; r < end; r++) {
		ref = bufq_ref(q, bc->bufs[r]);
		ref->len = bc->ops[r].len;
	}
	for (r = i; r < end; r = k) {
		if (bc->ops[r].flags & BUFQ_ENQUEUE_AT_HEAD) {
			k = r + 1;
			ret = bufq_enqueue_at_head(q, bc->bufs[r]);
			n = !ret;
		} else {
			for (k = r + 1; k < end; k++)
				if (bc->ops[k].flags & BUFQ_ENQUEUE_AT_HEAD)
					break;
			n = bufq_enqueue_bulk(q, bc->bufs + r, k - r);
		}
		/* As bufq_do_enqueue(): refused buffers stay held. */
		for (n += r; n < k; n++)
			bufq_batch_rehold(bc, n);
	}
}

/*
 * Undo records [@from, @to) of the chunk, which ran but were not written
 * back, in reverse order: takes are undone, gives (not yet handed to the
 * core) are held again.
 */
static void bufq_batch_unwind(struct bufq_batch_ctx *bc, u32 from, u32 to)
{
	struct bufq_batch_op *op;

	while (to-- > from) {
		op = &bc->ops[to];
		if (op->result)
			continue;
		if (op->op == BUFQ_OP_FETCH || op->op == BUFQ_OP_DEQUEUE)
			bufq_undo_take(bc->ucmd->bf, bc->ucmd->q, op->index,
				       op->op == BUFQ_OP_DEQUEUE);
		else
			bufq_batch_rehold(bc, to);
	}
}

/*
 * The records move 8 bytes at a time in one user access section: under
 * emulation a byte copy (rep movsb) costs more than the op it carries. A
 * record is written whole or, from its first word that faults on, not at
 * all (copy_to_user() would write the bytes before the fault).
 */
#define BUFQ_BATCH_WORDS	(sizeof(struct bufq_batch_op) / sizeof(u64))
static_assert(sizeof(struct bufq_batch_op) % sizeof(u64) == 0);

/* Read the chunk's records from user space. Return: false on a fault. */
static bool bufq_batch_read(struct bufq_batch_ctx *bc, u32 n)
{
	const u64 __user *src = (const u64 __user *)bc->uops;
	u64 *dst = (u64 *)bc->ops;
	u32 i;

	if (!user_read_access_begin(src, n * sizeof(*bc->ops)))
		return false;
	for (i = 0; i < n * BUFQ_BATCH_WORDS; i++)
		unsafe_get_user(dst[i], &src[i], efault);
	user_read_access_end();
	return true;

efault:
	user_read_access_end();
	return false;
}

/*
 * Write records [@bc->written, @to) back. Return: @to, or the first record
 * that could not be written (those before it were).
 */
static u32 bufq_batch_write(struct bufq_batch_ctx *bc, u32 to)
{
	u32 r = bc->written, w;
	u64 __user *dst = (u64 __user *)(bc->uops + r);
	const u64 *src = (const u64 *)(bc->ops + r);

	if (r == to)
		return to;
	if (!user_write_access_begin(dst, (to - r) * sizeof(*bc->ops))) {
		/* Part of the range is not user memory: find where. */
		for (; r < to; r++)
			if (copy_to_user(bc->uops + r, bc->ops + r,
					 sizeof(*bc->ops)))
				break;
		return r;
	}
	for (; r < to; r++)
		for (w = 0; w < BUFQ_BATCH_WORDS; w++)
			unsafe_put_user(*src++, dst++, efault);
	user_write_access_end();
	return to;

efault:
	user_write_access_end();
	return r;
}

/*
 * Run the @n records of the chunk in @bc->ops. *@done: how many succeeded.
 * Return: as bufq_batch_one().
 */
static int bufq_batch_chunk(struct bufq_batch_ctx *bc, u32 n, u32 *done)
{
	fmode_t mode = bc->ucmd->file->f_mode;
	struct bufq_file *bf = bc->ucmd->bf;
	struct bufq_batch_op *op;
	u32 i = 0, end, r, to, w;
	bool failed = false;
	int ret;

	bc->written = 0;
	while (i < n && !failed) {
		op = &bc->ops[i];
		ret = bufq_batch_check(bf, mode, op);
		if (ret) {
			op->result = -ret;
			failed = true;
			i++;
			break;
		}
		for (end = i + 1; end < n; end++)
			if (bc->ops[end].op != op->op ||
			    bufq_batch_check(bf, mode, &bc->ops[end]))
				break;

		if (op->op == BUFQ_OP_FETCH || op->op == BUFQ_OP_DEQUEUE) {
			r = bufq_batch_take(bc, i, end,
					    op->op == BUFQ_OP_DEQUEUE);
			failed = r < end;
			i = failed ? r + 1 : end;
			continue;
		}

		/* ENQUEUE or REUSE: settle, write back, then hand in. */
		r = bufq_batch_unhold(bc, i, end);
		failed = r < end;
		to = failed ? r + 1 : end;
		w = bufq_batch_write(bc, to);
		if (w < to) {
			if (w < i) {		/* a take: undo it too */
				bufq_batch_unwind(bc, w, to);
			} else {		/* a give: it is done */
				bufq_batch_unwind(bc, w + 1, to);
				bufq_batch_give(bc, i, min(w + 1, r));
			}
			*done = w;
			return -EFAULT;
		}
		bufq_batch_give(bc, i, r);
		bc->written = to;
		i = to;
	}

	w = bufq_batch_write(bc, i);
	if (w < i) {
		bufq_batch_unwind(bc, w, i);
		*done = w;
		return -EFAULT;
	}
	*done = failed ? i - 1 : i;
	return failed;
}

/*
 * Run the @n records of the chunk in @bc->ops, read from user space, after
 * a write probe: the chunk is written back as read, and the records from
 * the first one that cannot be written on do not run, so that no record
 * takes a buffer only to give it back (no rise of out_high_water, no
 * EAGAIN for others meanwhile). Return: as bufq_batch_chunk().
 */
static int bufq_batch_probed(struct bufq_batch_ctx *bc, u32 n, u32 *done)
{
	u32 m;
	int ret;

	bc->written = 0;
	m = bufq_batch_write(bc, n);
	ret = m ? bufq_batch_chunk(bc, m, done) : 0;
	if (ret || m == n)
		return ret;
	*done = m;
	return -EFAULT;
}

/*
 * Run a batch of records of the kernel's size; as bufq_batch_each(). A
 * fatal signal ends it between chunks.
 */
static int bufq_batch_fast(struct bufq_ucmd *ucmd, u64 uops, u32 count,
			   u32 *done)
{
	struct bufq_batch_op stack_ops[BUFQ_BATCH_STACK] __aligned(8);
	void *stack_bufs[BUFQ_BATCH_STACK];
	struct bufq_batch_chunk *chunk = NULL;
	struct bufq_batch_ctx bc = {
		.ucmd = ucmd,
		.ops = stack_ops,
		.bufs = stack_bufs,
		.cap = BUFQ_BATCH_STACK,
	};
	u32 base, n, d = 0;
	int ret = 0;
	u64 addr;

	if (count > BUFQ_BATCH_STACK)
		chunk = kmalloc(sizeof(*chunk), GFP_KERNEL | __GFP_NOWARN);
	if (chunk) {
		bc.ops = chunk->ops;
		bc.bufs = chunk->bufs;
		bc.cap = BUFQ_BATCH_CHUNK;
	}
	for (base = 0; base < count; base += n) {
		if (base && fatal_signal_pending(current)) {
			d = 0;
			ret = -EINTR;
			break;
		}
		n = min(count - base, bc.cap);
		addr = uops + (u64)base * sizeof(*bc.ops);
		bc.uops = u64_to_user_ptr(addr);
		if (!bufq_batch_read(&bc, n))
			ret = bufq_batch_each(ucmd, addr, sizeof(*bc.ops), n,
					      &d);
		else
			ret = bufq_batch_probed(&bc, n, &d);
		if (ret)
			break;
		cond_resched();
	}
	kfree(chunk);
	*done = ret ? base + d : count;
	return ret;
}

static int bufq_cmd_batch(struct bufq_ucmd *ucmd)
{
	struct bufq_batch *cmd = ucmd->cmd;
	u64 end;
	u32 done;
	int ret;

	if (cmd->flags)
		return -EOPNOTSUPP;
	if (cmd->__reserved ||
	    cmd->entry_len < offsetofend(struct bufq_batch_op, result))
		return -EINVAL;
	if (check_mul_overflow((u64)cmd->count, (u64)cmd->entry_len, &end) ||
	    check_add_overflow(end, cmd->ops, &end))
		return -EOVERFLOW;

	if (cmd->entry_len == sizeof(struct bufq_batch_op))
		ret = bufq_batch_fast(ucmd, cmd->ops, cmd->count, &done);
	else
		ret = bufq_batch_each(ucmd, cmd->ops, cmd->entry_len,
				      cmd->count, &done);
	cmd->out_done = done;
	if (bufq_ucmd_respond(ucmd, sizeof(*cmd)))
		return -EFAULT;
	return ret < 0 ? ret : 0;
}

union bufq_ucmd_buffer {
	struct bufq_configure configure;
	struct bufq_info info;
	struct bufq_fetch fetch;
	struct bufq_enqueue enqueue;
	struct bufq_dequeue dequeue;
	struct bufq_reuse reuse;
	struct bufq_flush flush;
	struct bufq_batch batch;
};

/**
 * struct bufq_ioctl_op - how to run one ioctl
 * @size: the kernel's struct size
 * @min_size: the smallest size user space may give
 * @ioctl_num: the full ioctl number
 * @unconfigured: may run before CONFIGURE
 * @probe: the reply is written back as read before the command runs, so
 *	that a reply that cannot be written never takes a buffer
 * @fmode: the access modes the file needs (FMODE_READ, FMODE_WRITE)
 * @execute: the handler
 */
struct bufq_ioctl_op {
	unsigned int size;
	unsigned int min_size;
	unsigned int ioctl_num;
	bool unconfigured;
	bool probe;
	fmode_t fmode;
	int (*execute)(struct bufq_ucmd *ucmd);
};

/* In the order of the BUFQ_CMD_* numbers: the dispatch checks ioctl_num. */
#define BUFQ_IOCTL_OP(_ioctl, _fn, _struct, _last, _unconf, _probe, _mode) \
	{								\
		.size = sizeof(_struct) +				\
			BUILD_BUG_ON_ZERO(sizeof(union bufq_ucmd_buffer) < \
					  sizeof(_struct)),		\
		.min_size = offsetofend(_struct, _last),		\
		.ioctl_num = _ioctl,					\
		.unconfigured = _unconf,				\
		.probe = _probe,					\
		.fmode = _mode,						\
		.execute = _fn,						\
	}

/* Producers need write access, consumers read access: see the uapi DOC. */
static const struct bufq_ioctl_op bufq_ioctl_ops[] = {
	BUFQ_IOCTL_OP(BUFQ_IOCTL_CONFIGURE, bufq_cmd_configure,
		      struct bufq_configure, context_size, true, false, 0),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_INFO, bufq_cmd_info, struct bufq_info,
		      out_mmap_size, false, false, 0),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_FETCH, bufq_cmd_fetch, struct bufq_fetch,
		      out_index, false, true, FMODE_WRITE),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_ENQUEUE, bufq_cmd_enqueue,
		      struct bufq_enqueue, len, false, false, FMODE_WRITE),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_DEQUEUE, bufq_cmd_dequeue,
		      struct bufq_dequeue, out_len, false, true, FMODE_READ),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_REUSE, bufq_cmd_reuse, struct bufq_reuse,
		      index, false, false, 0),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_FLUSH, bufq_cmd_flush, struct bufq_flush,
		      flags, false, false, FMODE_READ),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_BATCH, bufq_cmd_batch, struct bufq_batch,
		      __reserved, false, true, 0),
};

static long bufq_fop_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct bufq_ucmd ucmd = { .bf = file->private_data, .file = file };
	const struct bufq_ioctl_op *op;
	union bufq_ucmd_buffer buf;
	unsigned int nr = _IOC_NR(cmd);
	int ret;

	if (nr < BUFQ_CMD_BASE ||
	    nr - BUFQ_CMD_BASE >= ARRAY_SIZE(bufq_ioctl_ops))
		return -ENOTTY;
	op = &bufq_ioctl_ops[array_index_nospec(nr - BUFQ_CMD_BASE,
						ARRAY_SIZE(bufq_ioctl_ops))];
	if (op->ioctl_num != cmd)
		return -ENOTTY;

	ucmd.ubuffer = (void __user *)arg;
	ret = get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer);
	if (ret)
		return ret;
	/* A size never cuts a field: every field is 4 or 8 bytes, aligned. */
	if (ucmd.user_size < op->min_size || ucmd.user_size % sizeof(u32))
		return -EINVAL;
	ucmd.cmd = &buf;
	ret = copy_struct_from_user(ucmd.cmd, op->size, ucmd.ubuffer,
				    ucmd.user_size);
	if (ret)
		return ret;

	ucmd.q = bufq_file_q(ucmd.bf);
	if (!ucmd.q && !op->unconfigured)
		return -EBADFD;
	if ((file->f_mode & op->fmode) != op->fmode)
		return -EBADF;
	if (op->probe && bufq_ucmd_respond(&ucmd, op->size))
		return -EFAULT;
	return op->execute(&ucmd);
}

/* ---- read, write, poll, mmap ------------------------------------------- */

/*
 * write(), writev(): one message, gathered from all of @from. A message
 * that cannot be read is refused before it takes a buffer (a probe, which
 * only a concurrent munmap() can outrun).
 */
static ssize_t bufq_fop_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct file *file = iocb->ki_filp;
	struct bufq_file *bf = file->private_data;
	struct bufq *q = bufq_file_q(bf);
	size_t count = iov_iter_count(from);
	struct bufq_slot_ref *ref;
	void *buf;
	int ret;

	if (!q)
		return -EBADFD;
	if (count > bf->buffer_size)
		return -EMSGSIZE;
	if (!count)
		return 0;
	if (fault_in_iov_iter_readable(from, count))
		return -EFAULT;
	ret = bufq_take_free(bf, q, file->f_flags & O_NONBLOCK, &buf, &ref);
	if (ret)
		return ret;
	if (copy_from_iter(bufq_slot_data(bf, ref->slot), count, from) !=
	    count) {
		bufq_reuse(q, buf);
		return -EFAULT;
	}
	ref->len = count;
	ret = bufq_enqueue(q, buf);
	return ret ? ret : count;
}

/*
 * read(), readv(): one whole message, scattered over all of @to. One too
 * long for @to goes back to the head of the queue; see the DOC in the uapi
 * header for the race this leaves.
 */
static ssize_t bufq_fop_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *file = iocb->ki_filp;
	struct bufq_file *bf = file->private_data;
	struct bufq *q = bufq_file_q(bf);
	struct bufq_slot_ref *ref;
	void *buf;
	u32 len;
	int ret;

	if (!q)
		return -EBADFD;
	ret = bufq_take_queued(q, file->f_flags & O_NONBLOCK, &buf, &ref);
	if (ret)
		return ret;
	len = ref->len;
	if (len > iov_iter_count(to)) {
		bufq_put_back(q, buf);
		return -EMSGSIZE;
	}
	if (copy_to_iter(bufq_slot_data(bf, ref->slot), len, to) != len) {
		bufq_put_back(q, buf);
		return -EFAULT;
	}
	bufq_reuse(q, buf);
	return len;
}

static __poll_t bufq_fop_poll(struct file *file, poll_table *pt)
{
	struct bufq_file *bf = file->private_data;
	struct bufq *q = bufq_file_q(bf);

	if (!q)
		return EPOLLERR;
	return bufq_poll(q, file, pt);
}

static vm_fault_t bufq_vm_fault(struct vm_fault *vmf)
{
	struct bufq_file *bf = vmf->vma->vm_file->private_data;
	struct page *page;

	if (vmf->pgoff >= bf->mem_size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	page = bufq_slot_page(bf, vmf->pgoff);
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct bufq_vm_ops = {
	.fault = bufq_vm_fault,
};

static int bufq_fop_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct bufq_file *bf = file->private_data;
	unsigned long pages;

	if (!bufq_file_q(bf))
		return -EBADFD;
	/* VM_MAYSHARE: a read-only MAP_SHARED of an O_RDONLY file lacks VM_SHARED. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	/* Buffers are data that other processes write: never executable. */
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	pages = bf->mem_size >> PAGE_SHIFT;
	if (vma->vm_pgoff >= pages || vma_pages(vma) > pages - vma->vm_pgoff)
		return -EINVAL;
	vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, VM_MAYEXEC);
	vma->vm_ops = &bufq_vm_ops;
	return 0;
}

/* ---- open, release ----------------------------------------------------- */

static int bufq_fop_open(struct inode *inode, struct file *file)
{
	struct bufq_file *bf;

	bf = kzalloc(sizeof(*bf), GFP_KERNEL_ACCOUNT);
	if (!bf)
		return -ENOMEM;
	mutex_init(&bf->lock);
	file->private_data = bf;
	return stream_open(inode, file);
}

static int bufq_fop_release(struct inode *inode, struct file *file)
{
	struct bufq_file *bf = file->private_data;
	unsigned int slot;

	if (bf->q) {
		/* Nobody else can reach the file now: take back what user
		 * space held, so that bufq_destroy() frees the queue at once.
		 */
		for (slot = 0; slot < bf->nr_slots; slot++) {
			if (!bf->held[slot])
				continue;
			bf->held[slot] = 0;
			bufq_reuse(bf->q, bf->bufs[slot]);
		}
		bufq_destroy(bf->q);
		bufq_file_free_slots(bf);
	}
	mutex_destroy(&bf->lock);
	kfree(bf);
	return 0;
}

static void bufq_fop_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct bufq_file *bf = file->private_data;
	struct bufq *q = bufq_file_q(bf);
	struct bufq_stats st;

	if (!q)
		return;
	bufq_get_stats(q, &st);
	seq_printf(m, "bufq-buffers:\t%u %u %u\n", bf->buffer_count,
		   bf->nr_slots, bf->buffer_size);
	seq_printf(m, "bufq-counts:\t%u %u %u %u\n", st.free, st.queued,
		   st.held, st.high_water);
	seq_printf(m, "bufq-name:\t%s\n", bufq_label(q));
}

static const struct file_operations bufq_fops = {
	.owner = THIS_MODULE,
	.open = bufq_fop_open,
	.release = bufq_fop_release,
	.read_iter = bufq_fop_read_iter,
	.write_iter = bufq_fop_write_iter,
	.fsync = noop_fsync,	/* no backing store: msync() has nothing to do */
	.poll = bufq_fop_poll,
	.mmap = bufq_fop_mmap,
	.unlocked_ioctl = bufq_fop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.show_fdinfo = bufq_fop_show_fdinfo,
};

static struct miscdevice bufq_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "bufq",
	.fops = &bufq_fops,
	.mode = 0600,
};

int bufq_chardev_init(void)
{
	return misc_register(&bufq_miscdev);
}

void bufq_chardev_exit(void)
{
	misc_deregister(&bufq_miscdev);
}
