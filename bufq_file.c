// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_file - the user-space face of a queue: ioctl, mmap, poll, read/write
 *
 * A file fronts one mappable queue: /dev/bufq makes one per open file at
 * CONFIGURE (bufq_chardev.c), a driver hands its own to the files of its
 * device node with bufq_file_attach(). The core does all the queue work
 * (lists, growth, cap, waiting, poll, counters, and the data areas user
 * space maps, one per buffer index); this file translates between indices
 * and core buffers and checks everything user space hands in before the
 * core sees it, so that no user input reaches a core warning.
 *
 * Holders. A buffer user space holds is LENT in the core (bufq_lend()):
 * every kernel hand-in refuses it, and it comes back only through
 * bufq_unlend() with the owner it was lent to. The owner is a struct
 * bufq_holder: one per file and process (files_struct) that took buffers
 * through the file. A hand-in through the file may return a buffer any
 * of the file's holders holds (processes sharing a file share its work);
 * one lent through another file, or not lent, is refused. When a process
 * closes its last descriptor for the file (flush, at close() or exit),
 * the buffers its holder still has go back to the core as by REUSE.
 *
 * Lifetime. The file holds a reference on the queue (bufq_get()) and, for
 * a driver's queue, on the driver's module; a mapping holds the file. So
 * neither the queue's memory nor the driver's callbacks can go while user
 * space can still reach them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bufq.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <uapi/linux/bufq.h>

#include "bufq_compat.h"
#include "bufq_core.h"
#include "bufq_file.h"

/**
 * struct bufq_holder - a process that holds buffers through a file
 * @node: in &bufq_file.holders
 * @files: the process's file table; NULL once it closed the file, and
 *	then free for the next process
 * @closing: its process closed the file and its buffers are being taken
 *	back: not free yet
 */
struct bufq_holder {
	struct list_head node;
	struct files_struct *files;
	bool closing;
};

/* The queue, or NULL if not yet configured. */
static struct bufq *bufq_file_q(struct bufq_file *bf)
{
	/* Pairs with smp_store_release() in bufq_file_bind(). */
	return smp_load_acquire(&bf->q);
}

/*
 * Holders are added with list_add_rcu() under holder_lock and freed only
 * with the file, so the list can be walked without the lock and a pointer
 * to one stays valid. A holder whose process closed the file is given to
 * the next new one, but not before bufq_fop_flush() has taken back what
 * it held (@closing).
 */
static struct bufq_holder *bufq_holder_find(struct bufq_file *bf,
					    struct files_struct *files)
{
	struct bufq_holder *h, *ret = NULL;

	rcu_read_lock();
	list_for_each_entry_rcu(h, &bf->holders, node)
		if (READ_ONCE(h->files) == files)
			ret = h;
	rcu_read_unlock();
	return ret;
}

/* Caller holds holder_lock. A holder for @files: a free one, or @fresh. */
static struct bufq_holder *__bufq_holder_add(struct bufq_file *bf,
					     struct files_struct *files,
					     struct bufq_holder **fresh)
{
	struct bufq_holder *h;

	list_for_each_entry(h, &bf->holders, node)
		if (h->files == files)
			return h;	/* another thread made it */
	list_for_each_entry(h, &bf->holders, node)
		if (!h->files && !h->closing)
			goto found;
	h = *fresh;
	if (!h)
		return ERR_PTR(-ENOMEM);
	*fresh = NULL;
	h->closing = false;
	list_add_rcu(&h->node, &bf->holders);
found:
	WRITE_ONCE(h->files, files);
	return h;
}

static int bufq_fd_is(const void *file, struct file *f, unsigned int fd)
{
	return f == file;
}

/*
 * The holder of the calling process, made on its first take. Return: it,
 * ERR_PTR(-ENOMEM), or ERR_PTR(-EBADF) for a process that no longer has
 * the file open (another of its threads is still in a call on it).
 */
static struct bufq_holder *bufq_holder_get(struct bufq_file *bf,
					   struct file *file)
{
	struct files_struct *files = current->files;
	struct bufq_holder *h = READ_ONCE(bf->last), *fresh;

	if (h && READ_ONCE(h->files) == files)
		return h;
	h = bufq_holder_find(bf, files);
	if (h)
		goto out;
	fresh = kmalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	/*
	 * Look for our descriptor under holder_lock (which nests the file
	 * table's lock): a last close of the file either came before, and we
	 * see no descriptor, or its flush comes after and finds our holder.
	 */
	spin_lock(&bf->holder_lock);
	if (iterate_fd(files, 0, bufq_fd_is, file))
		h = __bufq_holder_add(bf, files, &fresh);
	else
		h = ERR_PTR(-EBADF);
	spin_unlock(&bf->holder_lock);
	kfree(fresh);
	if (IS_ERR(h))
		return h;
out:
	WRITE_ONCE(bf->last, h);
	return h;
}

/* How many processes the file keeps a holder for: see out_holders. */
static u32 bufq_file_holders(struct bufq_file *bf)
{
	struct bufq_holder *h;
	u32 n = 0;

	spin_lock(&bf->holder_lock);
	list_for_each_entry(h, &bf->holders, node)
		n += !!h->files;
	spin_unlock(&bf->holder_lock);
	return n;
}

/* bufq_file_owns() for an owner other than the last holder. */
static noinline bool bufq_file_owns_slow(struct bufq_file *bf,
					 unsigned long owner)
{
	struct bufq_holder *h;
	bool ret = false;

	rcu_read_lock();
	list_for_each_entry_rcu(h, &bf->holders, node)
		if ((unsigned long)h == owner)
			ret = true;
	rcu_read_unlock();
	return ret;
}

