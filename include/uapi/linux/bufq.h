/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bufq - user-space interface of the producer/consumer buffer queue
 */
#ifndef _UAPI_LINUX_BUFQ_H
#define _UAPI_LINUX_BUFQ_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * DOC: bufq character device
 *
 * Opening ``/dev/bufq`` creates a queue; the open file is the queue and its
 * last close frees it. Processes share a queue by inheriting the file across
 * fork() or by passing it with SCM_RIGHTS.
 *
 * A queue owns a set of equally sized buffers. A producer takes a free buffer
 * (FETCH), fills it, and queues it (ENQUEUE). A consumer takes the oldest
 * queued buffer (DEQUEUE), uses its content, and gives it back (REUSE). A
 * buffer is named by its index, stable from FETCH or DEQUEUE to the ENQUEUE or
 * REUSE that hands it back. Indices range over [0, out_max_buffers).
 *
 * The file must be configured first (BUFQ_IOCTL_CONFIGURE), exactly once.
 * Until then every other operation (ioctl, read, write, mmap) fails with
 * EBADFD and poll reports EPOLLERR; add the file to an epoll set only after
 * CONFIGURE, since no wait queue exists before it to wake the set.
 *
 * The open mode divides the work: producing (FETCH, ENQUEUE, write(), and
 * the FETCH and ENQUEUE records of a BATCH) needs write access, consuming
 * (DEQUEUE, read(), FLUSH, DEQUEUE records) needs read access; without it
 * they fail with EBADF. CONFIGURE, INFO, REUSE, poll() and mmap() work in
 * any mode, though the kernel's own rules for mmap() apply: a shared
 * mapping needs read access, and PROT_WRITE also write access (EACCES). A
 * process handed an O_RDONLY file may thus only consume, one handed an
 * O_WRONLY file only produce with write() (and FETCH, ENQUEUE, REUSE of
 * buffers it cannot map).
 *
 * Buffer memory is mapped with mmap(MAP_SHARED) of the file. Buffer i starts
 * at offset i * out_stride; its data area is the first buffer_size bytes and
 * its context area (context_size bytes, free for the user, never read by the
 * kernel) starts at out_context_offset within the buffer. The whole area is
 * out_mmap_size bytes, reads as zeros where nothing was written yet, and
 * keeps what is written until the file is released: a mapping never loses
 * its memory. The pages of a buffer index are allocated when the queue
 * first uses the index or a mapping first touches them, so a lookaside
 * queue configured with a large max_buffers takes memory only as it grows.
 * A first touch that cannot be allocated (out of memory, or over the
 * memory cgroup's limit) raises SIGBUS. MAP_POPULATE makes every page at
 * mmap() and maps it with the mapping's access (read, or read and write):
 * touching them then takes no page fault (where the CPU sets a page's dirty
 * bit itself, as x86's does; elsewhere a page's first write may still fault
 * once). fork() does not copy the page tables of a shared mapping, so a
 * child faults once on each page it touches; one that will touch many maps
 * the file itself with MAP_POPULATE. Private mappings fail with EINVAL,
 * mappings reaching past out_mmap_size with EINVAL, executable ones
 * (PROT_EXEC) with EPERM, and mprotect() adding PROT_EXEC with EACCES.
 * mremap() may shrink or move a mapping; growing one fails with EFAULT (the
 * kernel's errno for mappings that cannot expand). msync() and fsync()
 * succeed and do nothing: the memory has no backing store.
 *
 * read() and write() move whole messages: write() of n <= buffer_size bytes
 * is FETCH, copy, ENQUEUE with length n; read() is DEQUEUE, copy, REUSE of one
 * message and returns its length. writev() sends one message gathered from
 * all its iovecs, readv() receives one message scattered over them: n is
 * the sum of the iovec lengths. A write() of zero bytes does nothing and
 * returns 0; a buffer ENQUEUEd with len 0 reads back as a 0-byte message,
 * which a stream reader must not take for end of file. A read() into a
 * buffer shorter than the message fails with
 * EMSGSIZE and puts the message back at the head of the queue; a write() of
 * more than buffer_size bytes fails with EMSGSIZE. With several concurrent
 * consumers, a message put back this way may be overtaken by the one behind
 * it, which another consumer took meanwhile. A read() whose buffer cannot
 * be written fails with EFAULT and puts the message back the same way; a
 * write() whose buffer cannot be read fails with EFAULT without taking a
 * buffer.
 *
 * FETCH, DEQUEUE, read() and write() wait for a buffer unless the file is
 * O_NONBLOCK, in which case they fail with EAGAIN; a signal interrupts the
 * wait (EINTR, or a restart with SA_RESTART). poll() reports EPOLLIN when a
 * buffer is queued and EPOLLOUT when a buffer can be fetched.
 *
 * A call refused because user memory could not be read or written (EFAULT)
 * changes nothing: FETCH, DEQUEUE and BATCH make sure they can write their
 * reply (by writing back, unchanged, what they read of it, or some of it)
 * before they take a buffer, and write() reads its data first, so no buffer
 * leaves the queue for them (out_high_water does not rise, and other
 * callers do not see the queue emptied). Only memory unmapped or protected
 * by another thread during the call can make such a call take a buffer
 * briefly; it is then put back where it was.
 *
 * Driver files. A driver that owns a queue can give it to user space with
 * the same interface: the file of its device node, once opened, is that
 * queue (bufq_file_attach() in the kernel). Such a file is configured from
 * the start (CONFIGURE fails with EBUSY), its buffers are the driver's own,
 * mapped in place, and the driver decides which operations it allows
 * (INFO's out_ops; &enum bufq_ops): the others fail with EPERM, in BATCH
 * records too, and so do read() without BUFQ_OPS_DEQUEUE and write()
 * without BUFQ_OPS_FETCH and BUFQ_OPS_ENQUEUE (on a file open for reading,
 * or for writing: the VFS refuses the others with EBADF first). poll() reports EPOLLIN
 * only if DEQUEUE is allowed and EPOLLOUT only if FETCH is. If the driver
 * tears the queue down while the file is open, FETCH, DEQUEUE, ENQUEUE,
 * read() and write() fail with ENODEV and poll() reports EPOLLHUP; the
 * mapping and the buffers user space holds stay valid until the file is
 * released (REUSE still takes them). A BATCH ENQUEUE record that races the
 * teardown may report success: its message then goes with the queue's
 * other queued work. Every file of a driver's queue maps all its buffers;
 * a producer that fills them in place opens the file O_RDWR (a shared
 * writable mapping needs both).
 *
 * Holders. The kernel knows which buffers user space holds, and through
 * which file and process (file descriptor table: threads that share one
 * are one holder): a buffer held by user space can only be handed in
 * through the file it was taken from (by any process that shares that
 * file), and one that user space does not hold, whether free, queued or
 * held by the kernel, is refused with EBADSLT. When a process closes the
 * last descriptor it has for a file (by close() or by exiting, SIGKILL
 * included), the buffers it took through that file and still holds go
 * back to the free list, as by REUSE; a dequeued message it held is then
 * gone. INFO's out_reclaimed counts them. A take by a call still running
 * in another thread when that last close happens gives its buffer back at
 * once and fails with EBADF, and so does a first take through a file the
 * process received (fork, SCM_RIGHTS) and has closed.
 *
 * The device node is mode 0600. Module parameters bound each queue:
 * max_buffer_size (bytes per buffer, default 1 MiB), max_buffers (buffers
 * per queue, default 16384, also the cap of a lookaside queue configured
 * with max_buffers 0 as far as max_queue_bytes allows) and max_queue_bytes
 * (out_mmap_size of a queue, default 64 MiB). All the memory of a queue is
 * charged to the memory cgroup of the task that configures it.
 */

/**
 * DOC: General ioctl format
 *
 * The ioctls follow the iommufd format. The argument is a pointer to a struct
 * whose first __u32 is its size as user space knows it and whose second is a
 * flags word. The kernel accepts any size from the command's minimum up: bytes
 * the kernel does not know must be zero, and output is written only up to the
 * given size. A field past the given size reads as 0; the size must be a
 * multiple of 4, so that it never ends inside an input field. Fields named
 * __reserved must be zero and read back as zero.
 *
 * The checks come in this order: the ioctl number (ENOTTY); the size and
 * the bytes of the struct (EFAULT, EINVAL, E2BIG); configuration (EBADFD);
 * the driver's permission (EPERM); the open mode (EBADF); writability of
 * the reply for FETCH, DEQUEUE and BATCH (EFAULT); then the command's own.
 * Before CONFIGURE, a bad pointer or size thus still gives EFAULT, EINVAL
 * or E2BIG, not EBADFD.
 *
 * Errnos common to every command:
 *
 *  - ENOTTY: the ioctl number is not a bufq command.
 *  - EFAULT: the argument, or memory it points to, is not accessible.
 *  - EINVAL: size is below the command's minimum or not a multiple of 4, a
 *    __reserved field is not zero, or a field has a value that is not
 *    valid (see each command).
 *  - E2BIG: non-zero bytes past the end of the struct this kernel knows; or a
 *    configuration exceeds a module parameter limit.
 *  - EOPNOTSUPP: a flag or operation code this kernel does not know.
 *  - EOVERFLOW: arithmetic on the given values overflowed.
 *  - EBADFD: the queue is not configured (any command but CONFIGURE).
 *  - EBADF: the file was not opened for the access the command needs.
 *  - EPERM: the driver does not allow the command on this file (INFO's
 *    out_ops).
 */

#define BUFQ_TYPE 0xBF

enum {
	BUFQ_CMD_BASE = 0x80,
	BUFQ_CMD_CONFIGURE = BUFQ_CMD_BASE,
	BUFQ_CMD_INFO = 0x81,
	BUFQ_CMD_FETCH = 0x82,
	BUFQ_CMD_ENQUEUE = 0x83,
	BUFQ_CMD_DEQUEUE = 0x84,
	BUFQ_CMD_REUSE = 0x85,
	BUFQ_CMD_FLUSH = 0x86,
	BUFQ_CMD_BATCH = 0x87,
};

/**
 * enum bufq_ops - operations a file allows, in &struct bufq_info out_ops
 * @BUFQ_OPS_FETCH: FETCH (and, with ENQUEUE, write())
 * @BUFQ_OPS_ENQUEUE: ENQUEUE
 * @BUFQ_OPS_DEQUEUE: DEQUEUE (and read(), which also reuses)
 * @BUFQ_OPS_REUSE: REUSE
 * @BUFQ_OPS_FLUSH: FLUSH
 *
 * A /dev/bufq file allows them all; a driver's file those its driver
 * chose. INFO, mmap() and poll() are always allowed.
 */
enum bufq_ops {
	BUFQ_OPS_FETCH = 1 << 0,
	BUFQ_OPS_ENQUEUE = 1 << 1,
	BUFQ_OPS_DEQUEUE = 1 << 2,
	BUFQ_OPS_REUSE = 1 << 3,
	BUFQ_OPS_FLUSH = 1 << 4,
};

#define BUFQ_OPS_ALL (BUFQ_OPS_FETCH | BUFQ_OPS_ENQUEUE | BUFQ_OPS_DEQUEUE | \
		      BUFQ_OPS_REUSE | BUFQ_OPS_FLUSH)

/**
 * enum bufq_configure_flags - flags of &struct bufq_configure
 * @BUFQ_CONFIGURE_LOOKASIDE: FETCH makes a new buffer when none is free, up
 *	to max_buffers; buffers beyond buffer_count are dropped again when
 *	given back.
 */
enum bufq_configure_flags {
	BUFQ_CONFIGURE_LOOKASIDE = 1 << 0,
};

#define BUFQ_CONFIGURE_FLAGS_VALID BUFQ_CONFIGURE_LOOKASIDE

/**
 * struct bufq_configure - ioctl(BUFQ_IOCTL_CONFIGURE)
 * @size: sizeof(struct bufq_configure); at least offsetofend(context_size),
 *	max_buffers then reads as 0; 21 to 23 fail with EINVAL
 * @flags: &enum bufq_configure_flags
 * @buffer_count: buffers made now, and the number a lookaside queue shrinks
 *	back to. 0 only with BUFQ_CONFIGURE_LOOKASIDE.
 * @buffer_size: bytes in each buffer's data area, at least 1
 * @context_size: bytes in each buffer's context area, may be 0
 * @max_buffers: with BUFQ_CONFIGURE_LOOKASIDE, the cap on the number of
 *	buffers, at least @buffer_count; 0 means the max_buffers module
 *	parameter or, if fewer, as many as max_queue_bytes holds (INFO's
 *	out_max_buffers says which). Must be 0 without
 *	BUFQ_CONFIGURE_LOOKASIDE.
 *
 * Make the queue and its buffer memory. Allowed once per open file.
 *
 * Errnos:
 *  - EBUSY: the queue is already configured.
 *  - EOPNOTSUPP: unknown bit in @flags.
 *  - EINVAL: @buffer_size is 0; @buffer_count is 0 without lookaside;
 *    @max_buffers is not 0 without lookaside, or below @buffer_count.
 *  - EOVERFLOW: the size of a buffer does not fit in 32 bits.
 *  - E2BIG: @buffer_size exceeds the max_buffer_size module parameter, the
 *    number of buffers (@buffer_count, or the cap with lookaside) exceeds
 *    max_buffers, or the mapping size exceeds max_queue_bytes (with
 *    @max_buffers 0, when not even @buffer_count buffers, or 1, fit).
 *  - ENOMEM: out of memory (or over the memory cgroup's limit).
 */
struct bufq_configure {
	__u32 size;
	__u32 flags;
	__u32 buffer_count;
	__u32 buffer_size;
	__u32 context_size;
	__u32 max_buffers;
};

#define BUFQ_IOCTL_CONFIGURE _IO(BUFQ_TYPE, BUFQ_CMD_CONFIGURE)

/**
 * struct bufq_info - ioctl(BUFQ_IOCTL_INFO)
 * @size: sizeof(struct bufq_info); at least offsetofend(out_mmap_size)
 * @flags: must be 0
 * @out_config_flags: the configured &enum bufq_configure_flags
 * @out_buffer_count: the configured buffer_count
 * @out_buffer_size: the configured buffer_size
 * @out_context_size: the configured context_size
 * @out_max_buffers: the number of buffer indices: buffer_count without
 *	lookaside, the effective cap with it
 * @out_free: buffers free in the queue (not counting ones lookaside may make)
 * @out_queued: buffers queued
 * @out_held: buffers fetched or dequeued and not yet given back
 * @out_total: buffers that exist
 * @out_high_water: most buffers ever in use (queued + held) at once
 * @out_stride: distance in bytes between two buffers in the mapping; a
 *	multiple of the page size
 * @out_context_offset: offset of the context area within a buffer
 * @out_mmap_size: bytes of the mapping: out_max_buffers * out_stride
 * @out_grown: buffers made by lookaside since configuration
 * @out_fetch_failed: fetches that found no buffer
 * @out_ops: the operations this file allows, &enum bufq_ops
 * @out_holders: processes (file descriptor tables) the file keeps a
 *	holder for: the one that opened it, and each other one that took a
 *	buffer through it, until it closes its last descriptor for the file
 *	(see "Holders")
 * @out_reclaimed: buffers given back because the process holding them
 *	closed its last descriptor for this file (see "Holders")
 *
 * Read the configuration, the memory layout and the queue's counters. The
 * counters are a snapshot taken without stopping the queue.
 *
 * Errnos: EOPNOTSUPP for a non-zero @flags.
 */
struct bufq_info {
	__u32 size;
	__u32 flags;
	__u32 out_config_flags;
	__u32 out_buffer_count;
	__u32 out_buffer_size;
	__u32 out_context_size;
	__u32 out_max_buffers;
	__u32 out_free;
	__u32 out_queued;
	__u32 out_held;
	__u32 out_total;
	__u32 out_high_water;
	__u32 out_stride;
	__u32 out_context_offset;
	__aligned_u64 out_mmap_size;
	__aligned_u64 out_grown;
	__aligned_u64 out_fetch_failed;
	__u32 out_ops;
	__u32 out_holders;
	__aligned_u64 out_reclaimed;
};

#define BUFQ_IOCTL_INFO _IO(BUFQ_TYPE, BUFQ_CMD_INFO)

/**
 * struct bufq_fetch - ioctl(BUFQ_IOCTL_FETCH)
 * @size: sizeof(struct bufq_fetch); at least offsetofend(out_index)
 * @flags: must be 0
 * @out_index: the buffer now held by the caller
 * @__reserved: must be 0
 *
 * Take a free buffer (making one with lookaside). Without O_NONBLOCK, wait
 * until one is given back. The content of the buffer is whatever its last
 * user left.
 *
 * Errnos:
 *  - EAGAIN: O_NONBLOCK and no buffer can be had now.
 *  - EINTR: a signal arrived while waiting (with SA_RESTART the call
 *    restarts instead).
 *  - ENOMEM: lookaside could not make a buffer, or the record of a new
 *    holder could not be made (see "Holders": at the first take by a
 *    process other than the one that opened the file).
 *  - EBADF: the file is not open for writing, or the calling process
 *    closed its last descriptor for it during the call (see "Holders").
 *  - ENODEV: the driver has torn its queue down.
 */
struct bufq_fetch {
	__u32 size;
	__u32 flags;
	__u32 out_index;
	__u32 __reserved;
};

#define BUFQ_IOCTL_FETCH _IO(BUFQ_TYPE, BUFQ_CMD_FETCH)

/**
 * enum bufq_enqueue_flags - flags of &struct bufq_enqueue
 * @BUFQ_ENQUEUE_AT_HEAD: queue the buffer first instead of last, so that the
 *	next DEQUEUE returns it
 */
enum bufq_enqueue_flags {
	BUFQ_ENQUEUE_AT_HEAD = 1 << 0,
};

#define BUFQ_ENQUEUE_FLAGS_VALID BUFQ_ENQUEUE_AT_HEAD

/**
 * struct bufq_enqueue - ioctl(BUFQ_IOCTL_ENQUEUE)
 * @size: sizeof(struct bufq_enqueue)
 * @flags: &enum bufq_enqueue_flags
 * @index: a buffer held by the caller (from FETCH or DEQUEUE)
 * @len: bytes of data in it, reported by DEQUEUE and read()
 *
 * Queue a held buffer. On success the caller no longer holds it.
 *
 * Errnos:
 *  - EOPNOTSUPP: unknown bit in @flags.
 *  - EINVAL: @index is not below out_max_buffers, or @len exceeds
 *    buffer_size.
 *  - EBADSLT: buffer @index is not held by user space through this file
 *    (it is free, queued, held by the kernel or taken through another
 *    file).
 *  - ENODEV: the driver has torn its queue down; the buffer stays held.
 *  - EBADF: the file is not open for writing.
 */
struct bufq_enqueue {
	__u32 size;
	__u32 flags;
	__u32 index;
	__u32 len;
};

#define BUFQ_IOCTL_ENQUEUE _IO(BUFQ_TYPE, BUFQ_CMD_ENQUEUE)

/**
 * struct bufq_dequeue - ioctl(BUFQ_IOCTL_DEQUEUE)
 * @size: sizeof(struct bufq_dequeue)
 * @flags: must be 0
 * @out_index: the buffer now held by the caller
 * @out_len: the length given when it was queued
 *
 * Take the buffer at the head of the queue. Without O_NONBLOCK, wait until
 * one is queued.
 *
 * Errnos:
 *  - EAGAIN: O_NONBLOCK and the queue is empty.
 *  - EINTR: a signal arrived while waiting (with SA_RESTART the call
 *    restarts instead).
 *  - EBADF: the file is not open for reading, or the calling process
 *    closed its last descriptor for it during the call (see "Holders").
 *  - ENODEV: the driver has torn its queue down.
 */
struct bufq_dequeue {
	__u32 size;
	__u32 flags;
	__u32 out_index;
	__u32 out_len;
};

#define BUFQ_IOCTL_DEQUEUE _IO(BUFQ_TYPE, BUFQ_CMD_DEQUEUE)

/**
 * struct bufq_reuse - ioctl(BUFQ_IOCTL_REUSE)
 * @size: sizeof(struct bufq_reuse); at least offsetofend(index)
 * @flags: must be 0
 * @index: a buffer held by the caller
 * @__reserved: must be 0
 *
 * Give a held buffer back to the free list.
 *
 * Errnos:
 *  - EINVAL: @index is not below out_max_buffers.
 *  - EBADSLT: buffer @index is not held by user space through this file.
 */
struct bufq_reuse {
	__u32 size;
	__u32 flags;
	__u32 index;
	__u32 __reserved;
};

#define BUFQ_IOCTL_REUSE _IO(BUFQ_TYPE, BUFQ_CMD_REUSE)

/**
 * struct bufq_flush - ioctl(BUFQ_IOCTL_FLUSH)
 * @size: sizeof(struct bufq_flush)
 * @flags: must be 0
 *
 * Give every queued buffer back to the free list. Held buffers stay held.
 *
 * Errnos: EBADF if the file is not open for reading.
 */
struct bufq_flush {
	__u32 size;
	__u32 flags;
};

#define BUFQ_IOCTL_FLUSH _IO(BUFQ_TYPE, BUFQ_CMD_FLUSH)

/**
 * enum bufq_batch_opcode - operations of &struct bufq_batch_op
 * @BUFQ_OP_FETCH: as BUFQ_IOCTL_FETCH; writes @index
 * @BUFQ_OP_ENQUEUE: as BUFQ_IOCTL_ENQUEUE with @index, @len and @flags
 * @BUFQ_OP_DEQUEUE: as BUFQ_IOCTL_DEQUEUE; writes @index and @len
 * @BUFQ_OP_REUSE: as BUFQ_IOCTL_REUSE with @index
 */
enum bufq_batch_opcode {
	BUFQ_OP_FETCH = 1,
	BUFQ_OP_ENQUEUE = 2,
	BUFQ_OP_DEQUEUE = 3,
	BUFQ_OP_REUSE = 4,
};

/**
 * struct bufq_batch_op - one operation of a batch
 * @op: &enum bufq_batch_opcode
 * @flags: for BUFQ_OP_ENQUEUE &enum bufq_enqueue_flags, otherwise 0
 * @index: in for ENQUEUE and REUSE, out for FETCH and DEQUEUE
 * @len: in for ENQUEUE, out for DEQUEUE, otherwise ignored
 * @result: out: 0, or the positive errno the operation failed with
 * @__reserved: must be 0
 *
 * Each operation has the errnos of its ioctl, except that it never waits:
 * FETCH and DEQUEUE fail with EAGAIN instead. An unknown @op or flag fails
 * with EOPNOTSUPP, non-zero bytes past the known record (when entry_len is
 * larger) with E2BIG, an operation the open mode does not allow with
 * EBADF.
 */
struct bufq_batch_op {
	__u32 op;
	__u32 flags;
	__u32 index;
	__u32 len;
	__u32 result;
	__u32 __reserved;
};

/**
 * enum bufq_batch_flags - flags of &struct bufq_batch
 * @BUFQ_BATCH_WAIT: before its first FETCH or DEQUEUE record, the batch
 *	waits until @wait_min buffers can be taken at once (queued for
 *	DEQUEUE, free or to be made for FETCH), until @wait_timeout_ms
 *	passed, or until a signal arrives, whichever comes first; then it
 *	goes on as without the flag, taking what there is. The records
 *	before that one have run already: a consumer hands back what it is
 *	done with and waits for more in one call. The flag waits on an
 *	O_NONBLOCK file too; a driver's file whose queue was torn down does
 *	not wait. Without a timeout the wait lasts as long as the queue
 *	falls short, which may be for ever.
 */
enum bufq_batch_flags {
	BUFQ_BATCH_WAIT = 1 << 0,
};

#define BUFQ_BATCH_FLAGS_VALID BUFQ_BATCH_WAIT

/**
 * struct bufq_batch - ioctl(BUFQ_IOCTL_BATCH)
 * @size: sizeof(struct bufq_batch); at least offsetofend(__reserved),
 *	@wait_min and @wait_timeout_ms then read as 0
 * @flags: &enum bufq_batch_flags
 * @ops: user pointer to an array of @count records of @entry_len bytes
 * @entry_len: sizeof(struct bufq_batch_op) as user space knows it; at least
 *	offsetofend(struct bufq_batch_op, result)
 * @count: number of records
 * @out_done: number of records that succeeded
 * @__reserved: must be 0
 * @wait_min: with BUFQ_BATCH_WAIT, how many buffers to wait for; 0 means
 *	1, more than @count (records of any op) or out_max_buffers means the
 *	smaller of the two. Must be 0 without the flag.
 * @wait_timeout_ms: with BUFQ_BATCH_WAIT, the longest wait in
 *	milliseconds; 0 means no limit. Must be 0 without the flag.
 *
 * Run the operations in order and stop at the first that fails. Each
 * record that ran gets its @result (and outputs) written; records after
 * the failed one keep their contents. The ioctl succeeds when the batch itself
 * was valid, whatever its operations did: @out_done tells how far it got,
 * and if @out_done < @count, record @out_done holds the failing errno.
 *
 * Before a record runs, BATCH makes sure it can write it, by writing back,
 * unchanged, some of what it read of it or of the records after it: a
 * record that cannot be read, or whose first sizeof(struct bufq_batch_op)
 * bytes cannot be written (of a longer @entry_len, the rest is only read
 * and must be zero), does not run, nor do the ones after it. The ioctl then
 * fails with EFAULT and @out_done is the index of that record: the records
 * before it are done and their results written, whatever their operation.
 * A batch whose own struct cannot be written fails with EFAULT before any
 * record runs. (Only memory that another thread unmaps or protects during
 * the call can make a record run and then fail to be written: a FETCH or
 * DEQUEUE is then undone, an ENQUEUE or REUSE stays done.)
 *
 * A fatal signal stops a long batch between records; the process does not
 * see the outcome.
 *
 * Errnos (of the ioctl itself):
 *  - EOPNOTSUPP: unknown bit in @flags.
 *  - EINVAL: @entry_len is too small; @wait_min or @wait_timeout_ms is
 *    not 0 without BUFQ_BATCH_WAIT.
 *  - EOVERFLOW: @ops + @count * @entry_len overflows.
 *  - EFAULT: this struct cannot be written, or a record could not be read,
 *    or its result could not be written (@out_done says which).
 */
struct bufq_batch {
	__u32 size;
	__u32 flags;
	__aligned_u64 ops;
	__u32 entry_len;
	__u32 count;
	__u32 out_done;
	__u32 __reserved;
	__u32 wait_min;
	__u32 wait_timeout_ms;
};

#define BUFQ_IOCTL_BATCH _IO(BUFQ_TYPE, BUFQ_CMD_BATCH)

#endif /* _UAPI_LINUX_BUFQ_H */