/* Is @owner, a slot's owner word, one of @bf's holders? */
static __always_inline bool bufq_file_owns(struct bufq_file *bf,
					   unsigned long owner)
{
	if (!owner)
		return false;
	if (likely(owner == (unsigned long)READ_ONCE(bf->last)))
		return true;
	return bufq_file_owns_slow(bf, owner);
}

/*
 * After lending buffers to @h: is its process still the one that has the
 * file open? If it closed the file meanwhile, its flush may have scanned
 * before the lend: the caller gives the buffers back. A full barrier on
 * each side (here, and in bufq_fop_flush() between clearing h->files and
 * its scan) makes one of the two see the other.
 */
static bool bufq_holder_live(struct bufq_holder *h)
{
	smp_mb();	/* pairs with smp_mb() in bufq_fop_flush() */
	return likely(READ_ONCE(h->files) == current->files);
}

/* Take back buffer @index from @h, whose process closed the file. */
static void bufq_holder_drop(struct bufq_file *bf, struct bufq_holder *h,
			     u32 index)
{
	void *buf = bufq_unlend(bf->q, index, (unsigned long)h);

	if (buf && !bufq_reuse(bf->q, buf))
		atomic_long_inc(&bf->reclaimed);
}

/* The core's errno as user space sees it: see the uapi DOC. */
static int bufq_file_errno(int ret)
{
	switch (ret) {
	case -ENOBUFS:
	case -ENODATA:
		return -EAGAIN;
	case -ESHUTDOWN:
		return -ENODEV;
	default:
		return ret;
	}
}

/* Take a free buffer for the kernel. */
static int bufq_file_take_free(struct bufq *q, bool nonblock, void **buf)
{
	int ret;

	if (nonblock)
		ret = bufq_fetch(q, buf, NULL);
	else
		ret = bufq_fetch_wait(q, buf, NULL);
	return bufq_file_errno(ret);
}

/* Take the head of the queue for the kernel. */
static int bufq_file_take_queued(struct bufq *q, bool nonblock, void **buf)
{
	int ret;

	if (nonblock)
		ret = bufq_dequeue(q, buf, NULL);
	else
		ret = bufq_dequeue_wait(q, buf, NULL);
	return bufq_file_errno(ret);
}

/* Put a buffer the kernel holds back at the head of the queue. */
static void bufq_file_requeue(struct bufq *q, void *buf)
{
	if (bufq_enqueue_at_head(q, buf))
		bufq_reuse(q, buf);
}

/*
 * Take buffer @index back from user space, if one of @bf's holders holds
 * it. Return: the buffer, or an ERR_PTR(): -EINVAL for an index out of
 * range, -EBADSLT if user space does not hold it through @bf.
 */
static __always_inline void *bufq_file_unlend(struct bufq_file *bf,
					      u32 index, unsigned long *ownerp)
{
	unsigned long owner;
	void *buf;

	if (index >= bf->nr_slots)
		return ERR_PTR(-EINVAL);
	index = array_index_nospec(index, bf->nr_slots);
	owner = bufq_slot_owner(bf->q, index);
	if (!bufq_file_owns(bf, owner))
		return ERR_PTR(-EBADSLT);
	buf = bufq_unlend(bf->q, index, owner);
	if (!buf)
		return ERR_PTR(-EBADSLT);
	if (ownerp)
		*ownerp = owner;
	return buf;
}

/*
 * Give the buffers holder @h still holds back to the core, as REUSE.
 * Return: how many.
 */
static unsigned int bufq_file_reclaim(struct bufq_file *bf,
				      struct bufq_holder *h)
{
	unsigned int n = 0;
	void *buf;
	u32 i;

	for (i = 0; i < bf->nr_slots; i++) {
		if (bufq_slot_owner(bf->q, i) != (unsigned long)h)
			continue;
		buf = bufq_unlend(bf->q, i, (unsigned long)h);
		if (buf && !bufq_reuse(bf->q, buf))
			n++;
	}
	atomic_long_add(n, &bf->reclaimed);
	return n;
}

/* Lend @buf, just taken, to @h, unless @h's process closed the file. */
static int bufq_file_lend(struct bufq_file *bf, struct bufq_holder *h,
			  void *buf, u32 *index)
{
	*index = bufq_lend(bf->q, buf, (unsigned long)h);
	if (bufq_holder_live(h))
		return 0;
	bufq_holder_drop(bf, h, *index);
	return -EBADF;
}

static int bufq_do_fetch(struct bufq_file *bf, struct bufq_holder *h,
			 bool nonblock, u32 *index)
{
	void *buf;
	int ret;

	if (IS_ERR(h))
		return PTR_ERR(h);
	ret = bufq_file_take_free(bf->q, nonblock, &buf);
	return ret ?: bufq_file_lend(bf, h, buf, index);
}

static int bufq_do_dequeue(struct bufq_file *bf, struct bufq_holder *h,
			   bool nonblock, u32 *index, u32 *len)
{
	void *buf;
	int ret;

	if (IS_ERR(h))
		return PTR_ERR(h);
	ret = bufq_file_take_queued(bf->q, nonblock, &buf);
	if (ret)
		return ret;
	*len = bufq_payload(bf->q, buf);
	return bufq_file_lend(bf, h, buf, index);
}

static int bufq_do_enqueue(struct bufq_file *bf, u32 index, u32 len,
			   u32 flags)
{
	struct bufq *q = bf->q;
	unsigned long owner;
	void *buf;
	int ret;

	if (flags & ~BUFQ_ENQUEUE_FLAGS_VALID)
		return -EOPNOTSUPP;
	if (len > bf->buffer_size)
		return -EINVAL;
	buf = bufq_file_unlend(bf, index, &owner);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	bufq_set_payload(q, buf, len);
	if (flags & BUFQ_ENQUEUE_AT_HEAD)
		ret = bufq_enqueue_at_head(q, buf);
	else
		ret = bufq_enqueue(q, buf);
	if (ret)	/* still ours: the driver tore the queue down */
		bufq_lend(q, buf, owner);
	return bufq_file_errno(ret);
}

static int bufq_do_reuse(struct bufq_file *bf, u32 index)
{
	void *buf = bufq_file_unlend(bf, index, NULL);

	if (IS_ERR(buf))
		return PTR_ERR(buf);
	/* The core refuses none: it lent the buffer. */
	return bufq_reuse(bf->q, buf);
}

/* Undo a FETCH or DEQUEUE whose result could not reach user space. */
static void bufq_undo_take(struct bufq_file *bf, u32 index, bool dequeued)
{
	void *buf = bufq_file_unlend(bf, index, NULL);

	if (IS_ERR(buf))
		return;		/* another thread guessed the index */
	if (dequeued)
		bufq_file_requeue(bf->q, buf);
	else
		bufq_reuse(bf->q, buf);
}

/* ---- ioctl dispatch ---------------------------------------------------- */

/**
 * struct bufq_ucmd - one ioctl call
 * @bf: the file's state
 * @q: its queue, NULL before configuration
 * @file: the file
 * @holder: the calling process's holder, NULL until a take needs it
 * @wait_min: BATCH with BUFQ_BATCH_WAIT, until its first take: buffers to
 *	wait for; 0 otherwise
 * @wait_ms: how long at most, 0 for no limit
 * @ubuffer: the user's struct
 * @user_size: its size as user space gave it
 * @cmd: the kernel copy, zero extended to the kernel's struct size
 */
struct bufq_ucmd {
	struct bufq_file *bf;
	struct bufq *q;
	struct file *file;
	struct bufq_holder *holder;
	u32 wait_min;
	u32 wait_ms;
	void __user *ubuffer;
	u32 user_size;
	void *cmd;
};

static bool bufq_ucmd_nonblock(const struct bufq_ucmd *ucmd)
{
	return ucmd->file->f_flags & O_NONBLOCK;
}

/* The calling process's holder: an ERR_PTR() if it cannot be made. */
static struct bufq_holder *bufq_ucmd_holder(struct bufq_ucmd *ucmd)
{
	if (!ucmd->holder || IS_ERR(ucmd->holder))
		ucmd->holder = bufq_holder_get(ucmd->bf, ucmd->file);
	return ucmd->holder;
}

/* Copy the command struct back, as far as user space knows it. */
static int bufq_ucmd_respond(struct bufq_ucmd *ucmd, size_t len)
{
	if (copy_to_user(ucmd->ubuffer, ucmd->cmd,
			 min_t(size_t, ucmd->user_size, len)))
		return -EFAULT;
	return 0;
}

static int bufq_cmd_configure(struct bufq_ucmd *ucmd)
{
	struct bufq_file *bf = ucmd->bf;
	int ret = -EBUSY;

	mutex_lock(&bf->lock);
	if (!bf->q && bf->configure)
		ret = bf->configure(bf, ucmd->cmd);
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
	cmd->out_config_flags = ucmd->q->lookaside ? BUFQ_CONFIGURE_LOOKASIDE : 0;
	cmd->out_buffer_count = ucmd->q->buffer_count;
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
	cmd->out_ops = bf->ops;
	cmd->out_holders = bufq_file_holders(bf);
	cmd->out_reclaimed = atomic_long_read(&bf->reclaimed);
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
	ret = bufq_do_fetch(ucmd->bf, bufq_ucmd_holder(ucmd),
			    bufq_ucmd_nonblock(ucmd), &cmd->out_index);
	if (ret)
		return ret;
	ret = bufq_ucmd_respond(ucmd, sizeof(*cmd));
	if (ret)
		bufq_undo_take(ucmd->bf, cmd->out_index, false);
	return ret;
}

static int bufq_cmd_enqueue(struct bufq_ucmd *ucmd)
{
	struct bufq_enqueue *cmd = ucmd->cmd;

	return bufq_do_enqueue(ucmd->bf, cmd->index, cmd->len, cmd->flags);
}

static int bufq_cmd_dequeue(struct bufq_ucmd *ucmd)
{
	struct bufq_dequeue *cmd = ucmd->cmd;
	int ret;

	if (cmd->flags)
		return -EOPNOTSUPP;
	ret = bufq_do_dequeue(ucmd->bf, bufq_ucmd_holder(ucmd),
			      bufq_ucmd_nonblock(ucmd), &cmd->out_index,
			      &cmd->out_len);
	if (ret)
		return ret;
	ret = bufq_ucmd_respond(ucmd, sizeof(*cmd));
	if (ret)
		bufq_undo_take(ucmd->bf, cmd->out_index, true);
	return ret;
}

static int bufq_cmd_reuse(struct bufq_ucmd *ucmd)
{
	struct bufq_reuse *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EOPNOTSUPP;
	if (cmd->__reserved)
		return -EINVAL;
	return bufq_do_reuse(ucmd->bf, cmd->index);
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

/* The &enum bufq_ops bit of a batch opcode. */
static u32 bufq_op_bit(u32 op)
{
	static const u32 bits[] = {
		[BUFQ_OP_FETCH] = BUFQ_OPS_FETCH,
		[BUFQ_OP_ENQUEUE] = BUFQ_OPS_ENQUEUE,
		[BUFQ_OP_DEQUEUE] = BUFQ_OPS_DEQUEUE,
		[BUFQ_OP_REUSE] = BUFQ_OPS_REUSE,
	};

	return op < ARRAY_SIZE(bits) ? bits[op] : 0;
}

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
static __always_inline int bufq_batch_check(const struct bufq_file *bf,
					    fmode_t mode,
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
	if (!(bf->ops & bufq_op_bit(op->op)))
		return -EPERM;
	if ((mode & bufq_op_fmode(op->op)) != bufq_op_fmode(op->op))
		return -EBADF;
	if (op->op == BUFQ_OP_ENQUEUE && op->len > bf->buffer_size)
		return -EINVAL;
	return 0;
}

/* Could @n buffers be taken at once with @op? Tested under the locks. */
static bool bufq_batch_ready(struct bufq *q, u32 op, u32 n)
{
	struct bufq_stats st;

	bufq_get_stats(q, &st);
	if (READ_ONCE(q->dead))
		return true;
	if (op == BUFQ_OP_DEQUEUE)
		return st.queued >= n;
	/* A mappable queue with lookaside has a cap. */
	return st.free + (q->lookaside ? q->max_buffers - st.total : 0) >= n;
}

/*
 * BUFQ_BATCH_WAIT: before the batch's first take, wait for what it asked.
 * The locks bufq_batch_ready() takes order its test against the wake-up
 * in bufq_wake_poll(), as for poll(). A signal or the timeout ends the
 * wait; the batch goes on either way.
 */
static void bufq_batch_wait(struct bufq_ucmd *ucmd, u32 op)
{
	long timeout = ucmd->wait_ms ? msecs_to_jiffies(ucmd->wait_ms) :
				       MAX_SCHEDULE_TIMEOUT;
	u32 n = ucmd->wait_min;

	if (!n)
		return;
	ucmd->wait_min = 0;
	wait_event_interruptible_timeout(ucmd->q->poll_wait,
					 bufq_batch_ready(ucmd->q, op, n),
					 timeout);
}

/* Run one batch record; return 0, or the op's errno. */
static int bufq_batch_run(struct bufq_ucmd *ucmd, struct bufq_batch_op *op)
{
	struct bufq_file *bf = ucmd->bf;
	int ret = bufq_batch_check(bf, ucmd->file->f_mode, op);

	if (ret)
		return ret;
	if (op->op == BUFQ_OP_FETCH || op->op == BUFQ_OP_DEQUEUE)
		bufq_batch_wait(ucmd, op->op);
	switch (op->op) {
	case BUFQ_OP_FETCH:
		return bufq_do_fetch(bf, bufq_ucmd_holder(ucmd), true,
				     &op->index);
	case BUFQ_OP_ENQUEUE:
		return bufq_do_enqueue(bf, op->index, op->len, op->flags);
	case BUFQ_OP_DEQUEUE:
		return bufq_do_dequeue(bf, bufq_ucmd_holder(ucmd), true,
				       &op->index, &op->len);
	default:
		return bufq_do_reuse(bf, op->index);
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
			bufq_undo_take(ucmd->bf, op.index, false);
		else if (!ret && op.op == BUFQ_OP_DEQUEUE)
			bufq_undo_take(ucmd->bf, op.index, true);
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
 *  - A chunk is probed for writing as it is read, before it runs
 *    (bufq_batch_read_probe()), as bufq_batch_one() writes back each
 *    record: records from the first one that cannot be written on never
 *    run.
 *  - FETCH and DEQUEUE can be undone (bufq_undo_take()), so their results
 *    wait for the next write-back.
 *  - ENQUEUE and REUSE cannot, once the core has the buffer. A run of them
 *    takes its buffers back from user space (bufq_unlend(), which settles
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
	unsigned long owners[BUFQ_BATCH_CHUNK];
};

/**
 * struct bufq_batch_ctx - one BATCH on the fast path
 * @ucmd: the ioctl
 * @uops: the user's copy of the chunk
 * @ops: the kernel's copy of the chunk
 * @bufs: for each record of the chunk that ran, the core buffer it took
 *	(FETCH, DEQUEUE: only for the bulk calls) or took back from user
 *	space (ENQUEUE, REUSE)
 * @owners: for ENQUEUE and REUSE, the holder each buffer was taken from
 * @cap: records @ops, @bufs and @owners hold
 * @written: records [0, @written) of the chunk are written back and done
 */
struct bufq_batch_ctx {
	struct bufq_ucmd *ucmd;
	struct bufq_batch_op __user *uops;
	struct bufq_batch_op *ops;
	void **bufs;
	unsigned long *owners;
	u32 cap;
	u32 written;
};

/* Give user space back record @r's buffer, taken back for a give. */
static void bufq_batch_rehold(struct bufq_batch_ctx *bc, u32 r)
{
	bufq_lend(bc->ucmd->q, bc->bufs[r], bc->owners[r]);
}

/*
 * Lend @h the buffers of a bulk take, records [@i, @i + @got); @dequeue:
 * they are queued buffers (their payload is the record's len). Return:
 * false if @h's process closed the file meanwhile: they are given back.
 */
static bool bufq_batch_hand_out(struct bufq_batch_ctx *bc, u32 i, u32 got,
				bool dequeue, struct bufq_holder *h)
{
	struct bufq *q = bc->ucmd->q;
	struct bufq_batch_op *op;
	u32 r;

	for (r = i; r < i + got; r++) {
		op = &bc->ops[r];
		if (dequeue)
			op->len = bufq_map_len(q, bc->bufs[r]);
		op->index = bufq_lend(q, bc->bufs[r], (unsigned long)h);
		op->result = 0;
	}
	if (!got || bufq_holder_live(h))
		return true;
	for (r = i; r < i + got; r++)
		bufq_holder_drop(bc->ucmd->bf, h, bc->ops[r].index);
	return false;
}

/*
 * Run records [@i, @end), all FETCH or all DEQUEUE, checked. Return: @end,
 * or the record that failed (its result set).
 */
static u32 bufq_batch_take(struct bufq_batch_ctx *bc, u32 i, u32 end,
			   bool dequeue)
{
	struct bufq_holder *h = bufq_ucmd_holder(bc->ucmd);
	struct bufq_file *bf = bc->ucmd->bf;
	struct bufq *q = bc->ucmd->q;
	u32 r, got;
	int ret;

	if (IS_ERR(h)) {
		bc->ops[i].result = -PTR_ERR(h);
		return i;
	}
	bufq_batch_wait(bc->ucmd, dequeue ? BUFQ_OP_DEQUEUE : BUFQ_OP_FETCH);
	if (!dequeue && q->lookaside) {
		/*
		 * Growth may fail in the middle of a bulk fetch, which then
		 * goes on: one by one, the first failure stops the batch.
		 */
		for (r = i; r < end; r++) {
			ret = bufq_do_fetch(bf, h, true, &bc->ops[r].index);
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
	if (!bufq_batch_hand_out(bc, i, got, dequeue, h)) {
		bc->ops[i].result = EBADF;
		return i;
	}
	r = i + got;
	if (r < end)	/* the core's -ENODATA, -ENOBUFS or -ESHUTDOWN */
		bc->ops[r].result = READ_ONCE(q->dead) ? ENODEV : EAGAIN;
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
		/* As bufq_do_enqueue() on a queue the driver tore down. */
		if (bc->ops[r].op == BUFQ_OP_ENQUEUE &&
		    READ_ONCE(bc->ucmd->q->dead)) {
			bc->ops[r].result = ENODEV;
			break;
		}
		buf = bufq_file_unlend(bc->ucmd->bf, bc->ops[r].index,
				       &bc->owners[r]);
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
 * back by bufq_batch_unhold(), to the core. The core refuses only ENQUEUEs
 * when the driver tears the queue down after bufq_batch_unhold() looked:
 * their results are written, so they go the way of the queue's other
 * queued work (reuse; the dead queue frees them).
 */
static void bufq_batch_give(struct bufq_batch_ctx *bc, u32 i, u32 end)
{
	struct bufq *q = bc->ucmd->q;
	u32 r, k, n;
	int ret;

	if (i == end)
		return;
	if (bc->ops[i].op == BUFQ_OP_REUSE) {
		bufq_reuse_bulk(q, bc->bufs + i, end - i);	/* lent: taken */
		return;
	}
	for (r = i; r < end; r++)
		bufq_map_set_len(q, bc->bufs[r], bc->ops[r].len);
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
		for (n += r; n < k; n++)
			bufq_reuse(q, bc->bufs[n]);
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
			bufq_undo_take(bc->ucmd->bf, op->index,
				       op->op == BUFQ_OP_DEQUEUE);
		else
			bufq_batch_rehold(bc, to);
	}
}

/*
 * The records move 8 bytes at a time in one user access section: under
 * emulation a byte copy (rep movsb) costs more than the op it carries.
 */
#define BUFQ_BATCH_WORDS	(sizeof(struct bufq_batch_op) / sizeof(u64))
static_assert(sizeof(struct bufq_batch_op) % sizeof(u64) == 0);

/*
 * The probe's step: writability is a page's, and no page is smaller than
 * 4 KiB; 4 KiB also on larger pages, for protection finer than a page
 * (powerpc's subpage_prot).
 */
#define BUFQ_BATCH_PROBE_STEP	SZ_4K

/*
 * Read the chunk's @n records from user space and probe them for writing,
 * in one user access section: every 4 KiB they span, the word of the chunk
 * that the 4 KiB start in (or the chunk's first) is written back as read.
 * Return: -EFAULT if they cannot all be read; else @n, or the first record
 * with a byte on memory that cannot be written.
 */
static int bufq_batch_read_probe(struct bufq_batch_ctx *bc, u32 n)
{
	unsigned long base = (unsigned long)bc->uops, addr = base;
	unsigned long end = base + n * sizeof(*bc->ops);
	u64 __user *uw = (u64 __user *)bc->uops;
	u64 *kw = (u64 *)bc->ops;
	unsigned long i;

	if (!user_access_begin(uw, n * sizeof(*bc->ops)))
		return -EFAULT;
	for (i = 0; i < n * BUFQ_BATCH_WORDS; i++)
		unsafe_get_user(kw[i], &uw[i], eread);
	for (; addr < end; addr = ALIGN_DOWN(addr, BUFQ_BATCH_PROBE_STEP) +
				  BUFQ_BATCH_PROBE_STEP) {
		i = (addr - base) / sizeof(u64);
		unsafe_put_user(kw[i], &uw[i], ewrite);
	}
	user_access_end();
	return n;

ewrite:
	user_access_end();
	return (addr - base) / sizeof(*bc->ops);
eread:
	user_access_end();
	return -EFAULT;
}

/*
 * Write records [@bc->written, @to) back, each whole or, from its first
 * word that faults on, not at all (copy_to_user() would write the bytes
 * before the fault). Return: @to, or the first record that could not be
 * written (those before it were).
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
 * Run the @n records of the chunk in @bc->ops, read and probed by
 * bufq_batch_read_probe(): records [0, @m) lie wholly on memory that could
 * be written. The records from the first one that cannot be written on do
 * not run, so that no record takes a buffer only to give it back (no rise
 * of out_high_water, no EAGAIN for others meanwhile). Return: as
 * bufq_batch_chunk().
 */
static int bufq_batch_probed(struct bufq_batch_ctx *bc, u32 n, u32 m,
			     u32 *done)
{
	int ret;

	bc->written = 0;
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
	/*
	 * Not zeroed on every call (INIT_STACK_ALL_ZERO): a record is read
	 * from user space before it is used, a buffer and its owner are
	 * written by the record that takes or hands it in.
	 */
	struct bufq_batch_op stack_ops[BUFQ_BATCH_STACK] __aligned(8) __uninitialized;
	void *stack_bufs[BUFQ_BATCH_STACK] __uninitialized;
	unsigned long stack_owners[BUFQ_BATCH_STACK] __uninitialized;
	struct bufq_batch_chunk *chunk = NULL;
	struct bufq_batch_ctx bc = {
		.ucmd = ucmd,
		.ops = stack_ops,
		.bufs = stack_bufs,
		.owners = stack_owners,
		.cap = BUFQ_BATCH_STACK,
	};
	u32 base, n, d = 0;
	int ret = 0, m;
	u64 addr;

	if (count > BUFQ_BATCH_STACK)
		chunk = kmalloc(sizeof(*chunk), GFP_KERNEL | __GFP_NOWARN);
	if (chunk) {
		bc.ops = chunk->ops;
		bc.bufs = chunk->bufs;
		bc.owners = chunk->owners;
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
		m = bufq_batch_read_probe(&bc, n);
		if (m < 0)
			ret = bufq_batch_each(ucmd, addr, sizeof(*bc.ops), n,
					      &d);
		else
			ret = bufq_batch_probed(&bc, n, m, &d);
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

	if (cmd->flags & ~BUFQ_BATCH_FLAGS_VALID)
		return -EOPNOTSUPP;
	if (cmd->__reserved ||
	    cmd->entry_len < offsetofend(struct bufq_batch_op, result) ||
	    (!(cmd->flags & BUFQ_BATCH_WAIT) &&
	     (cmd->wait_min || cmd->wait_timeout_ms)))
		return -EINVAL;
	if (cmd->flags & BUFQ_BATCH_WAIT) {
		/* No more than the records, nor than the queue can have. */
		ucmd->wait_min = clamp(cmd->wait_min, 1U,
				       max(min(cmd->count, ucmd->bf->nr_slots),
					   1U));
		ucmd->wait_ms = cmd->wait_timeout_ms;
	}
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
 * @ops: the &enum bufq_ops bit the file must allow, or 0
 * @execute: the handler
 */
struct bufq_ioctl_op {
	unsigned int size;
	unsigned int min_size;
	unsigned int ioctl_num;
	bool unconfigured;
	bool probe;
	fmode_t fmode;
	u32 ops;
	int (*execute)(struct bufq_ucmd *ucmd);
};

/* In the order of the BUFQ_CMD_* numbers: the dispatch checks ioctl_num. */
#define BUFQ_IOCTL_OP(_ioctl, _fn, _struct, _last, _unconf, _probe, _mode, \
		      _ops)							\
	{								\
		.size = sizeof(_struct) +				\
			BUILD_BUG_ON_ZERO(sizeof(union bufq_ucmd_buffer) < \
					  sizeof(_struct)),		\
		.min_size = offsetofend(_struct, _last),		\
		.ioctl_num = _ioctl,					\
		.unconfigured = _unconf,				\
		.probe = _probe,					\
		.fmode = _mode,						\
		.ops = _ops,						\
		.execute = _fn,						\
	}

/* Producers need write access, consumers read access: see the uapi DOC. */
static const struct bufq_ioctl_op bufq_ioctl_ops[] = {
	BUFQ_IOCTL_OP(BUFQ_IOCTL_CONFIGURE, bufq_cmd_configure,
		      struct bufq_configure, context_size, true, false, 0, 0),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_INFO, bufq_cmd_info, struct bufq_info,
		      out_mmap_size, false, false, 0, 0),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_FETCH, bufq_cmd_fetch, struct bufq_fetch,
		      out_index, false, true, FMODE_WRITE, BUFQ_OPS_FETCH),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_ENQUEUE, bufq_cmd_enqueue,
		      struct bufq_enqueue, len, false, false, FMODE_WRITE,
		      BUFQ_OPS_ENQUEUE),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_DEQUEUE, bufq_cmd_dequeue,
		      struct bufq_dequeue, out_len, false, true, FMODE_READ,
		      BUFQ_OPS_DEQUEUE),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_REUSE, bufq_cmd_reuse, struct bufq_reuse,
		      index, false, false, 0, BUFQ_OPS_REUSE),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_FLUSH, bufq_cmd_flush, struct bufq_flush,
		      flags, false, false, FMODE_READ, BUFQ_OPS_FLUSH),
	BUFQ_IOCTL_OP(BUFQ_IOCTL_BATCH, bufq_cmd_batch, struct bufq_batch,
		      __reserved, false, true, 0, 0),
};

static long bufq_fop_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct bufq_ucmd ucmd = { .bf = file->private_data, .file = file };
	const struct bufq_ioctl_op *op;
	/* copy_struct_from_user() writes all of the command's op->size. */
	union bufq_ucmd_buffer buf __uninitialized;
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
	if (ucmd.q && op->ops && !(ucmd.bf->ops & op->ops))
		return -EPERM;
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
	void *buf;
	int ret;

	if (!q)
		return -EBADFD;
	if ((bf->ops & (BUFQ_OPS_FETCH | BUFQ_OPS_ENQUEUE)) !=
	    (BUFQ_OPS_FETCH | BUFQ_OPS_ENQUEUE))
		return -EPERM;
	if (count > bf->buffer_size)
		return -EMSGSIZE;
	if (!count)
		return 0;
	if (fault_in_iov_iter_readable(from, count))
		return -EFAULT;
	ret = bufq_file_take_free(q, file->f_flags & O_NONBLOCK, &buf);
	if (ret)
		return ret;
	if (copy_from_iter(buf, count, from) != count) {
		bufq_reuse(q, buf);
		return -EFAULT;
	}
	bufq_set_payload(q, buf, count);
	ret = bufq_enqueue(q, buf);
	if (ret)
		bufq_reuse(q, buf);
	return ret ? bufq_file_errno(ret) : count;
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
	void *buf;
	u32 len;
	int ret;

	if (!q)
		return -EBADFD;
	if (!(bf->ops & BUFQ_OPS_DEQUEUE))
		return -EPERM;
	ret = bufq_file_take_queued(q, file->f_flags & O_NONBLOCK, &buf);
	if (ret)
		return ret;
	len = bufq_payload(q, buf);
	if (len > iov_iter_count(to)) {
		bufq_file_requeue(q, buf);
		return -EMSGSIZE;
	}
	if (copy_to_iter(buf, len, to) != len) {
		bufq_file_requeue(q, buf);
		return -EFAULT;
	}
	bufq_reuse(q, buf);
	return len;
}

static __poll_t bufq_fop_poll(struct file *file, poll_table *pt)
{
	struct bufq_file *bf = file->private_data;
	struct bufq *q = bufq_file_q(bf);
	__poll_t mask;

	if (!q)
		return EPOLLERR;
	mask = bufq_poll(q, file, pt);
	/* Only what this file may do: see "Driver files" in the uapi DOC. */
	if (!(bf->ops & BUFQ_OPS_DEQUEUE))
		mask &= ~(EPOLLIN | EPOLLRDNORM);
	if (!(bf->ops & BUFQ_OPS_FETCH))
		mask &= ~(EPOLLOUT | EPOLLWRNORM);
	return mask;
}

static vm_fault_t bufq_vm_fault(struct vm_fault *vmf)
{
	struct bufq_file *bf = vmf->vma->vm_file->private_data;
	struct page *page;

	if (vmf->pgoff >= bf->mem_size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	page = bufq_mem_page(bf->q, vmf->pgoff);
	/* Not VM_FAULT_OOM: with no memcg OOM kill, it would refault. */
	if (!page)
		return VM_FAULT_SIGBUS;
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

/* ---- holders, open, release -------------------------------------------- */

/*
 * A descriptor for the file is being closed, by close() or by the exit of
 * the process (@id, its file table). If it was that process's last, give
 * back what it holds.
 */
static int bufq_fop_flush(struct file *file, fl_owner_t id)
{
	struct bufq_file *bf = file->private_data;
	struct bufq_holder *h;

	if (!bufq_file_q(bf) || !id || iterate_fd(id, 0, bufq_fd_is, file))
		return 0;
	spin_lock(&bf->holder_lock);
	h = bufq_holder_find(bf, id);
	if (h) {
		WRITE_ONCE(h->files, NULL);
		h->closing = true;
	}
	spin_unlock(&bf->holder_lock);
	if (!h)
		return 0;
	smp_mb();	/* pairs with smp_mb() in bufq_holder_live() */
	bufq_file_reclaim(bf, h);
	spin_lock(&bf->holder_lock);
	h->closing = false;	/* free for the next process */
	spin_unlock(&bf->holder_lock);
	return 0;
}

static const struct file_operations bufq_file_fops;

/**
 * bufq_file_bind - make a file the face of a queue
 * @bf: the file's state, not bound yet
 * @q: a mappable queue; the file takes a reference
 * @ops: &enum bufq_ops the file allows
 * @buffer_size: bytes of each data area user space may use, at most
 *	q's buffer_size
 * @context_size: bytes of user context area after them, at @ctx_offset
 * @ctx_offset: where it starts in the data area
 */
void bufq_file_bind(struct bufq_file *bf, struct bufq *q, u32 ops,
		    u32 buffer_size, u32 context_size, u32 ctx_offset)
{
	bufq_get(q);
	bf->ops = ops;
	bf->buffer_size = buffer_size;
	bf->context_size = context_size;
	bf->ctx_offset = ctx_offset;
	bf->nr_slots = q->nr_slots;
	bf->stride = bufq_data_size(q);
	bf->mem_size = (size_t)bf->nr_slots * bf->stride;
	/* Pairs with smp_load_acquire() in bufq_file_q(). */
	smp_store_release(&bf->q, q);
}

/**
 * bufq_file_open - make an opened file a bufq file, not bound yet
 * @file: the file, in its device's open()
 * @configure: makes and binds the queue at CONFIGURE; NULL: see bind
 * @owner: module to hold while the file is open, or NULL
 *
 * Return: the file's state, or an ERR_PTR(-ENOMEM).
 */
struct bufq_file *bufq_file_open(struct file *file,
				 int (*configure)(struct bufq_file *bf,
						  const void *cmd),
				 struct module *owner)
{
	struct bufq_file *bf;

	struct bufq_holder *h;

	bf = kzalloc(sizeof(*bf), GFP_KERNEL_ACCOUNT);
	h = kmalloc(sizeof(*h), GFP_KERNEL_ACCOUNT);
	if (!bf || !h) {
		kfree(bf);
		kfree(h);
		return ERR_PTR(-ENOMEM);
	}
	mutex_init(&bf->lock);
	spin_lock_init(&bf->holder_lock);
	INIT_LIST_HEAD(&bf->holders);
	/* The opener's holder, so that its takes need no memory. */
	h->files = current->files;
	h->closing = false;
	list_add(&h->node, &bf->holders);
	bf->last = h;
	atomic_long_set(&bf->reclaimed, 0);
	bf->configure = configure;
	bf->owner = owner;
	if (owner)
		__module_get(owner);	/* live: it is opening its file */
	/* Our fops hold us: replace_fops() drops the device's. */
	__module_get(THIS_MODULE);
	file->private_data = bf;
	replace_fops(file, &bufq_file_fops);
	stream_open(file_inode(file), file);
	return bf;
}

/**
 * bufq_file_attach - give a driver's queue to user space through a file
 * @file: a file of the driver's device node, in its open() method
 * @q: the driver's queue, made with &bufq_config.mappable
 * @cfg: what user space may do with it
 *
 * From now on @file is @q's user-space face, with the ABI of /dev/bufq
 * (<uapi/linux/bufq.h>): its ioctls, mmap() of the queue's own data areas
 * (zero-copy in both directions), poll(), read() and write(). The file is
 * configured from the start; operations outside @cfg->ops fail with
 * EPERM. It holds a reference on @q and on @cfg->owner (NULL: the module
 * of @file's file_operations, the driver's) until it is released: the
 * driver may call bufq_destroy() at any time (user space then sees ENODEV
 * and EPOLLHUP), and its module cannot be unloaded while a file or a
 * mapping exists.
 *
 * What the driver must know:
 *  - Call it last in open() and return what it returns: @file's
 *    file_operations are bufq's from then on, and the driver gets no
 *    release() of its own.
 *  - reuse_cleanup and bufq_priv() data may be used after bufq_destroy(),
 *    until the last file is released (user space's REUSE, and buffers
 *    given back for a process that closed the file); a bufq_exit() of an
 *    embedded queue waits, uninterruptibly, for every file's release.
 *    Do not race bufq_destroy() with this call.
 *  - Every file of @q maps all of @q's buffers. A kernel consumer reads
 *    what user space wrote in place, and user space can still write it:
 *    copy what it validates before it trusts it.
 *  - bufq is built for x86-64, whose caches are coherent: there is no
 *    flush_dcache_page() between the kernel's and user space's views.
 *
 * Context: process context, in a file's open(); may sleep.
 * Return: 0; -EINVAL if @q is not mappable or @cfg->ops has a bit outside
 * BUFQ_OPS_ALL; -ENOMEM.
 */
int bufq_file_attach(struct file *file, struct bufq *q,
		     const struct bufq_file_config *cfg)
{
	struct bufq_file *bf;

	if (!q->mappable || (cfg->ops & ~BUFQ_OPS_ALL))
		return -EINVAL;
	/* The driver's module: its open() is running, so it is live. */
	bf = bufq_file_open(file, NULL, cfg->owner ?: file->f_op->owner);
	if (IS_ERR(bf))
		return PTR_ERR(bf);
	bufq_file_bind(bf, q, cfg->ops, q->buffer_size, 0, q->buffer_size);
	return 0;
}
EXPORT_SYMBOL_GPL(bufq_file_attach);

static int bufq_fop_release(struct inode *inode, struct file *file)
{
	struct bufq_file *bf = file->private_data;
	struct bufq_holder *h, *tmp;

	/* Nobody else can reach the file now: take back what it lent. */
	list_for_each_entry_safe(h, tmp, &bf->holders, node) {
		bufq_file_reclaim(bf, h);
		kfree(h);
	}
	if (bf->q && bf->configure)
		bufq_destroy(bf->q);	/* /dev/bufq's own queue */
	if (bf->q)
		bufq_put(bf->q);
	if (bf->owner)
		module_put(bf->owner);
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
	seq_printf(m, "bufq-buffers:\t%u %u %u\n", q->buffer_count,
		   bf->nr_slots, bf->buffer_size);
	seq_printf(m, "bufq-counts:\t%u %u %u %u\n", st.free, st.queued,
		   st.held, st.high_water);
	seq_printf(m, "bufq-name:\t%s\n", bufq_label(q));
}

static const struct file_operations bufq_file_fops = {
	.owner = THIS_MODULE,
	.release = bufq_fop_release,
	.flush = bufq_fop_flush,
	.read_iter = bufq_fop_read_iter,
	.write_iter = bufq_fop_write_iter,
	.fsync = noop_fsync,	/* no backing store: msync() has nothing to do */
	.poll = bufq_fop_poll,
	.mmap = bufq_fop_mmap,
	.unlocked_ioctl = bufq_fop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.show_fdinfo = bufq_fop_show_fdinfo,
};
